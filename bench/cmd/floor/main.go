// Command floor is the http scenario's floor for the gateway's own design: net/http's server
// with the gateway's HTTP/1.1 client (h1client) and its GC floor (gcfloor at the gateway's
// default 64 MiB), and nothing between them. No router, no middleware, no retries or breakers:
// the request's headers are cloned and sent on, the answer's headers, status and body copied
// back.
//
// The gap between this row and the gateway is what the gateway's routing and handler cost; the
// gap between it and NGINX is what net/http's server costs plus the client. It is a measuring
// stick, not a proxy anyone should run: it forwards hop-by-hop headers and ignores errors.
package main

import (
	"context"
	"flag"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgeapi/gateway/bench/internal/debugsrv"
	"github.com/edgeapi/gateway/bench/internal/serve"
	"github.com/edgeapi/gateway/gcfloor"
	"github.com/edgeapi/gateway/h1client"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8083", "HTTP listen address")
	backend := flag.String("backend", "127.0.0.1:8000", "backend host:port")
	debug := flag.String("debug", "", "side address for pprof and allocation counts (see internal/debugsrv)")
	flag.Parse()
	debugsrv.Start(*debug)
	defer gcfloor.Start(gcfloor.Config{MinHeap: 64 << 20}, nil, slog.New(slog.DiscardHandler))()

	tr := h1client.New(h1client.Config{})
	defer tr.Close()
	buf := make(chan []byte, 256) // copy buffers, as the gateway pools them
	proxy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := r.WithContext(r.Context())
		out.URL = &url.URL{Scheme: "http", Host: *backend, Path: r.URL.Path, RawQuery: r.URL.RawQuery}
		out.RequestURI = ""
		out.Header = r.Header.Clone()
		if r.ContentLength == 0 {
			out.Body = nil
		}
		resp, err := tr.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		var b []byte
		select {
		case b = <-buf:
		default:
			b = make([]byte, 32<<10)
		}
		_, _ = io.CopyBuffer(w, resp.Body, b)
		select {
		case buf <- b:
		default:
		}
	})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve.HTTP(ctx, &http.Server{Addr: *listen, Handler: proxy}); err != nil {
		log.Fatal(err)
	}
}
