package connpool

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/edgeapi/gateway/h2grpc"
	"github.com/edgeapi/gateway/internal/testcert"
	"github.com/edgeapi/gateway/registry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
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

// healthCheck calls Health.Check through the node's unary client.
func healthCheck(uc *h2grpc.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return uc.Invoke(ctx, &h2grpc.Call{Method: "/grpc.health.v1.Health/Check"})
}

// TestUnaryShared: the unary client is per node like the grpc connection, and it lives and dies
// with it.
func TestUnaryShared(t *testing.T) {
	p := New(Config{DrainDelay: 100 * time.Millisecond})
	defer p.Close()
	addr := serveHealth(t)
	n := registry.Node{Address: addr}
	a, err := p.Unary(n)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := p.Unary(n)
	if a != b || p.Len() != 1 || a.Addr() != addr {
		t.Fatalf("Unary made %d nodes for one address", p.Len())
	}
	if err := healthCheck(a); err != nil {
		t.Fatal(err)
	}
	p.Retain(map[string]bool{})
	if err := healthCheck(a); err != nil {
		t.Fatalf("retired client failed at once: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for healthCheck(a) == nil {
		if time.Now().After(deadline) {
			t.Fatal("retired client never closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := healthCheck(a); status.Code(err) != codes.Unavailable || !h2grpc.NeverSent(err) {
		t.Fatalf("closed client: %v", err)
	}
	fresh, _ := p.Unary(n)
	if fresh == a || healthCheck(fresh) != nil {
		t.Fatal("Unary returned the closed client, or a broken one")
	}
	p.Close()
	if _, err := p.Unary(n); err != ErrClosed {
		t.Fatalf("Unary after Close = %v, want ErrClosed", err)
	}
	if err := healthCheck(fresh); !h2grpc.NeverSent(err) {
		t.Fatalf("client after Close: %v", err)
	}
}

// TestUnaryTLS: a node whose metadata says tls=true gets a TLS unary client with ALPN h2.
func TestUnaryTLS(t *testing.T) {
	cert, roots := testcert.SelfSigned(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})))
	healthpb.RegisterHealthServer(s, health.NewServer())
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	p := New(Config{TLS: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}})
	defer p.Close()
	n := registry.Node{Address: lis.Addr().String(), Metadata: map[string]string{"tls": "true"}}
	uc, err := p.Unary(n)
	if err != nil {
		t.Fatal(err)
	}
	if err := healthCheck(uc); err != nil {
		t.Fatal(err)
	}
	plain, _ := p.Unary(registry.Node{Address: n.Address})
	if plain == uc {
		t.Fatal("plaintext and TLS share a client")
	}
}
