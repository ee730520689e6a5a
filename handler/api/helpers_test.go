package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/edgeapi/gateway/connpool"
	"github.com/edgeapi/gateway/descriptor"
	"github.com/edgeapi/gateway/handler/api"
	"github.com/edgeapi/gateway/handler/rpc"
	apipb "github.com/edgeapi/gateway/proto/api"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/resolver"
	"github.com/edgeapi/gateway/router"
	"github.com/edgeapi/gateway/selector"
)

const waitFor = 10 * time.Second

// greeterFile is apitest/greeter.proto, built as a descriptor so the tests need no protoc:
//
//	syntax = "proto3";
//	package apitest;
//	import "api/api.proto";
//	message Ping { string s = 1; }
//	service Greeter {
//	  rpc Call(go.api.Request) returns (go.api.Response);
//	  rpc Plain(Ping) returns (Ping);                        // not an api-handler method
//	}
func greeterFile() *descriptorpb.FileDescriptorProto {
	return &descriptorpb.FileDescriptorProto{
		Name:       proto.String("apitest/greeter.proto"),
		Package:    proto.String("apitest"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{apipb.File_api_api_proto.Path()},
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Ping"),
			Field: []*descriptorpb.FieldDescriptorProto{{
				Name: proto.String("s"), JsonName: proto.String("s"), Number: proto.Int32(1),
				Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), Type: descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(),
			}},
		}},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("Greeter"),
			Method: []*descriptorpb.MethodDescriptorProto{
				{Name: proto.String("Call"), InputType: proto.String(".go.api.Request"), OutputType: proto.String(".go.api.Response")},
				{Name: proto.String("Plain"), InputType: proto.String(".apitest.Ping"), OutputType: proto.String(".apitest.Ping")},
			},
		}},
	}
}

// The greeter's file goes into the global registry so that the backend's server reflection
// (which reads protoregistry.GlobalFiles) serves it, as it would for generated code.
var registerOnce = sync.OnceValue(func() error {
	fd, err := protodesc.NewFile(greeterFile(), protoregistry.GlobalFiles)
	if err != nil {
		return err
	}
	return protoregistry.GlobalFiles.RegisterFile(fd)
})

// greeterServer is the handler type of the hand-written service descriptor.
type greeterServer interface {
	Call(context.Context, *apipb.Request) (*apipb.Response, error)
}

var greeterDesc = grpc.ServiceDesc{
	ServiceName: "apitest.Greeter",
	HandlerType: (*greeterServer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Call",
		Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(apipb.Request)
			if err := dec(in); err != nil {
				return nil, err
			}
			return srv.(greeterServer).Call(ctx, in)
		},
	}},
	Metadata: "apitest/greeter.proto",
}

// received is one call the backend got.
type received struct {
	req *apipb.Request
	md  metadata.MD
}

// greeter answers by the request path (see Call) and records every request.
type greeter struct {
	calls chan received
}

// Call answers:
//
//	/api/status    201, custom and hop-by-hop headers, text body
//	/api/error/X   the gRPC error with code X (a number)
//	.../slow       waits for the call's context to end
//	/api/raw       status, headers and body from the request's query (code, ct)
//	anything else  status 0, no headers, body "{"ok":true}"
func (g *greeter) Call(ctx context.Context, r *apipb.Request) (*apipb.Response, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	select {
	case g.calls <- received{req: r, md: md}:
	default:
	}
	pair := func(k string, v ...string) *apipb.Pair { return &apipb.Pair{Key: k, Values: v} }
	switch p := r.GetPath(); {
	case p == "/api/status":
		return &apipb.Response{
			StatusCode: 201,
			Header: map[string]*apipb.Pair{
				"Content-Type":      pair("Content-Type", "text/plain; charset=utf-8"),
				"X-Custom":          pair("X-Custom", "one", "two"),
				"Connection":        pair("Connection", "X-Named-Hop"),
				"X-Named-Hop":       pair("X-Named-Hop", "dropped"),
				"Keep-Alive":        pair("Keep-Alive", "timeout=5"),
				"Transfer-Encoding": pair("Transfer-Encoding", "chunked"),
				"Upgrade":           pair("Upgrade", "h2c"),
				"Content-Length":    pair("Content-Length", "999"),
				"X-Injected":        pair("X-Injected", "a\r\nSet-Cookie: evil=1"),
				"map-key-only":      {Values: []string{"from the map key"}},
			},
			Body: []byte("created"),
		}, nil
	case len(p) > len("/api/error/") && p[:len("/api/error/")] == "/api/error/":
		var c int
		for _, ch := range p[len("/api/error/"):] {
			c = c*10 + int(ch-'0')
		}
		return nil, status.Error(codes.Code(c), "backend says no")
	case strings.HasSuffix(p, "/slow"):
		<-ctx.Done()
		return nil, ctx.Err()
	case p == "/api/raw":
		var code int
		for _, ch := range r.GetGet()["code"].GetValues()[0] {
			code = code*10 + int(ch-'0')
		}
		return &apipb.Response{StatusCode: int32(code), Body: []byte("raw")}, nil
	}
	return &apipb.Response{Body: []byte(`{"ok":true}`)}, nil
}

// startGreeter starts a real gRPC server with reflection on 127.0.0.1 and returns its address.
func startGreeter(t testing.TB) (*greeter, string) {
	t.Helper()
	if err := registerOnce(); err != nil {
		t.Fatalf("registering the test descriptor: %v", err)
	}
	g := &greeter{calls: make(chan received, 64)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	s.RegisterService(&greeterDesc, g)
	reflection.Register(s)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Stop()
		if err := <-done; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			t.Errorf("Serve: %v", err)
		}
	})
	return g, ln.Addr().String()
}

// lastCall returns the request the backend received.
func (g *greeter) lastCall(t testing.TB) received {
	t.Helper()
	select {
	case c := <-g.calls:
		return c
	case <-time.After(waitFor):
		t.Fatal("the backend received no call")
		return received{}
	}
}

// newGateway is the real router with the api handler as default (micro resolver, namespace
// go.micro.api) and on /api/* (service go.micro.api.greeter, endpoint Greeter.Call), calling
// the greeter at addr over pooled gRPC connections with descriptors from server reflection.
func newGateway(t testing.TB, cfg api.Config, addr string, routes ...router.Route) string {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	sel, err := selector.New(selector.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sel.Update(map[string]*registry.Service{
		"go.micro.api.greeter": {Name: "go.micro.api.greeter", Nodes: []registry.Node{{ID: "g1", Address: addr}}},
	})
	pool := connpool.New(connpool.Config{})
	t.Cleanup(pool.Close)
	caller := &rpc.Caller{Selector: sel, Pool: pool}
	descs := descriptor.NewCache(nil, descriptor.Reflection{Conns: caller})
	res, err := resolver.New(resolver.KindMicro, "go.micro.api")
	if err != nil {
		t.Fatal(err)
	}
	routes = append(routes, router.Route{Path: "/api/*", Handler: "api", Service: "go.micro.api.greeter", Endpoint: "Greeter.Call"})
	root, err := router.New(router.Config{
		Log:            log,
		Resolver:       res,
		Handlers:       map[string]http.Handler{"api": api.New(caller, descs, log, cfg)},
		DefaultHandler: "api",
		Routes:         routes,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(root)
	t.Cleanup(srv.Close)
	return srv.URL
}

func do(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

type apiError struct {
	ID       string `json:"id"`
	Code     int    `json:"code"`
	Detail   string `json:"detail"`
	Status   string `json:"status"`
	GRPCCode string `json:"grpc_code"`
}

func wantError(t testing.TB, resp *http.Response, body []byte, code int) apiError {
	t.Helper()
	if resp.StatusCode != code || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q %s, want %d application/json", resp.StatusCode, resp.Header.Get("Content-Type"), body, code)
	}
	var e apiError
	if err := json.Unmarshal(body, &e); err != nil || e.Code != code || e.Detail == "" || e.Status == "" || e.ID == "" {
		t.Fatalf("error body %s (%v)", body, err)
	}
	return e
}
