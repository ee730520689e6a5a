package main

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/edgeapi/gateway/internal/testsvc"
)

// TestErrorRows: every failure the gateway produces or relays, with its status and the one
// error body shape (checked by wantError on every row).
func TestErrorRows(t *testing.T) {
	srv := testsvc.Start(t, "n1")
	routes := `server:
  body_limit: 2KiB
routes:
  - path: /small
    service: go.micro.api.echoservice
    endpoint: Echo.Unary
    body_limit: 64
  - path: /count
    service: go.micro.api.echoservice
    endpoint: Echo.Count
`
	g := startGateway(t, gatewayYAML(routes, svc(echoService, srv.Addr)))

	for _, tc := range []struct {
		name, method, path, body string
		hdr                      []string
		code                     int
		id                       string
		detail                   []string
	}{
		{name: "unknown service", path: "/nope/Echo/Unary", body: `{}`, code: 404, id: "go.micro.api.nope", detail: []string{"go.micro.api.nope"}},
		{name: "unknown method lists methods", path: "/echoservice/Echo/Nope", body: `{}`, code: 404, id: echoService,
			detail: []string{"Echo.Nope", "Echo.Chat, Echo.Count, Echo.Fail, Echo.SetHeaders, Echo.Slow, Echo.Sum, Echo.Unary"}},
		{name: "unknown gRPC service", path: "/echoservice/Other/Unary", body: `{}`, code: 404, id: echoService, detail: []string{"Other.Unary", "Echo.Unary"}},
		{name: "path names no service", path: "/bad..name/x", body: `{}`, code: 404, id: "gateway"},
		{name: "percent-encoded path", path: "/echo%2Fservice/Echo/Unary", body: `{}`, code: 400, id: "gateway"},
		{name: "JSON syntax", path: "/echoservice/Echo/Unary", body: `{"name":`, code: 400, id: echoService, detail: []string{"invalid JSON body"}},
		{name: "not an object", path: "/echoservice/Echo/Unary", body: `[1]`, code: 400, id: echoService},
		{name: "wrong type", path: "/echoservice/Echo/Unary", body: `{"count":"many"}`, code: 400, id: echoService, detail: []string{`field "count"`, "int32"}},
		{name: "first bad field in document order", path: "/echoservice/Echo/Unary", body: `{"name":"ok","count":"x","big":"y","at":1}`, code: 400, id: echoService, detail: []string{`field "count"`}},
		{name: "int32 overflow", path: "/echoservice/Echo/Unary", body: `{"count":4294967296}`, code: 400, id: echoService, detail: []string{`field "count"`}},
		{name: "bad enum", path: "/echoservice/Echo/Unary", body: `{"color":"COLOR_BLUE"}`, code: 400, id: echoService, detail: []string{`field "color"`}},
		{name: "bad timestamp", path: "/echoservice/Echo/Unary", body: `{"at":"yesterday"}`, code: 400, id: echoService, detail: []string{`field "at"`}},
		{name: "unknown field", path: "/echoservice/Echo/Unary", body: `{"nope":1}`, code: 400, id: echoService, detail: []string{`field "nope"`, "unknown field"}},
		{name: "nested field", path: "/echoservice/Echo/Unary", body: `{"nested":{"id":"x"}}`, code: 400, id: echoService, detail: []string{`field "nested.id"`}},
		{name: "repeated message element", path: "/echoservice/Echo/Unary", body: `{"items":[{"id":"1"},{"label":3}]}`, code: 400, id: echoService, detail: []string{`field "items[1].label"`}},
		{name: "map value", path: "/echoservice/Echo/Unary", body: `{"labels":{"a":1}}`, code: 400, id: echoService, detail: []string{`field "labels"`}},
		{name: "bad query value", method: http.MethodGet, path: "/echoservice/Echo/Unary?count=abc", code: 400, id: echoService, detail: []string{`field "count"`}},
		{name: "unknown query field", method: http.MethodGet, path: "/echoservice/Echo/Unary?nope=1", code: 400, id: echoService, detail: []string{`field "nope"`}},
		{name: "query into a message", method: http.MethodGet, path: "/echoservice/Echo/Unary?nested=1", code: 400, id: echoService, detail: []string{`field "nested"`}},
		{name: "bad form value", path: "/echoservice/Echo/Unary", body: "flag=maybe", hdr: []string{"Content-Type", "application/x-www-form-urlencoded"}, code: 400, id: echoService, detail: []string{`field "flag"`}},
		{name: "protobuf body with query", path: "/echoservice/Echo/Unary?name=x", body: "\x0a\x01x", hdr: []string{"Content-Type", "application/protobuf"}, code: 400, id: echoService},
		{name: "unsupported media type", path: "/echoservice/Echo/Unary", body: `<x/>`, hdr: []string{"Content-Type", "application/xml"}, code: 415, id: echoService, detail: []string{"application/xml"}},
		{name: "body over the limit", path: "/echoservice/Echo/Unary", body: `{"name":"` + strings.Repeat("x", 3000) + `"}`, code: 413, id: echoService, detail: []string{"2048 bytes"}},
		{name: "form over the limit", path: "/echoservice/Echo/Unary", body: "name=" + strings.Repeat("x", 3000), hdr: []string{"Content-Type", "application/x-www-form-urlencoded"}, code: 413, id: echoService},
		{name: "body over the route limit", path: "/small", body: `{"name":"` + strings.Repeat("x", 100) + `"}`, code: 413, id: echoService, detail: []string{"64 bytes"}},
		{name: "bad Timeout", path: "/echoservice/Echo/Unary", body: `{}`, hdr: []string{"Timeout", "soon"}, code: 400, id: echoService, detail: []string{"Timeout"}},
		{name: "zero Timeout", path: "/echoservice/Echo/Unary", body: `{}`, hdr: []string{"Timeout", "0"}, code: 400, id: echoService, detail: []string{"Timeout"}},
		{name: "bad Grpc-Timeout", path: "/echoservice/Echo/Unary", body: `{}`, hdr: []string{"Grpc-Timeout", "5x"}, code: 400, id: echoService, detail: []string{"Grpc-Timeout"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			wantError(t, g.call(t, method, tc.path, tc.body, tc.hdr...), tc.code, tc.id, tc.detail...)
		})
	}
	t.Run("the small body under the route limit passes", func(t *testing.T) {
		wantOK(t, g.post(t, "/small", `{"name":"x"}`))
	})
}

// TestBackendCodes: a backend's gRPC status becomes the grpc-gateway HTTP status, with the
// backend's message as detail, the code name, and the status details kept.
func TestBackendCodes(t *testing.T) {
	srv := testsvc.Start(t, "n1")
	g := startGateway(t, gatewayYAML("", svc(echoService, srv.Addr)))
	for _, tc := range []struct {
		code codes.Code
		http int
	}{
		{codes.Canceled, 499},
		{codes.Unknown, 500},
		{codes.InvalidArgument, 400},
		{codes.DeadlineExceeded, 504},
		{codes.NotFound, 404},
		{codes.AlreadyExists, 409},
		{codes.PermissionDenied, 403},
		{codes.ResourceExhausted, 429},
		{codes.FailedPrecondition, 400},
		{codes.Aborted, 409},
		{codes.OutOfRange, 400},
		{codes.Unimplemented, 501},
		{codes.Internal, 500},
		{codes.Unavailable, 503},
		{codes.DataLoss, 500},
		{codes.Unauthenticated, 401},
	} {
		t.Run(tc.code.String(), func(t *testing.T) {
			msg := "backend says " + tc.code.String()
			body := fmt.Sprintf(`{"code":"%d","message":%q}`, tc.code, msg)
			m := wantError(t, g.post(t, "/echoservice/Echo/Fail", body), tc.http, echoService)
			if m["detail"] != msg || m["grpc_code"] != tc.code.String() {
				t.Errorf("detail %v, grpc_code %v; want %q, %q", m["detail"], m["grpc_code"], msg, tc.code.String())
			}
			if _, ok := m["details"]; ok {
				t.Errorf("details without any from the backend: %v", m["details"])
			}
		})
	}
	t.Run("InvalidArgument keeps its BadRequest detail", func(t *testing.T) {
		m := wantError(t, g.post(t, "/echoservice/Echo/Fail", `{"code":"INVALID_ARGUMENT","message":"name is required","badRequestDetail":true}`),
			http.StatusBadRequest, echoService, "name is required")
		details, _ := m["details"].([]any)
		if len(details) != 1 {
			t.Fatalf("details %v", m["details"])
		}
		d, _ := details[0].(map[string]any)
		want := decodeJSON(t, `{"@type":"type.googleapis.com/google.rpc.BadRequest",
			"fieldViolations":[{"field":"name","description":"name is required"}]}`)
		if fmt.Sprint(d) != fmt.Sprint(want) {
			t.Errorf("detail %v, want %v", d, want)
		}
	})
	t.Run("a malformed protobuf body", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, g.url+"/echoservice/Echo/Unary", bytes.NewReader([]byte{0xff, 0xff, 0xff}))
		req.Header.Set("Content-Type", "application/protobuf")
		// The bytes are forwarded untouched, but only once they decode: the client's mistake is a
		// 400, not the backend's Internal.
		wantError(t, g.do(t, req), http.StatusBadRequest, echoService, "invalid protobuf body")
	})
}

// TestUnreachableBackend: a service whose only node refuses connections is a 502, whether the
// gateway fails while fetching descriptors or while calling, and the detail names the node.
func TestUnreachableBackend(t *testing.T) {
	dead := testsvc.UnusedAddr(t)
	files := testsvc.WriteDescriptors(t)
	rpc := fmt.Sprintf("rpc:\n  services:\n    go.micro.api.static:\n      descriptors: protoset\n      protoset: %q\n", files.V1Protoset)
	g := startGateway(t, gatewayYAML(rpc, svc("go.micro.api.reflected", dead), svc("go.micro.api.static", dead)))
	wantError(t, g.post(t, "/reflected/Echo/Unary", `{}`), http.StatusBadGateway, "go.micro.api.reflected", dead)
	wantError(t, g.post(t, "/static/Echo/Unary", `{}`), http.StatusBadGateway, "go.micro.api.static", dead) // the node and why it failed
}
