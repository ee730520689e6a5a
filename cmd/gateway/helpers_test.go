package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeapi/gateway/config"
	"github.com/edgeapi/gateway/internal/testwait"
	"google.golang.org/grpc"
)

// The end-to-end tests run the real gateway (newGateway + serve) on a loopback listener in front
// of real gRPC test servers (internal/testsvc), and talk to it over real HTTP. Set
// GATEWAY_TEST_LOG=1 to see the gateway's logs.

// node is one static registry entry: a service name and the addresses of its nodes.
type node struct {
	service string
	addrs   []string
}

func svc(name string, addrs ...string) node { return node{service: name, addrs: addrs} }

// gatewayYAML is a complete config: a static registry listing nodes, then extra top-level YAML
// (rpc:, routes:, resolver:, selector:, ...; not registry:). Server keys go in an extra that
// starts with "server:", before any other top-level key.
func gatewayYAML(extra string, nodes ...node) string {
	var b strings.Builder
	b.WriteString("server:\n  address: 127.0.0.1:0\n  shutdown_timeout: 10s\n")
	if rest, ok := strings.CutPrefix(extra, "server:\n"); ok {
		for rest != "" && strings.HasPrefix(rest, " ") {
			line, tail, _ := strings.Cut(rest, "\n")
			b.WriteString(line + "\n")
			rest = tail
		}
		extra = rest
	}
	b.WriteString("registry:\n  type: static\n  static:\n")
	for _, n := range nodes {
		fmt.Fprintf(&b, "    - name: %s\n      nodes:\n", n.service)
		for i, a := range n.addrs {
			fmt.Fprintf(&b, "        - {id: node%d, address: %q}\n", i, a)
		}
	}
	b.WriteString(extra)
	return b.String()
}

// testGateway is a gateway serving on a loopback port, owned by one test.
type testGateway struct {
	url    string
	gw     *gateway
	client *http.Client
	cancel context.CancelFunc
	done   chan error // receives serve's result once
	result *error     // serve's result after stop
}

// startGateway parses yaml with config.Parse, builds the gateway and serves it until the test
// ends (or stop). It fails the test if the config does not parse or the gateway does not build.
func startGateway(t testing.TB, yaml string) *testGateway {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("config.Parse:\n%s\n%v", yaml, err)
	}
	// A discarding handler reports itself disabled, so the access log costs nothing (this
	// matters to the benchmarks).
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("GATEWAY_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	gw, err := newGateway(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatalf("newGateway: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatalf("listen: %v", err)
	}
	g := &testGateway{
		url:    "http://" + ln.Addr().String(),
		gw:     gw,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		cancel: cancel,
		done:   make(chan error, 1),
	}
	go func() { g.done <- gw.serve(ctx, ln) }()
	t.Cleanup(func() {
		if err := g.stop(); err != nil {
			t.Errorf("serve returned %v", err)
		}
	})
	// serve waits for the first registry sync before it accepts; readiness says it is done.
	testwait.Until(t, 5*time.Second, "gateway ready", func() bool {
		res, err := g.client.Get(g.url + "/health/ready")
		if err != nil {
			return false
		}
		_ = res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	return g
}

// stop cancels serve's context and waits for it; it is safe to call twice.
func (g *testGateway) stop() error {
	if g.result != nil {
		return *g.result
	}
	g.cancel()
	var err error
	select {
	case err = <-g.done:
	case <-time.After(20 * time.Second):
		err = errors.New("serve did not return within 20s of cancel")
	}
	g.client.CloseIdleConnections()
	g.result = &err
	return err
}

// reply is a finished HTTP exchange.
type reply struct {
	code   int
	header http.Header
	body   []byte
}

// json decodes the body as a JSON object, failing the test if it is not one.
func (r reply) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

func (r reply) String() string { return fmt.Sprintf("%d %s", r.code, bytes.TrimSpace(r.body)) }

// call sends one request. hdr is name, value pairs; a JSON body gets Content-Type
// application/json unless hdr sets one.
func (g *testGateway) call(t testing.TB, method, path, body string, hdr ...string) reply {
	t.Helper()
	return g.callCtx(context.Background(), t, method, path, body, hdr...)
}

func (g *testGateway) callCtx(ctx context.Context, t testing.TB, method, path, body string, hdr ...string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return g.do(t, req)
}

func (g *testGateway) do(t testing.TB, req *http.Request) reply {
	t.Helper()
	res, err := g.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL.Path, err)
	}
	return reply{code: res.StatusCode, header: res.Header, body: b}
}

// post sends a JSON body with POST.
func (g *testGateway) post(t testing.TB, path, body string, hdr ...string) reply {
	t.Helper()
	return g.call(t, http.MethodPost, path, body, hdr...)
}

// wantOK fails unless the reply is a 200 JSON answer, and returns it decoded.
func wantOK(t testing.TB, r reply) map[string]any {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("want 200, got %s", r)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json; body %s", ct, r.body)
	}
	return r.json(t)
}

// wantError checks the one error shape every failure has: the status, Content-Type
// application/json, nosniff, and a body of exactly id, code, detail, status (plus grpc_code and
// details when a backend answered with a gRPC status) whose code and status agree with the
// response. Each of contains must appear in detail. It returns the decoded body.
func wantError(t testing.TB, r reply, code int, id string, contains ...string) map[string]any {
	t.Helper()
	if r.code != code {
		t.Fatalf("want status %d, got %s", code, r)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q, want application/json", ct)
	}
	if v := r.header.Get("X-Content-Type-Options"); v != "nosniff" {
		t.Errorf("X-Content-Type-Options %q, want nosniff", v)
	}
	m := r.json(t)
	for k := range m {
		if !slices.Contains([]string{"id", "code", "detail", "status", "grpc_code", "details"}, k) {
			t.Errorf("unexpected key %q in error body %s", k, r.body)
		}
	}
	if got, _ := m["code"].(float64); int(got) != code {
		t.Errorf("body code %v, want %d", m["code"], code)
	}
	wantStatus := http.StatusText(code)
	if code == 499 {
		wantStatus = "Client Closed Request"
	}
	if m["status"] != wantStatus {
		t.Errorf("body status %v, want %q", m["status"], wantStatus)
	}
	if id != "" && m["id"] != id {
		t.Errorf("body id %v, want %q", m["id"], id)
	}
	detail, _ := m["detail"].(string)
	if detail == "" {
		t.Errorf("empty detail in %s", r.body)
	}
	for _, c := range contains {
		if !strings.Contains(detail, c) {
			t.Errorf("detail %q does not contain %q", detail, c)
		}
	}
	return m
}

// field walks a decoded JSON object by keys.
func field(m map[string]any, path ...string) any {
	var cur any = m
	for _, k := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = obj[k]
	}
	return cur
}

// decodeJSON decodes s into a generic value, for comparing JSON documents.
func decodeJSON(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decoding %s: %v", s, err)
	}
	return v
}

// serveGRPC serves s on lis until the test ends, then stops it and waits for Serve to return.
func serveGRPC(t testing.TB, s *grpc.Server, lis net.Listener) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(lis)
	}()
	t.Cleanup(func() {
		s.Stop()
		<-done
	})
}
