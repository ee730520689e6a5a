package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/config"
	"github.com/edgeapi/gateway/connpool"
	"github.com/edgeapi/gateway/descriptor"
	"github.com/edgeapi/gateway/handler/rpc"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/registry/cache"
	"github.com/edgeapi/gateway/registry/open"
	"github.com/edgeapi/gateway/selector"
)

// backend is the gateway's path to services, built for one CLI command: the configured
// registry followed by a cache, a selector over its snapshot, pooled connections, and
// descriptors from reflection (or the configured .proto files and protosets).
type backend struct {
	cache  *cache.Cache
	sel    *selector.Selector
	pool   *connpool.Pool
	caller *rpc.Caller
	descs  *descriptor.Cache

	stopCache context.CancelFunc
	wg        sync.WaitGroup
	release   func()
}

// openRegistry opens the configured registry; an error says which registry failed.
func openRegistry(ctx context.Context, cfg config.Config, log *slog.Logger) (registry.Registry, func(), error) {
	reg, release, err := open.Registry(ctx, cfg, log)
	if err != nil {
		return nil, nil, registryError(cfg, err)
	}
	return reg, release, nil
}

// registryError says the registry could not be used: 503 from the gateway's point of view.
func registryError(cfg config.Config, err error) error {
	e := apierror.New(http.StatusServiceUnavailable, "registry %s: %v", cfg.Registry.Type, err)
	e.ID = apierror.GatewayID
	return e
}

// openBackend builds the backend and waits (within ctx) for the registry's first listing.
func openBackend(ctx context.Context, cfg config.Config, log *slog.Logger) (b *backend, err error) {
	reg, release, err := openRegistry(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	b = &backend{release: release, stopCache: func() {}}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	b.sel, err = selector.New(selector.Config{Strategy: selector.Strategy(cfg.Selector.Strategy)})
	if err != nil {
		return nil, err
	}
	b.pool = connpool.New(connpool.Config{DialTimeout: cfg.RPC.DialTimeout.D()})
	b.caller = &rpc.Caller{Selector: b.sel, Pool: b.pool}
	if b.descs, err = descriptorCache(ctx, cfg, b.caller); err != nil {
		return nil, usagef("%v", err) // a configured .proto file or protoset that does not load
	}

	b.cache = cache.New(reg, log, cache.Config{})
	b.cache.OnChange(func(s *cache.Snapshot) { b.sel.Update(s.Services) })
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	b.stopCache = stop
	b.wg.Go(func() { _ = b.cache.Run(runCtx) })
	if err := b.cache.WaitSynced(ctx); err != nil {
		if stale, _, last := b.cache.Stale(); stale && last != nil {
			err = fmt.Errorf("%w (last error: %v)", err, last)
		}
		return nil, registryError(cfg, fmt.Errorf("no listing yet: %w", err))
	}
	// The cache marks itself synced before it runs its listeners: make sure the selector has
	// the first snapshot before anyone selects.
	b.sel.Update(b.cache.Snapshot().Services)
	return b, nil
}

// close stops the cache and releases connections and the registry.
func (b *backend) close() {
	b.stopCache()
	b.wg.Wait()
	if b.pool != nil {
		b.pool.Close()
	}
	b.release()
}

// service returns the service as the registry has it, or an error wrapping
// registry.ErrNotFound.
func (b *backend) service(name string) (*registry.Service, error) {
	svc, ok := b.cache.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("%q: %w", name, registry.ErrNotFound) // as the selector says it
	}
	return svc, nil
}

// descriptors returns the service's descriptors; an unknown service is a 404.
func (b *backend) descriptors(ctx context.Context, service string) (*descriptor.Set, error) {
	if _, err := b.service(service); err != nil {
		return nil, err
	}
	return b.descs.Get(ctx, service)
}
