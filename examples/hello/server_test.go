package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeapi/gateway/examples/hello/hellosrv"
	httphandler "github.com/edgeapi/gateway/handler/http"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/registry/memory"
	"github.com/edgeapi/gateway/resolver"
	"github.com/edgeapi/gateway/router"
	"github.com/edgeapi/gateway/selector"
)

// waitFor bounds every wait of these tests.
const waitFor = 10 * time.Second

// TestServeThroughGateway runs the hello program's serve on a free port, registered in a memory
// registry, and calls it through the real gateway router and http handler with the README's
// routes (/hello and /hello/* -> http): JSON, and server-sent events each arriving on its own.
func TestServeThroughGateway(t *testing.T) {
	reg := memory.New()
	ticks := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg       sync.WaitGroup
		serveErr error
	)
	wg.Go(func() {
		serveErr = serve(ctx, reg, "127.0.0.1:0", hellosrv.Config{
			NewTicker: func(time.Duration) (<-chan time.Time, func()) { return ticks, func() {} },
		}, slog.New(slog.DiscardHandler))
	})
	defer func() {
		cancel()
		wg.Wait()
	}()
	svc := waitRegistered(t, reg, hellosrv.Name)
	if svc.Nodes[0].Metadata["protocol"] != "http" {
		t.Errorf("node metadata %v", svc.Nodes[0].Metadata)
	}
	gw := newGateway(t, svc)
	client := &http.Client{Timeout: waitFor}

	resp, err := client.Get(gw + "/hello?name=x")
	if err != nil {
		t.Fatal(err)
	}
	var g hellosrv.Greeting
	err = json.NewDecoder(resp.Body).Decode(&g)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || g.Message != "Hello x" {
		t.Fatalf("GET /hello?name=x: %d %+v %v", resp.StatusCode, g, err)
	}
	// The gateway overwrote X-Forwarded-For with the client it saw (this test, on loopback).
	if xff := resp.Header.Get(hellosrv.EchoHeader); xff != "127.0.0.1" {
		t.Errorf("%s = %q, want the gateway's view of the client, 127.0.0.1", hellosrv.EchoHeader, xff)
	}

	resp, err = client.Get(gw + "/hello/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /hello/events: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := bufio.NewReader(resp.Body)
	for seq := 1; seq <= hellosrv.DefaultTicks; seq++ {
		select {
		case ticks <- time.Now():
		case <-time.After(waitFor):
			t.Fatalf("the service did not wait for tick %d", seq)
		}
		// Only a stream flushed event by event through the gateway gets here before the next tick.
		data, err := readEventData(events)
		var tick hellosrv.Tick
		if err != nil || json.Unmarshal([]byte(data), &tick) != nil || tick.Seq != seq {
			t.Fatalf("event %d: data %q, %v", seq, data, err)
		}
	}
	if rest, err := io.ReadAll(resp.Body); err != nil || len(rest) != 0 {
		t.Fatalf("after the last event: %q, %v", rest, err)
	}

	cancel()
	wg.Wait()
	if serveErr != nil {
		t.Fatalf("serve: %v", serveErr)
	}
	if _, err := reg.GetService(context.Background(), hellosrv.Name); err == nil {
		t.Fatal("still registered after stop")
	}
}

func TestServeFailsOnABusyAddress(t *testing.T) {
	busy := httptest.NewServer(http.NotFoundHandler())
	defer busy.Close()
	err := serve(context.Background(), memory.New(), busy.Listener.Addr().String(), hellosrv.Config{}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), hellosrv.Name) {
		t.Fatalf("serve on a busy address: %v, want an error naming the service", err)
	}
}

// waitRegistered polls reg until name has a node.
func waitRegistered(t *testing.T, reg registry.Registry, name string) *registry.Service {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		if svc, err := reg.GetService(context.Background(), name); err == nil && len(svc.Nodes) == 1 {
			return svc
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never registered", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newGateway serves the gateway's router with the http handler and the README's routes /hello and
// /hello/* -> http (the path resolver as default would find the service too), selecting among
// svc's nodes.
func newGateway(t *testing.T, svc *registry.Service) string {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	sel, err := selector.New(selector.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sel.Update(map[string]*registry.Service{svc.Name: svc})
	res, err := resolver.New(resolver.KindPath, "go.micro.api")
	if err != nil {
		t.Fatal(err)
	}
	root, err := router.New(router.Config{
		Log:            log,
		Resolver:       res,
		Handlers:       map[string]http.Handler{"http": httphandler.New(sel, log, httphandler.Config{})},
		DefaultHandler: "http",
		Routes: []router.Route{
			{Path: "/hello", Handler: "http", Service: hellosrv.Name},
			{Path: "/hello/*", Handler: "http", Service: hellosrv.Name},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(root)
	t.Cleanup(srv.Close)
	return srv.URL
}

// readEventData reads one server-sent event and returns its data field.
func readEventData(r *bufio.Reader) (string, error) {
	var data string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return data, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return data, nil
		}
		if v, ok := strings.CutPrefix(line, "data:"); ok {
			data = strings.TrimPrefix(v, " ")
		}
	}
}
