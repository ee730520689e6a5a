// Command grpcgw is the grpc-gateway v2 peer: the reverse proxy protoc-gen-grpc-gateway
// generated for bench.proto (benchpb/bench.pb.gw.go), served by net/http and dialing the
// backend with one gRPC client connection, as grpc-gateway's examples do. Defaults are
// grpc-gateway's own (runtime.NewServeMux with no options).
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/edgeapi/gateway/bench/benchpb"
	"github.com/edgeapi/gateway/bench/internal/debugsrv"
	"github.com/edgeapi/gateway/bench/internal/serve"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "HTTP listen address")
	backend := flag.String("backend", "127.0.0.1:9090", "gRPC backend address")
	debug := flag.String("debug", "", "side address for pprof and allocation counts (see internal/debugsrv)")
	flag.Parse()
	debugsrv.Start(*debug)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	mux := runtime.NewServeMux()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if err := benchpb.RegisterBenchHandlerFromEndpoint(ctx, mux, *backend, opts); err != nil {
		log.Fatal(err)
	}
	if err := serve.HTTP(ctx, &http.Server{Addr: *listen, Handler: mux}); err != nil {
		log.Fatal(err)
	}
}
