// Package router assembles the gateway's HTTP surface: middleware, health endpoints, routes
// from config, and the default handler that resolves any other path to a service.
//
// Precedence is deterministic and independent of declaration order, following chi's tree:
//
//  1. the gateway's own endpoints (/health/live, /health/ready);
//  2. config routes, most specific first: a static segment beats a {variable}, which beats a
//     trailing wildcard; a route restricted to an HTTP method beats one that is not when both match;
//  3. the default handler with the resolver, for every path nothing else matched.
//
// Two config routes with the same method and pattern are an error at start-up, not a silent
// shadow.
package router

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/resolver"
)

// RouteHandler is a handler that can take a route's own limits (the rpc handler does).
type RouteHandler interface {
	Route(timeout, maxTimeout time.Duration, bodyLimit int64) http.Handler
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
}

// Config is what New needs. Handlers maps handler names (rpc, api, http, web, event) to handlers.
type Config struct {
	Log            *slog.Logger
	Resolver       resolver.Resolver
	Handlers       map[string]http.Handler
	DefaultHandler string
	Routes         []Route
	// Ready reports readiness for /health/ready; nil means always ready.
	Ready func() (ready bool, detail string)
	// MaxHeaderBytes is enforced per request on top of the server's own limit; 0 disables.
	TrustedRequestIDs bool
}

// New returns the gateway's root handler.
func New(cfg Config) (http.Handler, error) {
	if cfg.Log == nil || cfg.Resolver == nil {
		return nil, errors.New("router: logger and resolver are required")
	}
	def, ok := cfg.Handlers[cfg.DefaultHandler]
	if !ok {
		return nil, fmt.Errorf("router: default handler %q is not available", cfg.DefaultHandler)
	}
	mux := chi.NewRouter()
	mux.Use(Recover(cfg.Log), RequestID, AccessLog(cfg.Log))
	mux.NotFound(func(w http.ResponseWriter, r *http.Request) {
		apierror.Write(w, apierror.GatewayID, fmt.Errorf("%s: %w", r.URL.Path, resolver.ErrNoMatch))
	})
	mux.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		apierror.Write(w, apierror.GatewayID, apierror.New(http.StatusMethodNotAllowed, "method %s is not allowed on %s", r.Method, r.URL.Path))
	})

	mux.Get("/health/live", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Get("/health/ready", func(w http.ResponseWriter, _ *http.Request) {
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

	seen := map[string]bool{}
	for i, rt := range cfg.Routes {
		key := strings.ToUpper(rt.Method) + " " + rt.Path
		if seen[key] {
			return nil, fmt.Errorf("routes[%d]: %q is declared twice", i, key)
		}
		seen[key] = true
		h, ok := cfg.Handlers[rt.Handler]
		if !ok {
			return nil, fmt.Errorf("routes[%d] %s: handler %q is not available", i, rt.Path, rt.Handler)
		}
		if rh, ok := h.(RouteHandler); ok {
			h = rh.Route(rt.Timeout, rt.MaxTimeout, rt.BodyLimit)
		}
		h = routeEndpoint(rt, h)
		if rt.Method == "" {
			mux.Handle(rt.Path, h)
		} else {
			mux.Method(strings.ToUpper(rt.Method), rt.Path, h)
		}
	}

	res := cfg.Resolver
	mux.Handle("/*", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ep, err := res.Resolve(r)
		if err != nil {
			apierror.Write(w, apierror.GatewayID, err)
			return
		}
		def.ServeHTTP(w, r.WithContext(resolver.WithEndpoint(r.Context(), &ep)))
	}))
	return mux, nil
}

// routeEndpoint gives a config route's fixed service and endpoint, and its path variables.
func routeEndpoint(rt Route, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ep := &resolver.Endpoint{Service: rt.Service, Method: rt.Endpoint, Path: r.URL.Path, Host: r.Host}
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
		next.ServeHTTP(w, r.WithContext(resolver.WithEndpoint(r.Context(), ep)))
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
