package service_test

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"

	"github.com/edgeapi/gateway/examples/proto/user"
	"github.com/edgeapi/gateway/internal/testwait"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/registry/memory"
	"github.com/edgeapi/gateway/service"
)

// serving is a Server running in the background; stop cancels it and returns Serve's result.
type serving struct {
	srv    *service.Server
	cancel context.CancelFunc
	done   chan struct{} // closed when Serve has returned err
	err    error
}

func (s *serving) stop(t *testing.T) error {
	t.Helper()
	s.cancel()
	select {
	case <-s.done:
		return s.err
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after cancel")
		return nil
	}
}

// start serves a grpc.Server with a UserSrv on 127.0.0.1:0 until the test ends.
func start(t *testing.T, opts service.Options) *serving {
	t.Helper()
	if opts.Server == nil {
		opts.Server = grpc.NewServer()
		user.RegisterUserSrvServer(opts.Server, user.UnimplementedUserSrvServer{})
	}
	if opts.Address == "" {
		opts.Address = "127.0.0.1:0"
	}
	srv, err := service.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{srv: srv, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.err = srv.Serve(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	return s
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("NewClient(%s): %v", addr, err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

func lookupNodes(reg *memory.Registry, name string) []registry.Node {
	svc, err := reg.GetService(context.Background(), name)
	if err != nil {
		return nil
	}
	return svc.Nodes
}

func TestServeRegistersAndDeregisters(t *testing.T) {
	reg := memory.New()
	s := start(t, service.Options{
		Name:      "test.users",
		Registrar: reg,
		Version:   "1.2.3",
		Metadata:  map[string]string{"zone": "a"},
		Endpoints: []registry.Endpoint{{Name: "UserSrv.GetAccount", Metadata: map[string]string{"handler": "rpc"}}},
	})
	node := s.srv.Node()
	if !strings.HasPrefix(node.ID, "test.users-") || len(node.ID) != len("test.users-")+16 {
		t.Errorf("node ID %q, want test.users-<16 hex digits>", node.ID)
	}
	testwait.Until(t, 10*time.Second, "the node in the registry", func() bool { return len(lookupNodes(reg, "test.users")) == 1 })

	svc, err := reg.GetService(context.Background(), "test.users")
	if err != nil {
		t.Fatal(err)
	}
	got := svc.Nodes[0]
	if got.ID != node.ID || got.Address != s.srv.Addr() || got.Metadata["zone"] != "a" {
		t.Errorf("registered node %+v, want ID %s address %s zone a", got, node.ID, s.srv.Addr())
	}
	if svc.Version != "1.2.3" || len(svc.Endpoints) != 1 || svc.Endpoints[0].Name != "UserSrv.GetAccount" {
		t.Errorf("registered service %+v", svc)
	}

	// The registered address answers.
	cc := dial(t, got.Address)
	res, err := healthpb.NewHealthClient(cc).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health check: %v %v", res, err)
	}

	if err := s.stop(t); err != nil {
		t.Fatalf("Serve returned %v after cancel, want nil", err)
	}
	if nodes := lookupNodes(reg, "test.users"); len(nodes) != 0 {
		t.Fatalf("after stop the registry still has %+v", nodes)
	}
}

func TestServeKeepsOtherNodes(t *testing.T) {
	reg := memory.New()
	a := start(t, service.Options{Name: "test.users", Registrar: reg})
	b := start(t, service.Options{Name: "test.users", Registrar: reg})
	testwait.Until(t, 10*time.Second, "two nodes", func() bool { return len(lookupNodes(reg, "test.users")) == 2 })
	if err := a.stop(t); err != nil {
		t.Fatal(err)
	}
	nodes := lookupNodes(reg, "test.users")
	if len(nodes) != 1 || nodes[0].ID != b.srv.Node().ID {
		t.Fatalf("after stopping a: %+v, want only %s", nodes, b.srv.Node().ID)
	}
}

func TestHeartbeatRestoresExpiredNode(t *testing.T) {
	reg := memory.New()
	s := start(t, service.Options{Name: "test.users", Registrar: reg, HeartbeatInterval: 20 * time.Millisecond})
	testwait.Until(t, 10*time.Second, "registration", func() bool { return len(lookupNodes(reg, "test.users")) == 1 })
	// What a TTL registry does when heartbeats stop arriving.
	if err := reg.Deregister(context.Background(), &registry.Service{Name: "test.users", Nodes: []registry.Node{s.srv.Node()}}); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 10*time.Second, "re-registration", func() bool { return len(lookupNodes(reg, "test.users")) == 1 })
}

func TestHealthAndReflection(t *testing.T) {
	s := start(t, service.Options{Name: "test.users", ShutdownTimeout: 200 * time.Millisecond})
	cc := dial(t, s.srv.Addr())
	ctx := context.Background()

	hc := healthpb.NewHealthClient(cc)
	for _, name := range []string{"", "user.UserSrv"} {
		res, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: name})
		if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Check(%q) = %v, %v; want SERVING", name, res, err)
		}
	}

	want := []string{
		"grpc.health.v1.Health",
		"grpc.reflection.v1.ServerReflection",
		"grpc.reflection.v1alpha.ServerReflection",
		"user.UserSrv",
	}
	t.Run("v1", func(t *testing.T) {
		stream, err := reflectionv1.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		req := &reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{}}
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
		res, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range res.GetListServicesResponse().GetService() {
			got = append(got, s.GetName())
		}
		_ = stream.CloseSend()
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("v1 services %v, want %v", got, want)
		}
	})
	t.Run("v1alpha", func(t *testing.T) {
		stream, err := reflectionv1alpha.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		req := &reflectionv1alpha.ServerReflectionRequest{
			MessageRequest: &reflectionv1alpha.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "user.UserSrv"},
		}
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
		res, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if n := len(res.GetFileDescriptorResponse().GetFileDescriptorProto()); n == 0 {
			t.Errorf("v1alpha: no descriptor for user.UserSrv: %v", res)
		}
		_ = stream.CloseSend()
	})

	// A watcher sees NOT_SERVING when shutdown begins. Its open stream also holds the graceful
	// stop until ShutdownTimeout, after which Serve still returns.
	watch, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := watch.Recv(); err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first watch status %v, %v", res, err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- s.stop(t) }()
	res, err := watch.Recv()
	if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("watch after cancel: %v, %v; want NOT_SERVING", res, err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestAdvertisedAddress(t *testing.T) {
	tests := []struct {
		name, listen, advertise, wantHost string
	}{
		{name: "loopback", listen: "127.0.0.1:0", wantHost: "127.0.0.1"},
		{name: "all interfaces", listen: ":0", wantHost: "127.0.0.1"},
		{name: "all IPv4 interfaces", listen: "0.0.0.0:0", wantHost: "127.0.0.1"},
		{name: "override", listen: "127.0.0.1:0", advertise: "10.0.0.7:9000", wantHost: "10.0.0.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, service.Options{Address: tt.listen, Advertise: tt.advertise})
			host, port, err := net.SplitHostPort(s.srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			if host != tt.wantHost || port == "0" {
				t.Errorf("Addr() = %s, want host %s and a real port", s.srv.Addr(), tt.wantHost)
			}
		})
	}
}

func TestOptionsErrors(t *testing.T) {
	tests := []struct {
		name string
		opts service.Options
		want string
	}{
		{name: "no server", opts: service.Options{}, want: "Server is nil"},
		{name: "registrar without name", opts: service.Options{Server: grpc.NewServer(), Registrar: memory.New()}, want: "Name is empty"},
		{name: "negative heartbeat", opts: service.Options{Server: grpc.NewServer(), HeartbeatInterval: -time.Second}, want: "HeartbeatInterval"},
		{name: "bad address", opts: service.Options{Server: grpc.NewServer(), Address: "127.0.0.1:notaport"}, want: "notaport"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := service.New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestServeTwiceAndDoneContext(t *testing.T) {
	srv, err := service.New(service.Options{Server: grpc.NewServer()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := srv.Serve(ctx); err != nil {
		t.Fatalf("Serve with a done context: %v", err)
	}
	if err := srv.Serve(context.Background()); err == nil {
		t.Fatal("second Serve succeeded")
	}
	// The listener was released.
	l, err := net.Listen("tcp", srv.Addr())
	if err != nil {
		t.Fatalf("address not released: %v", err)
	}
	_ = l.Close()
}

func TestServeEndsWhenGRPCServerStopped(t *testing.T) {
	reg := memory.New()
	gs := grpc.NewServer()
	srv, err := service.New(service.Options{Server: gs, Name: "test.users", Registrar: reg})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background()) }()
	testwait.Until(t, 10*time.Second, "registration", func() bool { return len(lookupNodes(reg, "test.users")) == 1 })
	gs.Stop() // Serve's grpc.Server ends underneath it
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v, want nil (the owner stopped the server)", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after the grpc.Server stopped")
	}
	if nodes := lookupNodes(reg, "test.users"); len(nodes) != 0 {
		t.Fatalf("registry still has %+v", nodes)
	}
}
