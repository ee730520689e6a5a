package router_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/edgeapi/gateway/metrics"
	"github.com/edgeapi/gateway/middleware/secure"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/resolver"
	"github.com/edgeapi/gateway/router"
)

// BenchmarkChain measures the chain around a handler, as cmd/gateway assembles it (edge guard,
// router with request id, access log, recover, metrics observer, route table), in front of a
// handler that only reads the endpoint and answers 200. The request is made once and served
// again and again, so that only the chain's own cost is counted.
//
//	resolver   the default handler, through the resolver
//	config     a config route with a path variable and a prefix strip
//	registry   a route a service declares in its endpoint metadata
//	404        a path the resolver refuses (the error body)
func BenchmarkChain(b *testing.B) {
	const svc = "go.micro.api.orders"
	m := metrics.New(metrics.Sources{Known: func(s string) bool { return s == svc }})
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if resolver.EndpointFrom(r.Context()) == nil {
			b.Fatal("no endpoint")
		}
		w.WriteHeader(http.StatusOK)
	})
	res, err := resolver.New("micro", "go.micro.api")
	if err != nil {
		b.Fatal(err)
	}
	rt, err := router.New(router.Config{
		Log:            slog.New(slog.DiscardHandler),
		Resolver:       res,
		Handlers:       map[string]http.Handler{"rpc": h},
		DefaultHandler: "rpc",
		Routes:         []router.Route{{Path: "/v1/orders/{id}", Method: http.MethodGet, Handler: "rpc", Service: svc, Endpoint: "Orders.Get", StripPrefix: "/v1"}},
		Observer:       m,
	})
	if err != nil {
		b.Fatal(err)
	}
	rt.UpdateRoutes(map[string]*registry.Service{svc: {Name: svc, Endpoints: []registry.Endpoint{
		{Name: "Orders.List", Metadata: map[string]string{router.MetaPath: "/orders/list/{page}", router.MetaMethod: http.MethodGet}},
	}}})
	guard, err := secure.New(secure.Config{})
	if err != nil {
		b.Fatal(err)
	}
	root := guard(rt)

	for _, tc := range []struct {
		name, path string
		code       int
	}{
		{"resolver", "/orders/Orders/Get?id=1", http.StatusOK},
		{"config", "/v1/orders/42", http.StatusOK},
		{"registry", "/orders/list/3", http.StatusOK},
		{"404", "/", http.StatusNotFound},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			req.Header.Set("X-Request-Id", "bench-1")
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				w.code = 0
				root.ServeHTTP(w, req)
				if w.code != tc.code {
					b.Fatalf("status %d, want %d", w.code, tc.code)
				}
			}
		})
	}
}

// discardWriter is a ResponseWriter that keeps only the status, so the benchmark counts the
// chain's allocations and not a recorder's.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header { return w.h }

func (w *discardWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return len(p), nil
}

func (w *discardWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
