package event_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	brokernats "github.com/edgeapi/gateway/broker/nats"
	"github.com/edgeapi/gateway/handler/event"
	"github.com/edgeapi/gateway/natsserver"
	"github.com/edgeapi/gateway/resolver"
	"github.com/edgeapi/gateway/router"
)

const (
	waitFor   = 10 * time.Second
	namespace = "go.micro.api"
	stream    = "GATEWAY_EVENTS"
)

func startNATS(t testing.TB, dir string, port int) *natsserver.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	s, err := natsserver.Start(ctx, natsserver.Config{Port: port, StoreDir: dir}, nil)
	if err != nil {
		t.Fatalf("natsserver.Start: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func natsPort(t testing.TB, s *natsserver.Server) int {
	t.Helper()
	u := s.ClientURL()
	p, err := strconv.Atoi(u[strings.LastIndexByte(u, ':')+1:])
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func connect(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// env is the real router with the event handler as the default handler (micro resolver,
// namespace go.micro.api) and on the route /events/* (strip /events), publishing to JetStream
// on an embedded NATS server.
type env struct {
	URL  string
	NATS *natsserver.Server
	NC   *nats.Conn // the gateway's connection
	Dir  string
}

func newEnv(t testing.TB, cfg event.Config, routes ...router.Route) *env {
	t.Helper()
	dir := t.TempDir()
	s := startNATS(t, dir, natsserver.RandomPort)
	nc := connect(t, s.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	e := &env{NATS: s, NC: nc, Dir: dir}
	e.URL = serve(t, nc, cfg, routes...)
	return e
}

func serve(t testing.TB, nc *nats.Conn, cfg event.Config, routes ...router.Route) string {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	pub, err := brokernats.New(ctx, nc, brokernats.Config{Stream: stream, Subjects: []string{namespace + ".>"}, AckTimeout: cfg.AckTimeout}, log)
	if err != nil {
		t.Fatalf("broker: %v", err)
	}
	if cfg.Namespace == "" {
		cfg.Namespace = namespace
	}
	res, err := resolver.New(resolver.KindMicro, namespace)
	if err != nil {
		t.Fatal(err)
	}
	routes = append(routes, router.Route{Path: "/events/*", Handler: "event", StripPrefix: "/events"})
	root, err := router.New(router.Config{
		Log:            log,
		Resolver:       res,
		Handlers:       map[string]http.Handler{"event": event.New(pub, log, cfg)},
		DefaultHandler: "event",
		Routes:         routes,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(root)
	t.Cleanup(srv.Close)
	return srv.URL
}

type accepted struct {
	ID        string `json:"id"`
	Subject   string `json:"subject"`
	Type      string `json:"type"`
	Stream    string `json:"stream"`
	Sequence  uint64 `json:"sequence"`
	Duplicate bool   `json:"duplicate"`
}

// post sends an event and returns the response (body read) and its raw body.
func post(t testing.TB, url, contentType string, body []byte, hdr http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// postAccepted sends an event and expects 202.
func postAccepted(t testing.TB, url, contentType string, body []byte, hdr http.Header) (accepted, *http.Response) {
	t.Helper()
	resp, b := post(t, url, contentType, body, hdr)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST %s: %d %s, want 202", url, resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("202 Content-Type %q", ct)
	}
	var a accepted
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("202 body %q: %v", b, err)
	}
	return a, resp
}

// wantError checks the gateway's JSON error body.
func wantError(t testing.TB, resp *http.Response, body []byte, code int) {
	t.Helper()
	if resp.StatusCode != code || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q %s, want %d application/json", resp.StatusCode, resp.Header.Get("Content-Type"), body, code)
	}
	var e struct {
		ID     string `json:"id"`
		Code   int    `json:"code"`
		Detail string `json:"detail"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Code != code || e.Detail == "" || e.Status == "" || e.ID == "" {
		t.Fatalf("error body %s (%v)", body, err)
	}
}

// streamMsgs returns how many messages the events stream holds.
func streamMsgs(t testing.TB, nc *nats.Conn) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	js, _ := jetstream.New(nc)
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func jsonInto(b []byte, v any) error { return json.Unmarshal(b, v) }
