package descriptor

import (
	"context"
	"maps"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/singleflight"
)

// Cache holds one Set per service, loaded on first use from the service's Source.
type Cache struct {
	sources  map[string]Source
	fallback Source

	sets   atomic.Pointer[map[string]*Set]
	mu     sync.Mutex // serialises writers of sets
	flight singleflight.Group
	gen    atomic.Uint64 // bumped by Invalidate so a load racing an invalidation is not stored
}

// NewCache returns a cache using sources[service] where present, else fallback (reflection).
func NewCache(sources map[string]Source, fallback Source) *Cache {
	c := &Cache{sources: sources, fallback: fallback}
	empty := map[string]*Set{}
	c.sets.Store(&empty)
	return c
}

// Get returns the service's Set, loading it if needed. Concurrent first calls share one load,
// which runs detached from any single caller's cancellation but bounded by the first caller's
// deadline.
func (c *Cache) Get(ctx context.Context, service string) (*Set, error) {
	if s, ok := (*c.sets.Load())[service]; ok {
		return s, nil
	}
	ch := c.flight.DoChan(service, func() (any, error) {
		gen := c.gen.Load()
		lctx := context.WithoutCancel(ctx)
		if dl, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			lctx, cancel = context.WithDeadline(lctx, dl)
			defer cancel()
		}
		src := c.sources[service]
		if src == nil {
			src = c.fallback
		}
		set, err := src.Load(lctx, service)
		if err != nil {
			return nil, err
		}
		c.store(service, set, gen)
		return set, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*Set), nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

func (c *Cache) store(service string, set *Set, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	next := maps.Clone(*c.sets.Load())
	next[service] = set
	c.sets.Store(&next)
}

// Invalidate drops the Sets of the named services whose descriptors come from reflection
// (static ones never change).
func (c *Cache) Invalidate(services ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen.Add(1)
	cur := *c.sets.Load()
	next := maps.Clone(cur)
	for _, s := range services {
		if _, static := c.sources[s].(Static); static {
			continue
		}
		delete(next, s)
	}
	c.sets.Store(&next)
}

// Loaded returns the services whose Sets are cached now.
func (c *Cache) Loaded() map[string]*Set { return *c.sets.Load() }
