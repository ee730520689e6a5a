// Package cache keeps an in-memory snapshot of a registry.Registry current, so the request hot
// path never waits on the registry.
//
// Contract:
//   - Snapshot and Lookup never block and never do I/O: they read an immutable *Snapshot swapped
//     atomically by the goroutine in Run.
//   - Run lists, then follows the registry's watch; when the watch ends or fails it lists again,
//     backing off between failures. While the registry is unreachable the last good snapshot keeps
//     serving and Stale reports it (logged once per outage, not per retry).
//   - Listeners registered with OnChange run on Run's goroutine just before each swap, in
//     registration order, with the new snapshot; they must not block for long. So when Snapshot
//     or WaitSynced shows a version, every listener has already handled it.
package cache

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeapi/gateway/registry"
)

// Snapshot is an immutable view of every known service.
type Snapshot struct {
	// Version increases with every swap; 0 means "never synced". Watch events that arrive in a
	// burst are folded into one swap.
	Version  uint64
	Services map[string]*registry.Service
}

// Lookup returns the service by full name.
func (s *Snapshot) Lookup(name string) (*registry.Service, bool) {
	svc, ok := s.Services[name]
	return svc, ok
}

// Sorted returns the services ordered by name.
func (s *Snapshot) Sorted() []*registry.Service {
	out := make([]*registry.Service, 0, len(s.Services))
	for _, svc := range s.Services {
		out = append(out, svc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Config tunes the cache; zero values mean the documented defaults.
type Config struct {
	// MinBackoff is the first wait after a failure; default 100ms.
	MinBackoff time.Duration
	// MaxBackoff caps the wait; default 10s.
	MaxBackoff time.Duration
}

// Cache follows a registry. Create with New, drive with Run.
type Cache struct {
	reg    registry.Registry
	log    *slog.Logger
	cfg    Config
	snap   atomic.Pointer[Snapshot]
	synced chan struct{}
	once   sync.Once

	mu        sync.Mutex
	listeners []func(*Snapshot)

	staleSince atomic.Int64 // unix nanos of the first failure of the current outage; 0 = healthy
	lastErr    atomic.Pointer[error]
}

// New returns a cache over reg. It holds an empty snapshot until Run's first listing succeeds.
// A nil log discards.
func New(reg registry.Registry, log *slog.Logger, cfg Config) *Cache {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	c := &Cache{reg: reg, log: log, cfg: cfg, synced: make(chan struct{})}
	c.snap.Store(&Snapshot{Services: map[string]*registry.Service{}})
	return c
}

// Snapshot returns the current view.
func (c *Cache) Snapshot() *Snapshot { return c.snap.Load() }

// Lookup returns a service from the current view.
func (c *Cache) Lookup(name string) (*registry.Service, bool) { return c.snap.Load().Lookup(name) }

// OnChange registers fn to run after every swap. Register before Run starts.
func (c *Cache) OnChange(fn func(*Snapshot)) {
	c.mu.Lock()
	c.listeners = append(c.listeners, fn)
	c.mu.Unlock()
}

// WaitSynced blocks until the first listing succeeded or ctx is done.
func (c *Cache) WaitSynced(ctx context.Context) error {
	select {
	case <-c.synced:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Stale reports whether the registry is currently unreachable, since when, and why.
func (c *Cache) Stale() (bool, time.Time, error) {
	since := c.staleSince.Load()
	if since == 0 {
		return false, time.Time{}, nil
	}
	var err error
	if p := c.lastErr.Load(); p != nil {
		err = *p
	}
	return true, time.Unix(0, since), err
}

// Run follows the registry until ctx is done. It returns nil when ctx ends.
func (c *Cache) Run(ctx context.Context) error {
	backoff := c.cfg.MinBackoff
	for ctx.Err() == nil {
		err := c.cycle(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := backoff
		if errors.Is(err, errWatchEnded) {
			// The watch ended without failing (e.g. this watcher fell behind): list again soon.
			wait, backoff = c.cfg.MinBackoff, c.cfg.MinBackoff
		} else {
			c.markStale(err)
			backoff = min(backoff*2, c.cfg.MaxBackoff)
			// Jitter, so gateways that lost the registry together do not return in lockstep.
			wait = wait/2 + rand.N(wait/2+1)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
	return nil
}

// cycle lists, publishes, then applies watch events until the watch ends.
func (c *Cache) cycle(ctx context.Context) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Watch before listing so no change between the two is missed; events that repeat what the
	// listing already shows are harmless because each carries a whole service.
	events, err := c.reg.Watch(wctx)
	if err != nil {
		return err
	}
	list, err := c.reg.ListServices(ctx)
	if err != nil {
		return err
	}
	services := make(map[string]*registry.Service, len(list))
	for _, s := range list {
		if len(s.Nodes) > 0 {
			services[s.Name] = s
		}
	}
	// Healthy before publishing, so whoever WaitSynced or a listener wakes sees Stale false.
	c.markHealthy()
	c.publish(services)
	for ev := range events {
		// Apply the whole burst of events already queued, then publish once: a registry that
		// announces many services at once should not cost one full table copy (and one
		// listener round) per service.
		next := c.clone()
		changed := apply(next, ev)
	burst:
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					break burst
				}
				changed = apply(next, ev) || changed
			default:
				break burst
			}
		}
		if changed {
			c.publish(next)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return errWatchEnded
}

var errWatchEnded = errors.New("registry watch ended")

// clone copies the current services so a writer can change the copy.
func (c *Cache) clone() map[string]*registry.Service {
	cur := c.snap.Load().Services
	next := make(map[string]*registry.Service, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	return next
}

// apply records ev in services and reports whether anything changed.
func apply(services map[string]*registry.Service, ev registry.Event) bool {
	if ev.Type == registry.EventDelete || ev.Service == nil || len(ev.Service.Nodes) == 0 {
		name := ev.Name
		if name == "" && ev.Service != nil {
			name = ev.Service.Name
		}
		if _, ok := services[name]; !ok {
			return false
		}
		delete(services, name)
		return true
	}
	services[ev.Service.Name] = ev.Service
	return true
}

func (c *Cache) publish(services map[string]*registry.Service) {
	prev := c.snap.Load()
	s := &Snapshot{Version: prev.Version + 1, Services: services}
	c.mu.Lock()
	ls := slices.Clone(c.listeners)
	c.mu.Unlock()
	// Listeners first: whoever sees the new snapshot (or WaitSynced returning) may rely on what
	// the listeners derive from it (the selector's table, the routes) being in place already.
	for _, fn := range ls {
		fn(s)
	}
	c.snap.Store(s)
	c.once.Do(func() { close(c.synced) })
}

func (c *Cache) markStale(err error) {
	c.lastErr.Store(&err)
	if c.staleSince.CompareAndSwap(0, time.Now().UnixNano()) {
		c.log.Warn("registry unreachable, serving last known services", "error", err,
			"services", len(c.snap.Load().Services))
	}
}

func (c *Cache) markHealthy() {
	if since := c.staleSince.Swap(0); since != 0 {
		c.log.Info("registry reachable again", "outage", time.Since(time.Unix(0, since)).Round(time.Millisecond))
	}
}
