package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkHTTPProxy: one small GET through the gateway's http handler (reverse proxy) to a
// loopback HTTP backend, so the chain around the handler (edge guard, router, request id,
// access log, metrics, route table) is measured on the proxy path too. "resolver" is the
// default handler behind the resolver, "route" a config route with a path variable and a
// prefix strip; both call the root http.Handler directly. "http" adds a real loopback client.
func BenchmarkHTTPProxy(b *testing.B) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	b.Cleanup(backend.Close)
	yaml := gatewayYAML(`handler: http
routes:
  - path: /proxy/{id}
    method: GET
    handler: http
    service: `+echoService+`
    strip_prefix: /proxy
`, svc(echoService, backend.Listener.Addr().String()))
	g := startGateway(b, yaml)

	direct := func(path string) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, path, nil)
				rec := httptest.NewRecorder()
				g.gw.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
		}
	}
	b.Run("resolver", direct("/echoservice/hello?x=1"))
	b.Run("route", direct("/proxy/42"))
	b.Run("http", func(b *testing.B) {
		b.ReportAllocs()
		url := g.url + "/echoservice/hello?x=1"
		for b.Loop() {
			res, err := g.client.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Fatalf("status %d", res.StatusCode)
			}
		}
	})
}
