package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/reflection"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgeapi/gateway/examples/order/ordersrv"
	"github.com/edgeapi/gateway/examples/proto/order"
	"github.com/edgeapi/gateway/examples/proto/user"
	"github.com/edgeapi/gateway/examples/user/usersrv"
	"github.com/edgeapi/gateway/internal/testsvc"
	testsvcv1 "github.com/edgeapi/gateway/internal/testsvc/proto/testsvc/v1"
)

// allKinds sets every field of testsvc.v1.EchoRequest, in protojson's canonical form, so the
// echoed request must come back equal.
const allKinds = `{
  "name": "Ada",
  "count": -5,
  "big": "9007199254740993",
  "unsigned": "18446744073709551615",
  "flag": true,
  "ratio": 1.5,
  "data": "aGVsbG8=",
  "color": "COLOR_GREEN",
  "nested": {"id": "7", "label": "seven"},
  "tags": ["a", "b"],
  "numbers": ["1", "-2"],
  "items": [{"id": "1", "label": "one"}, {"id": "2", "label": ""}],
  "labels": {"k": "v", "z": ""},
  "at": "2024-01-02T03:04:05.500Z",
  "snakeCaseField": "s"
}`

// echoService is the registry name the micro resolver gives /echoservice/... under the default
// namespace.
const echoService = "go.micro.api.echoservice"

// TestSeedPath is the seed's promise: curl /orderservice/OrderSrv/GetOrder -d '{"id":1}' reaches
// the examples' plain gRPC order service, which joins the user service's account into its
// answer. Both run in-process from their importable packages (ordersrv, usersrv).
func TestSeedPath(t *testing.T) {
	users := startPlainServer(t, func(s *grpc.Server) { user.RegisterUserSrvServer(s, usersrv.New()) })
	conn, err := grpc.NewClient("passthrough:///"+users, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	orders := startPlainServer(t, func(s *grpc.Server) {
		order.RegisterOrderSrvServer(s, ordersrv.New(user.NewUserSrvClient(conn)))
	})
	g := startGateway(t, gatewayYAML("", svc(usersrv.Name, users), svc(ordersrv.Name, orders)))

	got := wantOK(t, g.post(t, "/orderservice/OrderSrv/GetOrder", `{"id":1}`))
	acc := usersrv.Accounts()[1]
	for k, want := range map[string]any{"id": "1", "userId": "1", "username": acc.GetUsername(), "address": acc.GetAddress(), "phone": acc.GetPhone()} {
		if got[k] != want {
			t.Errorf("GetOrder %s = %v, want %v (answer %v)", k, got[k], want, got)
		}
	}
	if got["username"] == "" || got["address"] == "" || got["phone"] == "" {
		t.Errorf("user fields not filled: %v", got)
	}
	// curl -d sends application/x-www-form-urlencoded; the README's command must still work.
	curlStyle := wantOK(t, g.call(t, http.MethodPost, "/orderservice/OrderSrv/GetOrder", `{"id":1}`,
		"Content-Type", "application/x-www-form-urlencoded"))
	if curlStyle["username"] != acc.GetUsername() {
		t.Errorf("GetOrder sent as curl -d = %v", curlStyle)
	}
	wantError(t, g.post(t, "/orderservice/OrderSrv/GetOrder", `{"id":99}`), http.StatusNotFound, ordersrv.Name)
	m := wantError(t, g.post(t, "/orderservice/OrderSrv/GetOrder", `{"id":0}`), http.StatusBadRequest, ordersrv.Name)
	if !strings.Contains(fmt.Sprint(m["details"]), "google.rpc.BadRequest") {
		t.Errorf("InvalidArgument without its BadRequest detail: %v", m)
	}
	if got := wantOK(t, g.call(t, http.MethodGet, "/userservices/UserSrv/GetAccount?id=2", "")); got["username"] != usersrv.Accounts()[2].GetUsername() {
		t.Errorf("GetAccount = %v", got)
	}
}

// startPlainServer serves a gRPC server with reflection on loopback until the test ends.
func startPlainServer(t *testing.T, register func(*grpc.Server)) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	register(s)
	reflection.Register(s)
	serveGRPC(t, s, lis)
	return lis.Addr().String()
}

// TestDescriptorSources: reflection (the default), .proto files compiled at start-up and a
// protoset give the same answers, and only the reflection gateway asks the backend.
func TestDescriptorSources(t *testing.T) {
	srv := testsvc.Start(t, "n1")
	files := testsvc.WriteDescriptors(t)
	sources := []struct {
		name, rpc string
	}{
		{"reflection", ""},
		{"proto", fmt.Sprintf("rpc:\n  services:\n    %s:\n      descriptors: proto\n      import_paths: [%q]\n      proto_files: [%q]\n",
			echoService, files.ImportPath, files.V1Proto)},
		{"protoset", fmt.Sprintf("rpc:\n  services:\n    %s:\n      descriptors: protoset\n      protoset: %q\n",
			echoService, files.V1Protoset)},
	}
	type answers struct{ unary, unknown, query any }
	var first *answers
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			before := srv.Reflections()
			g := startGateway(t, gatewayYAML(src.rpc, svc(echoService, srv.Addr)))
			unary := wantOK(t, g.post(t, "/echoservice/Echo/Unary", allKinds, "X-Request-Id", "same-id"))
			delete(unary, "deadlineMillis")
			if !reflect.DeepEqual(unary["request"], decodeJSON(t, allKinds)) {
				t.Errorf("echoed request differs from the one sent:\n got %v\nwant %s", unary["request"], allKinds)
			}
			unknown := wantError(t, g.post(t, "/echoservice/Echo/Nope", `{}`), http.StatusNotFound, echoService)
			query := wantOK(t, g.call(t, http.MethodGet, "/echoservice/Echo/Unary?name=q&nested.id=3&color=COLOR_RED", "", "X-Request-Id", "same-id"))
			delete(query, "deadlineMillis")
			got := answers{unary, unknown, query}
			if first == nil {
				first = &got
			} else if !reflect.DeepEqual(got, *first) {
				t.Errorf("answers differ from the reflection gateway's:\n got %v\nwant %v", got, *first)
			}
			fetched := srv.Reflections() - before
			if src.name == "reflection" && fetched != 1 {
				t.Errorf("reflection gateway fetched descriptors %d times, want 1", fetched)
			}
			if src.name != "reflection" && fetched != 0 {
				t.Errorf("%s gateway used reflection %d times, want 0", src.name, fetched)
			}
		})
	}

	t.Run("no reflection on the backend", func(t *testing.T) {
		bare := testsvc.Start(t, "bare", testsvc.WithoutReflection())
		g := startGateway(t, gatewayYAML(fmt.Sprintf("rpc:\n  services:\n    %s:\n      descriptors: protoset\n      protoset: %q\n",
			echoService, files.V1Protoset), svc(echoService, bare.Addr), svc("go.micro.api.reflect", bare.Addr)))
		if got := wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{"name":"x"}`)); field(got, "request", "name") != "x" {
			t.Errorf("answer %v", got)
		}
		// The same node under a name that relies on reflection cannot be described.
		wantError(t, g.post(t, "/reflect/Echo/Unary", `{}`), http.StatusNotImplemented, "go.micro.api.reflect", "reflection")
	})
}

// TestMicroResolver: micro api's URL conventions through the gateway, with a configured
// namespace.
func TestMicroResolver(t *testing.T) {
	srv := testsvc.Start(t, "n1")
	names := []string{"test.ns.echoservice", "test.ns.echo", "test.ns.v1.echo", "test.ns.v1.echoservice", "test.ns.a.b"}
	var nodes []node
	for _, n := range names {
		nodes = append(nodes, svc(n, srv.Addr))
	}
	g := startGateway(t, gatewayYAML("resolver:\n  type: micro\n  namespace: test.ns\n", nodes...))
	for _, tc := range []struct {
		path string
		code int
		id   string // error id (the resolved service) when code is not 200
		want string // in the detail
	}{
		{path: "/echoservice/Echo/Unary", code: 200},
		{path: "/echoservice/echo/unary", code: 200},
		{path: "/echoservice/Echo/Unary/", code: 200},
		{path: "/echo/unary", code: 200},
		{path: "/v1/echo/unary", code: 200},
		{path: "/v1/echoservice/Echo/Unary", code: 200},
		{path: "/a/b/echo/unary", code: 200},
		{path: "/echo", code: 404, id: "test.ns.echo", want: "Echo.Call"},
		{path: "/echoservice/Echo/set-headers", code: 200},
		{path: "/go.micro.api.echoservice/Echo/Unary", code: 404, id: "gateway", want: "no service matches"},
		{path: "/nope/Echo/Unary", code: 404, id: "test.ns.nope", want: "test.ns.nope"},
		{path: "/", code: 404, id: "gateway"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := g.post(t, tc.path, `{}`)
			if tc.code == 200 {
				wantOK(t, r)
				return
			}
			wantError(t, r, tc.code, tc.id, tc.want)
		})
	}

	t.Run("empty namespace", func(t *testing.T) {
		g := startGateway(t, gatewayYAML("resolver:\n  namespace: \"\"\n", svc("echoservice", srv.Addr)))
		wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{}`))
	})
	t.Run("grpc resolver with full names", func(t *testing.T) {
		amb := testsvc.Start(t, "both", testsvc.WithV2())
		g := startGateway(t, gatewayYAML("resolver:\n  type: grpc\n", svc("go.micro.api.testsvc.v1", amb.Addr), svc("go.micro.api.testsvc.v2", amb.Addr)))
		wantOK(t, g.post(t, "/testsvc.v1.Echo/Unary", `{"name":"x"}`))
		if got := wantOK(t, g.post(t, "/testsvc.v2.Echo/Unary", `{"text":"x"}`)); got["version"] != "v2" {
			t.Errorf("v2 answer %v", got)
		}
	})
}

// TestRequestBuilding: every way a request message is built, and how the answer is written.
func TestRequestBuilding(t *testing.T) {
	srv := testsvc.Start(t, "n1")
	routes := `routes:
  - path: /echo/{name}
    method: GET
    service: go.micro.api.echoservice
    endpoint: Echo.Unary
  - path: /items/{nested.id}/{nested.label}
    service: go.micro.api.echoservice
    endpoint: testsvc.v1.Echo.Unary
`
	g := startGateway(t, gatewayYAML(routes, svc(echoService, srv.Addr)))

	t.Run("every kind round-trips through JSON", func(t *testing.T) {
		got := wantOK(t, g.post(t, "/echoservice/Echo/Unary", allKinds))
		if !reflect.DeepEqual(got["request"], decodeJSON(t, allKinds)) {
			t.Errorf("echoed request:\n got %v\nwant %s", got["request"], allKinds)
		}
		if got["node"] != "n1" {
			t.Errorf("node %v", got["node"])
		}
	})
	t.Run("proto names accepted in the body", func(t *testing.T) {
		got := wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{"snake_case_field":"p"}`))
		if field(got, "request", "snakeCaseField") != "p" {
			t.Errorf("answer %v", got)
		}
	})
	t.Run("zero values are emitted", func(t *testing.T) {
		got := wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{}`))
		want := decodeJSON(t, `{"name":"","count":0,"big":"0","unsigned":"0","flag":false,"ratio":0,"data":"",
			"color":"COLOR_UNSPECIFIED","nested":null,"tags":[],"numbers":[],"items":[],"labels":{},"at":null,"snakeCaseField":""}`)
		if !reflect.DeepEqual(got["request"], want) {
			t.Errorf("zero request echoed as %v", got["request"])
		}
	})
	t.Run("no body", func(t *testing.T) {
		wantOK(t, g.call(t, http.MethodPost, "/echoservice/Echo/Unary", ""))
	})
	t.Run("query parameters", func(t *testing.T) {
		q := url.Values{
			"name": {"x"}, "nested.id": {"2"}, "nested.label": {"two"}, "tags": {"a", "b"}, "numbers": {"5"},
			"color": {"COLOR_RED"}, "flag": {"true"}, "ratio": {"0.25"}, "big": {"-9"}, "unsigned": {"9"},
			"count": {"3"}, "data": {"aGk="}, "at": {"2024-01-02T03:04:05Z"}, "snake_case_field": {"sn"},
		}
		got := wantOK(t, g.call(t, http.MethodGet, "/echoservice/Echo/Unary?"+q.Encode(), ""))
		want := decodeJSON(t, `{"name":"x","count":3,"big":"-9","unsigned":"9","flag":true,"ratio":0.25,"data":"aGk=",
			"color":"COLOR_RED","nested":{"id":"2","label":"two"},"tags":["a","b"],"numbers":["5"],"items":[],"labels":{},
			"at":"2024-01-02T03:04:05Z","snakeCaseField":"sn"}`)
		if !reflect.DeepEqual(got["request"], want) {
			t.Errorf("query request echoed as\n%v\nwant\n%v", got["request"], want)
		}
	})
	t.Run("query on top of a JSON body", func(t *testing.T) {
		got := wantOK(t, g.post(t, "/echoservice/Echo/Unary?name=q&tags=c", `{"name":"b","tags":["a"],"count":1}`))
		if field(got, "request", "name") != "q" || !reflect.DeepEqual(field(got, "request", "tags"), []any{"a", "c"}) || field(got, "request", "count") != 1.0 {
			t.Errorf("answer %v", got["request"])
		}
	})
	t.Run("form body", func(t *testing.T) {
		form := url.Values{"name": {"f"}, "big": {"5"}, "nested.label": {"z"}, "tags": {"x", "y"}, "color": {"2"}}
		got := wantOK(t, g.call(t, http.MethodPost, "/echoservice/Echo/Unary", form.Encode(),
			"Content-Type", "application/x-www-form-urlencoded"))
		r := got["request"].(map[string]any)
		if r["name"] != "f" || r["big"] != "5" || field(r, "nested", "label") != "z" || !reflect.DeepEqual(r["tags"], []any{"x", "y"}) || r["color"] != "COLOR_GREEN" {
			t.Errorf("form request echoed as %v", r)
		}
	})
	t.Run("protobuf in and out", func(t *testing.T) {
		in := &testsvcv1.EchoRequest{Name: "pb", Big: 1 << 60, Data: []byte{0, 1, 2}, Nested: &testsvcv1.Nested{Id: 4},
			Labels: map[string]string{"a": "b"}, At: timestamppb.New(time.Unix(1700000000, 0))}
		body, err := proto.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		for _, ct := range []string{"application/protobuf", "application/x-protobuf"} {
			req, _ := http.NewRequest(http.MethodPost, g.url+"/echoservice/Echo/Unary", bytes.NewReader(body))
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Accept", ct)
			r := g.do(t, req)
			if r.code != http.StatusOK || r.header.Get("Content-Type") != "application/protobuf" {
				t.Fatalf("%s: %s (Content-Type %q)", ct, r, r.header.Get("Content-Type"))
			}
			var out testsvcv1.EchoResponse
			if err := proto.Unmarshal(r.body, &out); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(out.GetRequest(), in) || out.GetNode() != "n1" {
				t.Errorf("%s: echoed %v, want %v", ct, out.GetRequest(), in)
			}
		}
		// A protobuf body with a JSON answer.
		req, _ := http.NewRequest(http.MethodPost, g.url+"/echoservice/Echo/Unary", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/protobuf")
		if got := wantOK(t, g.do(t, req)); field(got, "request", "name") != "pb" || field(got, "request", "big") != "1152921504606846976" {
			t.Errorf("answer %v", got)
		}
		// A JSON body with a protobuf answer.
		r := g.post(t, "/echoservice/Echo/Unary", `{"name":"j"}`, "Accept", "application/protobuf")
		var out testsvcv1.EchoResponse
		if err := proto.Unmarshal(r.body, &out); err != nil || out.GetRequest().GetName() != "j" {
			t.Errorf("protobuf answer to a JSON body: %v %v", err, &out)
		}
		// Accept listing JSON first keeps JSON.
		wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{}`, "Accept", "application/json, application/protobuf"))
	})
	t.Run("path variables", func(t *testing.T) {
		got := wantOK(t, g.call(t, http.MethodGet, "/echo/ada?count=3", ""))
		if field(got, "request", "name") != "ada" || field(got, "request", "count") != 3.0 {
			t.Errorf("answer %v", got["request"])
		}
		got = wantOK(t, g.post(t, "/items/42/hello", `{"name":"body"}`))
		if field(got, "request", "name") != "body" || field(got, "request", "nested", "id") != "42" || field(got, "request", "nested", "label") != "hello" {
			t.Errorf("answer %v", got["request"])
		}
		wantError(t, g.post(t, "/items/notanumber/x", `{}`), http.StatusBadRequest, echoService, `"nested.id"`)
	})
	t.Run("use_proto_names", func(t *testing.T) {
		g := startGateway(t, gatewayYAML("rpc:\n  use_proto_names: true\n", svc(echoService, srv.Addr)))
		got := wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{"snakeCaseField":"a"}`))
		if field(got, "request", "snake_case_field") != "a" || got["deadline_millis"] == nil {
			t.Errorf("answer %v", got)
		}
		if _, camel := got["request"].(map[string]any)["snakeCaseField"]; camel {
			t.Errorf("lowerCamel name in %v", got)
		}
	})
	t.Run("omit_zero_values", func(t *testing.T) {
		g := startGateway(t, gatewayYAML("rpc:\n  omit_zero_values: true\n", svc(echoService, srv.Addr)))
		got := wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{"name":"","count":0,"flag":true}`))
		if !reflect.DeepEqual(got["request"], map[string]any{"flag": true}) {
			t.Errorf("request echoed as %v", got["request"])
		}
	})
}

// TestAmbiguousShortName: "Echo" names two services on a node that serves both packages; the
// full name picks one.
func TestAmbiguousShortName(t *testing.T) {
	srv := testsvc.Start(t, "both", testsvc.WithV2())
	files := testsvc.WriteDescriptors(t)
	routes := `routes:
  - path: /v2echo
    service: go.micro.api.echoservice
    endpoint: testsvc.v2.Echo.Unary
`
	for _, src := range []struct{ name, rpc string }{
		{"reflection", ""},
		{"protoset", fmt.Sprintf("rpc:\n  services:\n    %s:\n      descriptors: protoset\n      protoset: %q\n", echoService, files.AllProtoset)},
		{"proto", fmt.Sprintf("rpc:\n  services:\n    %s:\n      descriptors: proto\n      import_paths: [%q]\n      proto_files: [%q, %q]\n",
			echoService, files.ImportPath, files.V1Proto, files.V2Proto)},
	} {
		t.Run(src.name, func(t *testing.T) {
			g := startGateway(t, gatewayYAML(src.rpc+routes, svc(echoService, srv.Addr)))
			wantError(t, g.post(t, "/echoservice/Echo/Unary", `{}`), http.StatusBadRequest, echoService,
				"ambiguous", "testsvc.v1.Echo", "testsvc.v2.Echo")
			if got := wantOK(t, g.post(t, "/v2echo", `{"text":"t"}`)); got["version"] != "v2" || got["text"] != "t" {
				t.Errorf("v2 answer %v", got)
			}
			// Unknown methods list the services by full name, since the short one is ambiguous.
			wantError(t, g.post(t, "/echoservice/Echo/Nope", `{}`), http.StatusBadRequest, echoService, "ambiguous")
			wantError(t, g.post(t, "/echoservice/Other/Nope", `{}`), http.StatusNotFound, echoService,
				"testsvc.v1.Echo.Unary", "testsvc.v2.Echo.Unary")
		})
	}
}
