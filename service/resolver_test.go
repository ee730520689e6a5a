package service_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"

	"github.com/edgeapi/gateway/internal/testwait"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/registry/cache"
	"github.com/edgeapi/gateway/registry/memory"
	"github.com/edgeapi/gateway/service"
)

const roundRobin = `{"loadBalancingConfig":[{"round_robin":{}}]}`

// runCache builds a resolver builder over a cache of reg and runs the cache until the test ends.
func runCache(t *testing.T, reg registry.Registry) (resolver.Builder, *cache.Cache) {
	t.Helper()
	c := cache.New(reg, slog.New(slog.DiscardHandler), cache.Config{})
	b := service.NewResolverBuilder(c) // before Run: it registers an OnChange listener
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = c.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return b, c
}

// dialName dials a service by name, with round robin unless the options say otherwise.
func dialName(t *testing.T, b resolver.Builder, name string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts = append([]grpc.DialOption{
		grpc.WithResolvers(b),
		grpc.WithDefaultServiceConfig(roundRobin),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	}, opts...)
	cc, err := grpc.NewClient("registry:///"+name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// whoAnswers makes one call and returns the address of the server that answered it.
func whoAnswers(cc *grpc.ClientConn) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var p peer.Peer
	_, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p))
	if err != nil {
		return "", err
	}
	return p.Addr.String(), nil
}

func TestResolverRoundRobinAndNodeRemoval(t *testing.T) {
	reg := memory.New()
	b, _ := runCache(t, reg)
	a := start(t, service.Options{Name: "test.users", Registrar: reg})
	z := start(t, service.Options{Name: "test.users", Registrar: reg})
	cc := dialName(t, b, "test.users")

	// Both servers answer, in turn.
	seen := map[string]int{}
	testwait.Until(t, 10*time.Second, "both nodes to answer", func() bool {
		if addr, err := whoAnswers(cc); err == nil {
			seen[addr]++
		}
		return seen[a.srv.Addr()] > 0 && seen[z.srv.Addr()] > 0
	})
	var got []string
	for range 4 {
		addr, err := whoAnswers(cc)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, addr)
	}
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1] {
			t.Fatalf("calls went to %v, want alternating nodes (round robin)", got)
		}
	}

	// Stopping a deregisters it; the client follows and only z answers.
	if err := a.stop(t); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 10*time.Second, "only z to answer", func() bool {
		for range 4 {
			if addr, err := whoAnswers(cc); err != nil || addr != z.srv.Addr() {
				return false
			}
		}
		return true
	})

	// With no node left, calls fail fast with Unavailable instead of waiting.
	if err := z.stop(t); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 10*time.Second, "calls to fail with Unavailable", func() bool {
		_, err := whoAnswers(cc)
		return status.Code(err) == codes.Unavailable
	})
}

func TestResolverUnknownServiceFailsFast(t *testing.T) {
	reg := memory.New()
	b, c := runCache(t, reg)
	if err := c.WaitSynced(t.Context()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		config   string
		wantText bool // the resolver's error reaches the caller
	}{
		// round_robin reports its own "no children to pick from" for an empty list.
		{name: "round robin", config: roundRobin},
		// pick_first passes the resolver's error on.
		{name: "pick first", config: `{"loadBalancingConfig":[{"pick_first":{}}]}`, wantText: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := dialName(t, b, "test.nobody", grpc.WithDefaultServiceConfig(tt.config))
			_, err := whoAnswers(cc) // 5s deadline: DeadlineExceeded would mean the call hung
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("call to an unknown service: %v, want Unavailable", err)
			}
			if !tt.wantText {
				return
			}
			// The resolver's error replaces the balancer's "produced zero addresses" shortly
			// after (balancer updates are asynchronous).
			testwait.Until(t, 10*time.Second, "the resolver's error", func() bool {
				_, err := whoAnswers(cc)
				return status.Code(err) == codes.Unavailable &&
					strings.Contains(err.Error(), `"test.nobody"`) &&
					strings.Contains(err.Error(), registry.ErrNotFound.Error())
			})
		})
	}

	cc := dialName(t, b, "test.nobody")

	// The service appears later: the same client finds it.
	s := start(t, service.Options{Name: "test.nobody", Registrar: reg})
	testwait.Until(t, 10*time.Second, "the new service to answer", func() bool {
		addr, err := whoAnswers(cc)
		return err == nil && addr == s.srv.Addr()
	})
}

// gatedRegistry holds ListServices until open is closed, like a registry not reachable yet.
type gatedRegistry struct {
	registry.Registry
	open chan struct{}
}

func (g *gatedRegistry) ListServices(ctx context.Context) ([]*registry.Service, error) {
	select {
	case <-g.open:
		return g.Registry.ListServices(ctx)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func TestResolverWaitsForFirstSync(t *testing.T) {
	mem := memory.New()
	reg := &gatedRegistry{Registry: mem, open: make(chan struct{})}
	b, _ := runCache(t, reg)
	s := start(t, service.Options{Name: "test.users", Registrar: mem})
	testwait.Until(t, 10*time.Second, "registration", func() bool { return len(lookupNodes(mem, "test.users")) == 1 })
	cc := dialName(t, b, "test.users")

	// Not synced: the call waits for addresses (and runs into its deadline) instead of failing.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	cancel()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("call before the first sync: %v, want DeadlineExceeded", err)
	}

	close(reg.open)
	addr, err := whoAnswers(cc)
	if err != nil || addr != s.srv.Addr() {
		t.Fatalf("after sync: %s, %v; want %s", addr, err, s.srv.Addr())
	}
}

func TestResolverRejectsEmptyTarget(t *testing.T) {
	b, _ := runCache(t, memory.New())
	cc, err := grpc.NewClient("registry:///",
		grpc.WithResolvers(b),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		// Some grpc versions build the resolver eagerly.
		if !strings.Contains(err.Error(), "names no service") {
			t.Fatalf("NewClient: %v", err)
		}
		return
	}
	defer cc.Close()
	_, err = whoAnswers(cc)
	if err == nil || !strings.Contains(err.Error(), "names no service") {
		t.Fatalf("call with an empty target: %v, want the resolver's error", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("hung instead of failing")
	}
}
