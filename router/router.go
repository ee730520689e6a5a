// Package router assembles the gateway's HTTP surface: middleware, health endpoints, routes
// from config, and the default handler that resolves any other path to a service.
//
// Precedence is deterministic and independent of declaration order, following chi's tree:
//
//  1. the gateway's own endpoints (GET and HEAD /health/live, /health/ready);
//  2. config routes, most specific first: a static segment beats a {variable}, which beats a
//     trailing wildcard; a route restricted to an HTTP method beats one that is not when both match;
//  3. routes services declare in their registry endpoint metadata (handler, method, path
//     template with {vars}, host), rebuilt on every registry change (see Table);
//  4. the default handler with the resolver, for every path nothing else matched.
//
// Every request gets one request-scoped state, installed by the router's outermost middleware
// with the request's only context copy: its id, where it was routed (RouteInfo), chi's routing
// context and the resolved Endpoint. The layers after it fill the state in place rather than
// each adding a context value and copying the request; RequestIDFrom, RouteInfoFrom,
// chi.RouteContext and resolver.EndpointFrom read it, on the request's context or any context
// derived from it.
//
// Two config routes with the same method and pattern (variable names aside: "/a/{id}" and
// "/a/{name}" are the same route), a config route on a health endpoint's path, and a pattern chi
// refuses are errors at start-up, not a silent shadow or a panic.
package router

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/resolver"
	"github.com/edgeapi/gateway/retry"
)

// RouteHandler is a handler that can take a route's own limits (the rpc handler does).
type RouteHandler interface {
	Route(timeout, maxTimeout time.Duration, bodyLimit int64) http.Handler
}

// RetryHandler is a handler that can follow a route's own retry policy (rpc, api, http, web).
type RetryHandler interface {
	WithRetry(p *retry.Policy) http.Handler
}

// Route is one config route.
type Route struct {
	Path       string // chi pattern
	Method     string // empty: any
	Handler    string // key in Config.Handlers
	Service    string
	Endpoint   string
	Timeout    time.Duration
	MaxTimeout time.Duration
	BodyLimit  int64
	// StripPrefix is removed from the forwarded path (http and web handlers).
	StripPrefix string
	// Retry, if set, is the route's own retry policy (and budget); nil: the handler's default.
	Retry *retry.Policy
	// Wrap, if set, is the route's own middleware (auth, rate limit, concurrency limit), run
	// after routing and before the handler.
	Wrap func(http.Handler) http.Handler
}

// Config is what New needs. Handlers maps handler names (rpc, api, http, web, event) to handlers.
type Config struct {
	Log            *slog.Logger
	Resolver       resolver.Resolver
	Handlers       map[string]http.Handler
	DefaultHandler string
	Routes         []Route
	// Mounts are the gateway's own pages (dashboard, OpenAPI...), by path prefix ("/dashboard")
	// or exact path ("/openapi.json"); they take precedence like the health endpoints.
	Mounts map[string]http.Handler
	// DefaultWrap, if set, is the middleware of requests routed by the registry table or the
	// resolver (config routes have their own Route.Wrap).
	DefaultWrap func(http.Handler) http.Handler
	// Observer, if set, hears about every routed request (metrics).
	Observer Observer
	// Middleware runs inside the standard chain (request id, access log, recover), in order.
	Middleware []func(http.Handler) http.Handler
	// Ready reports readiness for /health/ready; nil means always ready.
	Ready func() (ready bool, detail string)
	// TrustedRequestIDs is not used yet: RequestID keeps any well-formed incoming X-Request-Id.
	TrustedRequestIDs bool
}

// Router is the gateway's root handler.
type Router struct {
	http.Handler
	table *Table
}

// UpdateRoutes rebuilds the routes services declare in their endpoint metadata (see Table).
func (rt *Router) UpdateRoutes(services map[string]*registry.Service) []Conflict {
	return rt.table.Update(services)
}

// RegistryRoutes reports how many registry routes are served now.
func (rt *Router) RegistryRoutes() int { return rt.table.Routes() }

// New returns the gateway's root handler.
func New(cfg Config) (*Router, error) {
	if cfg.Log == nil || cfg.Resolver == nil {
		return nil, errors.New("router: logger and resolver are required")
	}
	def, ok := cfg.Handlers[cfg.DefaultHandler]
	if !ok {
		return nil, fmt.Errorf("router: default handler %q is not available", cfg.DefaultHandler)
	}
	mux := chi.NewRouter()
	mux.Use(cfg.Middleware...)

	liveH := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	readyH := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		ready, detail := true, "ready"
		if cfg.Ready != nil {
			ready, detail = cfg.Ready()
		}
		code, st := http.StatusOK, "ok"
		if !ready {
			code, st = http.StatusServiceUnavailable, "unavailable"
		}
		writeJSON(w, code, map[string]string{"status": st, "detail": detail})
	})
	// HEAD too: a probe using it must get the gateway's answer, not the resolver's.
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		mux.Method(m, healthLive, liveH)
		mux.Method(m, healthReady, readyH)
	}

	mounts := make([]string, 0, len(cfg.Mounts))
	for p := range cfg.Mounts {
		mounts = append(mounts, p)
	}
	sort.Strings(mounts)
	for _, p := range mounts {
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "{}*") {
			return nil, fmt.Errorf("router: mount %q must be a plain absolute path", p)
		}
		h := cfg.Mounts[p]
		mux.Handle(p, h)
		if !strings.Contains(p[1:], ".") {
			mux.Handle(strings.TrimSuffix(p, "/")+"/*", h)
		}
	}

	handlers := make([]http.Handler, len(cfg.Routes))
	seen := map[string]int{}
	for i, rt := range cfg.Routes {
		shape := patternShape(rt.Path)
		if shape == healthLive || shape == healthReady {
			return nil, fmt.Errorf("routes[%d]: %s is the gateway's own health endpoint", i, rt.Path)
		}
		key := strings.ToUpper(rt.Method) + " " + shape
		if j, dup := seen[key]; dup {
			return nil, fmt.Errorf("routes[%d]: %q is declared twice (see routes[%d])", i, strings.ToUpper(rt.Method)+" "+rt.Path, j)
		}
		seen[key] = i
		h, ok := cfg.Handlers[rt.Handler]
		if !ok {
			return nil, fmt.Errorf("routes[%d] %s: handler %q is not available", i, rt.Path, rt.Handler)
		}
		if rh, ok := h.(RouteHandler); ok {
			h = rh.Route(rt.Timeout, rt.MaxTimeout, rt.BodyLimit)
		}
		if rr, ok := h.(RetryHandler); ok && rt.Retry != nil {
			h = rr.WithRetry(rt.Retry)
		}
		if rt.Wrap != nil {
			h = rt.Wrap(h)
		}
		handlers[i] = routeEndpoint(rt, h, cfg.Observer, rt.Path)
	}
	// Routes for any method first: chi's any-method registration overwrites every method of
	// its pattern, so a method route declared before it would otherwise be lost.
	for _, anyMethod := range []bool{true, false} {
		for i, rt := range cfg.Routes {
			if (rt.Method == "") != anyMethod {
				continue
			}
			if err := handle(mux, strings.ToUpper(rt.Method), rt.Path, handlers[i]); err != nil {
				return nil, fmt.Errorf("routes[%d]: %w", i, err)
			}
		}
	}

	res := cfg.Resolver
	obs := cfg.Observer
	defWrapped := def
	if cfg.DefaultWrap != nil {
		defWrapped = cfg.DefaultWrap(def)
		wrapped := make(map[string]http.Handler, len(cfg.Handlers))
		for k, h := range cfg.Handlers {
			wrapped[k] = cfg.DefaultWrap(h)
		}
		cfg.Handlers = wrapped // the registry table's routes
	}
	fallback := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ep, err := res.Resolve(r)
		if err != nil {
			apierror.Write(w, apierror.GatewayID, err)
			return
		}
		routed(r, obs, "resolver", cfg.DefaultHandler, ep.Service)
		p := endpointFor(r)
		*p = ep
		defWrapped.ServeHTTP(w, setEndpoint(r, p))
	})
	static := make(map[string]bool, len(seen))
	for k := range seen {
		static[k] = true
	}
	table := newTable(cfg.Log, cfg.Handlers, static, fallback, cfg.Observer)
	// Everything no route above matches goes to the table, through chi's not-found and
	// method-not-allowed handlers rather than a "/*" route: a matched "/*" costs every such
	// request a path-value map (chi's SetPathValue), which the http proxy's request clone then
	// copies. A method chi does not route at all still gets its 405.
	mux.NotFound(table.ServeHTTP)
	routable := chi.NewMux()
	routable.Handle("/*", http.NotFoundHandler())
	mux.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		if !routable.Match(chi.NewRouteContext(), r.Method, "/") {
			apierror.Write(w, apierror.GatewayID, apierror.New(http.StatusMethodNotAllowed, "method %s is not allowed on %s", r.Method, r.URL.Path))
			return
		}
		table.ServeHTTP(w, r)
	})

	// RequestID first, so the access log and the panic log carry the id; AccessLog outside
	// Recover, so a request that panicked is logged with the 500 it got.
	chain := RequestID(AccessLog(cfg.Log)(Recover(cfg.Log)(mux)))
	rctxs := &sync.Pool{New: func() any { return chi.NewRouteContext() }}
	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The request state and chi's routing context, pooled as chi pools its own, go in
		// with the request's one copy; chi finds its context there and makes no other.
		rctx := rctxs.Get().(*chi.Context)
		rctx.Reset()
		rctx.Routes = mux
		chain.ServeHTTP(w, r.WithContext(&requestState{Context: r.Context(), rctx: rctx}))
		rctxs.Put(rctx)
	})
	return &Router{Handler: root, table: table}, nil
}

const (
	healthLive  = "/health/live"
	healthReady = "/health/ready"
)

// handle registers h, turning chi's panics on patterns it refuses into errors.
func handle(mux chi.Router, method, pattern string, h http.Handler) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("invalid route pattern %q: %v", pattern, v)
		}
	}()
	if method == "" {
		mux.Handle(pattern, h)
	} else {
		mux.Method(method, pattern, h)
	}
	return nil
}

// patternShape is a chi pattern without its variable names ("/a/{id}" and "/a/{name}" are the
// same route to chi: the later one replaces the earlier); regexps are kept.
func patternShape(pattern string) string {
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		if pattern[i] != '{' {
			b.WriteByte(pattern[i])
			continue
		}
		// The variable ends at the brace that closes this one; a regexp may hold {n,m}.
		end, depth := len(pattern), 0
		for j := i; j < len(pattern); j++ {
			if pattern[j] == '{' {
				depth++
			} else if pattern[j] == '}' {
				if depth--; depth == 0 {
					end = j
					break
				}
			}
		}
		b.WriteByte('{')
		if _, re, ok := strings.Cut(pattern[i+1:end], ":"); ok {
			b.WriteString(re)
		}
		b.WriteByte('}')
		i = end
	}
	return b.String()
}

// routeEndpoint gives a config route's fixed service and endpoint, and its path variables.
func routeEndpoint(rt Route, next http.Handler, obs Observer, pattern string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		routed(r, obs, pattern, rt.Handler, rt.Service)
		ep := endpointFor(r)
		*ep = resolver.Endpoint{Service: rt.Service, Method: rt.Endpoint, Path: r.URL.Path, Host: r.Host}
		if rt.StripPrefix != "" {
			ep.Path = "/" + strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, rt.StripPrefix), "/")
		}
		if rc := chi.RouteContext(r.Context()); rc != nil && len(rc.URLParams.Keys) > 0 {
			ep.Vars = make(map[string]string, len(rc.URLParams.Keys))
			for i, k := range rc.URLParams.Keys {
				if k == "*" {
					continue
				}
				ep.Vars[k] = rc.URLParams.Values[i]
			}
		}
		next.ServeHTTP(w, setEndpoint(r, ep))
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
