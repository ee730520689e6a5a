package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestUnderscoredHeaders: a header named with "_" (here one a CGI-style backend would read as
// the identity header X-Jwt-Sub) never reaches a backend unless server.underscores_in_headers
// keeps it; both server engines.
func TestUnderscoredHeaders(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 1)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
	}))
	t.Cleanup(backend.Close)
	for _, tc := range []struct {
		engine string
		keep   bool
	}{{"gateway", false}, {"stdlib", false}, {"gateway", true}} {
		server := "server:\n  engine: " + tc.engine + "\n"
		if tc.keep {
			server += "  underscores_in_headers: true\n"
		}
		g := startGateway(t, gatewayYAML(server+"handler: http\n", svc(echoService, backend.Listener.Addr().String())))
		req, _ := http.NewRequest(http.MethodGet, g.url+"/echoservice/hello", nil)
		req.Header["X_Jwt_Sub"] = []string{"admin"}
		req.Header.Set("X-Kept", "yes")
		if rep := g.do(t, req); rep.code != http.StatusOK {
			t.Fatalf("%s keep=%v: status %d: %s", tc.engine, tc.keep, rep.code, rep.body)
		}
		h := <-got
		if h.Get("X-Kept") != "yes" {
			t.Errorf("%s keep=%v: X-Kept did not reach the backend: %v", tc.engine, tc.keep, h)
		}
		if _, ok := h["X_jwt_sub"]; ok != tc.keep {
			t.Errorf("%s keep=%v: the backend saw X_jwt_sub: %v", tc.engine, tc.keep, ok)
		}
	}
}
