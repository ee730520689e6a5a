package router

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/resolver"
)

type incomingKey struct{}

// recordingObserver counts Start and done calls.
type recordingObserver struct {
	started []RouteInfo
	ended   []int
}

func (o *recordingObserver) Start(_ *http.Request, info RouteInfo) func(int, time.Duration) {
	o.started = append(o.started, info)
	return func(status int, _ time.Duration) { o.ended = append(o.ended, status) }
}

// TestRequestStateGetters: a handler behind the router reads the request id, route info and
// endpoint through the getters, on the request's context and on contexts derived from it,
// and the request carries the router's state in one context value over the incoming context.
func TestRequestStateGetters(t *testing.T) {
	type marker struct{}
	var checked bool
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		checked = true
		derived, cancel := context.WithTimeout(context.WithValue(r.Context(), marker{}, 1), time.Minute)
		defer cancel()
		for name, ctx := range map[string]context.Context{"request": r.Context(), "derived": derived} {
			if id := RequestIDFrom(ctx); id != "rid-1" {
				t.Errorf("%s: request id %q", name, id)
			}
			ri := RouteInfoFrom(ctx)
			if ri == nil || ri.Route != "/orders/{id}" || ri.Handler != "rpc" || ri.Service != "orders" {
				t.Errorf("%s: route info %+v", name, ri)
			}
			ep := resolver.EndpointFrom(ctx)
			if ep == nil || ep.Service != "orders" || ep.Method != "Orders.Get" || ep.Vars["id"] != "7" {
				t.Errorf("%s: endpoint %+v", name, ep)
			}
			if ctx.Value(incomingKey{}) != "kept" {
				t.Errorf("%s: a value of the incoming context is lost", name)
			}
		}
		// A handler may still give its own callee another endpoint.
		other := &resolver.Endpoint{Service: "other"}
		if got := resolver.EndpointFrom(resolver.WithEndpoint(r.Context(), other)); got != other {
			t.Errorf("WithEndpoint over the router's state: %+v", got)
		}
		w.WriteHeader(http.StatusAccepted)
	})
	obs := &recordingObserver{}
	rt, _ := newRouter(t, Config{
		Handlers: map[string]http.Handler{"rpc": h},
		Routes:   []Route{{Path: "/orders/{id}", Handler: "rpc", Service: "orders", Endpoint: "Orders.Get"}},
		Observer: obs,
	})
	r := httptest.NewRequest("GET", "/orders/7", nil)
	r = r.WithContext(context.WithValue(r.Context(), incomingKey{}, "kept"))
	r.Header.Set("X-Request-Id", "rid-1")
	w := httptest.NewRecorder()
	rt.ServeHTTP(w, r)
	if !checked || w.Code != http.StatusAccepted {
		t.Fatalf("status %d, handler ran: %v", w.Code, checked)
	}
	if len(obs.started) != 1 || len(obs.ended) != 1 || obs.ended[0] != http.StatusAccepted {
		t.Errorf("observer: started %v, ended %v", obs.started, obs.ended)
	}
	if got := w.Header().Get("X-Request-Id"); got != "rid-1" {
		t.Errorf("response X-Request-Id %q", got)
	}
}

// TestEndpointWithoutState: routing a request that did not come through the router's
// middleware (a table or a route handler used on its own) still gives the handler its
// Endpoint, as a context value.
func TestEndpointWithoutState(t *testing.T) {
	var got *resolver.Endpoint
	h := routeEndpoint(Route{Handler: "rpc", Service: "orders", Endpoint: "Orders.Get"},
		http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = resolver.EndpointFrom(r.Context()) }),
		nil, "/orders")
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/orders", nil))
	if got == nil || got.Service != "orders" || got.Method != "Orders.Get" || got.Path != "/orders" {
		t.Fatalf("endpoint %+v", got)
	}
}

// TestStandaloneMiddleware: RequestID and AccessLog used outside a Router share one state,
// made by whichever runs first; an AccessLog inside another observes the request once.
func TestStandaloneMiddleware(t *testing.T) {
	obs := &recordingObserver{}
	var id string
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id = RequestIDFrom(r.Context())
		routed(r, obs, "/x", "rpc", "svc")
		_, _ = w.Write([]byte("ok"))
	})
	logger := slog.New(slog.DiscardHandler)
	h := AccessLog(logger)(RequestID(AccessLog(logger)(inner)))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if id == "" || w.Header().Get("X-Request-Id") != id {
		t.Errorf("id %q, response header %q", id, w.Header().Get("X-Request-Id"))
	}
	if len(obs.ended) != 1 || obs.ended[0] != http.StatusOK || w.Body.String() != "ok" {
		t.Errorf("observed %v, body %q", obs.ended, w.Body.String())
	}
}

// TestUnmatchedRequests: requests no route matches reach the table and the resolver for every
// method chi routes, whether or not another route has the path; a method chi does not route
// is a 405 error body.
func TestUnmatchedRequests(t *testing.T) {
	h, _ := newRouter(t, Config{Routes: []Route{
		{Path: "/only-get/{id}", Method: "GET", Handler: "rpc", Service: "og", Endpoint: "Og.Get"},
	}})
	h.(*Router).UpdateRoutes(map[string]*registry.Service{"reg": {Name: "reg", Endpoints: []registry.Endpoint{
		ep("Reg.Get", MetaPath, "/reg/{id}", MetaMethod, "GET"),
	}}})
	for _, tc := range []struct {
		method, path      string
		service, endpoint string
		vars              map[string]string
	}{
		{"POST", "/health/live", "go.micro.api.health", "Health.Live", nil},
		{"PUT", "/only-get/Og/Put", "go.micro.api.only-get", "Og.Put", nil},
		{"QUERY", "/greeter/hello", "go.micro.api.greeter", "Greeter.Hello", nil},
		{"DELETE", "/reg/Reg/Delete", "go.micro.api.reg", "Reg.Delete", nil},
		{"GET", "/reg/9", "reg", "Reg.Get", map[string]string{"id": "9"}},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			e := do(h, tc.method, tc.path, nil).echo(t)
			if e.Service != tc.service || e.Method != tc.endpoint || len(e.Vars) != len(tc.vars) || e.Vars["id"] != tc.vars["id"] {
				t.Errorf("got %+v", e)
			}
		})
	}
	m := do(h, "FOO", "/greeter/hello", nil).errorBody(t, http.StatusMethodNotAllowed)
	if m["id"] != "gateway" || !strings.Contains(m["detail"].(string), "method FOO is not allowed on /greeter/hello") {
		t.Errorf("body %v", m)
	}
}

// TestTableReusesRouteContext: the table matches with the request's own chi routing context,
// reset, so the outer router's matching leaves nothing behind in it.
func TestTableReusesRouteContext(t *testing.T) {
	var rctx *chi.Context
	mux := chi.NewMux()
	mux.Get("/t/{id}", func(_ http.ResponseWriter, r *http.Request) { rctx = chi.RouteContext(r.Context()) })
	outer := chi.NewRouteContext()
	outer.URLParams.Add("stale", "1")
	outer.RoutePatterns = append(outer.RoutePatterns, "/stale/*")
	r := httptest.NewRequest("GET", "/t/5", nil)
	r = r.WithContext(context.WithValue(r.Context(), chi.RouteCtxKey, outer))
	fresh(mux).ServeHTTP(httptest.NewRecorder(), r)
	if rctx != outer {
		t.Fatal("the table made a routing context of its own")
	}
	if len(rctx.URLParams.Keys) != 1 || rctx.URLParam("id") != "5" || rctx.URLParam("stale") != "" ||
		len(rctx.RoutePatterns) != 1 || rctx.RoutePatterns[0] != "/t/{id}" {
		t.Errorf("params %v, patterns %v", rctx.URLParams, rctx.RoutePatterns)
	}
}
