package main

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/edgeapi/gateway/internal/testsvc"
)

// TestRegistryRoutesEndToEnd: a service declaring a path template in its endpoint metadata is
// reachable at that path, with path variables filling request fields.
func TestRegistryRoutesEndToEnd(t *testing.T) {
	srv := testsvc.Start(t, "n1")
	yaml := fmt.Sprintf(`server:
  address: 127.0.0.1:0
registry:
  type: static
  static:
    - name: %s
      nodes: [{address: %q}]
      endpoints:
        - name: Echo.Unary
          metadata: {path: "/things/{name}", method: GET}
        - name: Echo.Unary
          metadata: {path: "/things/{name}/nested/{nested.id}", method: GET}
`, echoService, srv.Addr)
	g := startGateway(t, yaml)
	got := wantOK(t, g.call(t, http.MethodGet, "/things/bob?count=3", ""))
	if field(got, "request", "name") != "bob" || field(got, "request", "count") != float64(3) {
		t.Fatalf("GET /things/bob = %v", got)
	}
	got = wantOK(t, g.call(t, http.MethodGet, "/things/amy/nested/42", ""))
	if field(got, "request", "name") != "amy" || field(got, "request", "nested", "id") != "42" {
		t.Fatalf("GET /things/amy/nested/42 = %v", got)
	}
	// Other methods on the same path are not routed there.
	wantError(t, g.call(t, http.MethodPost, "/things/bob", "{}"), http.StatusNotFound, "go.micro.api.things") // falls through to the resolver
	if n := g.gw.handler.RegistryRoutes(); n != 2 {
		t.Fatalf("registry routes = %d, want 2", n)
	}
}
