package cors

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNewValidates(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		err  string // a fragment; "" for success
	}{
		{"zero", Config{}, ""},
		{"wildcard", Config{AllowedOrigins: []string{"*"}}, ""},
		{"wildcard with credentials", Config{AllowedOrigins: []string{"*"}, AllowCredentials: true}, "cannot be combined"},
		{"list with credentials", Config{AllowedOrigins: []string{"https://a.example"}, AllowCredentials: true}, ""},
		{"null origin", Config{AllowedOrigins: []string{"null"}}, "never allowed"},
		{"no scheme", Config{AllowedOrigins: []string{"a.example"}}, "scheme://host"},
		{"path", Config{AllowedOrigins: []string{"https://a.example/app"}}, "scheme://host"},
		{"trailing slash is fine", Config{AllowedOrigins: []string{"https://a.example/"}}, ""},
		{"query", Config{AllowedOrigins: []string{"https://a.example?x"}}, "scheme://host"},
		{"userinfo", Config{AllowedOrigins: []string{"https://u@a.example"}}, "scheme://host"},
		{"host wildcard", Config{AllowedOrigins: []string{"https://*.a.example"}}, "wildcards"},
		{"bad port", Config{AllowedOrigins: []string{"https://a.example:99999"}}, "port"},
		{"bad method", Config{AllowedMethods: []string{"GET POST"}}, "not a method"},
		{"method wildcard", Config{AllowedMethods: []string{"*"}}, "list the methods"},
		{"bad header", Config{AllowedHeaders: []string{"X-A:"}}, "not a header"},
		{"header wildcard", Config{AllowedHeaders: []string{"*"}}, ""},
		{"bad exposed header", Config{ExposedHeaders: []string{"a b"}}, "not a header"},
		{"exposed wildcard", Config{ExposedHeaders: []string{"*"}}, "not a header"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("New error %v, want one containing %q", err, tc.err)
			}
		})
	}
}

// want describes the expected answer; header values "" mean "absent".
type want struct {
	status      int // 299 is the next handler
	allowOrigin string
	credentials string
	methods     string
	headers     string
	maxAge      string
	expose      string
	vary        []string
	detail      string // a fragment of the 403 detail
}

func TestCORS(t *testing.T) {
	list := Config{
		AllowedOrigins:   []string{"https://app.example", "http://localhost:3000", "https://[2001:db8::1]"},
		AllowedMethods:   []string{"GET", "POST", "DELETE"},
		AllowedHeaders:   []string{"Authorization", "Content-Type", "X-Request-Id"},
		ExposedHeaders:   []string{"X-Request-Id", "Retry-After"},
		MaxAge:           time.Hour,
		AllowCredentials: true,
	}
	wildcard := Config{AllowedOrigins: []string{"*"}}
	anyHeader := Config{AllowedOrigins: []string{"https://app.example"}, AllowedHeaders: []string{"*"}, MaxAge: -1}
	varyAll := []string{"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"}
	cases := []struct {
		name   string
		cfg    Config
		method string
		header map[string]string
		want   want
	}{
		{"no origin passes untouched", list, "GET", nil,
			want{status: 299, vary: []string{"Origin"}}},
		{"allowed origin, actual request", list, "GET", map[string]string{"Origin": "https://app.example"},
			want{status: 299, allowOrigin: "https://app.example", credentials: "true", expose: "X-Request-Id, Retry-After", vary: []string{"Origin"}}},
		{"origin compared case-insensitively, echoed as sent", list, "POST", map[string]string{"Origin": "HTTPS://APP.example"},
			want{status: 299, allowOrigin: "HTTPS://APP.example", credentials: "true", expose: "X-Request-Id, Retry-After", vary: []string{"Origin"}}},
		{"default port ignored", list, "GET", map[string]string{"Origin": "https://app.example:443"},
			want{status: 299, allowOrigin: "https://app.example:443", credentials: "true", expose: "X-Request-Id, Retry-After", vary: []string{"Origin"}}},
		{"ipv6 origin", list, "GET", map[string]string{"Origin": "https://[2001:db8::1]"},
			want{status: 299, allowOrigin: "https://[2001:db8::1]", credentials: "true", expose: "X-Request-Id, Retry-After", vary: []string{"Origin"}}},
		{"other port is another origin", list, "GET", map[string]string{"Origin": "http://localhost:3001"},
			want{status: 299, vary: []string{"Origin"}}},
		{"other scheme is another origin", list, "GET", map[string]string{"Origin": "http://app.example"},
			want{status: 299, vary: []string{"Origin"}}},
		{"suffix attack", list, "GET", map[string]string{"Origin": "https://app.example.evil.example"},
			want{status: 299, vary: []string{"Origin"}}},
		{"prefix attack", list, "GET", map[string]string{"Origin": "https://evilapp.example"},
			want{status: 299, vary: []string{"Origin"}}},
		{"null origin never reflected", list, "GET", map[string]string{"Origin": "null"},
			want{status: 299, vary: []string{"Origin"}}},
		{"disallowed origin, actual request: no CORS headers", list, "GET", map[string]string{"Origin": "https://evil.example"},
			want{status: 299, vary: []string{"Origin"}}},
		{"preflight allowed", list, "OPTIONS", map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "DELETE",
			"Access-Control-Request-Headers": "authorization, x-request-id"},
			want{status: 204, allowOrigin: "https://app.example", credentials: "true", methods: "GET, POST, DELETE",
				headers: "authorization, x-request-id", maxAge: "3600", vary: varyAll}},
		{"preflight without headers", list, "OPTIONS", map[string]string{"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"},
			want{status: 204, allowOrigin: "http://localhost:3000", credentials: "true", methods: "GET, POST, DELETE", maxAge: "3600", vary: varyAll}},
		{"preflight header names any case", list, "OPTIONS", map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
			"Access-Control-Request-Headers": "Content-TYPE,,  Content-Type"},
			want{status: 204, allowOrigin: "https://app.example", credentials: "true", methods: "GET, POST, DELETE", headers: "content-type", maxAge: "3600", vary: varyAll}},
		{"preflight disallowed origin", list, "OPTIONS", map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
			want{status: 403, vary: varyAll, detail: `origin "https://evil.example" is not allowed`}},
		{"preflight null origin", list, "OPTIONS", map[string]string{"Origin": "null", "Access-Control-Request-Method": "GET"},
			want{status: 403, vary: varyAll, detail: "origin"}},
		{"preflight disallowed method", list, "OPTIONS", map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "PUT"},
			want{status: 403, vary: varyAll, detail: `method "PUT"`}},
		{"preflight method is case-sensitive", list, "OPTIONS", map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "delete"},
			want{status: 403, vary: varyAll, detail: `method "delete"`}},
		{"preflight disallowed header", list, "OPTIONS", map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "GET",
			"Access-Control-Request-Headers": "authorization, x-admin"},
			want{status: 403, vary: varyAll, detail: `header "x-admin"`}},
		{"preflight malformed header list", anyHeader, "OPTIONS", map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "GET",
			"Access-Control-Request-Headers": "a b"},
			want{status: 403, vary: varyAll, detail: "malformed"}},
		{"preflight too many headers", anyHeader, "OPTIONS", map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "GET",
			"Access-Control-Request-Headers": manyHeaders(maxRequestedHeaders + 1)},
			want{status: 403, vary: varyAll, detail: "more than 64"}},
		{"options without request method is not a preflight", list, "OPTIONS", map[string]string{"Origin": "https://app.example"},
			want{status: 299, allowOrigin: "https://app.example", credentials: "true", expose: "X-Request-Id, Retry-After", vary: []string{"Origin"}}},
		{"wildcard, actual request", wildcard, "GET", map[string]string{"Origin": "https://anyone.example"},
			want{status: 299, allowOrigin: "*"}},
		{"wildcard never sends credentials", wildcard, "OPTIONS", map[string]string{"Origin": "https://anyone.example", "Access-Control-Request-Method": "POST",
			"Access-Control-Request-Headers": "content-type"},
			want{status: 204, allowOrigin: "*", methods: "GET, HEAD, POST", headers: "content-type", maxAge: "600",
				vary: []string{"Access-Control-Request-Method", "Access-Control-Request-Headers"}}},
		{"wildcard default headers only", wildcard, "OPTIONS", map[string]string{"Origin": "https://anyone.example", "Access-Control-Request-Method": "POST",
			"Access-Control-Request-Headers": "authorization"},
			want{status: 403, vary: []string{"Access-Control-Request-Method", "Access-Control-Request-Headers"}, detail: "authorization"}},
		{"wildcard still refuses null", wildcard, "GET", map[string]string{"Origin": "null"},
			want{status: 299}},
		{"header wildcard echoes, max age omitted", anyHeader, "OPTIONS", map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "GET",
			"Access-Control-Request-Headers": "x-anything, x-else"},
			want{status: 204, allowOrigin: "https://app.example", methods: "GET, HEAD, POST", headers: "x-anything, x-else", vary: varyAll}},
		{"no origins configured: nothing allowed", Config{}, "OPTIONS", map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
			want{status: 403, vary: varyAll, detail: "origin"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mw, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(tc.method, "/x", nil)
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) })).ServeHTTP(w, r)
			check(t, w, tc.want)
		})
	}
}

func check(t *testing.T, w *httptest.ResponseRecorder, want want) {
	t.Helper()
	if w.Code != want.status {
		t.Fatalf("status %d, want %d: %s", w.Code, want.status, w.Body)
	}
	h := w.Header()
	for _, c := range []struct{ name, want string }{
		{"Access-Control-Allow-Origin", want.allowOrigin},
		{"Access-Control-Allow-Credentials", want.credentials},
		{"Access-Control-Allow-Methods", want.methods},
		{"Access-Control-Allow-Headers", want.headers},
		{"Access-Control-Max-Age", want.maxAge},
		{"Access-Control-Expose-Headers", want.expose},
	} {
		if got := h.Get(c.name); got != c.want {
			t.Errorf("%s %q, want %q", c.name, got, c.want)
		}
	}
	if got := h.Values("Vary"); !slices.Equal(got, want.vary) {
		t.Errorf("Vary %q, want %q", got, want.vary)
	}
	if want.status == http.StatusForbidden {
		var e struct {
			ID     string `json:"id"`
			Code   int    `json:"code"`
			Detail string `json:"detail"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Code != 403 || e.ID != "gateway" ||
			!strings.Contains(e.Detail, want.detail) || h.Get("Content-Type") != "application/json" {
			t.Errorf("403 body %s (%v), want a detail containing %q", w.Body, err, want.detail)
		}
	}
}

func manyHeaders(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = "x-h" + strings.Repeat("a", i)
	}
	return strings.Join(s, ",")
}

// TestNeverReflectsArbitraryOriginWithCredentials: for any origin outside the list, no
// response (actual or preflight) carries Access-Control-Allow-Origin.
func TestNeverReflectsArbitraryOriginWithCredentials(t *testing.T) {
	mw, err := New(Config{AllowedOrigins: []string{"https://app.example"}, AllowCredentials: true})
	if err != nil {
		t.Fatal(err)
	}
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, origin := range []string{"https://evil.example", "https://app.example.evil.example", "null", "", "https://app.example, https://evil.example",
		"https://app.example/", "https://app.example:8443", "file://", "https://app.example\x00"} {
		for _, method := range []string{"GET", "OPTIONS"} {
			r := httptest.NewRequest(method, "/", nil)
			r.Header.Set("Origin", origin)
			r.Header.Set("Access-Control-Request-Method", "GET")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if got := w.Header().Get("Access-Control-Allow-Origin"); got != "" {
				t.Errorf("%s Origin %q: Access-Control-Allow-Origin %q", method, origin, got)
			}
		}
	}
}

func FuzzOrigin(f *testing.F) {
	for _, s := range []string{"https://app.example", "HTTPS://APP.EXAMPLE:443", "null", "https://[::1]:8080", "http://a:0", "x", "https://app.example.evil"} {
		f.Add(s)
	}
	mw, err := New(Config{AllowedOrigins: []string{"https://app.example"}, AllowCredentials: true})
	if err != nil {
		f.Fatal(err)
	}
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	f.Fuzz(func(t *testing.T, origin string) {
		r := httptest.NewRequest("OPTIONS", "/", nil)
		r.Header["Origin"] = []string{origin}
		r.Header.Set("Access-Control-Request-Method", "GET")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		got := w.Header().Get("Access-Control-Allow-Origin")
		if got == "" {
			return
		}
		// Whatever is allowed must canonicalise to the one listed origin.
		if c, err := canonicalOrigin(origin); err != nil || c != "https://app.example" || got != origin {
			t.Fatalf("Origin %q allowed as %q (canonical %q, %v)", origin, got, c, err)
		}
	})
}
