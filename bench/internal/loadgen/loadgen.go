// Package loadgen drives a target with a fixed number of connections and records per-request
// latency. Two modes:
//
//   - closed loop (Rate 0): every connection keeps one request in flight, so the target's
//     throughput is measured;
//   - open loop (Rate > 0): requests are scheduled at fixed intervals whatever the target does,
//     and latency is measured from the scheduled time, not the send time, so a stalled target
//     cannot hide its queueing (no coordinated omission).
//
// Every run is bounded by Duration and by MaxRequests, whichever comes first; requests still in
// flight at the end get a short grace period, then their connections are closed.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeapi/gateway/bench/internal/stats"
)

// Conn is one client connection. Do sends one request and waits for its whole answer; it is
// called by one goroutine at a time. A Conn that lost its transport reconnects on the next Do.
type Conn interface {
	Do(ctx context.Context) error
	Close() error
}

// Dialer opens one Conn.
type Dialer func(ctx context.Context) (Conn, error)

// Config bounds a run.
type Config struct {
	Conns       int           // concurrent connections; default 64
	Rate        float64       // requests per second over all connections; 0: closed loop
	Duration    time.Duration // required
	MaxRequests int64         // 0: no bound but Duration
	// Grace is how long requests in flight at the end may still finish; default 2s.
	Grace time.Duration
}

// Result is what one run measured. Latencies are of successful requests, sorted.
type Result struct {
	Requests int64 // answered successfully
	Errors   int64
	// Unfinished requests were still waiting for their answer when the grace period ended; they
	// are in neither Requests nor Latencies.
	Unfinished int64
	FirstErr   error
	Elapsed    time.Duration
	Latencies  []time.Duration
}

// Throughput is successful requests per second.
func (r Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// P returns the p-th latency percentile.
func (r Result) P(p float64) time.Duration { return stats.Percentile(r.Latencies, p) }

// Run dials cfg.Conns connections, then drives them.
func Run(ctx context.Context, cfg Config, dial Dialer) (Result, error) {
	if cfg.Conns <= 0 {
		cfg.Conns = 64
	}
	if cfg.Duration <= 0 {
		return Result{}, errors.New("loadgen: duration required")
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 2 * time.Second
	}
	conns := make([]Conn, 0, cfg.Conns)
	closeAll := func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}
	for range cfg.Conns {
		c, err := dial(ctx)
		if err != nil {
			closeAll()
			return Result{}, fmt.Errorf("loadgen: dial: %w", err)
		}
		conns = append(conns, c)
	}
	defer closeAll()

	// runCtx ends Do calls still blocked after the grace period.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	capHint := int(cfg.MaxRequests)/cfg.Conns + 1
	if capHint > 1<<16 || cfg.MaxRequests == 0 {
		capHint = 1 << 12
	}
	w := &workers{lat: make([][]time.Duration, cfg.Conns)}
	for i := range w.lat {
		w.lat[i] = make([]time.Duration, 0, capHint)
	}

	start := time.Now()
	deadline := start.Add(cfg.Duration)
	var wg sync.WaitGroup
	if cfg.Rate > 0 {
		// Request k is due at start + k/rate. A free connection takes the next due request,
		// waits for its time if it is early, and sends it: when every connection is busy, due
		// requests queue and their latency (counted from when they were due) grows.
		interval := time.Duration(float64(time.Second) / cfg.Rate)
		var next atomic.Int64
		for i, c := range conns {
			wg.Go(func() {
				for runCtx.Err() == nil {
					k := next.Add(1) - 1
					if cfg.MaxRequests > 0 && k >= cfg.MaxRequests {
						return
					}
					at := start.Add(time.Duration(k) * interval)
					if !at.Before(deadline) {
						return
					}
					if d := time.Until(at); d > 0 {
						time.Sleep(d)
					}
					w.one(runCtx, i, c, at)
				}
			})
		}
	} else {
		var sent atomic.Int64
		for i, c := range conns {
			wg.Go(func() {
				for time.Now().Before(deadline) && runCtx.Err() == nil {
					if cfg.MaxRequests > 0 && sent.Add(1) > cfg.MaxRequests {
						return
					}
					w.one(runCtx, i, c, time.Now())
				}
			})
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Until(deadline) + cfg.Grace):
		cancel()
		closeAll()
		<-done
	case <-ctx.Done():
		cancel()
		closeAll()
		<-done
	}
	elapsed := time.Since(start)
	if elapsed > cfg.Duration && cfg.MaxRequests == 0 {
		// The run is bounded by time: requests finishing in the grace period were sent within it.
		elapsed = cfg.Duration
	}
	res := Result{Elapsed: elapsed, Errors: w.errs.Load(), Unfinished: w.unfinished.Load()}
	if p := w.firstErr.Load(); p != nil {
		res.FirstErr = *p
	}
	for _, l := range w.lat {
		res.Requests += int64(len(l))
		res.Latencies = append(res.Latencies, l...)
	}
	slices.Sort(res.Latencies)
	return res, ctx.Err()
}

type workers struct {
	lat        [][]time.Duration // per connection, so recording takes no lock
	errs       atomic.Int64
	unfinished atomic.Int64
	firstErr   atomic.Pointer[error]
}

// one sends a request whose latency counts from at.
func (w *workers) one(ctx context.Context, i int, c Conn, at time.Time) {
	if ctx.Err() != nil {
		return
	}
	if err := c.Do(ctx); err != nil {
		if ctx.Err() != nil {
			w.unfinished.Add(1)
			return
		}
		w.errs.Add(1)
		w.firstErr.CompareAndSwap(nil, &err)
		return
	}
	w.lat[i] = append(w.lat[i], time.Since(at))
}
