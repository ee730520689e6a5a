// Package dashboard is the gateway's web dashboard: a page that shows what the gateway sees
// and lets a person call it, and the JSON API the page reads.
//
// Contract:
//   - Everything is served under Config.Prefix (default /dashboard): the page at <prefix>/ (the
//     bare prefix redirects there), its script and style sheet, and the JSON API under
//     <prefix>/api/. The files are embedded; the page loads nothing from anywhere else, which a
//     Content-Security-Policy of 'self' enforces.
//   - API (GET only, JSON, errors in the gateway's error body):
//     api/info              what the page can offer: events path, OpenAPI path, refresh period
//     api/services          registry services with their nodes and each node's breaker state and
//     in-flight calls, plus whether the registry view is stale; the page polls it
//     api/services/<name>   one service: nodes, registry endpoints, routes that name it, and
//     for a gRPC service every method with its call path (resolver-checked, see
//     openapi.CallPath), streaming kind, request and response JSON Schemas and a
//     request template (package schema); descriptors load on demand
//     api/errors            the Recorder's recent gateway errors, newest first
//   - Calls and events are sent by the page itself, through the gateway's ordinary routes, so
//     they are exactly what any client would get. Nothing here calls a backend except to load
//     descriptors, and not for services only routed to HTTP handlers (see openapi.SpeaksGRPC).
package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/descriptor"
	"github.com/edgeapi/gateway/openapi"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/registry/cache"
	"github.com/edgeapi/gateway/resolver"
	"github.com/edgeapi/gateway/schema"
	"github.com/edgeapi/gateway/selector"
)

//go:embed static
var staticFS embed.FS

// Snapshots gives the registry's current view; *cache.Cache implements it.
type Snapshots interface {
	Snapshot() *cache.Snapshot
}

// staleReporter is implemented by registry views that know when the registry is unreachable
// (*cache.Cache does).
type staleReporter interface {
	Stale() (bool, time.Time, error)
}

// Breakers reports the nodes' breaker states; *selector.Selector implements it.
type Breakers interface {
	States(service string) []selector.NodeState
}

// Descriptors gives a service's descriptors; *descriptor.Cache implements it.
type Descriptors interface {
	Get(ctx context.Context, service string) (*descriptor.Set, error)
}

var (
	_ Snapshots     = (*cache.Cache)(nil)
	_ staleReporter = (*cache.Cache)(nil)
	_ Breakers      = (*selector.Selector)(nil)
	_ Descriptors   = (*descriptor.Cache)(nil)
	_ http.Handler  = (*Dashboard)(nil)
)

// Config tunes the dashboard; zero values mean the documented defaults.
type Config struct {
	// Prefix is where it is served; default /dashboard.
	Prefix string
	// Resolver is the gateway's, to tell the page at which path each method is called; nil
	// leaves methods without a path (the page then cannot call them).
	Resolver resolver.Resolver
	// DefaultHandler is the gateway's handler for unrouted paths; calls through the resolver
	// are offered only when it is "rpc".
	DefaultHandler string
	// Routes are the config routes, shown with the services they name.
	Routes []openapi.Route
	// UseProtoNames writes schemas and templates with proto field names.
	UseProtoNames bool
	// EventsPath is the path prefix of the event route ("/events"; "/" when the default handler
	// publishes events); empty: no publish form.
	EventsPath string
	// OpenAPIPath is the OpenAPI document's path; empty: not offered.
	OpenAPIPath string
	// Errors is the recorder whose errors are shown; nil: none.
	Errors *Recorder
	// LoadTimeout bounds loading a service's descriptors; default 5s.
	LoadTimeout time.Duration
	// Refresh is how often the page polls; default 1s.
	Refresh time.Duration
}

// Dashboard serves the page and its API. Create with New; it is an http.Handler to mount at
// Config.Prefix (router.Config.Mounts).
type Dashboard struct {
	reg      Snapshots
	breakers Breakers
	descs    Descriptors
	cfg      Config
	files    http.Handler
}

// New returns the dashboard.
func New(reg Snapshots, breakers Breakers, descs Descriptors, cfg Config) (*Dashboard, error) {
	if reg == nil || breakers == nil || descs == nil {
		return nil, errors.New("dashboard: registry view, breakers and descriptors are required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "/dashboard"
	}
	cfg.Prefix = strings.TrimSuffix(cfg.Prefix, "/")
	if !strings.HasPrefix(cfg.Prefix, "/") || cfg.Prefix == "" || strings.ContainsAny(cfg.Prefix, "{}*. ") {
		return nil, errors.New("dashboard: prefix must be a plain absolute path such as /dashboard")
	}
	if cfg.LoadTimeout <= 0 {
		cfg.LoadTimeout = 5 * time.Second
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = time.Second
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	return &Dashboard{reg: reg, breakers: breakers, descs: descs, cfg: cfg, files: http.FileServerFS(sub)}, nil
}

// Prefix is where the dashboard is served.
func (d *Dashboard) Prefix() string { return d.cfg.Prefix }

// csp allows the page nothing but its own origin.
const csp = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'self'; form-action 'self'"

// ServeHTTP implements http.Handler.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if p == d.cfg.Prefix {
		http.Redirect(w, r, d.cfg.Prefix+"/", http.StatusMovedPermanently)
		return
	}
	rest, ok := strings.CutPrefix(p, d.cfg.Prefix+"/")
	if !ok {
		apierror.Write(w, apierror.GatewayID, apierror.New(http.StatusNotFound, "%s is not part of the dashboard", p))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		e := apierror.New(http.StatusMethodNotAllowed, "method %s is not allowed on %s", r.Method, p)
		e.Header = http.Header{"Allow": {"GET, HEAD"}}
		apierror.Write(w, apierror.GatewayID, e)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if api, ok := strings.CutPrefix(rest, "api/"); ok {
		d.serveAPI(w, r, api)
		return
	}
	h.Set("Content-Security-Policy", csp)
	h.Set("Referrer-Policy", "no-referrer")
	switch rest {
	case "", "index.html", "app.js", "style.css":
	default:
		apierror.Write(w, apierror.GatewayID, apierror.New(http.StatusNotFound, "no dashboard file %s", rest))
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/" + rest
	if rest == "index.html" {
		r2.URL.Path = "/" // FileServer redirects index.html to the directory
	}
	d.files.ServeHTTP(w, r2)
}

func (d *Dashboard) serveAPI(w http.ResponseWriter, r *http.Request, api string) {
	switch {
	case api == "info":
		writeJSON(w, d.info())
	case api == "services":
		writeJSON(w, d.services())
	case strings.HasPrefix(api, "services/"):
		name := strings.TrimPrefix(api, "services/")
		detail, err := d.service(r.Context(), name)
		if err != nil {
			apierror.Write(w, apierror.GatewayID, err)
			return
		}
		writeJSON(w, detail)
	case api == "errors":
		var recent []ErrorEntry
		var total uint64
		if d.cfg.Errors != nil {
			recent, total = d.cfg.Errors.Recent(), d.cfg.Errors.Total()
		}
		writeJSON(w, map[string]any{"enabled": d.cfg.Errors != nil, "total": total, "errors": nonNil(recent)})
	default:
		apierror.Write(w, apierror.GatewayID, apierror.New(http.StatusNotFound, "no dashboard API %s", api))
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		apierror.Write(w, apierror.GatewayID, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// Info is what api/info answers.
type Info struct {
	Prefix      string `json:"prefix"`
	EventsPath  string `json:"eventsPath,omitempty"`
	OpenAPIPath string `json:"openapiPath,omitempty"`
	RefreshMS   int64  `json:"refreshMs"`
	Errors      bool   `json:"errors"`
}

func (d *Dashboard) info() Info {
	return Info{Prefix: d.cfg.Prefix, EventsPath: d.cfg.EventsPath, OpenAPIPath: d.cfg.OpenAPIPath,
		RefreshMS: d.cfg.Refresh.Milliseconds(), Errors: d.cfg.Errors != nil}
}

// Node is one node of a service as the page shows it.
type Node struct {
	ID       string            `json:"id"`
	Address  string            `json:"address"`
	Metadata map[string]string `json:"metadata,omitempty"`
	// Breaker is closed (healthy), half-open (probing after failures) or open (failing: no
	// traffic); "unknown" while the selector has not seen the node yet.
	Breaker  string `json:"breaker"`
	InFlight int64  `json:"inFlight"`
}

// Service is one service in api/services.
type Service struct {
	Name      string `json:"name"`
	Version   string `json:"version,omitempty"`
	Nodes     []Node `json:"nodes"`
	Endpoints int    `json:"endpoints"`
	// Health sums up the breakers: ok (all closed), degraded (some not closed), down (all open).
	Health string `json:"health"`
}

// Services is what api/services answers.
type Services struct {
	Version    uint64    `json:"version"`
	Stale      bool      `json:"stale"`
	StaleSince string    `json:"staleSince,omitempty"`
	StaleError string    `json:"staleError,omitempty"`
	Services   []Service `json:"services"`
}

func (d *Dashboard) services() Services {
	snap := d.reg.Snapshot()
	out := Services{Version: snap.Version, Services: []Service{}}
	if sr, ok := d.reg.(staleReporter); ok {
		if stale, since, err := sr.Stale(); stale {
			out.Stale, out.StaleSince = true, since.UTC().Format(time.RFC3339)
			if err != nil {
				out.StaleError = err.Error()
			}
		}
	}
	states := map[string]map[string]selector.NodeState{}
	for _, st := range d.breakers.States("") {
		if states[st.Service] == nil {
			states[st.Service] = map[string]selector.NodeState{}
		}
		states[st.Service][st.Node.ID+"@"+st.Node.Address] = st
	}
	for _, svc := range snap.Sorted() {
		out.Services = append(out.Services, summarize(svc, states[svc.Name]))
	}
	return out
}

func summarize(svc *registry.Service, states map[string]selector.NodeState) Service {
	s := Service{Name: svc.Name, Version: svc.Version, Endpoints: len(svc.Endpoints), Nodes: []Node{}}
	open, notClosed := 0, 0
	for _, n := range svc.Nodes {
		node := Node{ID: n.ID, Address: n.Address, Metadata: n.Metadata, Breaker: "unknown"}
		if st, ok := states[n.ID+"@"+n.Address]; ok {
			node.Breaker, node.InFlight = st.Breaker, st.InFlight
		}
		switch node.Breaker {
		case "open":
			open++
			notClosed++
		case "half-open":
			notClosed++
		}
		s.Nodes = append(s.Nodes, node)
	}
	sort.Slice(s.Nodes, func(i, j int) bool { return s.Nodes[i].ID < s.Nodes[j].ID })
	switch {
	case len(s.Nodes) > 0 && open == len(s.Nodes):
		s.Health = "down"
	case notClosed > 0:
		s.Health = "degraded"
	default:
		s.Health = "ok"
	}
	return s
}

// Method is one callable method in api/services/<name>.
type Method struct {
	Name       string `json:"name"`       // "OrderSrv.GetOrder"
	GRPCMethod string `json:"grpcMethod"` // "/order.OrderSrv/GetOrder"
	// Path is where the page calls it (POST; a WebSocket for client and bidi streams); empty
	// when the resolver reaches no path for it.
	Path         string           `json:"path,omitempty"`
	Streaming    string           `json:"streaming,omitempty"` // server, client, bidi
	RequestType  string           `json:"requestType"`
	ResponseType string           `json:"responseType"`
	Request      *schema.Document `json:"request"`
	Response     *schema.Document `json:"response"`
	Template     json.RawMessage  `json:"template"`
}

// Route is a route that names the service.
type Route struct {
	Source   string `json:"source"` // config, registry
	Method   string `json:"method,omitempty"`
	Path     string `json:"path"`
	Handler  string `json:"handler"`
	Endpoint string `json:"endpoint,omitempty"`
	Host     string `json:"host,omitempty"`
}

// Detail is what api/services/<name> answers.
type Detail struct {
	Service
	Registered      []registry.Endpoint `json:"registeredEndpoints"`
	Routes          []Route             `json:"routes"`
	GRPC            bool                `json:"grpc"`
	DescriptorError string              `json:"descriptorError,omitempty"`
	Methods         []Method            `json:"methods"`
	OpenAPI         string              `json:"openapi,omitempty"`
}

func (d *Dashboard) service(ctx context.Context, name string) (*Detail, error) {
	snap := d.reg.Snapshot()
	svc, ok := snap.Lookup(name)
	if !ok {
		return nil, apierror.New(http.StatusNotFound, "service %s is not in the registry", name)
	}
	states := map[string]selector.NodeState{}
	for _, st := range d.breakers.States(name) {
		states[st.Node.ID+"@"+st.Node.Address] = st
	}
	out := &Detail{Service: summarize(svc, states), Registered: nonNil(svc.Endpoints), Routes: []Route{}, Methods: []Method{}}
	for _, r := range d.cfg.Routes {
		if r.Service == name {
			out.Routes = append(out.Routes, Route{Source: "config", Method: r.Method, Path: r.Path, Handler: r.Handler, Endpoint: r.Endpoint})
		}
	}
	for _, r := range openapi.RegistryRoutes(map[string]*registry.Service{name: svc}) {
		out.Routes = append(out.Routes, Route{Source: "registry", Method: r.Method, Path: r.Path, Handler: r.Handler, Endpoint: r.Endpoint, Host: r.Host})
	}
	openAPI := ""
	if d.cfg.OpenAPIPath != "" {
		openAPI = strings.TrimSuffix(d.cfg.OpenAPIPath, ".json") + "/" + name + ".json"
	}
	if len(out.Routes) > 0 {
		out.OpenAPI = openAPI // its routes are described even without descriptors
	}
	out.GRPC = openapi.SpeaksGRPC(name, svc, d.cfg.Routes)
	if !out.GRPC {
		return out, nil
	}
	lctx, cancel := context.WithTimeout(ctx, d.cfg.LoadTimeout)
	defer cancel()
	set, err := d.descs.Get(lctx, name)
	if err != nil {
		out.DescriptorError = err.Error()
		return out, nil
	}
	out.OpenAPI = openAPI
	opts := schema.Options{UseProtoNames: d.cfg.UseProtoNames, RefPrefix: "#/$defs/"}
	for _, sd := range set.Services {
		if openapi.Infrastructure(sd.FullName()) {
			continue
		}
		for i := range sd.Methods().Len() {
			md := sd.Methods().Get(i)
			m, err := set.Method(string(sd.FullName()) + "." + string(md.Name()))
			if err != nil {
				continue
			}
			endpoint := string(sd.Name()) + "." + string(md.Name())
			if got, err := set.Method(endpoint); err != nil || got != m {
				endpoint = string(sd.FullName()) + "." + string(md.Name()) // the short name is ambiguous
			}
			meth := Method{
				Name: endpoint, GRPCMethod: m.Path,
				RequestType: string(m.Input.FullName()), ResponseType: string(m.Output.FullName()),
				Request:  schema.NewBuilder(opts).Standalone(m.Input),
				Response: schema.NewBuilder(opts).Standalone(m.Output),
				Template: schema.Template(m.Input, opts),
			}
			switch {
			case m.ClientStreaming() && m.ServerStreaming():
				meth.Streaming = "bidi"
			case m.ClientStreaming():
				meth.Streaming = "client"
			case m.ServerStreaming():
				meth.Streaming = "server"
			}
			if d.cfg.DefaultHandler == "rpc" {
				meth.Path, _ = openapi.CallPath(d.cfg.Resolver, name, set, m)
			}
			out.Methods = append(out.Methods, meth)
		}
	}
	return out, nil
}
