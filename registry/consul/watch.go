package consul

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/edgeapi/gateway/registry"
)

// watchBuffer lets a burst of events through without waiting for the consumer; beyond it the
// watch waits (blocking queries lose nothing while they are not being made).
const watchBuffer = 64

// Watch implements registry.Registry. See the package documentation for its failure behaviour.
func (r *Registry) Watch(ctx context.Context) (<-chan registry.Event, error) {
	lctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	names, meta, err := r.serviceNames(lctx, nil)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("consul: watch: %w", err)
	}
	// The watch's own ctx: ends with the caller's, or when the watch gives up on an outage.
	wctx, end := context.WithCancelCause(ctx)
	w := &watch{r: r, out: make(chan registry.Event, watchBuffer), services: map[string]*serviceWatch{}, end: end}
	go w.run(wctx, names, meta.LastIndex) // ends when wctx is done
	return w.out, nil
}

// errGaveUp ends a watch whose Consul stayed unreachable for Config.OutageGrace.
var errGaveUp = errors.New("consul unreachable for longer than the outage grace")

// watch is one call of Watch. Its run goroutine owns the service watchers: it stops them and
// waits for them before closing out.
type watch struct {
	r        *Registry
	out      chan registry.Event
	services map[string]*serviceWatch // only touched by run
	down     atomic.Int64             // unix nanos of the first error of the current outage; 0 = up
	end      context.CancelCauseFunc  // cancels the watch's ctx

	mu      sync.Mutex
	giveUp  *time.Timer // ends the watch when the current outage outlasts the grace; nil when up
	stopped bool        // run has returned: arm no more timers
}

// serviceWatch follows the passing instances of one service.
type serviceWatch struct {
	cancel context.CancelFunc
	done   chan struct{}
	// alive is whether the last event sent for the service was an update. Written by the
	// service's goroutine, read by run after done is closed.
	alive bool
}

// run follows the service list: it starts a watcher per service that appears and stops the
// watchers of services that disappear, sending their delete when the watcher's last word was an
// update.
func (w *watch) run(ctx context.Context, names []string, index uint64) {
	defer close(w.out)
	defer func() {
		for _, sw := range w.services {
			sw.cancel()
		}
		for _, sw := range w.services {
			<-sw.done
		}
		w.mu.Lock()
		w.stopped = true
		if w.giveUp != nil {
			w.giveUp.Stop()
		}
		w.mu.Unlock()
		if errors.Is(context.Cause(ctx), errGaveUp) {
			w.r.log.Warn("consul watch gave up: consul unreachable for longer than the outage grace; "+
				"the consumer lists and watches again", "address", w.r.cfg.Address, "grace", w.r.cfg.OutageGrace)
		}
		w.end(context.Canceled)
	}()
	w.sync(ctx, names)
	bo := w.newBackoff()
	for ctx.Err() == nil {
		q := &api.QueryOptions{WaitIndex: index, WaitTime: w.r.cfg.WaitTime}
		asked := time.Now()
		qctx, cancel := context.WithTimeout(ctx, w.blockingTimeout())
		got, meta, err := w.r.serviceNames(qctx, q)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			w.failed(err)
			index = 0 // the next answer may come from a Consul that lost its state
			if !bo.wait(ctx) {
				return
			}
			continue
		}
		w.recovered(asked)
		bo.reset()
		index = nextIndex(index, meta.LastIndex)
		w.sync(ctx, got)
	}
}

// sync makes the set of service watchers match names.
func (w *watch) sync(ctx context.Context, names []string) {
	want := make(map[string]bool, len(names))
	for _, name := range names {
		want[name] = true
		if _, ok := w.services[name]; ok {
			continue
		}
		w.r.log.Debug("consul watch: following service", "service", name)
		sctx, cancel := context.WithCancel(ctx)
		sw := &serviceWatch{cancel: cancel, done: make(chan struct{})}
		w.services[name] = sw
		go w.follow(sctx, name, sw)
	}
	for name, sw := range w.services {
		if want[name] {
			continue
		}
		w.r.log.Debug("consul watch: service left the catalog", "service", name)
		sw.cancel()
		<-sw.done
		delete(w.services, name)
		if sw.alive && !w.send(ctx, registry.Event{Type: registry.EventDelete, Name: name}) {
			return
		}
	}
}

// follow sends the state of one service whenever its passing instances change: first what it
// finds, then every change. Consecutive equal states are sent once.
func (w *watch) follow(ctx context.Context, name string, sw *serviceWatch) {
	defer close(sw.done)
	var (
		index uint64
		last  *registry.Service
		sent  bool
	)
	bo := w.newBackoff()
	for ctx.Err() == nil {
		q := &api.QueryOptions{WaitIndex: index, WaitTime: w.r.cfg.WaitTime}
		asked := time.Now()
		qctx, cancel := context.WithTimeout(ctx, w.blockingTimeout())
		svc, meta, err := w.r.health(qctx, name, q)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			w.failed(err)
			index = 0
			if !bo.wait(ctx) {
				return
			}
			continue
		}
		w.recovered(asked)
		bo.reset()
		index = nextIndex(index, meta.LastIndex)
		if sent && reflect.DeepEqual(svc, last) {
			continue
		}
		ev := registry.Event{Type: registry.EventUpdate, Name: name, Service: svc}
		if svc == nil {
			ev.Type = registry.EventDelete
		}
		w.r.log.Debug("consul watch: service changed", "service", name, "event", ev.Type,
			"nodes", len(nodesOf(svc)), "index", index)
		if !w.send(ctx, ev) {
			return
		}
		last, sent, sw.alive = svc, true, svc != nil
	}
}

func (w *watch) send(ctx context.Context, ev registry.Event) bool {
	select {
	case w.out <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// blockingTimeout bounds one blocking query: Consul answers within WaitTime plus up to
// WaitTime/16 of jitter; Timeout on top covers the round trip.
func (w *watch) blockingTimeout() time.Duration {
	return w.r.cfg.WaitTime + w.r.cfg.WaitTime/16 + w.r.cfg.Timeout
}

// failed and recovered log an outage once, whichever goroutine of the watch sees it first.
// failed also arms the timer that ends the watch when the outage outlasts Config.OutageGrace.
func (w *watch) failed(err error) {
	since := time.Now().UnixNano()
	if !w.down.CompareAndSwap(0, since) {
		return
	}
	w.r.log.Warn("consul watch failing, retrying with backoff; consumers keep their last view",
		"address", w.r.cfg.Address, "error", err, "grace", w.r.cfg.OutageGrace)
	if w.r.cfg.OutageGrace < 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	if w.giveUp != nil {
		w.giveUp.Stop()
	}
	// The callback only cancels: run notices, stops the goroutines and closes the channel.
	w.giveUp = time.AfterFunc(w.r.cfg.OutageGrace, func() {
		if w.down.Load() == since { // still the same outage
			w.end(errGaveUp)
		}
	})
}

// recovered ends the outage unless the successful query was sent before it began (an answer
// already on its way when Consul went down).
func (w *watch) recovered(asked time.Time) {
	since := w.down.Load()
	if since != 0 && asked.UnixNano() > since && w.down.CompareAndSwap(since, 0) {
		w.mu.Lock()
		if w.giveUp != nil {
			w.giveUp.Stop()
			w.giveUp = nil
		}
		w.mu.Unlock()
		w.r.log.Info("consul watch recovered", "address", w.r.cfg.Address,
			"outage", time.Since(time.Unix(0, since)).Round(time.Millisecond))
	}
}

// nextIndex applies Consul's rules for blocking query indexes: start over when the index goes
// backwards (Consul restarted, snapshot restore, another server), and never wait on 0.
func nextIndex(prev, got uint64) uint64 {
	if got < prev {
		return 0
	}
	return max(got, 1)
}

// backoff is an exponential wait with jitter that gives up when ctx is done.
type backoff struct {
	min, max, cur time.Duration
}

func (w *watch) newBackoff() *backoff {
	return &backoff{min: w.r.cfg.MinBackoff, max: w.r.cfg.MaxBackoff, cur: w.r.cfg.MinBackoff}
}

func (b *backoff) reset() { b.cur = b.min }

// wait sleeps the current backoff (±25%) and doubles it; false when ctx ended first.
func (b *backoff) wait(ctx context.Context) bool {
	d := b.cur - b.cur/4 + time.Duration(rand.Int64N(int64(b.cur/2)+1))
	b.cur = min(b.cur*2, b.max)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func nodesOf(s *registry.Service) []registry.Node {
	if s == nil {
		return nil
	}
	return s.Nodes
}
