// Command rproxy is the "bare httputil.ReverseProxy" peer: the standard library's reverse proxy
// to one backend, with a transport whose idle pool is sized for the load (MaxIdleConnsPerHost
// 256) and nothing else changed.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgeapi/gateway/bench/internal/debugsrv"
	"github.com/edgeapi/gateway/bench/internal/serve"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8082", "HTTP listen address")
	backend := flag.String("backend", "http://127.0.0.1:8000", "backend URL")
	debug := flag.String("debug", "", "side address for pprof and allocation counts (see internal/debugsrv)")
	flag.Parse()
	debugsrv.Start(*debug)

	target, err := url.Parse(*backend)
	if err != nil {
		log.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 256
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport: tr,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve.HTTP(ctx, &http.Server{Addr: *listen, Handler: rp}); err != nil {
		log.Fatal(err)
	}
}
