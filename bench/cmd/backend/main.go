// Command backend is the one backend every scenario calls, so the gateway and its peers are
// measured against the same server in the same run:
//
//   - gRPC (with server reflection, which the gateway reads descriptors from): bench.v1.Bench/Echo
//     returns its request;
//   - HTTP: GET /hello answers a small JSON body; /ws is a WebSocket echo.
//
// It listens on loopback (port 0 unless told) and prints {"grpc":"addr","http":"addr"} as its
// first line of output once both listeners are open. It stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"

	"github.com/edgeapi/gateway/bench/benchpb"
)

type echo struct {
	benchpb.UnimplementedBenchServer
}

func (echo) Echo(_ context.Context, m *benchpb.Message) (*benchpb.Message, error) { return m, nil }

// Hello is the HTTP scenario's answer, written with a Content-Length like most JSON APIs.
var hello = []byte(`{"message":"hello","from":"backend","ok":true}`)

func main() {
	grpcAddr := flag.String("grpc", "127.0.0.1:0", "gRPC listen address")
	httpAddr := flag.String("http", "127.0.0.1:0", "HTTP listen address")
	flag.Parse()

	gl, err := net.Listen("tcp", *grpcAddr)
	if err != nil {
		log.Fatal(err)
	}
	hl, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		log.Fatal(err)
	}
	gs := grpc.NewServer()
	benchpb.RegisterBenchServer(gs, echo{})
	reflection.Register(gs)

	up := websocket.Upgrader{ReadBufferSize: 8 << 10, WriteBufferSize: 8 << 10,
		CheckOrigin: func(*http.Request) bool { return true }}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(hello)
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer func() { _ = c.Close() }()
		for {
			t, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(t, msg); err != nil {
				return
			}
		}
	})
	hs := &http.Server{Handler: mux}

	ready, _ := json.Marshal(map[string]string{"grpc": gl.Addr().String(), "http": hl.Addr().String()})
	fmt.Println(string(ready))

	errc := make(chan error, 2)
	go func() { errc <- gs.Serve(gl) }()
	go func() { errc <- hs.Serve(hl) }()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case err := <-errc:
		log.Fatal(err)
	case <-ctx.Done():
	}
	gs.Stop()
	_ = hs.Close()
}
