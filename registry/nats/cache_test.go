package nats_test

import (
	"context"
	neturl "net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/edgeapi/gateway/internal/testwait"
	"github.com/edgeapi/gateway/natsserver"
	"github.com/edgeapi/gateway/registry/cache"
	natsreg "github.com/edgeapi/gateway/registry/nats"
)

// TestCacheFollowsRegistry runs registry/cache over the NATS registry: registrations,
// deregistrations and expiry all reach the cache's snapshot.
func TestCacheFollowsRegistry(t *testing.T) {
	t.Parallel()
	const ttl = time.Second
	_, r := setup(t, ttl)
	ctx := context.Background()
	// Registered before the cache starts: it comes from the listing.
	if err := r.Register(ctx, userService(nodeA)); err != nil {
		t.Fatal(err)
	}

	c := cache.New(r, nil, cache.Config{})
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := c.Run(runCtx); err != nil {
			t.Errorf("cache.Run: %v", err)
		}
	})
	defer wg.Wait()
	defer stop()

	syncCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.WaitSynced(syncCtx); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Lookup("go.micro.api.user"); !ok {
		t.Fatal("listed service missing from the cache")
	}

	other := userService(nodeB)
	other.Name = "go.micro.api.order"
	start := time.Now()
	if err := r.Register(ctx, other); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 5*time.Second, "the cache to see a new service", func() bool {
		_, ok := c.Lookup(other.Name)
		return ok
	})
	t.Logf("Register -> cache: %v", time.Since(start))

	if err := r.Deregister(ctx, other); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 5*time.Second, "the cache to drop a deregistered service", func() bool {
		_, ok := c.Lookup(other.Name)
		return !ok
	})

	// The first service was registered once and never refreshed: it expires.
	testwait.Until(t, ttl+5*time.Second, "the cache to drop an expired service", func() bool {
		_, ok := c.Lookup("go.micro.api.user")
		return !ok
	})
	if stale, _, err := c.Stale(); stale {
		t.Fatalf("cache stale: %v", err)
	}
}

// TestCacheRidesOutServerRestart: the connection reconnects after the server restarts on the
// same port and store; the watch ends with the connection, the cache serves its last view
// meanwhile, lists again once NATS is back, and follows new changes.
func TestCacheRidesOutServerRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	s := startServer(t, dir)
	url := s.ClientURL()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r := newRegistry(t, nc, natsreg.Config{})
	if err := r.Register(ctx, userService(nodeA)); err != nil {
		t.Fatal(err)
	}

	c := cache.New(r, nil, cache.Config{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = c.Run(runCtx) })
	// Stop the cache before the servers (cleanups run after deferred calls).
	defer wg.Wait()
	defer stop()
	syncCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.WaitSynced(syncCtx); err != nil {
		t.Fatal(err)
	}

	s.Shutdown()
	testwait.Until(t, 5*time.Second, "the cache to notice the outage", func() bool {
		stale, _, _ := c.Stale()
		return stale
	})
	if _, ok := c.Lookup("go.micro.api.user"); !ok {
		t.Fatal("cache dropped its last view during the outage")
	}

	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	s2, err := natsserver.Start(ctx, natsserver.Config{Port: port, StoreDir: dir}, nil)
	if err != nil {
		t.Fatalf("restart on port %d: %v", port, err)
	}
	t.Cleanup(s2.Shutdown)
	back := time.Now()
	testwait.Until(t, 10*time.Second, "the cache to recover", func() bool {
		stale, _, _ := c.Stale()
		return !stale
	})
	t.Logf("server back -> cache healthy: %v", time.Since(back))

	other := userService(nodeB)
	other.Name = "go.micro.api.order"
	if err := r.Register(ctx, other); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 5*time.Second, "the cache to follow a change after the restart", func() bool {
		_, ok := c.Lookup(other.Name)
		return ok
	})
}
