package descriptor

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// loadTimeout bounds one shared descriptor load.
const loadTimeout = 10 * time.Second

// Cache holds one Set per service, loaded on first use from the service's Source.
type Cache struct {
	sources  map[string]Source
	fallback Source

	sets   atomic.Pointer[map[string]*Set]
	mu     sync.Mutex        // serialises writers of sets; guards gens
	gens   map[string]uint64 // per service, bumped by Invalidate so a load racing it is not stored
	flight singleflight.Group
}

// NewCache returns a cache using sources[service] where present, else fallback (reflection).
func NewCache(sources map[string]Source, fallback Source) *Cache {
	c := &Cache{sources: sources, fallback: fallback, gens: map[string]uint64{}}
	empty := map[string]*Set{}
	c.sets.Store(&empty)
	return c
}

// Get returns the service's Set, loading it if needed. Concurrent first calls share one load,
// which runs detached from any single caller's cancellation but bounded by the first caller's
// deadline. A load that an Invalidate of the service overtakes still answers the callers
// already waiting for it, but is not stored, and later callers start a new one.
func (c *Cache) Get(ctx context.Context, service string) (*Set, error) {
	if s, ok := (*c.sets.Load())[service]; ok {
		return s, nil
	}
	ch := c.flight.DoChan(service, func() (any, error) {
		// A load that finished between the look-up above and DoChan has stored its set.
		if s, ok := (*c.sets.Load())[service]; ok {
			return s, nil
		}
		gen := c.generation(service)
		// The load is shared by every caller waiting on it, so it runs on its own clock: one
		// client's short deadline (or its going away) must not fail the others. Each caller still
		// stops waiting at its own deadline below.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		src := c.sources[service]
		if src == nil {
			src = c.fallback
		}
		if src == nil {
			return nil, fmt.Errorf("no descriptor source for service %s", service)
		}
		set, err := src.Load(lctx, service)
		if err != nil {
			return nil, err
		}
		if set == nil {
			return nil, fmt.Errorf("the descriptor source of %s returned no descriptors", service)
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

func (c *Cache) generation(service string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gens[service]
}

func (c *Cache) store(service string, set *Set, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gens[service] != gen {
		return
	}
	next := maps.Clone(*c.sets.Load())
	next[service] = set
	c.sets.Store(&next)
}

// Invalidate drops the Sets of the named services whose descriptors come from reflection
// (static ones never change). A load of one of them already under way is not stored, and the
// next Get starts a new one rather than joining it.
func (c *Cache) Invalidate(services ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := maps.Clone(*c.sets.Load())
	for _, s := range services {
		if _, static := c.sources[s].(Static); static {
			continue
		}
		c.gens[s]++
		delete(next, s)
		c.flight.Forget(s)
	}
	c.sets.Store(&next)
}

// Loaded returns the services whose Sets are cached now.
func (c *Cache) Loaded() map[string]*Set { return *c.sets.Load() }
