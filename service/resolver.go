package service

import (
	"fmt"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/resolver"

	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/registry/cache"
)

// Scheme is the target scheme the resolver builder serves: "registry:///<service name>".
const Scheme = "registry"

// NewResolverBuilder returns a grpc resolver.Builder for the "registry" scheme that follows c.
// It registers one listener with c.OnChange, so call it before c.Run starts. Pass it to
// grpc.NewClient with grpc.WithResolvers; one builder serves any number of clients.
func NewResolverBuilder(c *cache.Cache) resolver.Builder {
	b := &builder{cache: c, live: make(map[*registryResolver]struct{})}
	c.OnChange(b.changed)
	return b
}

// builder tracks its live resolvers and fans each cache change out to them.
type builder struct {
	cache *cache.Cache

	mu   sync.Mutex
	live map[*registryResolver]struct{}
}

var _ resolver.Builder = (*builder)(nil)

func (b *builder) Scheme() string { return Scheme }

// Build implements resolver.Builder. The target's endpoint is the full service name.
func (b *builder) Build(target resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	name := target.Endpoint()
	if name == "" {
		return nil, fmt.Errorf("%s resolver: target %q names no service (want %s:///<service>)",
			Scheme, target.String(), Scheme)
	}
	r := &registryResolver{name: name, cc: cc, b: b}
	// Track first, then push the current snapshot: a change landing in between is pushed by
	// changed, and the version check keeps the older snapshot from overwriting it.
	b.mu.Lock()
	b.live[r] = struct{}{}
	b.mu.Unlock()
	r.update(b.cache.Snapshot())
	return r, nil
}

// changed runs on the cache's goroutine after every swap.
func (b *builder) changed(snap *cache.Snapshot) {
	b.mu.Lock()
	rs := make([]*registryResolver, 0, len(b.live))
	for r := range b.live {
		rs = append(rs, r)
	}
	b.mu.Unlock()
	for _, r := range rs {
		r.update(snap)
	}
}

func (b *builder) remove(r *registryResolver) {
	b.mu.Lock()
	delete(b.live, r)
	b.mu.Unlock()
}

// registryResolver pushes the nodes of one service to one grpc ClientConn.
type registryResolver struct {
	name string
	cc   resolver.ClientConn
	b    *builder

	// mu orders pushes: the builder's initial push and the cache's goroutine may race. Close
	// does not take it (grpc calls Close from a context a push may be waiting on); a push that
	// loses the race with Close is ignored by grpc.
	closed atomic.Bool

	mu      sync.Mutex
	pushed  bool
	version uint64
	svc     *registry.Service // last pushed; snapshot values are immutable, so identity = unchanged
}

func (r *registryResolver) update(snap *cache.Snapshot) {
	if snap.Version == 0 {
		return // the cache has not synced yet: let calls wait rather than fail
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() || (r.pushed && snap.Version < r.version) {
		return
	}
	svc, _ := snap.Lookup(r.name)
	if r.pushed && svc == r.svc {
		r.version = snap.Version
		return
	}
	r.pushed, r.version, r.svc = true, snap.Version, svc
	if svc == nil || len(svc.Nodes) == 0 {
		// An empty list makes the balancer drop the old connections; the error is what failing
		// calls report (codes.Unavailable).
		_ = r.cc.UpdateState(resolver.State{})
		r.cc.ReportError(fmt.Errorf("%s resolver: service %q: %w", Scheme, r.name, registry.ErrNotFound))
		return
	}
	addrs := make([]resolver.Address, 0, len(svc.Nodes))
	for _, n := range svc.Nodes {
		addrs = append(addrs, resolver.Address{Addr: n.Address})
	}
	// The error (the balancer rejecting the state) needs no retry here: the next change pushes
	// again.
	_ = r.cc.UpdateState(resolver.State{Addresses: addrs})
}

// ResolveNow implements resolver.Resolver. The cache pushes every change, so there is nothing
// to look up.
func (r *registryResolver) ResolveNow(resolver.ResolveNowOptions) {}

// Close implements resolver.Resolver.
func (r *registryResolver) Close() {
	r.closed.Store(true)
	r.b.remove(r)
}
