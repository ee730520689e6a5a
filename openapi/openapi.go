// Package openapi serves a live OpenAPI 3.1 description of what the gateway routes, generated
// from its routes and the descriptors of the services in its registry.
//
// Contract:
//   - Paths: every config route and every route a service declares in its registry endpoint
//     metadata, with its methods and its {vars} as path parameters (chi regexps become patterns,
//     a trailing wildcard a {path} parameter, or {topic}/{name} for the event handler); and,
//     when the default handler is rpc, every method of every registry service whose
//     descriptors load, at the path the configured resolver maps to it (CallPath: with the micro
//     resolver /orderservice/OrderSrv/GetOrder), unless a route takes that path first.
//   - rpc bodies are JSON Schemas of the request and response messages following the protobuf
//     JSON mapping (package schema), shared under components/schemas and $ref'd, so recursive
//     messages work; two services defining one message name differently get prefixed names.
//     Server streams are described as application/x-ndjson and text/event-stream; client and
//     bidi streams as a WebSocket upgrade (101) with x-gateway-websocket message schemas.
//     Every operation's default response is the gateway's error body (components "Error").
//   - Documents: all services at Config.Path (default /openapi.json); one per service at
//     <Path without .json>/<service>.json; an index of them at <Path without .json>/.
//   - Freshness: every request checks what the document depends on (registry services, their
//     endpoint routes, the identity of each service's loaded descriptor set) and rebuilds only
//     when that changed; otherwise the bytes built last are served (with an ETag). Descriptors
//     not loaded yet are loaded then (bounded by LoadTimeout, several at a time); a service
//     whose descriptors fail to load is retried only when its nodes change or after RetryAfter,
//     so non-gRPC services cost nothing per request. They are listed under x-gateway-skipped.
package openapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/descriptor"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/registry/cache"
	"github.com/edgeapi/gateway/resolver"
	"github.com/edgeapi/gateway/router"
)

// Descriptors gives a service's descriptors; *descriptor.Cache implements it.
type Descriptors interface {
	Get(ctx context.Context, service string) (*descriptor.Set, error)
}

// loadedReporter is implemented by descriptor caches that can tell what they hold without
// loading (*descriptor.Cache does), which spares a goroutine per service per request.
type loadedReporter interface {
	Loaded() map[string]*descriptor.Set
}

// Snapshots gives the registry's current view; *cache.Cache implements it.
type Snapshots interface {
	Snapshot() *cache.Snapshot
}

var (
	_ Descriptors    = (*descriptor.Cache)(nil)
	_ loadedReporter = (*descriptor.Cache)(nil)
	_ Snapshots      = (*cache.Cache)(nil)
	_ http.Handler   = (*Generator)(nil)
)

// Config tunes the generator; zero values mean the documented defaults.
type Config struct {
	// Path of the document of all services; default /openapi.json. It must end in .json.
	Path string
	// Title of the documents; default "Gateway".
	Title string
	// Resolver maps paths to services like the gateway's; nil: no resolver paths.
	Resolver resolver.Resolver
	// DefaultHandler is the gateway's handler for paths no route takes; resolver paths are
	// described only when it is "rpc".
	DefaultHandler string
	// Routes are the config routes.
	Routes []Route
	// UseProtoNames describes fields by proto names, as the rpc handler then writes them.
	UseProtoNames bool
	// LoadTimeout bounds loading one service's descriptors; default 5s.
	LoadTimeout time.Duration
	// RetryAfter is how long a failed descriptor load is remembered while the service's nodes
	// stay the same; default 30s.
	RetryAfter time.Duration
	// Log receives failures to load descriptors (debug level); nil discards.
	Log *slog.Logger
}

// Generator builds and serves the documents. Create with New; safe for concurrent use.
type Generator struct {
	reg   Snapshots
	descs Descriptors
	cfg   Config
	gen   generator
	base  string // Path without .json

	mu  sync.Mutex // serialises builds
	cur atomic.Pointer[built]

	fmu    sync.Mutex
	failed map[string]failure
}

type failure struct {
	nodes  string // the service's nodes when it failed
	at     time.Time
	reason string
}

// built is one generation, serialised.
type built struct {
	key      string
	etag     string
	all      []byte
	index    []byte
	services map[string][]byte
	skipped  map[string]string
}

// New returns a generator reading the registry through reg and descriptors through descs.
func New(reg Snapshots, descs Descriptors, cfg Config) (*Generator, error) {
	if reg == nil || descs == nil {
		return nil, errors.New("openapi: a registry snapshot source and a descriptor source are required")
	}
	if cfg.Path == "" {
		cfg.Path = "/openapi.json"
	}
	if !strings.HasPrefix(cfg.Path, "/") || !strings.HasSuffix(cfg.Path, ".json") || len(cfg.Path) <= len("/.json") {
		return nil, fmt.Errorf("openapi: path %q must be absolute and end in .json", cfg.Path)
	}
	if cfg.Title == "" {
		cfg.Title = "Gateway"
	}
	if cfg.LoadTimeout <= 0 {
		cfg.LoadTimeout = 5 * time.Second
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Generator{
		reg: reg, descs: descs, cfg: cfg, base: strings.TrimSuffix(cfg.Path, ".json"),
		gen:    generator{res: cfg.Resolver, defaultHandler: cfg.DefaultHandler, useProtoNames: cfg.UseProtoNames, title: cfg.Title},
		failed: map[string]failure{},
	}, nil
}

// Mounts returns the paths to mount the generator at (router.Config.Mounts): the document
// path, and the prefix of the per-service documents.
func (g *Generator) Mounts() map[string]http.Handler {
	return map[string]http.Handler{g.cfg.Path: g, g.base: g}
}

// ServiceDocumentPath is the path of a service's own document.
func (g *Generator) ServiceDocumentPath(service string) string {
	return g.base + "/" + service + ".json"
}

// Document returns the document of all services, as JSON.
func (g *Generator) Document(ctx context.Context) ([]byte, error) {
	b, err := g.current(ctx)
	if err != nil {
		return nil, err
	}
	return b.all, nil
}

// ServiceDocument returns the document of one service, as JSON; false when the gateway routes
// nothing of it (unknown, or its descriptors did not load and no route names it).
func (g *Generator) ServiceDocument(ctx context.Context, service string) ([]byte, bool, error) {
	b, err := g.current(ctx)
	if err != nil {
		return nil, false, err
	}
	doc, ok := b.services[service]
	return doc, ok, nil
}

// ServeHTTP serves the documents (GET and HEAD).
func (g *Generator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		e := apierror.New(http.StatusMethodNotAllowed, "method %s is not allowed on %s", r.Method, r.URL.Path)
		e.Header = http.Header{"Allow": {"GET, HEAD"}}
		apierror.Write(w, apierror.GatewayID, e)
		return
	}
	b, err := g.current(r.Context())
	if err != nil {
		apierror.Write(w, apierror.GatewayID, err)
		return
	}
	var body []byte
	switch p := r.URL.Path; {
	case p == g.cfg.Path:
		body = b.all
	case p == g.base || p == g.base+"/":
		body = b.index
	case strings.HasPrefix(p, g.base+"/") && strings.HasSuffix(p, ".json"):
		name := strings.TrimSuffix(strings.TrimPrefix(p, g.base+"/"), ".json")
		doc, ok := b.services[name]
		if !ok {
			detail := "the gateway routes nothing of service " + name
			if reason, skipped := b.skipped[name]; skipped {
				detail += ": " + reason
			}
			apierror.Write(w, apierror.GatewayID, apierror.New(http.StatusNotFound, "%s", detail))
			return
		}
		body = doc
	default:
		apierror.Write(w, apierror.GatewayID, apierror.New(http.StatusNotFound, "no OpenAPI document at %s; see %s and %s/", p, g.cfg.Path, g.base))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", b.etag)
	if match := r.Header.Get("If-None-Match"); match != "" && match == b.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

// current returns the documents for the registry and descriptors as they are now, building
// them only when something they depend on changed.
func (g *Generator) current(ctx context.Context) (*built, error) {
	snap := g.reg.Snapshot()
	in := g.load(ctx, snap)
	key := fingerprint(in)
	if b := g.cur.Load(); b != nil && b.key == key {
		return b, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if b := g.cur.Load(); b != nil && b.key == key {
		return b, nil
	}
	sum := sha256.Sum256([]byte(key))
	version := hex.EncodeToString(sum[:6])
	out := g.gen.generate(in, version)
	b := &built{key: key, etag: `"` + version + `"`, services: map[string][]byte{}, skipped: out.all.Skipped}
	var err error
	if b.all, err = json.MarshalIndent(out.all, "", "  "); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	type entry struct {
		Service    string `json:"service"`
		Path       string `json:"path"`
		Operations int    `json:"operations"`
	}
	index := struct {
		All      string            `json:"all"`
		Services []entry           `json:"services"`
		Skipped  map[string]string `json:"skipped,omitempty"`
	}{All: g.cfg.Path, Services: []entry{}, Skipped: out.all.Skipped}
	for name, doc := range out.services {
		if b.services[name], err = json.MarshalIndent(doc, "", "  "); err != nil {
			return nil, fmt.Errorf("openapi: %w", err)
		}
		index.Services = append(index.Services, entry{Service: name, Path: g.ServiceDocumentPath(name), Operations: len(doc.ids)})
	}
	sort.Slice(index.Services, func(i, j int) bool { return index.Services[i].Service < index.Services[j].Service })
	if b.index, err = json.MarshalIndent(index, "", "  "); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	g.cur.Store(b)
	return b, nil
}

// fingerprint is everything a generation depends on that can change while the gateway runs.
// Node changes alone do not change the documents (heartbeats do not cause rebuilds).
func fingerprint(in input) string {
	var b strings.Builder
	for _, s := range in.services {
		fmt.Fprintf(&b, "%s=%p;", s, in.sets[s])
	}
	for _, r := range in.registry {
		fmt.Fprintf(&b, "|%s %s %s %s %s %s", r.Method, r.Path, r.Handler, r.Service, r.Endpoint, r.Host)
	}
	b.WriteString("|skipped")
	for _, s := range in.services {
		if _, bad := in.failed[s]; bad {
			b.WriteString(" " + s)
		}
	}
	return b.String()
}

// load gathers the input of a generation, loading descriptors not loaded yet.
func (g *Generator) load(ctx context.Context, snap *cache.Snapshot) input {
	in := input{
		sets:     map[string]*descriptor.Set{},
		failed:   map[string]string{},
		config:   g.cfg.Routes,
		registry: RegistryRoutes(snap.Services),
	}
	names := map[string]bool{}
	for name := range snap.Services {
		names[name] = true
	}
	for _, r := range in.config {
		if r.Service != "" {
			names[r.Service] = true
		}
	}
	for name := range names {
		in.services = append(in.services, name)
	}
	sort.Strings(in.services)

	var loaded map[string]*descriptor.Set
	if lr, ok := g.descs.(loadedReporter); ok {
		loaded = lr.Loaded()
	}
	var todo []string
	now := time.Now()
	g.fmu.Lock()
	for _, name := range in.services {
		if !SpeaksGRPC(name, snap.Services[name], in.config) {
			continue
		}
		if set, ok := loaded[name]; ok {
			in.sets[name] = set
			continue
		}
		if f, ok := g.failed[name]; ok && f.nodes == nodesOf(snap.Services[name]) && now.Sub(f.at) < g.cfg.RetryAfter {
			in.failed[name] = f.reason
			continue
		}
		todo = append(todo, name)
	}
	g.fmu.Unlock()

	type result struct {
		name string
		set  *descriptor.Set
		err  error
	}
	results := make(chan result, len(todo))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for _, name := range todo {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			lctx, cancel := context.WithTimeout(ctx, g.cfg.LoadTimeout)
			defer cancel()
			set, err := g.descs.Get(lctx, name)
			results <- result{name, set, err}
		})
	}
	wg.Wait()
	close(results)
	g.fmu.Lock()
	defer g.fmu.Unlock()
	for r := range results {
		if r.err == nil {
			in.sets[r.name] = r.set
			delete(g.failed, r.name)
			continue
		}
		reason := "descriptors unavailable: " + r.err.Error()
		in.failed[r.name] = reason
		if ctx.Err() == nil { // the client going away says nothing about the service
			g.failed[r.name] = failure{nodes: nodesOf(snap.Services[r.name]), at: now, reason: reason}
			g.cfg.Log.Debug("openapi: descriptors unavailable", "service", r.name, "error", r.err)
		}
	}
	for name := range g.failed {
		if !names[name] {
			delete(g.failed, name) // gone from the registry: no unbounded growth
		}
	}
	return in
}

// SpeaksGRPC reports whether service may have descriptors to load: false when every route
// that names it (config routes, and the handler metadata of its registry endpoints) uses a
// handler that proxies HTTP or publishes events. Loading descriptors by reflection from an
// HTTP server fails, and the failures would count against its nodes' breakers.
func SpeaksGRPC(service string, svc *registry.Service, config []Route) bool {
	grpcish := func(h string) bool { return h == "" || h == "rpc" || h == "api" }
	seen := false
	for _, r := range config {
		if r.Service == service {
			if grpcish(r.Handler) {
				return true
			}
			seen = true
		}
	}
	if svc != nil {
		for _, ep := range svc.Endpoints {
			if grpcish(ep.Metadata[router.MetaHandler]) {
				return true
			}
			seen = true
		}
	}
	return !seen
}

func nodesOf(svc *registry.Service) string {
	if svc == nil {
		return ""
	}
	var b strings.Builder
	for _, n := range svc.Nodes {
		b.WriteString(n.ID + "@" + n.Address + ";")
	}
	return b.String()
}
