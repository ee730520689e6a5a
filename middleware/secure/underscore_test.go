package secure

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestUnderscoredHeaders: names with an underscore are removed unless the config keeps them;
// other headers, and underscores in values, are untouched.
func TestUnderscoredHeaders(t *testing.T) {
	for _, keep := range []bool{false, true} {
		mw, err := New(Config{UnderscoresInHeaders: keep})
		if err != nil {
			t.Fatal(err)
		}
		var seen http.Header
		h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.Header.Clone() }))
		req := httptest.NewRequest(http.MethodGet, "/a", nil)
		req.Header["X_jwt_sub"] = []string{"admin"}
		req.Header["Grpc-Metadata-X_api_key_name"] = []string{"root"}
		req.Header.Set("X-Value", "a_b")
		h.ServeHTTP(httptest.NewRecorder(), req)
		if seen == nil {
			t.Fatalf("keep=%v: the request did not reach the handler", keep)
		}
		for _, k := range []string{"X_jwt_sub", "Grpc-Metadata-X_api_key_name"} {
			if _, ok := seen[k]; ok != keep {
				t.Errorf("keep=%v: header %s present=%v", keep, k, ok)
			}
		}
		if seen.Get("X-Value") != "a_b" {
			t.Errorf("keep=%v: X-Value = %q, want a_b", keep, seen.Get("X-Value"))
		}
	}
}
