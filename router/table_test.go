package router

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/edgeapi/gateway/registry"
)

func ep(name string, meta ...string) registry.Endpoint {
	m := map[string]string{}
	for i := 0; i+1 < len(meta); i += 2 {
		m[meta[i]] = meta[i+1]
	}
	return registry.Endpoint{Name: name, Metadata: m}
}

func services(svcs ...*registry.Service) map[string]*registry.Service {
	out := map[string]*registry.Service{}
	for _, s := range svcs {
		out[s.Name] = s
	}
	return out
}

func newRegistryRouter(t *testing.T, routes ...Route) *Router {
	t.Helper()
	h, _ := newRouter(t, Config{Routes: routes})
	return h.(*Router)
}

// TestRegistryRoutes: endpoint metadata becomes routes with path variables; precedence is
// chi's, host routes first; what the table does not match falls through to the resolver.
func TestRegistryRoutes(t *testing.T) {
	rt := newRegistryRouter(t)
	conflicts := rt.UpdateRoutes(services(
		&registry.Service{Name: "orders", Endpoints: []registry.Endpoint{
			ep("Orders.Get", MetaPath, "/v2/orders/{id}", MetaMethod, "GET"),
			ep("Orders.Latest", MetaPath, "/v2/orders/latest", MetaMethod, "GET"),
			ep("Orders.Create", MetaPath, "/v2/orders", MetaMethod, "POST"),
			ep("Orders.NoPath"),
		}},
		&registry.Service{Name: "site", Endpoints: []registry.Endpoint{
			ep("", MetaPath, "/v2/*", MetaHandler, "http"),
			ep("", MetaPath, "/v2/orders/{id}", MetaHandler, "web", MetaHost, "shop.example"),
		}},
	))
	if len(conflicts) != 0 {
		t.Fatalf("conflicts: %v", conflicts)
	}
	if rt.RegistryRoutes() != 5 {
		t.Fatalf("RegistryRoutes = %d, want 5", rt.RegistryRoutes())
	}
	for _, tc := range []struct {
		method, target, host string
		handler, service     string
		endpoint             string
		vars                 map[string]string
	}{
		{"GET", "/v2/orders/7", "", "rpc", "orders", "Orders.Get", map[string]string{"id": "7"}},
		{"GET", "/v2/orders/latest", "", "rpc", "orders", "Orders.Latest", nil},
		{"POST", "/v2/orders", "", "rpc", "orders", "Orders.Create", nil},
		{"GET", "/v2/other", "", "http", "site", "", nil},
		{"DELETE", "/v2/orders/7", "", "http", "site", "", nil}, // method mismatch: the wildcard
		{"GET", "/v2/orders/7", "shop.example:8080", "web", "site", "", map[string]string{"id": "7"}},
		{"GET", "/v2/orders/latest", "shop.example", "web", "site", "", map[string]string{"id": "latest"}},
		{"GET", "/greeter/hello", "", "rpc", "go.micro.api.greeter", "Greeter.Hello", nil}, // resolver
	} {
		t.Run(tc.method+" "+tc.host+tc.target, func(t *testing.T) {
			hdr := http.Header{}
			req := do(rt, tc.method, "http://"+firstNonEmpty(tc.host, "gw.local")+tc.target, hdr)
			e := req.echo(t)
			if e.Handler != tc.handler || e.Service != tc.service || e.Method != tc.endpoint {
				t.Fatalf("got %s %s %s, want %s %s %s", e.Handler, e.Service, e.Method, tc.handler, tc.service, tc.endpoint)
			}
			for k, v := range tc.vars {
				if e.Vars[k] != v {
					t.Errorf("var %s = %q, want %q (%v)", k, e.Vars[k], v, e.Vars)
				}
			}
		})
	}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestRegistryRouteConflicts: the same route from two services is reported, and the winner is
// the same whatever order the registry lists them in; config routes win and are reported too.
func TestRegistryRouteConflicts(t *testing.T) {
	rt := newRegistryRouter(t, Route{Path: "/fixed/{x}", Handler: "rpc", Service: "cfg", Endpoint: "Cfg.Get"})
	for range 20 { // map order varies between calls; the answer must not
		conflicts := rt.UpdateRoutes(services(
			&registry.Service{Name: "b", Endpoints: []registry.Endpoint{ep("B.Get", MetaPath, "/items/{id}", MetaMethod, "GET")}},
			&registry.Service{Name: "a", Endpoints: []registry.Endpoint{ep("A.Get", MetaPath, "/items/{key}", MetaMethod, "GET")}},
			&registry.Service{Name: "c", Endpoints: []registry.Endpoint{ep("C.Get", MetaPath, "/fixed/{y}")}},
			&registry.Service{Name: "d", Endpoints: []registry.Endpoint{ep("D.Get", MetaPath, "/bad", MetaHandler, "nope")}},
		))
		var got []string
		for _, c := range conflicts {
			got = append(got, c.String())
		}
		joined := strings.Join(got, "; ")
		for _, want := range []string{"GET /items/{id}: a A.Get wins over b B.Get", "/fixed/{y}: config route wins over c C.Get", `unknown handler "nope"`} {
			if !strings.Contains(joined, want) {
				t.Fatalf("conflicts %q lack %q", joined, want)
			}
		}
		if e := do(rt, "GET", "/items/1", nil).echo(t); e.Service != "a" || e.Vars["key"] != "1" {
			t.Fatalf("/items/1 went to %+v", e)
		}
		if e := do(rt, "GET", "/fixed/1", nil).echo(t); e.Service != "cfg" {
			t.Fatalf("/fixed/1 went to %+v", e)
		}
	}
}

// TestRegistryRoutesSwap: requests running while the table is rebuilt see the old or the new
// table, never a broken one; a removed service's routes go.
func TestRegistryRoutesSwap(t *testing.T) {
	rt := newRegistryRouter(t)
	with := services(&registry.Service{Name: "orders", Endpoints: []registry.Endpoint{ep("Orders.Get", MetaPath, "/o/{id}")}})
	rt.UpdateRoutes(with)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			rt.UpdateRoutes(with)
			rt.UpdateRoutes(map[string]*registry.Service{})
		}
	})
	for range 2000 {
		e := do(rt, "GET", "/o/x", nil).echo(t)
		if e.Service != "orders" && e.Service != "go.micro.api.o" {
			t.Fatalf("mid-swap request went to %+v", e)
		}
	}
	close(stop)
	wg.Wait()
	rt.UpdateRoutes(map[string]*registry.Service{})
	if e := do(rt, "GET", "/o/x", nil).echo(t); e.Service != "go.micro.api.o" {
		t.Fatalf("after removal /o/1 went to %+v", e)
	}
}
