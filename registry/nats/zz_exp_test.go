package nats_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	natsreg "github.com/edgeapi/gateway/registry/nats"
)

func TestExperimentRaw(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	nc := connect(t, s.ClientURL())
	r := newRegistry(t, nc, natsreg.Config{TTL: time.Second})
	ctx := context.Background()
	js, _ := jetstream.New(nc)
	kv, _ := js.KeyValue(ctx, natsreg.DefaultBucket)
	w, _ := kv.WatchAll(ctx)
	defer w.Stop()
	t0 := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range w.Updates() {
			if e == nil {
				continue
			}
			t.Logf("EXP %8v %-40s %-18v rev=%d created=%v", time.Since(t0).Round(time.Millisecond), e.Key(), e.Operation(), e.Revision(), e.Created().Sub(t0).Round(time.Millisecond))
		}
	}()
	if err := r.Register(ctx, userService(nodeA, nodeB)); err != nil {
		t.Fatal(err)
	}
	for time.Since(t0) < 4*time.Second {
		if err := r.Register(ctx, userService(nodeA)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	w.Stop()
	<-done
}
