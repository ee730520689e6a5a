package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	brokernats "github.com/edgeapi/gateway/broker/nats"
	"github.com/edgeapi/gateway/examples/subscriber/eventsub"
	"github.com/edgeapi/gateway/handler/event"
	"github.com/edgeapi/gateway/natsserver"
)

const waitFor = 10 * time.Second

type output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// TestRunReadsTheConfig runs the program's run against a config file naming the NATS server, a
// namespace and a stream: the event the gateway's handler publishes under that config is printed.
func TestRunReadsTheConfig(t *testing.T) {
	srv, err := natsserver.Start(context.Background(), natsserver.Config{Port: natsserver.RandomPort, StoreDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	path := filepath.Join(t.TempDir(), "config.yaml")
	conf := "nats:\n  url: " + srv.ClientURL() + "\nresolver:\n  namespace: acme\nevents:\n  stream: ACME_EVENTS\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}

	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	pub, err := brokernats.New(ctx, nc, brokernats.Config{Stream: "ACME_EVENTS", Subjects: []string{"acme.>"}}, log)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/billing/paid", strings.NewReader(`{"amount":5}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	event.New(pub, log, event.Config{Namespace: "acme", Source: "/test"}).ServeHTTP(rec, req)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("publish: %d %s", rec.Code, rec.Body)
	}

	out := &output{}
	runCtx, stop := context.WithCancel(context.Background())
	var (
		wg     sync.WaitGroup
		runErr error
	)
	wg.Go(func() { runErr = run(runCtx, path, true, "", eventsub.Config{Topic: "billing"}, out, log) })
	defer func() {
		stop()
		wg.Wait()
	}()

	deadline := time.Now().Add(waitFor)
	for !strings.Contains(out.String(), "\n") {
		if time.Now().After(deadline) {
			t.Fatal("nothing printed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	line := out.String()
	for _, want := range []string{"acme.billing ", " type=billing.paid ", " source=/test ", ` data={"amount":5}`} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	stop()
	wg.Wait()
	if runErr != nil {
		t.Fatalf("run: %v", runErr)
	}
}

func TestRunFailsWithoutNATS(t *testing.T) {
	// A port nothing listens on: the listener is closed before run dials.
	l := httptest.NewServer(http.NotFoundHandler())
	addr := "nats://" + l.Listener.Addr().String()
	l.Close()
	err := run(context.Background(), "", false, addr, eventsub.Config{}, &output{}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "NATS") {
		t.Fatalf("run without NATS: %v, want a connection error", err)
	}
}
