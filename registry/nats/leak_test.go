package nats_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/edgeapi/gateway/internal/testwait"
	"github.com/edgeapi/gateway/registry"
)

// TestNoGoroutinesLeft checks that reads and watches give back every goroutine they start
// (nats.go's watchers and their context goroutines included). Not parallel: it counts
// goroutines of the whole process.
func TestNoGoroutinesLeft(t *testing.T) {
	_, r := setup(t, 0)
	ctx := context.Background()
	if err := r.Register(ctx, userService(nodeA, nodeB)); err != nil {
		t.Fatal(err)
	}
	// Warm up: the connection's own goroutines start lazily.
	if _, err := r.GetService(ctx, "go.micro.api.user"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	before := runtime.NumGoroutine()

	for range 5 {
		if _, err := r.GetService(ctx, "go.micro.api.user"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.ListServices(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := r.GetService(ctx, "missing"); err == nil {
			t.Fatal("missing service found")
		}
		wctx, cancel := context.WithCancel(ctx)
		ch, err := r.Watch(wctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Register(ctx, userService(registry.Node{ID: "tmp", Address: "127.0.0.1:1"})); err != nil {
			t.Fatal(err)
		}
		<-ch
		cancel()
		for range ch {
		}
		if err := r.Deregister(ctx, userService(registry.Node{ID: "tmp"})); err != nil {
			t.Fatal(err)
		}
	}
	testwait.Until(t, 5*time.Second, "goroutines to end", func() bool {
		return runtime.NumGoroutine() <= before
	})
}
