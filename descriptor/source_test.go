package descriptor

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/edgeapi/gateway/examples/proto/order"
	"github.com/edgeapi/gateway/examples/proto/user"
)

func serviceNames(set *Set) []string {
	var out []string
	for _, sd := range set.Services {
		out = append(out, string(sd.FullName()))
	}
	return out
}

func TestCompileProtosExamples(t *testing.T) {
	set, err := CompileProtos(context.Background(), []string{"../examples/proto"}, []string{"order/order.proto", "user/user.proto"})
	if err != nil {
		t.Fatal(err)
	}
	if got := serviceNames(set); !slices.Equal(got, []string{"order.OrderSrv", "user.UserSrv"}) {
		t.Errorf("Services = %v", got)
	}
	for ep, path := range map[string]string{
		"OrderSrv.GetOrder":       "/order.OrderSrv/GetOrder",
		"order.OrderSrv.GetOrder": "/order.OrderSrv/GetOrder",
		"UserSrv.GetAccount":      "/user.UserSrv/GetAccount",
	} {
		m, err := set.Method(ep)
		if err != nil || m.Path != path {
			t.Errorf("Method(%q) = %v, %v; want %s", ep, m, err, path)
		}
	}
	// The file names are the ones reflection and the protosets use.
	for _, p := range []string{"order/order.proto", "user/user.proto"} {
		if _, err := set.Files.FindFileByPath(p); err != nil {
			t.Errorf("file %s: %v", p, err)
		}
	}
	// The compiled descriptors describe the same messages as the generated code.
	m, _ := set.Method("OrderSrv.GetOrder")
	gen := (&order.OrderResponse{}).ProtoReflect().Descriptor()
	if m.Output.Fields().Len() != gen.Fields().Len() || m.Output.Fields().ByName("price_cents").Number() != 4 {
		t.Errorf("OrderResponse compiled with %d fields, generated has %d", m.Output.Fields().Len(), gen.Fields().Len())
	}
}

func TestCompileProtosImports(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("shop/common.proto", `syntax = "proto3";
package shop;
message Money { int64 cents = 1; }
service Internal { rpc Ping(Money) returns (Money); }
`)
	write("shop/cart.proto", `syntax = "proto3";
package shop;
import "shop/common.proto";
import "google/protobuf/timestamp.proto";
message Cart { Money total = 1; google.protobuf.Timestamp updated = 2; }
service CartSrv { rpc Get(Cart) returns (Cart); }
`)
	write("bad.proto", `syntax = "proto3"; message {`)

	set, err := CompileProtos(context.Background(), []string{dir}, []string{"shop/cart.proto"})
	if err != nil {
		t.Fatal(err)
	}
	// Only the named file's services: the import's Internal service is not part of the API.
	if got := serviceNames(set); !slices.Equal(got, []string{"shop.CartSrv"}) {
		t.Errorf("Services = %v", got)
	}
	m, err := set.Method("CartSrv.Get")
	if err != nil {
		t.Fatal(err)
	}
	if f := m.Input.Fields().ByName("updated"); f == nil || f.Message().FullName() != "google.protobuf.Timestamp" {
		t.Errorf("updated field = %v", f)
	}
	for _, name := range []string{"shop.Money", "google.protobuf.Timestamp"} {
		if _, err := set.Types.FindMessageByName(protoreflect.FullName(name)); err != nil {
			t.Errorf("Types cannot resolve %s: %v", name, err)
		}
	}

	errCases := []struct {
		name    string
		paths   []string
		files   []string
		wantErr string
	}{
		{"no files", []string{dir}, nil, "no .proto files"},
		{"missing file", []string{dir}, []string{"shop/nope.proto"}, "nope.proto"},
		{"wrong import path", []string{t.TempDir()}, []string{"shop/cart.proto"}, "cart.proto"},
		{"syntax error", []string{dir}, []string{"bad.proto"}, "bad.proto"},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompileProtos(context.Background(), tc.paths, tc.files)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("CompileProtos = %v, want an error about %s", err, tc.wantErr)
			}
		})
	}
}

func TestLoadProtoset(t *testing.T) {
	for file, want := range map[string][]string{
		"../examples/proto/order.protoset": {"order.OrderSrv"},
		"../examples/proto/user.protoset":  {"user.UserSrv"},
	} {
		set, err := LoadProtoset(file)
		if err != nil {
			t.Fatal(err)
		}
		if got := serviceNames(set); !slices.Equal(got, want) {
			t.Errorf("%s: Services = %v, want %v", file, got, want)
		}
	}

	dir := t.TempDir()
	writeSet := func(name string, fds ...*descriptorpb.FileDescriptorProto) string {
		b, err := proto.Marshal(&descriptorpb.FileDescriptorSet{File: fds})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	both := writeSet("both.protoset",
		fileProto("a/svc.proto", "a", nil, svcProto{"Svc", []string{"Call"}}),
		fileProto("b/svc.proto", "b", nil, svcProto{"Svc", []string{"Call"}}))
	set, err := LoadProtoset(both)
	if err != nil {
		t.Fatal(err)
	}
	if got := serviceNames(set); !slices.Equal(got, []string{"a.Svc", "b.Svc"}) {
		t.Errorf("Services = %v", got)
	}

	garbage := filepath.Join(dir, "garbage.protoset")
	if err := os.WriteFile(garbage, []byte("not a protoset \xff\xff"), 0o644); err != nil {
		t.Fatal(err)
	}
	errCases := []struct {
		name, path, wantErr string
	}{
		{"missing file", filepath.Join(dir, "nope.protoset"), "nope.protoset"},
		{"not a protoset", garbage, "garbage.protoset"},
		{"without imports", writeSet("noimports.protoset", fileProto("c.proto", "c", []string{"google/protobuf/empty.proto"}, svcProto{"C", []string{"Do"}})), "--include_imports"},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadProtoset(tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("LoadProtoset = %v, want an error about %s", err, tc.wantErr)
			}
		})
	}
}

type orderImpl struct {
	order.UnimplementedOrderSrvServer
}
type userImpl struct {
	user.UnimplementedUserSrvServer
}

// serveGRPC starts a gRPC server on 127.0.0.1:0 with the example services, and reflection when
// asked, and returns a client connection to it.
func serveGRPC(t *testing.T, withReflection bool) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	order.RegisterOrderSrvServer(s, orderImpl{})
	user.RegisterUserSrvServer(s, userImpl{})
	if withReflection {
		reflection.Register(s)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(lis) }()
	t.Cleanup(func() { s.Stop(); <-done })
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// conner hands out one connection and records the outcomes it is told.
type conner struct {
	cc  grpc.ClientConnInterface
	err error

	mu       sync.Mutex
	services []string
	outcomes []error
}

func (c *conner) Conn(_ context.Context, service string) (grpc.ClientConnInterface, func(error), error) {
	c.mu.Lock()
	c.services = append(c.services, service)
	c.mu.Unlock()
	if c.err != nil {
		return nil, nil, c.err
	}
	return c.cc, func(err error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.outcomes = append(c.outcomes, err)
	}, nil
}

func TestReflection(t *testing.T) {
	t.Run("loads the served services", func(t *testing.T) {
		c := &conner{cc: serveGRPC(t, true)}
		set, err := Reflection{Conns: c}.Load(context.Background(), "go.micro.api.orderservice")
		if err != nil {
			t.Fatal(err)
		}
		// The reflection service itself is infrastructure, not API.
		if got := serviceNames(set); !slices.Equal(got, []string{"order.OrderSrv", "user.UserSrv"}) {
			t.Errorf("Services = %v", got)
		}
		m, err := set.Method("OrderSrv.GetOrder")
		if err != nil || m.Path != "/order.OrderSrv/GetOrder" || m.Input.FullName() != "order.OrderRequest" {
			t.Fatalf("Method = %v, %v", m, err)
		}
		if _, err := set.Files.FindFileByPath("order/order.proto"); err != nil {
			t.Errorf("file order/order.proto: %v", err)
		}
		if !slices.Equal(c.services, []string{"go.micro.api.orderservice"}) || len(c.outcomes) != 1 || c.outcomes[0] != nil {
			t.Errorf("Conn asked for %v, outcomes %v; want one successful exchange", c.services, c.outcomes)
		}
	})
	t.Run("server without reflection", func(t *testing.T) {
		c := &conner{cc: serveGRPC(t, false)}
		_, err := Reflection{Conns: c}.Load(context.Background(), "go.micro.api.orderservice")
		if err == nil || !strings.Contains(err.Error(), "server reflection of go.micro.api.orderservice") {
			t.Fatalf("Load = %v, want a reflection error naming the service", err)
		}
		if status.Code(errors.Unwrap(err)) != codes.Unimplemented {
			t.Errorf("cause %v, want Unimplemented", errors.Unwrap(err))
		}
		if len(c.outcomes) != 1 || c.outcomes[0] == nil {
			t.Errorf("outcomes %v, want the failure reported", c.outcomes)
		}
	})
	t.Run("no connection", func(t *testing.T) {
		noNode := errors.New("no live node")
		_, err := Reflection{Conns: &conner{err: noNode}}.Load(context.Background(), "svc")
		if !errors.Is(err, noNode) {
			t.Errorf("Load = %v, want the Conn error", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		c := &conner{cc: serveGRPC(t, true)}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := (Reflection{Conns: c}).Load(ctx, "svc"); err == nil {
			t.Error("Load with a cancelled context succeeded")
		}
	})
}

func TestStatic(t *testing.T) {
	set := setOf(t, fileProto("a.proto", "a", nil, svcProto{"A", []string{"Do"}}))
	got, err := Static{Set: set}.Load(context.Background(), "anything")
	if err != nil || got != set {
		t.Errorf("Load = %p, %v; want %p", got, err, set)
	}
}
