package openapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/edgeapi/gateway/descriptor"
	"github.com/edgeapi/gateway/openapi"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/resolver"
)

// defaultRoutes are the routes of the default config.yaml.
var defaultRoutes = []openapi.Route{
	{Path: "/orders/{id}", Method: "GET", Handler: "rpc", Service: orders, Endpoint: "OrderSrv.GetOrder"},
	{Path: "/events/*", Handler: "event"},
	{Path: "/hello", Handler: "http", Service: hello},
	{Path: "/hello/*", Handler: "http", Service: hello},
}

func newGenerator(t *testing.T, d openapi.Descriptors, routes []openapi.Route) (*openapi.Generator, *snapshots) {
	t.Helper()
	snaps := &snapshots{}
	snaps.set(1, &registry.Service{Name: orders}, &registry.Service{Name: users}, &registry.Service{Name: echo},
		&registry.Service{Name: hello}, &registry.Service{Name: broken},
		&registry.Service{Name: "go.micro.api.shop", Endpoints: []registry.Endpoint{
			{Name: "Shop.Item", Metadata: map[string]string{"path": "/shop/items/{sku:[a-z0-9]+}", "method": "GET", "handler": "http"}},
		}})
	g, err := openapi.New(snaps, d, openapi.Config{Resolver: resolver.Micro{Namespace: "go.micro.api"}, DefaultHandler: "rpc", Routes: routes})
	if err != nil {
		t.Fatal(err)
	}
	return g, snaps
}

func document(t *testing.T, g *openapi.Generator) []byte {
	t.Helper()
	b, err := g.Document(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The document validates against the OpenAPI 3.1 schema, and so does every per-service one.
func TestDocumentsValidate(t *testing.T) {
	d := seedDescs(t)
	g, _ := newGenerator(t, d, defaultRoutes)
	validateDocument(t, document(t, g))
	for _, svc := range []string{orders, users, echo, hello, "go.micro.api.shop"} {
		t.Run(svc, func(t *testing.T) {
			b, ok, err := g.ServiceDocument(context.Background(), svc)
			if err != nil || !ok {
				t.Fatalf("ServiceDocument(%s) = %v, %v", svc, ok, err)
			}
			validateDocument(t, b)
		})
	}
	if _, ok, _ := g.ServiceDocument(context.Background(), broken); ok {
		t.Error("a service whose descriptors do not load has a document")
	}
}

// properties returns the property names of the schema at v (following $refs).
func properties(doc map[string]any, v any) []string {
	var out []string
	props, _ := at(resolve(doc, v), "properties").(map[string]any)
	for k := range props {
		out = append(out, k)
	}
	return out
}

func hasAll(got []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			return false
		}
	}
	return true
}

// The seed's two services are described at their micro resolver paths with their fields.
func TestSeedServices(t *testing.T) {
	g, _ := newGenerator(t, seedDescs(t), defaultRoutes)
	doc := decode(t, document(t, g))
	tests := []struct {
		path, grpc   string
		request      []string
		response     []string
		responseType string
	}{
		{"/orderservice/OrderSrv/GetOrder", "/order.OrderSrv/GetOrder", []string{"id"},
			[]string{"id", "product", "quantity", "priceCents", "userId", "username", "address", "phone"}, "order.OrderResponse"},
		{"/orderservice/OrderSrv/ListOrders", "/order.OrderSrv/ListOrders", []string{"userId", "pageSize"}, []string{"orders"}, "order.ListOrdersResponse"},
		{"/userservices/UserSrv/GetAccount", "/user.UserSrv/GetAccount", []string{"id"}, []string{"id", "username", "address", "phone"}, "user.AccountResponse"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			op := at(doc, "paths", tt.path, "post")
			if op == nil {
				t.Fatalf("no POST %s; paths: %v", tt.path, keys(at(doc, "paths")))
			}
			if got := at(op, "x-gateway-grpc-method"); got != tt.grpc {
				t.Errorf("grpc method %v, want %s", got, tt.grpc)
			}
			req := at(op, "requestBody", "content", "application/json", "schema")
			if got := properties(doc, req); len(got) != len(tt.request) || !hasAll(got, tt.request...) {
				t.Errorf("request fields %v, want %v", got, tt.request)
			}
			res := at(op, "responses", "200", "content", "application/json", "schema")
			if got := properties(doc, res); len(got) != len(tt.response) || !hasAll(got, tt.response...) {
				t.Errorf("response fields %v, want %v", got, tt.response)
			}
			if got := at(resolve(doc, res), "x-proto-type"); got != tt.responseType {
				t.Errorf("response type %v, want %s", got, tt.responseType)
			}
			if got := at(op, "responses", "default", "$ref"); got != "#/components/responses/Error" {
				t.Errorf("default response %v, want the shared error", got)
			}
		})
	}
	// int64 fields: decimal strings out, numbers accepted in.
	id := at(doc, "components", "schemas", "order.OrderRequest", "properties", "id")
	if at(id, "format") != "int64" || at(id, "pattern") != "^-?[0-9]+$" {
		t.Errorf("int64 id schema %v", id)
	}
	items := at(doc, "components", "schemas", "order.ListOrdersResponse", "properties", "orders", "items", "$ref")
	if items != "#/components/schemas/order.OrderResponse" {
		t.Errorf("repeated message items %v", items)
	}
	if e := at(doc, "components", "schemas", "gateway.Error", "required"); len(e.([]any)) != 4 {
		t.Errorf("error schema required %v", e)
	}
}

func keys(v any) []string {
	m, _ := v.(map[string]any)
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestRoutes(t *testing.T) {
	g, _ := newGenerator(t, seedDescs(t), defaultRoutes)
	doc := decode(t, document(t, g))

	get := at(doc, "paths", "/orders/{id}", "get")
	if get == nil {
		t.Fatalf("no GET /orders/{id}; paths %v", keys(at(doc, "paths")))
	}
	params := at(get, "parameters").([]any)
	if at(params[0], "name") != "id" || at(params[0], "in") != "path" || at(params[0], "required") != true || at(params[0], "schema", "format") != "int64" {
		t.Errorf("path parameter %v", params[0])
	}
	if at(get, "requestBody") != nil {
		t.Error("a GET route has a request body")
	}
	if at(get, "responses", "200", "content", "application/json", "schema", "$ref") != "#/components/schemas/order.OrderResponse" {
		t.Errorf("GET /orders/{id} answer %v", at(get, "responses", "200"))
	}

	ev := at(doc, "paths", "/events/{topic}/{name}", "post")
	if ev == nil || at(ev, "responses", "202") == nil || at(ev, "x-gateway-handler") != "event" {
		t.Errorf("event route %v", ev)
	}
	for _, m := range []string{"get", "post", "put", "patch", "delete"} {
		if at(doc, "paths", "/hello", m) == nil || at(doc, "paths", "/hello/{path}", m) == nil {
			t.Errorf("http route lacks %s", m)
		}
	}
	shop := at(doc, "paths", "/shop/items/{sku}", "get")
	if shop == nil || at(shop, "parameters").([]any)[0].(map[string]any)["schema"].(map[string]any)["pattern"] != "^(?:[a-z0-9]+)$" {
		t.Errorf("registry route %v", shop)
	}
	if sk := at(doc, "x-gateway-skipped", broken); sk == nil || !strings.Contains(sk.(string), "connection refused") {
		t.Errorf("skipped %v", at(doc, "x-gateway-skipped"))
	}
}

func TestStreaming(t *testing.T) {
	g, _ := newGenerator(t, seedDescs(t), nil)
	doc := decode(t, document(t, g))
	count := at(doc, "paths", "/echo/Echo/Count", "post")
	if at(count, "x-gateway-streaming") != "server" {
		t.Fatalf("Count: %v", count)
	}
	content := at(count, "responses", "200", "content").(map[string]any)
	if _, ok := content["application/x-ndjson"]; !ok {
		t.Error("server stream without application/x-ndjson")
	}
	if _, ok := content["text/event-stream"]; !ok {
		t.Error("server stream without text/event-stream")
	}
	if at(content, "application/x-ndjson", "schema", "properties", "result", "$ref") != "#/components/schemas/testsvc.v1.CountResponse" {
		t.Errorf("ndjson line %v", at(content, "application/x-ndjson"))
	}
	for path, kind := range map[string]string{"/echo/Echo/Sum": "client", "/echo/Echo/Chat": "bidi"} {
		op := at(doc, "paths", path, "get")
		if at(op, "x-gateway-streaming") != kind || at(op, "responses", "101") == nil || at(op, "x-gateway-websocket", "send", "$ref") == nil {
			t.Errorf("%s: %v", path, op)
		}
	}
}

// A route that takes a resolver path first replaces the resolver's operation.
func TestRouteShadowsResolverPath(t *testing.T) {
	routes := []openapi.Route{{Path: "/orderservice/OrderSrv/GetOrder", Method: "POST", Handler: "http", Service: hello}}
	g, _ := newGenerator(t, seedDescs(t), routes)
	doc := decode(t, document(t, g))
	if h := at(doc, "paths", "/orderservice/OrderSrv/GetOrder", "post", "x-gateway-handler"); h != "http" {
		t.Errorf("POST /orderservice/OrderSrv/GetOrder handled by %v, want the http route", h)
	}
	if at(doc, "paths", "/orderservice/OrderSrv/ListOrders", "post") == nil {
		t.Error("an unshadowed method is missing")
	}
}

// Two services defining one message name differently keep their definitions apart.
func TestConflictingDefinitions(t *testing.T) {
	a := compileSet(t, map[string]string{"a.proto": `syntax = "proto3"; package shared; message Msg { string a = 1; } service A { rpc Do(Msg) returns (Msg); }`})
	b := compileSet(t, map[string]string{"b.proto": `syntax = "proto3"; package shared; message Msg { int32 b = 1; } service B { rpc Do(Msg) returns (Msg); }`})
	d := &descs{sets: map[string]*descriptor.Set{"go.micro.api.a": a, "go.micro.api.b": b}, calls: map[string]int{}}
	snaps := &snapshots{}
	snaps.set(1, &registry.Service{Name: "go.micro.api.a"}, &registry.Service{Name: "go.micro.api.b"})
	g, err := openapi.New(snaps, d, openapi.Config{Resolver: resolver.Micro{Namespace: "go.micro.api"}, DefaultHandler: "rpc"})
	if err != nil {
		t.Fatal(err)
	}
	raw := document(t, g)
	validateDocument(t, raw)
	doc := decode(t, raw)
	ra := at(doc, "paths", "/a/A/Do", "post", "requestBody", "content", "application/json", "schema", "$ref")
	rb := at(doc, "paths", "/b/B/Do", "post", "requestBody", "content", "application/json", "schema", "$ref")
	if ra != "#/components/schemas/shared.Msg" || rb != "#/components/schemas/go.micro.api.b.shared.Msg" {
		t.Errorf("refs %v and %v", ra, rb)
	}
	if got := properties(doc, map[string]any{"$ref": rb}); len(got) != 1 || got[0] != "b" {
		t.Errorf("b's message has %v", got)
	}
}

// The document is rebuilt when what it describes changes, and only then; failed loads are not
// retried on every request.
func TestRegeneration(t *testing.T) {
	d := seedDescs(t)
	g, snaps := newGenerator(t, d, defaultRoutes)
	first := document(t, g)
	again := document(t, g)
	if &first[0] != &again[0] {
		t.Error("the document was rebuilt although nothing changed")
	}
	if n := d.count(broken); n != 1 {
		t.Errorf("a failing service was asked %d times, want once", n)
	}
	if n := d.count(hello); n != 0 {
		t.Errorf("an http-only service was asked for descriptors %d times", n)
	}

	// A new snapshot with the same services (a heartbeat) changes nothing.
	cur := snaps.Snapshot()
	var svcs []*registry.Service
	for _, s := range cur.Services {
		svcs = append(svcs, s)
	}
	snaps.set(cur.Version+1, svcs...)
	if b := document(t, g); &b[0] != &first[0] {
		t.Error("a snapshot with the same services rebuilt the document")
	}

	// A service leaving changes it.
	var rest []*registry.Service
	for _, s := range svcs {
		if s.Name != users {
			rest = append(rest, s)
		}
	}
	snaps.set(cur.Version+2, rest...)
	b := document(t, g)
	if bytes.Equal(b, first) || strings.Contains(string(b), "/userservices/UserSrv/GetAccount") {
		t.Error("the document still describes a service that left")
	}
	// A new registry route changes it too.
	rest = append(rest, &registry.Service{Name: "go.micro.api.tags", Endpoints: []registry.Endpoint{{Name: "Tags.List", Metadata: map[string]string{"path": "/tags", "method": "GET", "handler": "http"}}}})
	snaps.set(cur.Version+3, rest...)
	if !strings.Contains(string(document(t, g)), `"/tags"`) {
		t.Error("a new registry route is not described")
	}
}

func TestHTTP(t *testing.T) {
	g, _ := newGenerator(t, seedDescs(t), defaultRoutes)
	mounts := g.Mounts()
	if mounts["/openapi.json"] == nil || mounts["/openapi"] == nil {
		t.Fatalf("mounts %v", mounts)
	}
	do := func(method, path string, hdr ...string) *http.Response {
		r := httptest.NewRequest(method, path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		return w.Result()
	}
	body := func(r *http.Response) string { b, _ := io.ReadAll(r.Body); return string(b) }

	all := do("GET", "/openapi.json")
	if all.StatusCode != 200 || all.Header.Get("Content-Type") != "application/json" || all.Header.Get("ETag") == "" {
		t.Fatalf("GET /openapi.json: %d %v", all.StatusCode, all.Header)
	}
	if r := do("GET", "/openapi.json", "If-None-Match", all.Header.Get("ETag")); r.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", r.StatusCode)
	}
	one := do("GET", "/openapi/"+orders+".json")
	if b := body(one); one.StatusCode != 200 || !strings.Contains(b, "/orderservice/OrderSrv/GetOrder") || strings.Contains(b, "/userservices/") {
		t.Errorf("per-service document: %d %.200s", one.StatusCode, b)
	}
	if r := do("GET", "/openapi/"); r.StatusCode != 200 || !strings.Contains(body(r), `"/openapi/`+orders+`.json"`) {
		t.Errorf("index: %d", r.StatusCode)
	}
	if r := do("GET", "/openapi/"+broken+".json"); r.StatusCode != 404 || !strings.Contains(body(r), "connection refused") {
		t.Errorf("document of a skipped service: %d", r.StatusCode)
	}
	if r := do("POST", "/openapi.json"); r.StatusCode != 405 || r.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d %v", r.StatusCode, r.Header)
	}
}

// Requests the gateway accepts and answers it gives validate against the document.
func TestRequestsAndResponsesValidate(t *testing.T) {
	g, _ := newGenerator(t, seedDescs(t), defaultRoutes)
	v := validateDocument(t, document(t, g))
	req := func(body string) *http.Request {
		r := httptest.NewRequest("POST", "http://gateway/orderservice/OrderSrv/GetOrder", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		return r
	}
	for _, body := range []string{`{"id":1}`, `{"id":"1"}`, `{}`} {
		if ok, errs := v.ValidateHttpRequest(req(body)); !ok {
			t.Errorf("request %s: %v", body, errs[0].Reason)
		}
	}
	if ok, _ := v.ValidateHttpRequest(req(`{"id":"one"}`)); ok {
		t.Error(`{"id":"one"} validates, but the gateway refuses it`)
	}
	res := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"id":"1","product":"Coffee beans, 1 kg","quantity":"2","priceCents":"1850","userId":"1","username":"john","address":"1 Main St","phone":"+1"}`))}
	if ok, errs := v.ValidateHttpResponse(req(`{"id":1}`), res); !ok {
		t.Errorf("response: %s", errs[0].Reason)
	}
	errRes := &http.Response{StatusCode: 404, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"id":"go.micro.api.orderservice","code":404,"detail":"order 9 not found","status":"Not Found","grpc_code":"NotFound"}`))}
	if ok, errs := v.ValidateHttpResponse(req(`{"id":9}`), errRes); !ok {
		t.Errorf("error response: %s", errs[0].Reason)
	}
}
