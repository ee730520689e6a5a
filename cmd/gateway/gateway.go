package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/broker"
	"github.com/edgeapi/gateway/h1client"
	"github.com/edgeapi/gateway/h1server"
	"github.com/edgeapi/gateway/metrics"
	"github.com/edgeapi/gateway/retry"

	"github.com/nats-io/nats.go"
	"github.com/sony/gobreaker/v2"

	brokernats "github.com/edgeapi/gateway/broker/nats"
	"github.com/edgeapi/gateway/config"
	"github.com/edgeapi/gateway/connguard"
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
	cfg    config.Config
	log    *slog.Logger
	cache  *cache.Cache
	pool   *connpool.Pool
	sel    *selector.Selector
	caller *rpc.Caller
	upTLS  *tls.Config // to backends; restart-only like the pool that uses it
	// upHTTP is the http and web handlers' one keep-alive pool to HTTP backends, kept across
	// reloads (its settings are restart-only) and closed at shutdown.
	upHTTP *h1client.Transport
	// natsOpts connect the gateway's own NATS clients (registry, events) to the embedded
	// server in process, without a socket; empty for an external NATS.
	natsOpts []nats.Option
	descs    *descriptor.Cache
	metrics  *metrics.Metrics
	pub      broker.Publisher // nil when no route publishes events
	web      *web.Handler     // the current routing's web handler
	handler  *router.Router   // the current routing's router
	routing  atomic.Pointer[routing]
	closers  []func() // run in reverse order when the gateway stops
	draining atomic.Bool

	// reloadMu serialises reloads; webs are every web handler ever built, so shutdown closes
	// the WebSocket sessions of routings a reload replaced too.
	reloadMu sync.Mutex
	webs     []*web.Handler
}

// routing is everything a config reload rebuilds: handlers, protection, router. It is swapped
// atomically; requests in flight finish on the routing they started with.
type routing struct {
	cfg    config.Config
	router *router.Router
	root   http.Handler // router behind the edge guards
	web    *web.Handler
}

// streamConfig is the event stream as the configuration defines it. The gateway and
// `gateway publish` both create or update the stream with it: each call rewrites the stream's
// settings, so a publisher with settings of its own would undo the operator's.
func streamConfig(cfg config.Config) brokernats.Config {
	return brokernats.Config{
		Stream:     cfg.Events.Stream,
		Subjects:   []string{eventPrefix(cfg) + ".>"},
		MaxAge:     cfg.Events.MaxAge.D(),
		Duplicates: cfg.Events.DuplicateWindow.D(),
		AckTimeout: cfg.Events.AckTimeout.D(),
	}
}

// usesHandler reports whether any route, or the default, uses the named handler.
func usesHandler(cfg config.Config, name string) bool {
	return cfg.Handler == name || slices.ContainsFunc(cfg.Routes, func(r config.Route) bool { return r.Handler == name })
}

func newGateway(ctx context.Context, cfg config.Config, log *slog.Logger) (g *gateway, err error) {
	g = &gateway{cfg: cfg, log: log}
	built := g // the error returns below set g to nil before this deferred cleanup runs
	defer func() {
		if err != nil {
			built.close()
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
		g.natsOpts = []nats.Option{nats.InProcessServer(ns)}
		log.Info("embedded NATS server running", "url", cfg.NATS.URL, "store_dir", e.StoreDir)
	}

	reg, release, err := open.Registry(ctx, cfg, log, g.natsOpts...)
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
			FailureRatio:        cfg.Selector.Breaker.FailureRatio,
			MinRequests:         cfg.Selector.Breaker.MinRequests,
			Window:              cfg.Selector.Breaker.Window.D(),
			MaxEjectionPercent:  cfg.Selector.Breaker.MaxEjectionPercent,
			OnStateChange: func(service, node string, from, to gobreaker.State) {
				log.Warn("circuit breaker changed state", "service", service, "node", node, "from", from.String(), "to", to.String())
			},
		},
	})
	if err != nil {
		return nil, err
	}
	if g.upTLS, err = upstreamTLS(cfg.Upstream.TLS); err != nil {
		return nil, err
	}
	g.pool = connpool.New(connpool.Config{DialTimeout: cfg.RPC.DialTimeout.D(), TLS: g.upTLS, TLSAll: cfg.Upstream.TLS.Enabled})
	g.closers = append(g.closers, g.pool.Close)
	g.upHTTP = httphandler.NewTransport(cfg.RPC.DialTimeout.D(), 0, g.upTLS)
	g.closers = append(g.closers, func() { _ = g.upHTTP.Close() })
	g.caller = &rpc.Caller{Selector: g.sel, Pool: g.pool}
	g.descs, err = descriptorCache(ctx, cfg, g.caller)
	if err != nil {
		return nil, err
	}
	g.metrics = metrics.New(metrics.Sources{
		Known: func(s string) bool { _, ok := g.sel.Lookup(s); return ok },
		Breakers: func() []metrics.Breaker {
			var out []metrics.Breaker
			for _, st := range g.sel.States("") {
				out = append(out, metrics.Breaker{Service: st.Service, Node: st.Node.ID, State: st.Breaker})
			}
			return out
		},
		Stale: func() (bool, time.Time) { stale, since, _ := g.cache.Stale(); return stale, since },
	})
	if usesHandler(cfg, "event") {
		if g.pub, err = g.publisher(ctx, cfg); err != nil {
			return nil, err
		}
	}
	rt, err := g.buildRouting(ctx, cfg)
	if err != nil {
		return nil, err
	}
	g.install(rt)
	// Registered after the router exists: the first snapshot builds the registry routes too.
	g.cache.OnChange(g.onRegistryChange(g.descs))
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
			UseProtoNames: cfg.RPC.UseProtoNames, EventsPath: eventsPath, OpenAPIPath: openapiPath, Errors: rec,
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
func (g *gateway) handlers(ctx context.Context, cfg config.Config, caller *rpc.Caller, descs *descriptor.Cache) (map[string]http.Handler, *web.Handler, error) {
	// Routes without a retry block of their own share this policy and its budget.
	pol := g.retryPolicy(cfg.Retry)
	caller = caller.WithRetry(pol)
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
		return nil, nil, err
	}
	trusted, err := trust.Parse(cfg.Server.TrustedProxies)
	if err != nil {
		return nil, nil, err
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
		Transport:      g.upHTTP,
		TLS:            g.upTLS,
		TLSAll:         g.cfg.Upstream.TLS.Enabled,
		Retry:          pol,
	})
	webHandler := web.New(httpHandler, g.sel, g.log, web.Config{
		AllowedOrigins: cfg.Web.AllowedOrigins,
		ReadLimit:      int64(cfg.Web.ReadLimit),
		IdleTimeout:    cfg.Web.IdleTimeout.D(),
		DialTimeout:    cfg.RPC.DialTimeout.D(),
		MaxConns:       int64(cfg.Web.MaxConns),
		TLS:            g.upTLS,
		TLSAll:         g.cfg.Upstream.TLS.Enabled,
	})
	handlers := map[string]http.Handler{"rpc": rpcHandler, "api": apiHandler, "http": httpHandler, "web": webHandler}
	if g.pub != nil {
		handlers["event"] = event.New(g.pub, g.log, event.Config{
			Namespace:  eventPrefix(cfg),
			Source:     cfg.Events.Source,
			BodyLimit:  int64(cfg.Server.BodyLimit),
			AckTimeout: cfg.Events.AckTimeout.D(),
			Observe: func(err error) {
				if err != nil {
					g.metrics.EventFailed()
				} else {
					g.metrics.EventPublished()
				}
			},
		})
	}
	return handlers, webHandler, nil
}

// publisher connects the event broker: JetStream on the configured (or embedded) NATS.
func (g *gateway) publisher(ctx context.Context, cfg config.Config) (broker.Publisher, error) {
	// No reconnect buffer: a publish while disconnected must fail now (503), not be stored
	// later behind the back of a client that was told it failed.
	nc, err := open.ConnectNATS(cfg, "gateway-events", append([]nats.Option{nats.ReconnectBufSize(-1)}, g.natsOpts...)...)
	if err != nil {
		return nil, err
	}
	g.closers = append(g.closers, nc.Close)
	pub, err := brokernats.New(ctx, nc, streamConfig(cfg), g.log)
	if err != nil {
		return nil, err
	}
	return pub, nil
}

// buildRouting builds the handlers, protection and router for cfg. It does no I/O beyond
// reading files cfg names (keys, protos), so a reload can run it while traffic flows.
func (g *gateway) buildRouting(ctx context.Context, cfg config.Config) (*routing, error) {
	handlers, webHandler, err := g.handlers(ctx, cfg, g.caller, g.descs)
	if err != nil {
		return nil, err
	}
	res, err := resolver.New(cfg.Resolver.Type, cfg.Resolver.NamespaceOrDefault())
	if err != nil {
		return nil, err
	}
	trusted, err := trust.Parse(cfg.Server.TrustedProxies)
	if err != nil {
		return nil, err
	}
	prot, err := newProtection(cfg, trusted, g.log)
	if err != nil {
		return nil, err
	}
	routes := make([]router.Route, 0, len(cfg.Routes))
	for i, r := range cfg.Routes {
		wrap, err := prot.wrap(r.Auth, r.RateLimit, r.MaxConcurrent)
		if err != nil {
			return nil, fmt.Errorf("routes[%d]: %w", i, err)
		}
		routes = append(routes, router.Route{
			Path: r.Path, Method: r.Method, Handler: r.Handler, Service: r.Service, Endpoint: r.Endpoint,
			Timeout: r.Timeout.D(), MaxTimeout: r.MaxTimeout.D(), BodyLimit: int64(r.BodyLimit), StripPrefix: r.StripPrefix,
			Wrap: wrap, Retry: g.routeRetry(cfg.Retry, r.Retry),
		})
	}
	defaultWrap, err := prot.wrap("", config.RateLimit{}, 0)
	if err != nil {
		return nil, err
	}
	mounts, middleware, err := g.tools(cfg, res, g.descs)
	if err != nil {
		return nil, err
	}
	if cfg.Observe.Metrics {
		mounts[cfg.Observe.MetricsPath] = g.metrics.Handler()
	}
	rtr, err := router.New(router.Config{
		Log:            g.log,
		Resolver:       res,
		Handlers:       handlers,
		DefaultHandler: cfg.Handler,
		Routes:         routes,
		Mounts:         mounts,
		Middleware:     middleware,
		DefaultWrap:    defaultWrap,
		Observer:       g.metrics,
		Ready:          g.ready,
	})
	if err != nil {
		return nil, err
	}
	return &routing{cfg: cfg, router: rtr, root: prot.Edge(rtr), web: webHandler}, nil
}

// install makes rt the routing new requests use, with the registry routes of the current
// snapshot already in place.
func (g *gateway) install(rt *routing) {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	rt.router.UpdateRoutes(g.cache.Snapshot().Services)
	g.webs = append(g.webs, rt.web)
	g.web, g.handler = rt.web, rt.router
	g.routing.Store(rt)
}

// ServeHTTP serves with the current routing.
func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.routing.Load().root.ServeHTTP(w, r)
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
		g.reloadMu.Lock()
		g.routing.Load().router.UpdateRoutes(s.Services) // conflicts are logged by the table
		g.reloadMu.Unlock()
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
// load, if not nil, reloads the configuration on SIGHUP.
func (g *gateway) run(ctx context.Context, load func() (config.Config, error)) error {
	ln, err := net.Listen("tcp", g.cfg.Server.Address)
	if err != nil {
		g.close()
		return err
	}
	if load != nil {
		defer g.reloadOnHUP(ctx, load)()
	}
	return g.serve(ctx, ln)
}

// retryPolicy is the policy built from a retry block, with a budget of its own; its retries
// are counted in gateway_retries_total.
func (g *gateway) retryPolicy(r config.Retry) *retry.Policy {
	p := retry.New(r.Attempts, r.PerTryTimeout.D(), float64(r.BudgetPercent), r.MinRetries)
	if g.metrics != nil {
		p.Observe = g.metrics.Retry
	}
	return p
}

// routeRetry is the policy of a route with a retry block of its own (zero fields inherit the
// global ones); nil for a route without one, which shares the handlers' default policy and its
// budget.
func (g *gateway) routeRetry(global, route config.Retry) *retry.Policy {
	if route == (config.Retry{}) {
		return nil
	}
	return g.retryPolicy(config.Retry{
		Attempts:      cmp.Or(route.Attempts, global.Attempts),
		PerTryTimeout: cmp.Or(route.PerTryTimeout, global.PerTryTimeout),
		BudgetPercent: cmp.Or(route.BudgetPercent, global.BudgetPercent),
		MinRetries:    cmp.Or(route.MinRetries, global.MinRetries),
	})
}

// upstreamTLS is the client TLS to backends (1.2 or later): the configured CA or the system's
// roots, and the gateway's client certificate when one is configured.
func upstreamTLS(t config.UpstreamTLS) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pool, err := certPool("upstream.tls.ca_file", t.CAFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("upstream.tls: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// certPool reads a PEM file of CA certificates.
func certPool(key, file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s: no certificate in it", key, file)
	}
	return pool, nil
}

// tlsConfig is the listener's TLS: 1.2 or later, client certificates when a CA is configured.
func tlsConfig(t config.TLS) (*tls.Config, error) {
	if !t.Enabled() {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("server.tls: %w", err)
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if t.ClientCAFile != "" {
		pool, err := certPool("server.tls.client_ca_file", t.ClientCAFile)
		if err != nil {
			return nil, err
		}
		c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return c, nil
}

// admin serves metrics and, when enabled, pprof on a listener of its own, so profiling is never
// reachable through the public port.
func (g *gateway) admin() (*http.Server, net.Listener, error) {
	o := g.cfg.Observe
	if o.AdminAddress == "" {
		return nil, nil, nil
	}
	mux := http.NewServeMux()
	mux.Handle(o.MetricsPath, g.metrics.Handler())
	if o.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	ln, err := net.Listen("tcp", o.AdminAddress)
	if err != nil {
		return nil, nil, fmt.Errorf("observability.admin_address: %w", err)
	}
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln, nil
}

// server is what serve needs of net/http's server and of h1server's.
type server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

// engine names the server that serves the public listener: net/http's with TLS (HTTP/2), else
// the configured one.
func engine(s config.Server, tlsCfg *tls.Config) string {
	if tlsCfg != nil {
		return "stdlib"
	}
	return s.Engine
}

// httpServer builds the public listener's server. For net/http's, fresh holds the connections
// that were opened but never sent a request: they would hold Shutdown for its 5s grace, so the
// drain closes them at once.
func (g *gateway) httpServer(tlsCfg *tls.Config) (srv server, fresh *sync.Map) {
	s := g.cfg.Server
	if engine(s, tlsCfg) == "gateway" {
		return &h1server.Server{
			Handler:           g,
			ReadHeaderTimeout: s.ReadHeaderTimeout.D(),
			IdleTimeout:       s.IdleTimeout.D(),
			MaxHeaderBytes:    int(s.MaxHeaderBytes),
			Log:               g.log,
			Reject: func(w http.ResponseWriter, status int, err error) {
				apierror.Write(w, "gateway", apierror.New(status, "%s", err.Error()))
			},
		}, nil
	}
	fresh = new(sync.Map) // net.Conn -> struct{}
	return &http.Server{
		ConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateNew {
				fresh.Store(c, struct{}{})
			} else {
				fresh.Delete(c)
			}
		},
		Handler:           g,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: s.ReadHeaderTimeout.D(),
		IdleTimeout:       s.IdleTimeout.D(),
		MaxHeaderBytes:    int(s.MaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}, fresh
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

	tlsCfg, err := tlsConfig(g.cfg.Server.TLS)
	if err != nil {
		return err
	}
	adminSrv, adminLn, err := g.admin()
	if err != nil {
		return err
	}
	if adminSrv != nil {
		wg.Go(func() { _ = adminSrv.Serve(adminLn) })
		defer adminSrv.Close()
		g.log.Info("admin listener", "address", adminLn.Addr().String(), "pprof", g.cfg.Observe.Pprof)
	}

	srv, fresh := g.httpServer(tlsCfg)
	errc := make(chan error, 1)
	// Under TLS, so that both engines and the TLS layer's own writes share one write bound.
	ln = connguard.Listener(ln, connguard.Config{
		WriteTimeout: g.cfg.Server.WriteTimeout.D(), MaxConns: g.cfg.Server.MaxConns, Log: g.log,
	})
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	go func() { errc <- srv.Serve(ln) }()
	g.log.Info("gateway listening", "address", ln.Addr().String(), "tls", tlsCfg != nil, "engine", engine(g.cfg.Server, tlsCfg),
		"registry", g.cfg.Registry.Type,
		"resolver", g.cfg.Resolver.Type, "namespace", g.cfg.Resolver.NamespaceOrDefault())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	g.draining.Store(true)
	if d := g.cfg.Server.DrainDelay.D(); d > 0 {
		// Readiness already fails; keep serving while load balancers notice and stop sending.
		g.log.Info("shutting down: readiness fails, still serving", "drain_delay", d)
		select {
		case <-time.After(d):
		case err := <-errc:
			return err
		}
	}
	g.log.Info("shutting down: draining in-flight requests", "timeout", g.cfg.Server.ShutdownTimeout.D())
	sctx, cancel := context.WithTimeout(context.Background(), g.cfg.Server.ShutdownTimeout.D())
	defer cancel()
	// Hijacked WebSocket connections are not tracked by http.Server: close them with 1001.
	var drain sync.WaitGroup
	g.reloadMu.Lock()
	webs := slices.Clone(g.webs)
	g.reloadMu.Unlock()
	for _, wh := range webs {
		drain.Go(func() { _ = wh.Shutdown(sctx) })
	}
	shutdown := make(chan error, 1)
	go func() { shutdown <- srv.Shutdown(sctx) }()
	// Readiness failed and the drain delay is over: a connection still silent now will not
	// bring a request worth waiting for. (h1server's Shutdown closes those itself.)
	if fresh != nil {
		fresh.Range(func(c, _ any) bool {
			_ = c.(net.Conn).SetReadDeadline(time.Now())
			return true
		})
	}
	err = <-shutdown
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
