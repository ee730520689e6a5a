package httphandler_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	httphandler "github.com/edgeapi/gateway/handler/http"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/resolver"
	"github.com/edgeapi/gateway/router"
	"github.com/edgeapi/gateway/selector"
)

// waitFor bounds every wait on a channel the test coordinates with.
const waitFor = 10 * time.Second

// gateway is the real router with the http handler, served on loopback.
type gateway struct {
	URL string
	Sel *selector.Selector
}

// newGateway starts the router with the http handler as default (path resolver, namespace
// go.micro.api) and the given config routes; services maps a service name to node addresses.
func newGateway(t *testing.T, cfg httphandler.Config, scfg selector.Config, routes []router.Route, services map[string][]string) *gateway {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	sel, err := selector.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	sel.Update(serviceTable(services))
	res, err := resolver.New(resolver.KindPath, "go.micro.api")
	if err != nil {
		t.Fatal(err)
	}
	h := httphandler.New(sel, log, cfg)
	root, err := router.New(router.Config{
		Log:            log,
		Resolver:       res,
		Handlers:       map[string]http.Handler{"http": h},
		DefaultHandler: "http",
		Routes:         routes,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(root)
	t.Cleanup(srv.Close)
	return &gateway{URL: srv.URL, Sel: sel}
}

func serviceTable(services map[string][]string) map[string]*registry.Service {
	out := map[string]*registry.Service{}
	for name, addrs := range services {
		svc := &registry.Service{Name: name}
		for i, a := range addrs {
			svc.Nodes = append(svc.Nodes, registry.Node{ID: fmt.Sprintf("%s-%d", name, i), Address: a})
		}
		out[name] = svc
	}
	return out
}

// backend starts a real HTTP server on 127.0.0.1 and returns its host:port.
func backend(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// deadAddress returns a loopback address nothing listens on.
func deadAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// apiError is the gateway's JSON error body.
type apiError struct {
	ID     string `json:"id"`
	Code   int    `json:"code"`
	Detail string `json:"detail"`
	Status string `json:"status"`
}

// wantJSONError checks resp is the gateway's JSON error with code, and returns it.
func wantJSONError(t *testing.T, resp *http.Response, code int) apiError {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatalf("reading error body: %v", err)
	}
	if resp.StatusCode != code {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, code, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json; body %s", ct, body)
	}
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	if e.Code != code || e.Status == "" || e.Detail == "" || e.ID == "" {
		t.Fatalf("error body %+v: want code %d and id, status, detail set", e, code)
	}
	return e
}

// echoed is what the echo backend reports about the request it got.
type echoed struct {
	Method string      `json:"method"`
	Path   string      `json:"path"`
	Query  string      `json:"query"`
	Host   string      `json:"host"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body"`
}

// echoHandler answers with the request as it reached the backend.
func echoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echoed{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Host: r.Host, Header: r.Header, Body: body})
	})
}

func decodeEcho(t *testing.T, resp *http.Response) echoed {
	t.Helper()
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d, want 200; body %s", resp.StatusCode, b)
	}
	var e echoed
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("decoding echo: %v", err)
	}
	return e
}

// eachTransport runs test with the handler's own transport (h1client, which bounds a try by
// connection deadlines) and with net/http's (bounded by a context and a timer per try).
func eachTransport(t *testing.T, test func(t *testing.T, tr http.RoundTripper)) {
	t.Run("h1client", func(t *testing.T) { test(t, nil) })
	t.Run("net/http", func(t *testing.T) {
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		test(t, tr)
	})
}
