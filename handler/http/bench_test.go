package httphandler_test

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	httphandler "github.com/edgeapi/gateway/handler/http"
	"github.com/edgeapi/gateway/selector"
)

// benchTargets starts a backend answering GET /hello with a 47-byte JSON body (as bench/'s
// backend does) and returns it with the gateway's handler (its default transport, h1client)
// and a bare httputil.ReverseProxy on net/http's Transport with the same settings in front of it.
func benchTargets(b *testing.B) (backendURL string, gw, rp http.Handler) {
	b.Helper()
	body := []byte(`{"message":"hello","from":"bench-backend","n":7}`)[:47]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	sel, err := selector.New(selector.Config{})
	if err != nil {
		b.Fatal(err)
	}
	sel.Update(serviceTable(map[string][]string{"svc": {srv.Listener.Addr().String()}}))
	h := httphandler.New(sel, slog.New(slog.DiscardHandler), httphandler.Config{})
	gw = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.Forward(w, r, "svc", "/hello") })

	target, _ := url.Parse(srv.URL)
	rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.URL.Path = "/hello"
			pr.SetXForwarded()
		},
		Transport: stdTransport(256),
	}
	return srv.URL, gw, rp
}

// stdTransport is net/http's Transport set up as the handler's was before h1client: the
// baseline of the comparisons, and the benchmarks' client.
func stdTransport(idlePerHost int) *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        idlePerHost * 4,
		MaxIdleConnsPerHost: idlePerHost,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

// BenchmarkProxy: one small GET at a time through a proxy to a loopback backend, by a real
// keep-alive client over loopback. "direct" is the client straight to the backend (the floor);
// the others' overhead over it is the proxy's (its server side, handler and transport).
//
//	go test -run '^$' -bench 'Proxy|Forward' -benchmem ./handler/http/
func BenchmarkProxy(b *testing.B) {
	backendURL, gw, rp := benchTargets(b)
	client := &http.Client{Transport: stdTransport(64)}
	run := func(url string) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				getOK(b, client, url)
			}
		}
	}
	runParallel := func(url string) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					getOK(b, client, url)
				}
			})
		}
	}
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{{"reverseproxy", rp}, {"handler", gw}} {
		srv := httptest.NewServer(tc.h)
		b.Cleanup(srv.Close)
		b.Run(tc.name, run(srv.URL+"/hello?x=1"))
		b.Run(tc.name+"-parallel", runParallel(srv.URL+"/hello?x=1"))
	}
	b.Run("direct", run(backendURL+"/hello?x=1"))
	b.Run("direct-parallel", runParallel(backendURL+"/hello?x=1"))
}

// BenchmarkForward: the proxy called in-process with a prebuilt request and a discarding
// ResponseWriter, so that the allocations are the proxy's own plus its transport and the
// backend's; "roundtrip" is the handler's bare transport to the same backend (the floor),
// "roundtrip-std" net/http's.
func BenchmarkForward(b *testing.B) {
	backendURL, gw, rp := benchTargets(b)
	for _, tc := range []struct {
		name string
		tr   http.RoundTripper
	}{{"roundtrip", httphandler.NewTransport(0, 256, nil)}, {"roundtrip-std", stdTransport(256)}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodGet, backendURL+"/hello?x=1", nil)
				resp, err := tc.tr.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
		})
	}
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{{"reverseproxy", rp}, {"handler", gw}} {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/hello?x=1", nil)
			req.Header.Set("User-Agent", "bench")
			req.Header.Set("Accept", "*/*")
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				w.code = 0
				tc.h.ServeHTTP(w, req)
				if w.code != http.StatusOK {
					b.Fatalf("status %d", w.code)
				}
			}
		})
	}
}

func getOK(b *testing.B, c *http.Client, url string) {
	resp, err := c.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

// discardWriter is a ResponseWriter that keeps the status and drops the body.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *discardWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(p), nil
}
func (w *discardWriter) Flush() {}
