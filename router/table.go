package router

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/go-chi/chi/v5"

	"github.com/edgeapi/gateway/registry"
)

// Endpoint metadata keys a service sets to be routed by path (see registry.Endpoint).
const (
	MetaHandler = "handler" // rpc (default), api, http, web, event
	MetaMethod  = "method"  // HTTP method; empty: any
	MetaPath    = "path"    // chi pattern with {vars}, e.g. /orders/{id}
	MetaHost    = "host"    // only requests for this Host (port ignored)
)

// Table routes by the path templates services declare in their endpoint metadata. It is rebuilt
// by Update off the hot path, on every registry change, and swapped atomically; ServeHTTP reads
// the current build without locking.
//
// Precedence inside the table is chi's (static segment, then {var}, then wildcard), host routes
// before host-less ones. Two endpoints declaring the same method and path shape (on the same
// host) conflict: the one whose service and endpoint names sort first wins, deterministically,
// and the conflict is reported by Update and logged, never silently shadowed. So is a registry
// route that a config route shadows.
type Table struct {
	log      *slog.Logger
	handlers map[string]http.Handler
	static   map[string]bool // shapes of config routes, "METHOD shape"
	next     http.Handler    // where requests no registry route matches go
	obs      Observer
	cur      atomic.Pointer[tableBuild]

	// Update runs on one goroutine at a time (the registry cache's); these remember the last
	// build's input so a change that touches no routed endpoint rebuilds nothing.
	lastCands     []candidate
	lastConflicts []Conflict
}

type tableBuild struct {
	byHost map[string]http.Handler
	any    http.Handler
	routes int
}

// Conflict is one registry route that lost to another or to a config route.
type Conflict struct {
	Route  string // "GET /orders/{id}" (with "host " in front when host-bound)
	Winner string // "service Endpoint" or "config route"
	Loser  string
}

func (c Conflict) String() string {
	return fmt.Sprintf("%s: %s wins over %s", c.Route, c.Winner, c.Loser)
}

func newTable(log *slog.Logger, handlers map[string]http.Handler, static map[string]bool, next http.Handler, obs Observer) *Table {
	t := &Table{log: log, handlers: handlers, static: static, next: next, obs: obs}
	t.cur.Store(&tableBuild{byHost: map[string]http.Handler{}, any: next})
	return t
}

type candidate struct {
	service, endpoint string
	host, method      string
	path, handler     string
}

// Update rebuilds the table from services and returns the conflicts found. Calls must not run
// concurrently (the registry cache calls it from its one goroutine).
func (t *Table) Update(services map[string]*registry.Service) []Conflict {
	var cands []candidate
	for name, svc := range services {
		for _, ep := range svc.Endpoints {
			p := ep.Metadata[MetaPath]
			if p == "" {
				continue
			}
			h := ep.Metadata[MetaHandler]
			if h == "" {
				h = "rpc"
			}
			cands = append(cands, candidate{
				service: name, endpoint: ep.Name, path: p, handler: h,
				host:   strings.ToLower(ep.Metadata[MetaHost]),
				method: strings.ToUpper(ep.Metadata[MetaMethod]),
			})
		}
	}
	// Sorted, so the winner of a conflict does not depend on map order.
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if a.service != b.service {
			return a.service < b.service
		}
		return a.endpoint < b.endpoint
	})

	if t.cur.Load().routes > 0 || t.lastCands != nil {
		if slices.Equal(cands, t.lastCands) {
			return t.lastConflicts
		}
	}
	t.lastCands = cands

	var conflicts []Conflict
	seen := map[string]string{}
	hostMux := map[string]*chi.Mux{}
	var anyMux *chi.Mux
	routes := 0
	for _, c := range cands {
		who := c.service + " " + c.endpoint
		route := strings.TrimSpace(c.method + " " + c.path)
		if c.host != "" {
			route = c.host + " " + route
		}
		shape := c.method + " " + patternShape(c.path)
		if c.host == "" && (t.static[shape] || t.static[" "+patternShape(c.path)]) {
			conflicts = append(conflicts, Conflict{Route: route, Winner: "config route", Loser: who})
			continue
		}
		key := c.host + " " + shape
		if w, dup := seen[key]; dup {
			conflicts = append(conflicts, Conflict{Route: route, Winner: w, Loser: who})
			continue
		}
		h, ok := t.handlers[c.handler]
		if !ok {
			conflicts = append(conflicts, Conflict{Route: route, Winner: "nobody", Loser: who + fmt.Sprintf(" (unknown handler %q)", c.handler)})
			continue
		}
		mux := anyMux
		if c.host != "" {
			mux = hostMux[c.host]
		}
		if mux == nil {
			mux = chi.NewMux()
			if c.host != "" {
				hostMux[c.host] = mux
			} else {
				anyMux = mux
			}
		}
		rt := Route{Service: c.service, Endpoint: c.endpoint, Handler: c.handler}
		if err := handle(mux, c.method, c.path, routeEndpoint(rt, h, t.obs, "registry:"+c.path)); err != nil {
			conflicts = append(conflicts, Conflict{Route: route, Winner: "nobody", Loser: who + ": " + err.Error()})
			continue
		}
		seen[key] = who
		routes++
	}

	// Chain: host routes, then host-less ones, then whatever comes after the table.
	b := &tableBuild{byHost: map[string]http.Handler{}, any: t.next, routes: routes}
	if anyMux != nil {
		fallthroughTo(anyMux, t.next)
		b.any = fresh(anyMux)
	}
	for host, mux := range hostMux {
		fallthroughTo(mux, b.any)
		b.byHost[host] = fresh(mux)
	}
	t.cur.Store(b)
	t.lastConflicts = conflicts
	for _, c := range conflicts {
		t.log.Warn("registry route conflict", "route", c.Route, "winner", c.Winner, "loser", c.Loser)
	}
	return conflicts
}

// Routes reports how many registry routes the current build serves.
func (t *Table) Routes() int { return t.cur.Load().routes }

// ServeHTTP implements http.Handler.
func (t *Table) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b := t.cur.Load()
	if len(b.byHost) > 0 {
		host := strings.ToLower(r.Host)
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if h, ok := b.byHost[host]; ok {
			h.ServeHTTP(w, r)
			return
		}
	}
	b.any.ServeHTTP(w, r)
}

// fallthroughTo sends what mux does not match (path or method) on to next.
func fallthroughTo(mux *chi.Mux, next http.Handler) {
	mux.NotFound(next.ServeHTTP)
	mux.MethodNotAllowed(next.ServeHTTP)
}

// fresh runs mux with a routing context of its own: the outer router's context (its route path
// and patterns) must not leak into the table's matching. The outer router is done with its
// context once it handed the request on, so that one is reset and reused: a new one would cost
// an allocation, a context value and a copy of the request.
func fresh(mux *chi.Mux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rctx := chi.RouteContext(r.Context()); rctx != nil {
			rctx.Reset()
			mux.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r) // chi makes one
	})
}
