package main

import (
	"context"
	"fmt"
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
func BenchmarkRPCUnary(b *testing.B) { benchRPC(b, benchBody) }

// BenchmarkRPCUnaryLarge is BenchmarkRPCUnary with largeBenchBody.
func BenchmarkRPCUnaryLarge(b *testing.B) { benchRPC(b, largeBenchBody) }

// largeBenchBody is a ~4 KiB JSON request (29 nested items and a 29-entry map), the size of the
// bench harness's second rpc scenario, where transcoding and body handling weigh most. The echo
// answer is larger still (> 2 KiB), so it also measures how the answer is written.
var largeBenchBody = func() string {
	var b strings.Builder
	b.WriteString(`{"name":"bench","count":7,"tags":["a","b"],"items":[`)
	for i := range 29 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"label":"item number %d with a longer label to fill the message"}`, 1000+i, i)
	}
	b.WriteString(`],"labels":{`)
	for i := range 29 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"key-%02d":"value number %d"`, i, i)
	}
	b.WriteString(`}}`)
	return b.String()
}()

func benchRPC(b *testing.B, body string) {
	srv := testsvc.Start(b, "bench")
	g := startGateway(b, gatewayYAML("", svc(echoService, srv.Addr)))
	wantOK(b, g.post(b, "/echoservice/Echo/Unary", body)) // descriptors loaded, connection up

	b.Run("handler", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		benchServe(b, g, func() *http.Request {
			req := httptest.NewRequest(http.MethodPost, "/echoservice/Echo/Unary", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			return req
		})
	})
	b.Run("http", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		url := g.url + "/echoservice/Echo/Unary"
		benchClient(b, func() (*http.Response, error) {
			return g.client.Post(url, "application/json", strings.NewReader(body))
		})
	})
}

// benchServe runs requests through the gateway's root handler, in process.
func benchServe(b *testing.B, g *testGateway, newReq func() *http.Request) {
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		g.gw.ServeHTTP(rec, newReq())
		if rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// benchClient runs requests through a real loopback client, draining each answer.
func benchClient(b *testing.B, do func() (*http.Response, error)) {
	b.ReportAllocs()
	for b.Loop() {
		res, err := do()
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Fatalf("status %d", res.StatusCode)
		}
	}
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
			benchServe(b, g, func() *http.Request { return httptest.NewRequest(http.MethodGet, path, nil) })
		}
	}
	b.Run("resolver", direct("/echoservice/hello?x=1"))
	b.Run("route", direct("/proxy/42"))
	b.Run("http", func(b *testing.B) {
		url := g.url + "/echoservice/hello?x=1"
		benchClient(b, func() (*http.Response, error) { return g.client.Get(url) })
	})
}
