package dashboard_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/edgeapi/gateway/dashboard"
	"github.com/edgeapi/gateway/descriptor"
	"github.com/edgeapi/gateway/openapi"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/registry/cache"
	"github.com/edgeapi/gateway/resolver"
	"github.com/edgeapi/gateway/selector"
)

const (
	orders = "go.micro.api.orderservice"
	hello  = "go.micro.api.hello"
	broken = "go.micro.api.broken"
)

type snapshot struct{ s *cache.Snapshot }

func (s snapshot) Snapshot() *cache.Snapshot { return s.s }

type breakers []selector.NodeState

func (b breakers) States(service string) []selector.NodeState {
	var out []selector.NodeState
	for _, st := range b {
		if service == "" || st.Service == service {
			out = append(out, st)
		}
	}
	return out
}

type descs struct {
	mu    sync.Mutex
	sets  map[string]*descriptor.Set
	asked []string
}

func (d *descs) Get(_ context.Context, service string) (*descriptor.Set, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asked = append(d.asked, service)
	if s, ok := d.sets[service]; ok {
		return s, nil
	}
	return nil, errors.New("connection refused")
}

func node(id string) registry.Node {
	return registry.Node{ID: id, Address: "127.0.0.1:1" + id[len(id)-1:]}
}

func newDashboard(t *testing.T, cfg dashboard.Config) (*dashboard.Dashboard, *descs) {
	t.Helper()
	set, err := descriptor.CompileProtos(context.Background(), []string{"../examples/proto"}, []string{"order/order.proto"})
	if err != nil {
		t.Fatal(err)
	}
	d := &descs{sets: map[string]*descriptor.Set{orders: set}}
	snap := &cache.Snapshot{Version: 7, Services: map[string]*registry.Service{
		orders: {Name: orders, Nodes: []registry.Node{node("o1"), node("o2")}},
		hello:  {Name: hello, Nodes: []registry.Node{node("h1")}},
		broken: {Name: broken, Nodes: []registry.Node{node("b1")}},
	}}
	b := breakers{
		{Service: orders, Node: node("o1"), Breaker: "closed", InFlight: 2},
		{Service: orders, Node: node("o2"), Breaker: "open"},
		{Service: hello, Node: node("h1"), Breaker: "closed"},
		{Service: broken, Node: node("b1"), Breaker: "open"},
	}
	cfg.Resolver = resolver.Micro{Namespace: "go.micro.api"}
	cfg.DefaultHandler = "rpc"
	cfg.Routes = []openapi.Route{{Path: "/hello/*", Handler: "http", Service: hello}, {Path: "/orders/{id}", Method: "GET", Handler: "rpc", Service: orders, Endpoint: "OrderSrv.GetOrder"}}
	dash, err := dashboard.New(snapshot{snap}, b, d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dash, d
}

func get(h http.Handler, path string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w
}

func TestPageAndFiles(t *testing.T) {
	dash, _ := newDashboard(t, dashboard.Config{Prefix: "/ops/dash"})
	if w := get(dash, "/ops/dash"); w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "/ops/dash/" {
		t.Errorf("bare prefix: %d %v", w.Code, w.Header())
	}
	for path, want := range map[string]string{"/ops/dash/": `id="call-form"`, "/ops/dash/index.html": `id="services"`, "/ops/dash/app.js": "function poll", "/ops/dash/style.css": ".layout"} {
		w := get(dash, path)
		if w.Code != 200 || !strings.Contains(w.Body.String(), want) {
			t.Errorf("GET %s: %d", path, w.Code)
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "connect-src 'self'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
	}
	for _, path := range []string{"/ops/dash/secret.txt", "/ops/dash/api/nothing", "/ops/dash/static/app.js"} {
		if w := get(dash, path); w.Code != 404 || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: %d %s", path, w.Code, w.Header().Get("Content-Type"))
		}
	}
	w := httptest.NewRecorder()
	dash.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/ops/dash/api/services", nil))
	if w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d %v", w.Code, w.Header())
	}
	if _, err := dashboard.New(snapshot{}, breakers{}, &descs{}, dashboard.Config{Prefix: "/a/{b}"}); err == nil {
		t.Error("a prefix with a pattern is accepted")
	}
}

func TestServicesAPI(t *testing.T) {
	dash, d := newDashboard(t, dashboard.Config{})
	var got dashboard.Services
	if err := json.Unmarshal(get(dash, "/dashboard/api/services").Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Version != 7 || len(got.Services) != 3 {
		t.Fatalf("services: %+v", got)
	}
	health := map[string]string{}
	for _, s := range got.Services {
		health[s.Name] = s.Health
	}
	if health[orders] != "degraded" || health[hello] != "ok" || health[broken] != "down" {
		t.Errorf("health %v", health)
	}
	o := got.Services[2]
	if o.Name != orders || o.Nodes[0].Breaker != "closed" || o.Nodes[0].InFlight != 2 || o.Nodes[1].Breaker != "open" {
		t.Errorf("order nodes %+v", o.Nodes)
	}
	if len(d.asked) != 0 {
		t.Errorf("listing services loaded descriptors of %v", d.asked)
	}
}

func TestServiceAPI(t *testing.T) {
	dash, d := newDashboard(t, dashboard.Config{OpenAPIPath: "/openapi.json"})
	var o dashboard.Detail
	if err := json.Unmarshal(get(dash, "/dashboard/api/services/"+orders).Body.Bytes(), &o); err != nil {
		t.Fatal(err)
	}
	if !o.GRPC || len(o.Methods) != 2 || o.OpenAPI != "/openapi/"+orders+".json" || len(o.Routes) != 1 {
		t.Fatalf("order service %+v", o)
	}
	m := o.Methods[0]
	if m.Name != "OrderSrv.GetOrder" || m.Path != "/orderservice/OrderSrv/GetOrder" || m.RequestType != "order.OrderRequest" || string(m.Template) != `{"id":0}` {
		t.Errorf("GetOrder %+v", m)
	}
	if m.Request.Ref != "#/$defs/order.OrderRequest" || m.Response.Defs["order.OrderResponse"].Properties.Get("username") == nil {
		t.Errorf("GetOrder schemas %+v %+v", m.Request, m.Response)
	}

	// An HTTP-only service is not asked for descriptors; a failing one says why.
	var h dashboard.Detail
	_ = json.Unmarshal(get(dash, "/dashboard/api/services/"+hello).Body.Bytes(), &h)
	if h.GRPC || len(h.Methods) != 0 || len(h.Routes) != 1 {
		t.Errorf("hello %+v", h)
	}
	var b dashboard.Detail
	_ = json.Unmarshal(get(dash, "/dashboard/api/services/"+broken).Body.Bytes(), &b)
	if !b.GRPC || !strings.Contains(b.DescriptorError, "connection refused") {
		t.Errorf("broken %+v", b)
	}
	if strings.Join(d.asked, ",") != orders+","+broken {
		t.Errorf("descriptors asked for %v", d.asked)
	}
	if w := get(dash, "/dashboard/api/services/go.micro.api.gone"); w.Code != 404 || !strings.Contains(w.Body.String(), "not in the registry") {
		t.Errorf("unknown service: %d %s", w.Code, w.Body)
	}
}

func TestInfoAndErrorsAPI(t *testing.T) {
	rec := dashboard.NewRecorder(5)
	dash, _ := newDashboard(t, dashboard.Config{EventsPath: "/events", OpenAPIPath: "/openapi.json", Errors: rec})
	var info dashboard.Info
	_ = json.Unmarshal(get(dash, "/dashboard/api/info").Body.Bytes(), &info)
	if info.EventsPath != "/events" || info.OpenAPIPath != "/openapi.json" || info.RefreshMS != 1000 || !info.Errors {
		t.Errorf("info %+v", info)
	}
	serve(rec, http.NotFoundHandler(), "GET", "/nope", "X-Request-Id", "r-9")
	var errs struct {
		Enabled bool                   `json:"enabled"`
		Total   int                    `json:"total"`
		Errors  []dashboard.ErrorEntry `json:"errors"`
	}
	_ = json.Unmarshal(get(dash, "/dashboard/api/errors").Body.Bytes(), &errs)
	if !errs.Enabled || errs.Total != 1 || len(errs.Errors) != 1 || errs.Errors[0].RequestID != "r-9" {
		t.Errorf("errors %+v", errs)
	}
}
