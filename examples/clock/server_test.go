package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/edgeapi/gateway/examples/clock/clocksrv"
	"github.com/edgeapi/gateway/examples/proto/clock"
	"github.com/edgeapi/gateway/registry/memory"
)

// startClock serves the clock service on a free port registered in a memory registry and returns
// a client, the registry, and a stop function that shuts the service down and returns serve's
// error.
func startClock(t *testing.T) (clock.ClockClient, *memory.Registry, *grpc.ClientConn, func() error) {
	t.Helper()
	reg := memory.New()
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg       sync.WaitGroup
		serveErr error
	)
	wg.Go(func() { serveErr = serve(ctx, reg, "127.0.0.1:0", slog.New(slog.DiscardHandler)) })
	stopped := false
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			wg.Wait()
		}
		return serveErr
	}
	t.Cleanup(func() { _ = stop() })

	var addr string
	deadline := time.Now().Add(10 * time.Second)
	for {
		if svc, err := reg.GetService(context.Background(), clocksrv.Name); err == nil && len(svc.Nodes) == 1 {
			addr = svc.Nodes[0].Address
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("clock service never registered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return clock.NewClockClient(cc), reg, cc, stop
}

func TestTickStreamsCountTicksInOrder(t *testing.T) {
	c, _, _, _ := startClock(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, count := range []int32{1, 5} {
		stream, err := c.Tick(ctx, &clock.TickRequest{Count: count, IntervalMs: 10})
		if err != nil {
			t.Fatal(err)
		}
		var prev time.Time
		for want := int32(1); ; want++ {
			res, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				if want != count+1 {
					t.Fatalf("count %d: stream ended after %d ticks", count, want-1)
				}
				break
			}
			if err != nil {
				t.Fatalf("count %d: tick %d: %v", count, want, err)
			}
			if res.GetSeq() != want {
				t.Fatalf("count %d: got seq %d, want %d", count, res.GetSeq(), want)
			}
			at := res.GetTime().AsTime()
			if res.GetTime() == nil || at.Before(prev) {
				t.Fatalf("count %d: tick %d at %v, before the previous one at %v", count, want, at, prev)
			}
			prev = at
		}
	}
}

func TestTickRejectsBadArguments(t *testing.T) {
	c, _, _, _ := startClock(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, tc := range []struct {
		name  string
		req   *clock.TickRequest
		field string
	}{
		{"zero count", &clock.TickRequest{Count: 0}, "count"},
		{"negative count", &clock.TickRequest{Count: -3}, "count"},
		{"count over the limit", &clock.TickRequest{Count: clocksrv.MaxCount + 1}, "count"},
		{"negative interval", &clock.TickRequest{Count: 1, IntervalMs: -1}, "interval_ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream, err := c.Tick(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			res, err := stream.Recv()
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("Recv = %v, %v; want InvalidArgument", res, err)
			}
			if len(st.Details()) != 1 {
				t.Fatalf("details %v, want one BadRequest", st.Details())
			}
			if br, ok := st.Details()[0].(*errdetails.BadRequest); !ok || br.GetFieldViolations()[0].GetField() != tc.field {
				t.Errorf("detail %v, want a BadRequest naming %s", st.Details()[0], tc.field)
			}
		})
	}
}

func TestTickStopsWhenTheCallerGoesAway(t *testing.T) {
	c, _, _, _ := startClock(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// One tick a second, a thousand of them: only cancellation ends this stream in time.
	stream, err := c.Tick(ctx, &clock.TickRequest{Count: clocksrv.MaxCount, IntervalMs: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := stream.Recv(); err != nil || res.GetSeq() != 1 {
		t.Fatalf("first tick: %v, %v", res, err)
	}
	cancel()
	if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
		t.Fatalf("Recv after cancel: %v, want Canceled", err)
	}
}

func TestNowAndLifecycle(t *testing.T) {
	c, reg, cc, stop := startClock(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	before := time.Now()
	res, err := c.Now(ctx, &clock.NowRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if at := res.GetTime().AsTime(); at.Before(before.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("Now = %v, not around %v", at, before)
	}
	h, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{Service: "clock.Clock"})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health of clock.Clock: %v, %v", h, err)
	}

	if err := stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := reg.GetService(context.Background(), clocksrv.Name); err == nil {
		t.Fatal("still registered after stop")
	}
}
