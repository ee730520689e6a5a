package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/edgeapi/gateway/internal/testsvc"
	testsvcv1 "github.com/edgeapi/gateway/internal/testsvc/proto/testsvc/v1"
)

const benchBody = `{"name":"bench","count":7,"tags":["a","b"]}`

// BenchmarkRPCUnary: one small JSON request through the gateway to a real gRPC server on
// loopback. "handler" calls the root http.Handler directly (router, middleware, rpc handler,
// gRPC call); "http" adds a real loopback HTTP client and server.
func BenchmarkRPCUnary(b *testing.B) {
	srv := testsvc.Start(b, "bench")
	g := startGateway(b, gatewayYAML("", svc(echoService, srv.Addr)))
	wantOK(b, g.post(b, "/echoservice/Echo/Unary", benchBody)) // descriptors loaded, connection up

	b.Run("handler", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest(http.MethodPost, "/echoservice/Echo/Unary", strings.NewReader(benchBody))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			g.gw.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("%d %s", rec.Code, rec.Body)
			}
		}
	})
	b.Run("http", func(b *testing.B) {
		b.ReportAllocs()
		url := g.url + "/echoservice/Echo/Unary"
		for b.Loop() {
			res, err := g.client.Post(url, "application/json", strings.NewReader(benchBody))
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

// BenchmarkDirectGRPC is the baseline: the same call with the generated client, no gateway.
func BenchmarkDirectGRPC(b *testing.B) {
	srv := testsvc.Start(b, "bench")
	cc, err := grpc.NewClient("passthrough:///"+srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cc.Close() })
	client := testsvcv1.NewEchoClient(cc)
	req := &testsvcv1.EchoRequest{Name: "bench", Count: 7, Tags: []string{"a", "b"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.Unary(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
