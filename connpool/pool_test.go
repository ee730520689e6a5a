package connpool

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/edgeapi/gateway/registry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func serveHealth(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, health.NewServer())
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

// TestSharedConn: one connection per address, reused.
func TestSharedConn(t *testing.T) {
	p := New(Config{})
	defer p.Close()
	addr := serveHealth(t)
	a, err := p.Get(registry.Node{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := p.Get(registry.Node{Address: addr})
	if a != b || p.Len() != 1 {
		t.Fatalf("Get made %d connections for one address", p.Len())
	}
	if _, err := healthpb.NewHealthClient(a).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
}

// TestRetainDrains: a node that left keeps its connection for calls already running, then it
// closes; new calls get a new connection.
func TestRetainDrains(t *testing.T) {
	p := New(Config{DrainDelay: 100 * time.Millisecond})
	defer p.Close()
	addr := serveHealth(t)
	old, _ := p.Get(registry.Node{Address: addr})
	p.Retain(map[string]bool{})
	if p.Len() != 0 {
		t.Fatal("a retired connection is still handed out")
	}
	// Still usable right after retirement: in-flight calls are not cut.
	if _, err := healthpb.NewHealthClient(old).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("retired connection failed at once: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for old.GetState() != connectivity.Shutdown {
		if time.Now().After(deadline) {
			t.Fatal("retired connection never closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	fresh, _ := p.Get(registry.Node{Address: addr})
	if fresh == old {
		t.Fatal("Get returned the closed connection")
	}
}

// TestCloseClosesDraining: Close does not wait for drain timers; everything closes at once.
func TestCloseClosesDraining(t *testing.T) {
	p := New(Config{DrainDelay: time.Hour})
	addr := serveHealth(t)
	cc, _ := p.Get(registry.Node{Address: addr})
	p.Retain(nil)
	p.Close()
	if cc.GetState() != connectivity.Shutdown {
		t.Fatalf("draining connection left open after Close: %v", cc.GetState())
	}
	if _, err := p.Get(registry.Node{Address: addr}); err != ErrClosed {
		t.Fatalf("Get after Close = %v, want ErrClosed", err)
	}
	p.Close() // twice is fine
}
