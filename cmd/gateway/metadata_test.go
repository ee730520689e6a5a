package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/edgeapi/gateway/internal/testsvc"
)

// TestMetadata: the allow-listed request headers reach the backend as metadata, hop-by-hop ones
// never do (however they are spelled or configured), and the backend's header and trailer
// metadata come back as Grpc-Metadata-* headers.
func TestMetadata(t *testing.T) {
	srv := testsvc.Start(t, "n1")
	// Connection and Keep-Alive are configured on purpose: hop-by-hop headers must not cross
	// even then. X-Hop crosses unless the client names it in Connection.
	g := startGateway(t, gatewayYAML("headers:\n  forward: [X-Tenant, X-Hop, Connection, Keep-Alive]\n", svc(echoService, srv.Addr)))

	t.Run("to the backend", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, g.url+"/echoservice/Echo/Unary", strings.NewReader(`{}`))
		h := req.Header
		h.Set("Content-Type", "application/json")
		h.Set("Authorization", "Bearer token")
		h.Set("X-Request-Id", "rid-1")
		h.Set("Grpc-Metadata-Foo", "bar")
		h.Add("Grpc-Metadata-Multi", "a")
		h.Add("Grpc-Metadata-Multi", "b")
		h.Set("X-Tenant", "acme")
		h.Set("X-Other", "not forwarded")
		h.Set("Connection", "keep-alive, X-Hop")
		h.Set("X-Hop", "named by Connection")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("Proxy-Authorization", "Basic eA==")
		for _, name := range []string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Te", "Trailer"} {
			h.Set("Grpc-Metadata-"+name, "x")
		}
		h.Set("Grpc-Metadata-Grpc-Timeout", "1S")
		h.Set("Grpc-Metadata-Content-Type", "text/plain")
		h.Set("Grpc-Metadata-Foo-Bin", "AAEC")
		got := wantOK(t, g.do(t, req))
		md, _ := got["metadata"].(map[string]any)
		for k, v := range map[string]string{
			"authorization": "Bearer token",
			"x-request-id":  "rid-1",
			"foo":           "bar",
			"multi":         "a,b",
			"x-tenant":      "acme",
			"content-type":  "application/grpc+proto", // gRPC's own, not the client's
		} {
			if md[k] != v {
				t.Errorf("metadata %q = %v, want %q", k, md[k], v)
			}
		}
		for _, k := range []string{"x-other", "x-hop", "connection", "keep-alive", "proxy-connection", "transfer-encoding",
			"upgrade", "te", "trailer", "proxy-authorization", "foo-bin", "grpc-metadata-foo"} {
			if v, ok := md[k]; ok {
				t.Errorf("metadata %q = %v crossed", k, v)
			}
		}
	})

	t.Run("a minted request id is forwarded and returned", func(t *testing.T) {
		r := g.post(t, "/echoservice/Echo/Unary", `{}`)
		got := wantOK(t, r)
		id := r.header.Get("X-Request-Id")
		if id == "" || field(got, "metadata", "x-request-id") != id {
			t.Errorf("response X-Request-Id %q, backend saw %v", id, field(got, "metadata", "x-request-id"))
		}
	})

	t.Run("from the backend", func(t *testing.T) {
		r := g.post(t, "/echoservice/Echo/SetHeaders", `{"header":{"x-h":"1","x-shared":"h"},"trailer":{"x-t":"2","x-shared":"t"}}`)
		wantOK(t, r)
		for k, want := range map[string]string{"Grpc-Metadata-X-H": "1", "Grpc-Metadata-X-T": "2"} {
			if got := r.header.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		if got := r.header.Values("Grpc-Metadata-X-Shared"); strings.Join(got, ",") != "h,t" {
			t.Errorf("Grpc-Metadata-X-Shared = %q, want header then trailer", got)
		}
		if v := r.header.Get("Grpc-Metadata-Content-Type"); v != "" {
			t.Errorf("gRPC content-type leaked as %q", v)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
	})
}
