package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/sony/gobreaker/v2"

	brokernats "github.com/edgeapi/gateway/broker/nats"
	"github.com/edgeapi/gateway/config"
	"github.com/edgeapi/gateway/connpool"
	"github.com/edgeapi/gateway/dashboard"
	"github.com/edgeapi/gateway/descriptor"
	"github.com/edgeapi/gateway/handler/api"
	"github.com/edgeapi/gateway/handler/event"
	httphandler "github.com/edgeapi/gateway/handler/http"
	"github.com/edgeapi/gateway/handler/rpc"
	"github.com/edgeapi/gateway/handler/web"
	"github.com/edgeapi/gateway/natsserver"
	"github.com/edgeapi/gateway/openapi"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/registry/cache"
	"github.com/edgeapi/gateway/registry/open"
	"github.com/edgeapi/gateway/resolver"
	"github.com/edgeapi/gateway/router"
	"github.com/edgeapi/gateway/selector"
	"github.com/edgeapi/gateway/trust"
)

// gateway owns every long-lived part of a running gateway.
type gateway struct {
	cfg      config.Config
	log      *slog.Logger
	cache    *cache.Cache
	pool     *connpool.Pool
	sel      *selector.Selector
	web      *web.Handler
	handler  *router.Router
	closers  []func() // run in reverse order when the gateway stops
	draining atomic.Bool
}

// usesHandler reports whether any route, or the default, uses the named handler.
func usesHandler(cfg config.Config, name string) bool {
	return cfg.Handler == name || slices.ContainsFunc(cfg.Routes, func(r config.Route) bool { return r.Handler == name })
}

func newGateway(ctx context.Context, cfg config.Config, log *slog.Logger) (g *gateway, err error) {
	g = &gateway{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			g.close()
		}
	}()
	needNATS := cfg.Registry.Type == "nats" || usesHandler(cfg, "event")
	if needNATS && cfg.NATS.URL == "" {
		e := cfg.NATS.Embedded
		ns, err := natsserver.Start(ctx, natsserver.Config{Host: e.Host, Port: e.Port, StoreDir: e.StoreDir}, log)
		if err != nil {
			return nil, fmt.Errorf("embedded NATS server: %w", err)
		}
		g.closers = append(g.closers, ns.Shutdown)
		cfg.NATS.URL = ns.ClientURL()
		log.Info("embedded NATS server running", "url", cfg.NATS.URL, "store_dir", e.StoreDir)
	}

	reg, release, err := open.Registry(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	g.closers = append(g.closers, release)
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
		return nil, err
	}
	g.pool = connpool.New(connpool.Config{DialTimeout: cfg.RPC.DialTimeout.D()})
	g.closers = append(g.closers, g.pool.Close)
	caller := &rpc.Caller{Selector: g.sel, Pool: g.pool}

	descs, err := descriptorCache(ctx, cfg, caller)
	if err != nil {
		return nil, err
	}
	handlers, err := g.handlers(ctx, cfg, caller, descs)
	if err != nil {
		return nil, err
	}
	res, err := resolver.New(cfg.Resolver.Type, cfg.Resolver.NamespaceOrDefault())
	if err != nil {
		return nil, err
	}
	routes := make([]router.Route, 0, len(cfg.Routes))
	for _, r := range cfg.Routes {
		routes = append(routes, router.Route{
			Path: r.Path, Method: r.Method, Handler: r.Handler, Service: r.Service, Endpoint: r.Endpoint,
			Timeout: r.Timeout.D(), MaxTimeout: r.MaxTimeout.D(), BodyLimit: int64(r.BodyLimit), StripPrefix: r.StripPrefix,
		})
	}
	mounts, middleware, err := g.tools(cfg, res, descs)
	if err != nil {
		return nil, err
	}
	g.handler, err = router.New(router.Config{
		Log:            log,
		Resolver:       res,
		Handlers:       handlers,
		DefaultHandler: cfg.Handler,
		Routes:         routes,
		Mounts:         mounts,
		Middleware:     middleware,
		Ready:          g.ready,
	})
	if err != nil {
		return nil, err
	}
	// Registered after the router exists: the first snapshot builds the registry routes too.
	g.cache.OnChange(g.onRegistryChange(descs))
	return g, nil
}

// tools builds the gateway's own pages: the live OpenAPI documents and the dashboard, with the
// middleware that records recent errors for it.
func (g *gateway) tools(cfg config.Config, res resolver.Resolver, descs *descriptor.Cache) (map[string]http.Handler, []func(http.Handler) http.Handler, error) {
	mounts := map[string]http.Handler{}
	var middleware []func(http.Handler) http.Handler
	var routes []openapi.Route
	eventsPath := ""
	if cfg.Handler == "event" {
		eventsPath = "/"
	}
	for _, r := range cfg.Routes {
		routes = append(routes, openapi.Route{Method: r.Method, Path: r.Path, Handler: r.Handler, Service: r.Service, Endpoint: r.Endpoint})
		if r.Handler == "event" && eventsPath == "" {
			static, _, _ := strings.Cut(strings.SplitN(r.Path, "{", 2)[0], "*")
			if eventsPath = strings.TrimSuffix(static, "/"); eventsPath == "" {
				eventsPath = "/"
			}
		}
	}
	openapiPath := ""
	if cfg.OpenAPI.Enabled {
		gen, err := openapi.New(g.cache, descs, openapi.Config{
			Path: cfg.OpenAPI.Path, Resolver: res, DefaultHandler: cfg.Handler, Routes: routes,
			UseProtoNames: cfg.RPC.UseProtoNames, Log: g.log,
		})
		if err != nil {
			return nil, nil, err
		}
		maps.Copy(mounts, gen.Mounts())
		openapiPath = cfg.OpenAPI.Path
	}
	if cfg.Dashboard.Enabled {
		var rec *dashboard.Recorder
		if cfg.Dashboard.RecentErrors > 0 {
			rec = dashboard.NewRecorder(cfg.Dashboard.RecentErrors)
			middleware = append(middleware, rec.Middleware)
		}
		dash, err := dashboard.New(g.cache, g.sel, descs, dashboard.Config{
			Prefix: cfg.Dashboard.Prefix, Resolver: res, DefaultHandler: cfg.Handler, Routes: routes,
			UseProtoNames: cfg.RPC.UseProtoNames, EventsPath: eventsPath, OpenAPIPath: openapiPath, Errors: rec, Log: g.log,
		})
		if err != nil {
			return nil, nil, err
		}
		mounts[dash.Prefix()] = dash
	}
	return mounts, middleware, nil
}

// descriptorCache compiles the configured .proto files and protosets once, at start-up, and
// falls back to server reflection for every other service.
func descriptorCache(ctx context.Context, cfg config.Config, caller *rpc.Caller) (*descriptor.Cache, error) {
	sources := map[string]descriptor.Source{}
	for name, s := range cfg.RPC.Services {
		var set *descriptor.Set
		var err error
		switch s.Descriptors {
		case "proto":
			set, err = descriptor.CompileProtos(ctx, s.ImportPaths, s.ProtoFiles)
		case "protoset":
			set, err = descriptor.LoadProtoset(s.Protoset)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("rpc.services[%s]: %w", name, err)
		}
		sources[name] = descriptor.Static{Set: set}
	}
	return descriptor.NewCache(sources, descriptor.Reflection{Conns: caller}), nil
}

// handlers builds the five handlers; the event handler (and its broker connection) only when a
// route or the default uses it, so a gateway without events needs no NATS.
func (g *gateway) handlers(ctx context.Context, cfg config.Config, caller *rpc.Caller, descs *descriptor.Cache) (map[string]http.Handler, error) {
	rpcHandler, err := rpc.New(caller, descs, g.log, rpc.Config{
		Timeout:        cfg.RPC.Timeout.D(),
		MaxTimeout:     cfg.RPC.MaxTimeout.D(),
		UseProtoNames:  cfg.RPC.UseProtoNames,
		OmitZeroValues: cfg.RPC.OmitZeroValues,
		ForwardHeaders: cfg.Headers.Forward,
		BodyLimit:      int64(cfg.Server.BodyLimit),
		AllowedOrigins: cfg.Web.AllowedOrigins,
		WSReadLimit:    int64(cfg.Web.ReadLimit),
	})
	if err != nil {
		return nil, err
	}
	trusted, err := trust.Parse(cfg.Server.TrustedProxies)
	if err != nil {
		return nil, err
	}
	apiHandler := api.New(caller, descs, g.log, api.Config{
		TrustedProxies: trusted,
		Timeout:        cfg.RPC.Timeout.D(),
		MaxTimeout:     cfg.RPC.MaxTimeout.D(),
		BodyLimit:      int64(cfg.Server.BodyLimit),
		ForwardHeaders: cfg.Headers.Forward,
	})
	httpHandler := httphandler.New(g.sel, g.log, httphandler.Config{
		TrustedProxies: trusted,
		DialTimeout:    cfg.RPC.DialTimeout.D(),
		Timeout:        cfg.RPC.Timeout.D(),
	})
	g.web = web.New(httpHandler, g.sel, g.log, web.Config{
		AllowedOrigins: cfg.Web.AllowedOrigins,
		ReadLimit:      int64(cfg.Web.ReadLimit),
		IdleTimeout:    cfg.Web.IdleTimeout.D(),
		DialTimeout:    cfg.RPC.DialTimeout.D(),
		MaxConns:       int64(cfg.Web.MaxConns),
	})
	handlers := map[string]http.Handler{"rpc": rpcHandler, "api": apiHandler, "http": httpHandler, "web": g.web}
	if !usesHandler(cfg, "event") {
		return handlers, nil
	}
	// No reconnect buffer: a publish while disconnected must fail now (503), not be stored
	// later behind the back of a client that was told it failed.
	nc, err := open.ConnectNATS(cfg, "gateway-events", nats.ReconnectBufSize(-1))
	if err != nil {
		return nil, err
	}
	g.closers = append(g.closers, nc.Close)
	prefix := eventPrefix(cfg)
	pub, err := brokernats.New(ctx, nc, brokernats.Config{
		Stream:     cfg.Events.Stream,
		Subjects:   []string{prefix + ".>"},
		MaxAge:     cfg.Events.MaxAge.D(),
		AckTimeout: cfg.Events.AckTimeout.D(),
	}, g.log)
	if err != nil {
		return nil, err
	}
	handlers["event"] = event.New(pub, g.log, event.Config{
		Namespace:  prefix,
		Source:     cfg.Events.Source,
		BodyLimit:  int64(cfg.Server.BodyLimit),
		AckTimeout: cfg.Events.AckTimeout.D(),
	})
	return handlers, nil
}

// eventPrefix is the subject prefix of events: the namespace, or "events" when the namespace is
// empty (a stream cannot capture every subject: the registry's own bucket lives there too).
func eventPrefix(cfg config.Config) string {
	if ns := cfg.Resolver.NamespaceOrDefault(); ns != "" {
		return ns
	}
	return "events"
}

// close releases everything newGateway built, newest first. Safe to call twice.
func (g *gateway) close() {
	for i := len(g.closers) - 1; i >= 0; i-- {
		g.closers[i]()
	}
	g.closers = nil
}

// onRegistryChange keeps the selector, the connection pool and the descriptor cache in step with
// the registry. It runs on the cache's goroutine, one snapshot at a time.
func (g *gateway) onRegistryChange(descs *descriptor.Cache) func(*cache.Snapshot) {
	prev := map[string]*registry.Service{}
	return func(s *cache.Snapshot) {
		g.sel.Update(s.Services)
		g.handler.UpdateRoutes(s.Services) // conflicts are logged by the table
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
		g.close()
		return err
	}
	return g.serve(ctx, ln)
}

func (g *gateway) serve(ctx context.Context, ln net.Listener) error {
	defer g.close()
	cacheCtx, stopCache := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { _ = g.cache.Run(cacheCtx) })
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
	// Hijacked WebSocket connections are not tracked by http.Server: close them with 1001.
	var drain sync.WaitGroup
	drain.Go(func() { _ = g.web.Shutdown(sctx) })
	err := srv.Shutdown(sctx)
	drain.Wait()
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
