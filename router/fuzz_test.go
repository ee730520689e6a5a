package router

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/edgeapi/gateway/resolver"
)

// FuzzRouterPaths sends any path and method through a router with config routes: it never
// panics, and answers either from a handler (with the endpoint in context) or with the gateway's
// JSON error; every answer carries a request id.
func FuzzRouterPaths(f *testing.F) {
	for _, p := range []string{
		"/", "/health/live", "/health/ready", "/health/x", "/shop/orders/1", "/shop/orders/latest", "/shop/a/b/c",
		"/users/7", "/orderservice/OrderSrv/GetOrder", "/a//b", "/../x", "/foo%2Fbar", "/v1/foo/bar", "/x/\x00", "//", "*",
	} {
		f.Add("GET", p)
		f.Add("DELETE", p)
	}
	h, err := New(Config{
		Log:      slog.New(slog.DiscardHandler),
		Resolver: resolver.Micro{Namespace: "go.micro.api"},
		Handlers: map[string]http.Handler{"rpc": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if resolver.EndpointFrom(r.Context()) == nil {
				panic("no endpoint")
			}
			w.WriteHeader(299)
		})},
		DefaultHandler: "rpc",
		Routes: []Route{
			{Path: "/shop/*", Handler: "rpc", Service: "shop", StripPrefix: "/shop"},
			{Path: "/shop/orders/{id}", Handler: "rpc", Service: "orders", Endpoint: "O.Get"},
			{Path: "/shop/orders/{id:[0-9]+}", Method: "DELETE", Handler: "rpc", Service: "orders", Endpoint: "O.Del"},
			{Path: "/users/{id}", Method: "GET", Handler: "rpc", Service: "users", Endpoint: "U.Get"},
		},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		if !validMethod(method) {
			return
		}
		r := &http.Request{Method: method, URL: &url.URL{Path: path}, Header: http.Header{}, RequestURI: path, Host: "gw"}
		r = r.WithContext(t.Context())
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Header().Get("X-Request-Id") == "" {
			t.Fatalf("%s %q: no request id", method, path)
		}
		switch {
		case w.Code == 299:
		case (path == "/health/live" || path == "/health/ready") && (method == "GET" || method == "HEAD"):
		default:
			var body struct {
				ID     string `json:"id"`
				Code   int    `json:"code"`
				Detail string `json:"detail"`
				Status string `json:"status"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Code != w.Code || body.Detail == "" ||
				w.Header().Get("Content-Type") != "application/json" || w.Code == 500 {
				t.Fatalf("%s %q: %d %q %s", method, path, w.Code, w.Header().Get("Content-Type"), w.Body)
			}
		}
	})
}

// validMethod reports whether m is an HTTP token, as net/http requires of a method.
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if c <= ' ' || c >= 0x7f || c == '(' || c == ')' || c == '<' || c == '>' || c == '@' || c == ',' || c == ';' ||
			c == ':' || c == '\\' || c == '"' || c == '/' || c == '[' || c == ']' || c == '?' || c == '=' || c == '{' || c == '}' {
			return false
		}
	}
	return true
}

// FuzzRoutePatterns gives New any config route pattern: it returns a router or an error, never
// panics.
func FuzzRoutePatterns(f *testing.F) {
	for _, p := range []string{
		"/x", "x", "", "/{id}", "/{id}/{id}", "/{id:[0-9]+}", "/{id:[0-9]{2}}", "/{id:(}", "/*", "/*/x", "/{", "/}",
		"/a/{b}/c/*", "/{a}{b}", "/{:x}", "/health/live", "/health/{x}",
	} {
		f.Add(p, "GET")
		f.Add(p, "")
	}
	log := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, pattern, method string) {
		if method != "" && !validMethod(method) {
			return
		}
		cfg := Config{
			Log: log, Resolver: resolver.Micro{}, Handlers: map[string]http.Handler{"rpc": http.NotFoundHandler()}, DefaultHandler: "rpc",
			Routes: []Route{{Path: pattern, Method: method, Handler: "rpc"}},
		}
		h, err := New(cfg)
		if err != nil {
			return
		}
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	})
}
