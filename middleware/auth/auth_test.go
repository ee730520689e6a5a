package auth

import (
	"crypto/subtle"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/edgeapi/gateway/handler/callmeta"
)

func TestClaimsForwarded(t *testing.T) {
	a := mustAuth(t, basePolicy())
	tok := sign(hdr("ES256", "es"), claims(map[string]any{
		"email": "ann@example.com",
		"roles": []any{"admin", "ops", map[string]any{"x": 1}},
		"n":     12.5,
		"ok":    true,
		"obj":   map[string]any{"a": "b<c"},
		"name":  "Zoë", // not ASCII: gRPC text metadata cannot carry it
	}), ecKey())
	r := bearer(tok)
	// Forgeries in every spelling, and an innocent header that must survive.
	r.Header["Grpc-Metadata-X-Jwt-Sub"] = []string{"admin"}
	r.Header["grpc-metadata-x-jwt-role"] = []string{"root"}
	r.Header["X-Jwt-Sub"] = []string{"admin"}
	r.Header["Grpc-Metadata-X-Api-Key-Name"] = []string{"billing"}
	r.Header["X-Api-Key-Name"] = []string{"billing"}
	r.Header.Set("Grpc-Metadata-Tenant", "t1")
	res := serve(a, r)
	if res.w.Code != http.StatusNoContent {
		t.Fatalf("status %d: %s", res.w.Code, res.w.Body)
	}
	want := http.Header{
		"Grpc-Metadata-X-Jwt-Sub":   {"user-1"},
		"Grpc-Metadata-X-Jwt-Email": {"ann@example.com"},
		"Grpc-Metadata-X-Jwt-Roles": {"admin", "ops", `{"x":1}`},
		"Grpc-Metadata-X-Jwt-N":     {"12.5"},
		"Grpc-Metadata-X-Jwt-Ok":    {"true"},
		"Grpc-Metadata-X-Jwt-Obj":   {`{"a":"b<c"}`},
		"Grpc-Metadata-Tenant":      {"t1"},
	}
	got := http.Header{}
	for k, v := range res.backend.Header {
		if l := strings.ToLower(k); strings.HasPrefix(l, "grpc-metadata-") || strings.HasPrefix(l, "x-") {
			got[k] = v
		}
	}
	if len(got) != len(want) {
		t.Errorf("backend headers %v, want %v", got, want)
	}
	for k, v := range want {
		if !slices.Equal(got[k], v) {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	// What the rpc and api handlers make of them: x-jwt-* metadata, the forgeries gone.
	md := callmeta.NewHeaders(nil).Outgoing(res.backend.Header)
	if !slices.Equal(md["x-jwt-sub"], []string{"user-1"}) || !slices.Equal(md["x-jwt-roles"], want["Grpc-Metadata-X-Jwt-Roles"]) ||
		md["x-jwt-role"] != nil || md["x-api-key-name"] != nil || md["x-jwt-name"] != nil {
		t.Errorf("metadata %v", md)
	}
	c, ok := ClaimsFrom(res.backend.Context())
	if !ok || c["email"] != "ann@example.com" || c["name"] != "Zoë" {
		t.Errorf("ClaimsFrom: %v %v", c, ok)
	}
	if _, ok := APIKeyNameFrom(res.backend.Context()); ok {
		t.Error("APIKeyNameFrom set without an API key")
	}
}

func TestForgedHeadersStrippedEverywhere(t *testing.T) {
	forged := func() *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Grpc-Metadata-X-Jwt-Sub", "admin")
		r.Header.Set("Grpc-Metadata-X-Api-Key-Name", "root")
		return r
	}
	cases := []struct {
		name string
		cfg  Config
		req  func() *http.Request
	}{
		{"optional JWT, anonymous", Config{JWT: basePolicy().JWT, Optional: true, Now: fixedNow}, forged},
		{"API key policy", Config{APIKeys: &APIKeyConfig{Keys: []APIKey{{Name: "batch", SHA256: HashKey("k-1")}}}},
			func() *http.Request { r := forged(); r.Header.Set("X-Api-Key", "k-1"); return r }},
		{"optional API key, anonymous", Config{Optional: true, APIKeys: &APIKeyConfig{Keys: []APIKey{{Name: "batch", SHA256: HashKey("k-1")}}}}, forged},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := serve(mustAuth(t, tc.cfg), tc.req())
			if res.w.Code != http.StatusNoContent {
				t.Fatalf("status %d", res.w.Code)
			}
			if v := res.backend.Header.Get("Grpc-Metadata-X-Jwt-Sub"); v != "" {
				t.Errorf("forged claim header reached the backend: %q", v)
			}
			if v := res.backend.Header.Get("Grpc-Metadata-X-Api-Key-Name"); v == "root" {
				t.Errorf("forged key name reached the backend")
			}
		})
	}
}

func TestClaimHeaderNames(t *testing.T) {
	fw, err := newForwardClaims([]string{"sub", "email_verified", "https://ex.com/roles", "Tenant ID"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Grpc-Metadata-X-Jwt-Sub", "Grpc-Metadata-X-Jwt-Email_verified", "Grpc-Metadata-X-Jwt-Https---Ex.com-Roles", "Grpc-Metadata-X-Jwt-Tenant-Id"}
	for i, f := range fw {
		if f.header != want[i] {
			t.Errorf("%q -> %q, want %q", f.claim, f.header, want[i])
		}
	}
}

func apiKeyPolicy() Config {
	return Config{APIKeys: &APIKeyConfig{Keys: []APIKey{
		{Name: "billing-batch", SHA256: HashKey("key-billing")},
		{Name: "reports", SHA256: strings.ToUpper(HashKey("key-reports"))},
		{Name: "team/ops", SHA256: HashKey("key-ops")},
	}}}
}

func TestAPIKeys(t *testing.T) {
	a := mustAuth(t, apiKeyPolicy())
	cases := []struct {
		name     string
		header   http.Header
		status   int
		keyName  string
		scheme   string // expected WWW-Authenticate prefix on refusal
		wantBody string
	}{
		{"header", http.Header{"X-Api-Key": {"key-billing"}}, 204, "billing-batch", "", ""},
		{"header, upper-case hash configured", http.Header{"X-Api-Key": {"key-reports"}}, 204, "reports", "", ""},
		{"last configured key", http.Header{"X-Api-Key": {"key-ops"}}, 204, "team/ops", "", ""},
		{"Authorization ApiKey", http.Header{"Authorization": {"ApiKey key-billing"}}, 204, "billing-batch", "", ""},
		{"Authorization apikey, extra spaces", http.Header{"Authorization": {"apikey   key-ops"}}, 204, "team/ops", "", ""},
		{"unknown", http.Header{"X-Api-Key": {"key-nope"}}, 401, "", `ApiKey realm="gateway", error="invalid_key"`, "unknown API key"},
		{"prefix of a key", http.Header{"X-Api-Key": {"key-bill"}}, 401, "", `ApiKey realm="gateway", error="invalid_key"`, "unknown API key"},
		{"empty", http.Header{"X-Api-Key": {""}}, 401, "", `ApiKey realm="gateway", error="invalid_key"`, "unknown API key"},
		{"scheme without key", http.Header{"Authorization": {"ApiKey"}}, 401, "", `ApiKey realm="gateway", error="invalid_key"`, "unknown API key"},
		{"missing", http.Header{}, 401, "", `ApiKey realm="gateway"`, "authentication required"},
		{"bearer token only", http.Header{"Authorization": {"Bearer x.y.z"}}, 401, "", `ApiKey realm="gateway"`, "authentication required"},
		{"header twice", http.Header{"X-Api-Key": {"key-billing", "key-ops"}}, 400, "", `ApiKey realm="gateway", error="invalid_request"`, "more than once"},
		{"header and Authorization", http.Header{"X-Api-Key": {"key-billing"}, "Authorization": {"ApiKey key-billing"}}, 400, "", `ApiKey realm="gateway", error="invalid_request"`, "both"},
		{"Authorization twice", http.Header{"Authorization": {"ApiKey key-billing", "ApiKey key-ops"}}, 400, "", `ApiKey realm="gateway", error="invalid_request"`, "more than once"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			for k, v := range tc.header {
				r.Header[k] = v
			}
			res := serve(a, r)
			if res.w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", res.w.Code, tc.status, res.w.Body)
			}
			if tc.status != 204 {
				b := decodeError(t, res.w)
				if !strings.Contains(b.Detail, tc.wantBody) {
					t.Errorf("detail %q, want it to contain %q", b.Detail, tc.wantBody)
				}
				if ch := res.w.Header().Get("WWW-Authenticate"); !strings.HasPrefix(ch, tc.scheme) {
					t.Errorf("WWW-Authenticate %q, want prefix %q", ch, tc.scheme)
				}
				if strings.Contains(res.w.Body.String(), "key-") {
					t.Errorf("body echoes the key: %s", res.w.Body)
				}
				return
			}
			h := res.backend.Header
			if got := h.Get("Grpc-Metadata-X-Api-Key-Name"); got != tc.keyName {
				t.Errorf("forwarded key name %q, want %q", got, tc.keyName)
			}
			if name, _ := APIKeyNameFrom(res.backend.Context()); name != tc.keyName {
				t.Errorf("APIKeyNameFrom %q", name)
			}
			if h.Get("X-Api-Key") != "" || h.Get("Authorization") != "" {
				t.Errorf("the key reached the backend: %v", h)
			}
		})
	}
}

func TestAPIKeyCustomHeader(t *testing.T) {
	cfg := apiKeyPolicy()
	cfg.APIKeys.Header = "x-gateway-token"
	a := mustAuth(t, cfg)
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Gateway-Token", "key-ops")
	res := serve(a, r)
	if res.w.Code != 204 || res.backend.Header.Get("X-Gateway-Token") != "" {
		t.Fatalf("status %d, header left: %q", res.w.Code, res.backend.Header.Get("X-Gateway-Token"))
	}
	r = httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Api-Key", "key-ops") // the default header is not read any more
	if res := serve(a, r); res.w.Code != 401 {
		t.Fatalf("status %d, want 401", res.w.Code)
	}
}

// TestAPIKeyConstantTimeCompare checks that every configured hash goes through
// subtle.ConstantTimeCompare, whether the key matches first, last or not at all.
func TestAPIKeyConstantTimeCompare(t *testing.T) {
	a := mustAuth(t, apiKeyPolicy())
	calls := 0
	a.keys.compare = func(x, y []byte) int {
		calls++
		return subtle.ConstantTimeCompare(x, y)
	}
	for _, key := range []string{"key-billing", "key-ops", "nope", strings.Repeat("k", 100)} {
		t.Run(key, func(t *testing.T) {
			calls = 0
			_, _ = a.keys.match(key)
			if calls != len(a.keys.hashes) {
				t.Fatalf("%d comparisons, want one per configured key (%d)", calls, len(a.keys.hashes))
			}
		})
	}
	if HashKey("key") != "2c70e12b7a0646f92279f427c7b38e7334d8e5389cff167a1dc30e73f826b683" {
		t.Errorf("HashKey disagrees with sha256sum: %s", HashKey("key"))
	}
}

func TestOptional(t *testing.T) {
	cfg := basePolicy()
	cfg.Optional = true
	cfg.APIKeys = apiKeyPolicy().APIKeys
	a := mustAuth(t, cfg)
	good := sign(hdr("HS256", "hs"), claims(nil), hmacSecret())
	expired := sign(hdr("HS256", "hs"), claims(map[string]any{"exp": t0.Unix() - 10}), hmacSecret())
	cases := []struct {
		name    string
		header  http.Header
		status  int
		claims  bool
		keyName string
	}{
		{"anonymous", http.Header{}, 204, false, ""},
		{"unknown scheme is no credential", http.Header{"Authorization": {"Basic dTpw"}}, 204, false, ""},
		{"good token", http.Header{"Authorization": {"Bearer " + good}}, 204, true, ""},
		{"expired token", http.Header{"Authorization": {"Bearer " + expired}}, 401, false, ""},
		{"garbage token", http.Header{"Authorization": {"Bearer garbage"}}, 401, false, ""},
		{"empty bearer", http.Header{"Authorization": {"Bearer"}}, 401, false, ""},
		{"good key", http.Header{"X-Api-Key": {"key-ops"}}, 204, false, "team/ops"},
		{"bad key", http.Header{"X-Api-Key": {"key-x"}}, 401, false, ""},
		{"good token and good key", http.Header{"Authorization": {"Bearer " + good}, "X-Api-Key": {"key-ops"}}, 204, true, "team/ops"},
		{"good token and bad key", http.Header{"Authorization": {"Bearer " + good}, "X-Api-Key": {"key-x"}}, 401, false, ""},
		{"bad token and good key", http.Header{"Authorization": {"Bearer " + expired}, "X-Api-Key": {"key-ops"}}, 401, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			for k, v := range tc.header {
				r.Header[k] = v
			}
			res := serve(a, r)
			if res.w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", res.w.Code, tc.status, res.w.Body)
			}
			if res.backend == nil {
				decodeError(t, res.w)
				return
			}
			_, hasClaims := ClaimsFrom(res.backend.Context())
			name, _ := APIKeyNameFrom(res.backend.Context())
			if hasClaims != tc.claims || name != tc.keyName {
				t.Errorf("claims %v, key name %q; want %v, %q", hasClaims, name, tc.claims, tc.keyName)
			}
		})
	}
}

func TestRequiredChallenges(t *testing.T) {
	cfg := basePolicy()
	cfg.APIKeys = apiKeyPolicy().APIKeys
	cfg.Realm = "orders"
	res := serve(mustAuth(t, cfg), httptest.NewRequest("GET", "/", nil))
	if res.w.Code != 401 {
		t.Fatalf("status %d", res.w.Code)
	}
	got := res.w.Header().Values("WWW-Authenticate")
	want := []string{`Bearer realm="orders"`, `ApiKey realm="orders"`}
	if !slices.Equal(got, want) {
		t.Fatalf("WWW-Authenticate %q, want %q", got, want)
	}
	if b := decodeError(t, res.w); b.Detail != "authentication required" {
		t.Errorf("detail %q", b.Detail)
	}
}

func TestNewReturnsMiddleware(t *testing.T) {
	mw, err := New(apiKeyPolicy(), discardLog())
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	mw(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 401 {
		t.Fatalf("status %d", w.Code)
	}
}
