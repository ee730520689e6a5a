package router

import (
	"bytes"
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

	"github.com/edgeapi/gateway/resolver"
)

// echo is a handler that answers with its name and the endpoint the router gave it.
type echo string

type echoBody struct {
	Handler  string            `json:"handler"`
	Service  string            `json:"service"`
	Method   string            `json:"method"`
	Path     string            `json:"path"`
	Vars     map[string]string `json:"vars"`
	ReqID    string            `json:"request_id"`
	ReqIDHdr string            `json:"request_id_header"`
}

func (e echo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	out := echoBody{Handler: string(e), ReqID: RequestIDFrom(r.Context()), ReqIDHdr: r.Header.Get("X-Request-Id")}
	if ep := resolver.EndpointFrom(r.Context()); ep != nil {
		out.Service, out.Method, out.Path, out.Vars = ep.Service, ep.Method, ep.Path, ep.Vars
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// routeHandler records the limits a route gave it.
type routeHandler struct {
	echo
	mu     sync.Mutex
	limits []string
}

func (h *routeHandler) Route(timeout, maxTimeout time.Duration, bodyLimit int64) http.Handler {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.limits = append(h.limits, timeout.String()+"/"+maxTimeout.String()+"/"+strings.Repeat("x", int(bodyLimit)))
	return echo(string(h.echo) + "+route")
}

// logBuffer is a concurrency-safe buffer for a JSON slog handler.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the JSON log lines so far.
func (l *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(l.b.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %s: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func microResolver(t *testing.T) resolver.Resolver {
	t.Helper()
	res, err := resolver.New(resolver.KindMicro, "go.micro.api")
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func newRouter(t *testing.T, cfg Config) (http.Handler, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewJSONHandler(logs, nil))
	}
	if cfg.Resolver == nil {
		cfg.Resolver = microResolver(t)
	}
	if cfg.Handlers == nil {
		cfg.Handlers = map[string]http.Handler{"rpc": echo("rpc"), "http": echo("http"), "web": echo("web")}
	}
	if cfg.DefaultHandler == "" {
		cfg.DefaultHandler = "rpc"
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h, logs
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

func do(h http.Handler, method, target string, header http.Header) response {
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	res := w.Result()
	body, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, body}
}

func (r response) echo(t *testing.T) echoBody {
	t.Helper()
	var e echoBody
	if err := json.Unmarshal(r.body, &e); err != nil || e.Handler == "" {
		t.Fatalf("status %d, body %s: not an echo (%v)", r.code, r.body, err)
	}
	return e
}

// errorBody checks r is the gateway's JSON error with the given status and returns it.
func (r response) errorBody(t *testing.T, code int) map[string]any {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d; body %s", r.code, code, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	if m["code"] != float64(code) || m["id"] == nil || m["detail"] == nil || m["status"] != http.StatusText(code) {
		t.Errorf("error body %v", m)
	}
	return m
}

func TestPrecedence(t *testing.T) {
	routes := []Route{
		// Declared least specific first, to show declaration order does not matter.
		{Path: "/shop/*", Handler: "http", Service: "shop", StripPrefix: "/shop"},
		{Path: "/shop/orders/{id}", Handler: "rpc", Service: "orders", Endpoint: "OrderSrv.GetOrder"},
		{Path: "/shop/orders/latest", Handler: "rpc", Service: "orders", Endpoint: "OrderSrv.Latest"},
		{Path: "/shop/orders/{id}", Method: "delete", Handler: "rpc", Service: "orders", Endpoint: "OrderSrv.DeleteOrder"},
		{Path: "/users/{id}", Method: "GET", Handler: "rpc", Service: "users", Endpoint: "UserSrv.GetAccount"},
		{Path: "/users/{id}", Handler: "rpc", Service: "users", Endpoint: "UserSrv.Any"},
		{Path: "/only-get/{id}", Method: "GET", Handler: "rpc", Service: "og", Endpoint: "Og.Get"},
	}
	h, _ := newRouter(t, Config{Routes: routes})
	cases := []struct {
		method, path     string
		handler, service string
		endpoint, epPath string
		vars             map[string]string
	}{
		{"GET", "/shop/orders/latest", "rpc", "orders", "OrderSrv.Latest", "/shop/orders/latest", nil},
		{"GET", "/shop/orders/42", "rpc", "orders", "OrderSrv.GetOrder", "/shop/orders/42", map[string]string{"id": "42"}},
		{"DELETE", "/shop/orders/42", "rpc", "orders", "OrderSrv.DeleteOrder", "/shop/orders/42", map[string]string{"id": "42"}},
		{"POST", "/shop/orders/42", "rpc", "orders", "OrderSrv.GetOrder", "/shop/orders/42", map[string]string{"id": "42"}},
		{"GET", "/shop/orders/42/items", "http", "shop", "", "/orders/42/items", nil},
		{"GET", "/shop/cart", "http", "shop", "", "/cart", nil},
		{"GET", "/users/7", "rpc", "users", "UserSrv.GetAccount", "/users/7", map[string]string{"id": "7"}},
		{"PUT", "/users/7", "rpc", "users", "UserSrv.Any", "/users/7", map[string]string{"id": "7"}},
		{"GET", "/only-get/1", "rpc", "og", "Og.Get", "/only-get/1", map[string]string{"id": "1"}},
		// Nothing else matches: the resolver decides.
		{"POST", "/only-get/1", "rpc", "go.micro.api.only-get", "", "/only-get/1", nil},
		{"GET", "/orderservice/OrderSrv/GetOrder", "rpc", "go.micro.api.orderservice", "OrderSrv.GetOrder", "/orderservice/OrderSrv/GetOrder", nil},
		{"POST", "/greeter/say-hello", "rpc", "go.micro.api.greeter", "Greeter.SayHello", "/greeter/say-hello", nil},
		{"GET", "/users", "rpc", "go.micro.api.users", "Users.Call", "/users", nil},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := do(h, tc.method, tc.path, nil)
			if tc.service == "go.micro.api.only-get" {
				// "1" is no method name: the resolver refuses it, and says so in JSON.
				r.errorBody(t, http.StatusNotFound)
				return
			}
			e := r.echo(t)
			if e.Handler != tc.handler || e.Service != tc.service || e.Method != tc.endpoint || e.Path != tc.epPath {
				t.Errorf("got %s %s %s %s, want %s %s %s %s", e.Handler, e.Service, e.Method, e.Path, tc.handler, tc.service, tc.endpoint, tc.epPath)
			}
			if len(e.Vars) != len(tc.vars) {
				t.Errorf("vars %v, want %v", e.Vars, tc.vars)
			}
			for k, v := range tc.vars {
				if e.Vars[k] != v {
					t.Errorf("vars %v, want %v", e.Vars, tc.vars)
				}
			}
		})
	}
}

// TestPrecedenceIndependentOfOrder declares a method route and an any-method route on the same
// pattern in both orders.
func TestPrecedenceIndependentOfOrder(t *testing.T) {
	get := Route{Path: "/users/{id}", Method: "GET", Handler: "rpc", Service: "users", Endpoint: "UserSrv.Get"}
	anyMethod := Route{Path: "/users/{id}", Handler: "rpc", Service: "users", Endpoint: "UserSrv.Any"}
	for name, routes := range map[string][]Route{"method first": {get, anyMethod}, "method last": {anyMethod, get}} {
		t.Run(name, func(t *testing.T) {
			h, _ := newRouter(t, Config{Routes: routes})
			if e := do(h, "GET", "/users/1", nil).echo(t); e.Method != "UserSrv.Get" {
				t.Errorf("GET went to %s, want UserSrv.Get", e.Method)
			}
			if e := do(h, "PATCH", "/users/1", nil).echo(t); e.Method != "UserSrv.Any" {
				t.Errorf("PATCH went to %s, want UserSrv.Any", e.Method)
			}
		})
	}
}

func TestRouteLimitsAndVars(t *testing.T) {
	rh := &routeHandler{echo: "rpc"}
	h, _ := newRouter(t, Config{
		Handlers: map[string]http.Handler{"rpc": rh},
		Routes: []Route{
			{Path: "/a/{x}/b/{y:[0-9]+}", Handler: "rpc", Service: "s", Endpoint: "S.M", Timeout: time.Second, MaxTimeout: time.Minute, BodyLimit: 3},
			{Path: "/files/*", Handler: "rpc", Service: "f", Endpoint: "F.Get"},
		},
	})
	if len(rh.limits) != 2 || rh.limits[0] != "1s/1m0s/xxx" {
		t.Errorf("Route called with %v", rh.limits)
	}
	e := do(h, "GET", "/a/one/b/2", nil).echo(t)
	if e.Handler != "rpc+route" || e.Vars["x"] != "one" || e.Vars["y"] != "2" || len(e.Vars) != 2 {
		t.Errorf("echo %+v", e)
	}
	// The regexp does not match: the resolver gets the path and refuses it.
	do(h, "GET", "/a/one/b/x!", nil).errorBody(t, http.StatusNotFound)
	// A wildcard is not a path variable.
	if e := do(h, "GET", "/files/x/y", nil).echo(t); len(e.Vars) != 0 || e.Service != "f" {
		t.Errorf("echo %+v", e)
	}
}

func TestNewErrors(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	res := microResolver(t)
	handlers := map[string]http.Handler{"rpc": echo("rpc")}
	cases := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"no logger", Config{Resolver: res, Handlers: handlers, DefaultHandler: "rpc"}, "logger and resolver"},
		{"no resolver", Config{Log: log, Handlers: handlers, DefaultHandler: "rpc"}, "logger and resolver"},
		{"unknown default handler", Config{Log: log, Resolver: res, Handlers: handlers, DefaultHandler: "event"}, `"event"`},
		{"unknown route handler", Config{Log: log, Resolver: res, Handlers: handlers, DefaultHandler: "rpc",
			Routes: []Route{{Path: "/x", Handler: "web"}}}, `routes[0] /x: handler "web"`},
		{"duplicate route", Config{Log: log, Resolver: res, Handlers: handlers, DefaultHandler: "rpc",
			Routes: []Route{{Path: "/x", Method: "GET", Handler: "rpc"}, {Path: "/y", Handler: "rpc"}, {Path: "/x", Method: "get", Handler: "rpc"}}}, `routes[2]: "GET /x" is declared twice`},
		{"duplicate any-method route", Config{Log: log, Resolver: res, Handlers: handlers, DefaultHandler: "rpc",
			Routes: []Route{{Path: "/x/{id}", Handler: "rpc"}, {Path: "/x/{id}", Handler: "rpc"}}}, "routes[1]"},
		{"duplicate under other variable names", Config{Log: log, Resolver: res, Handlers: handlers, DefaultHandler: "rpc",
			Routes: []Route{{Path: "/x/{id}", Method: "GET", Handler: "rpc"}, {Path: "/x/{name}", Method: "GET", Handler: "rpc"}}}, "routes[1]"},
		{"duplicate variable names with the same regexp", Config{Log: log, Resolver: res, Handlers: handlers, DefaultHandler: "rpc",
			Routes: []Route{{Path: "/x/{id:[0-9]{2}}", Handler: "rpc"}, {Path: "/x/{n:[0-9]{2}}", Handler: "rpc"}}}, "routes[1]"},
		{"pattern chi refuses", Config{Log: log, Resolver: res, Handlers: handlers, DefaultHandler: "rpc",
			Routes: []Route{{Path: "x", Handler: "rpc"}}}, "routes[0]"},
		{"repeated variable", Config{Log: log, Resolver: res, Handlers: handlers, DefaultHandler: "rpc",
			Routes: []Route{{Path: "/{id}/{id}", Handler: "rpc"}}}, "routes[0]"},
		{"shadows a health endpoint", Config{Log: log, Resolver: res, Handlers: handlers, DefaultHandler: "rpc",
			Routes: []Route{{Path: "/health/live", Handler: "rpc"}}}, "routes[0]"},
		{"shadows a health endpoint through a variable", Config{Log: log, Resolver: res, Handlers: handlers, DefaultHandler: "rpc",
			Routes: []Route{{Path: "/health/ready", Method: "GET", Handler: "rpc"}}}, "routes[0]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New = %v, %v; want an error about %s", h, err, tc.wantErr)
			}
		})
	}
	// Different regexps, or a method and no method, are different routes.
	_, err := New(Config{Log: log, Resolver: res, Handlers: handlers, DefaultHandler: "rpc", Routes: []Route{
		{Path: "/x/{id:[0-9]+}", Handler: "rpc"}, {Path: "/x/{id:[a-z]+}", Handler: "rpc"},
		{Path: "/y", Handler: "rpc"}, {Path: "/y", Method: "GET", Handler: "rpc"}, {Path: "/y", Method: "POST", Handler: "rpc"},
		{Path: "/health/{x}", Handler: "rpc"}, {Path: "/health/live/more", Handler: "rpc"},
	}})
	if err != nil {
		t.Errorf("New with distinct routes: %v", err)
	}
}

func TestHealth(t *testing.T) {
	var mu sync.Mutex
	ready, detail := true, "ready"
	h, _ := newRouter(t, Config{
		Routes: []Route{{Path: "/health/{x}", Handler: "http", Service: "other"}},
		Ready: func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			return ready, detail
		},
	})
	check := func(path string, code int, want map[string]string) {
		t.Helper()
		r := do(h, "GET", path, nil)
		if r.code != code || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s = %d %q: %s", path, r.code, r.header.Get("Content-Type"), r.body)
		}
		var got map[string]string
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatal(err)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("GET %s: %v, want %v", path, got, want)
			}
		}
	}
	check("/health/live", 200, map[string]string{"status": "ok"})
	check("/health/ready", 200, map[string]string{"status": "ok", "detail": "ready"})
	mu.Lock()
	ready, detail = false, "registry not synced"
	mu.Unlock()
	check("/health/ready", 503, map[string]string{"status": "unavailable", "detail": "registry not synced"})
	check("/health/live", 200, map[string]string{"status": "ok"})
	// Probes that use HEAD get the same status, not a backend.
	if r := do(h, "HEAD", "/health/ready", nil); r.code != 503 {
		t.Errorf("HEAD /health/ready = %d", r.code)
	}
	if r := do(h, "HEAD", "/health/live", nil); r.code != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("HEAD /health/live = %d %v", r.code, r.header)
	}
	// A config route next to them does not take them over.
	if e := do(h, "GET", "/health/other", nil).echo(t); e.Service != "other" {
		t.Errorf("GET /health/other went to %+v", e)
	}

	// No Ready function: always ready.
	h2, _ := newRouter(t, Config{})
	if r := do(h2, "GET", "/health/ready", nil); r.code != 200 {
		t.Errorf("GET /health/ready without Ready = %d", r.code)
	}
}

func TestUnknownPath(t *testing.T) {
	h, _ := newRouter(t, Config{})
	for _, p := range []string{"/", "/a//b", "/foo%2Fbar", "/../etc/passwd", "/a/b/c/d/e/f/$"} {
		t.Run(p, func(t *testing.T) {
			m := do(h, "GET", p, nil).errorBody(t, http.StatusNotFound)
			if m["id"] != "gateway" {
				t.Errorf("id %v, want gateway", m["id"])
			}
		})
	}
}

func TestOverRealServer(t *testing.T) {
	h, _ := newRouter(t, Config{})
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/a//b")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("status %d, headers %v, body %s", resp.StatusCode, resp.Header, b)
	}
	req, _ := http.NewRequestWithContext(context.Background(), "GET", srv.URL+"/orderservice/OrderSrv/GetOrder", nil)
	req.Header.Set("X-Request-Id", "abc-123")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Request-Id") != "abc-123" {
		t.Errorf("status %d, X-Request-Id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
}
