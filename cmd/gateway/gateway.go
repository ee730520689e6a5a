package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/edgeapi/gateway/config"
	"github.com/edgeapi/gateway/connpool"
	"github.com/edgeapi/gateway/descriptor"
	"github.com/edgeapi/gateway/handler/rpc"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/registry/cache"
	"github.com/edgeapi/gateway/registry/open"
	"github.com/edgeapi/gateway/resolver"
	"github.com/edgeapi/gateway/router"
	"github.com/edgeapi/gateway/selector"
)

// gateway owns every long-lived part of a running gateway.
type gateway struct {
	cfg      config.Config
	log      *slog.Logger
	cache    *cache.Cache
	pool     *connpool.Pool
	sel      *selector.Selector
	handler  http.Handler
	release  func()
	draining atomic.Bool
}

func newGateway(ctx context.Context, cfg config.Config, log *slog.Logger) (*gateway, error) {
	reg, release, err := open.Registry(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	g := &gateway{cfg: cfg, log: log, release: release}
	g.cache = cache.New(reg, log, cache.Config{})
	g.sel, err = selector.New(selector.Config{
		Strategy: selector.Strategy(cfg.Selector.Strategy),
		Breaker: selector.BreakerConfig{
			ConsecutiveFailures: cfg.Selector.Breaker.ConsecutiveFailures,
			OpenTimeout:         cfg.Selector.Breaker.OpenTimeout.D(),
			HalfOpenRequests:    cfg.Selector.Breaker.HalfOpenRequests,
			Interval:            cfg.Selector.Breaker.Interval.D(),
			OnStateChange: func(service, node string, from, to gobreaker.State) {
				log.Warn("circuit breaker changed state", "service", service, "node", node, "from", from.String(), "to", to.String())
			},
		},
	})
	if err != nil {
		release()
		return nil, err
	}
	g.pool = connpool.New(connpool.Config{DialTimeout: cfg.RPC.DialTimeout.D()})
	caller := &rpc.Caller{Selector: g.sel, Pool: g.pool}

	sources := map[string]descriptor.Source{}
	for name, s := range cfg.RPC.Services {
		var set *descriptor.Set
		switch s.Descriptors {
		case "proto":
			set, err = descriptor.CompileProtos(ctx, s.ImportPaths, s.ProtoFiles)
		case "protoset":
			set, err = descriptor.LoadProtoset(s.Protoset)
		default:
			continue
		}
		if err != nil {
			release()
			return nil, fmt.Errorf("rpc.services[%s]: %w", name, err)
		}
		sources[name] = descriptor.Static{Set: set}
	}
	descs := descriptor.NewCache(sources, descriptor.Reflection{Conns: caller})
	g.cache.OnChange(g.onRegistryChange(descs))

	rpcHandler, err := rpc.New(caller, descs, log, rpc.Config{
		Timeout:        cfg.RPC.Timeout.D(),
		MaxTimeout:     cfg.RPC.MaxTimeout.D(),
		UseProtoNames:  cfg.RPC.UseProtoNames,
		OmitZeroValues: cfg.RPC.OmitZeroValues,
		ForwardHeaders: cfg.Headers.Forward,
		BodyLimit:      int64(cfg.Server.BodyLimit),
	})
	if err != nil {
		release()
		return nil, err
	}
	res, err := resolver.New(cfg.Resolver.Type, cfg.Resolver.NamespaceOrDefault())
	if err != nil {
		release()
		return nil, err
	}
	routes := make([]router.Route, 0, len(cfg.Routes))
	for _, r := range cfg.Routes {
		routes = append(routes, router.Route{
			Path: r.Path, Method: r.Method, Handler: r.Handler, Service: r.Service, Endpoint: r.Endpoint,
			Timeout: r.Timeout.D(), MaxTimeout: r.MaxTimeout.D(), BodyLimit: int64(r.BodyLimit), StripPrefix: r.StripPrefix,
		})
	}
	g.handler, err = router.New(router.Config{
		Log:            log,
		Resolver:       res,
		Handlers:       map[string]http.Handler{"rpc": rpcHandler},
		DefaultHandler: cfg.Handler,
		Routes:         routes,
		Ready:          g.ready,
	})
	if err != nil {
		release()
		return nil, err
	}
	return g, nil
}

// onRegistryChange keeps the selector, the connection pool and the descriptor cache in step with
// the registry. It runs on the cache's goroutine, one snapshot at a time.
func (g *gateway) onRegistryChange(descs *descriptor.Cache) func(*cache.Snapshot) {
	prev := map[string]*registry.Service{}
	return func(s *cache.Snapshot) {
		g.sel.Update(s.Services)
		live := map[string]bool{}
		for _, svc := range s.Services {
			for _, n := range svc.Nodes {
				live[n.Address] = true
			}
		}
		g.pool.Retain(live)
		var changed []string
		for name, old := range prev {
			if cur, ok := s.Services[name]; !ok || !sameNodes(old, cur) {
				changed = append(changed, name)
			}
		}
		if len(changed) > 0 {
			descs.Invalidate(changed...)
		}
		prev = s.Services
	}
}

func sameNodes(a, b *registry.Service) bool {
	if len(a.Nodes) != len(b.Nodes) {
		return false
	}
	for i := range a.Nodes {
		if a.Nodes[i].ID != b.Nodes[i].ID || a.Nodes[i].Address != b.Nodes[i].Address {
			return false
		}
	}
	return true
}

func (g *gateway) ready() (bool, string) {
	if g.draining.Load() {
		return false, "shutting down"
	}
	if stale, since, err := g.cache.Stale(); stale {
		return true, fmt.Sprintf("degraded: registry unreachable since %s (%v); serving the last known services", since.Format(time.RFC3339), err)
	}
	if g.cache.Snapshot().Version == 0 {
		return false, "registry not synced yet"
	}
	return true, "ready"
}

// run serves until ctx is done, then drains in-flight requests within the shutdown timeout.
func (g *gateway) run(ctx context.Context) error {
	ln, err := net.Listen("tcp", g.cfg.Server.Address)
	if err != nil {
		g.release()
		return err
	}
	return g.serve(ctx, ln)
}

func (g *gateway) serve(ctx context.Context, ln net.Listener) error {
	defer g.release()
	defer g.pool.Close()
	cacheCtx, stopCache := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = g.cache.Run(cacheCtx)
	}()
	defer wg.Wait()
	defer stopCache()

	syncCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := g.cache.WaitSynced(syncCtx); err != nil && ctx.Err() == nil {
		g.log.Warn("registry not synced yet; serving anyway, readiness stays false until it is", "error", err)
	}
	cancel()

	srv := &http.Server{
		Handler:           g.handler,
		ReadHeaderTimeout: g.cfg.Server.ReadHeaderTimeout.D(),
		IdleTimeout:       g.cfg.Server.IdleTimeout.D(),
		MaxHeaderBytes:    int(g.cfg.Server.MaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	g.log.Info("gateway listening", "address", ln.Addr().String(), "registry", g.cfg.Registry.Type,
		"resolver", g.cfg.Resolver.Type, "namespace", g.cfg.Resolver.NamespaceOrDefault())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	g.draining.Store(true)
	g.log.Info("shutting down: draining in-flight requests", "timeout", g.cfg.Server.ShutdownTimeout.D())
	sctx, cancel := context.WithTimeout(context.Background(), g.cfg.Server.ShutdownTimeout.D())
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("drain did not finish in %s: %w", g.cfg.Server.ShutdownTimeout.D(), err)
	}
	g.log.Info("gateway stopped")
	return nil
}
