package auth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeapi/gateway/internal/testwait"
)

// jwksServer serves a key set that tests can change, counts fetches and can fail on demand.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	doc     []byte
	status  int
	fetches atomic.Int64
}

func newJWKSServer(t *testing.T, doc []byte) *jwksServer {
	s := &jwksServer{doc: doc, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		doc, status := s.doc, s.status
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(doc)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(doc []byte, status int) {
	s.mu.Lock()
	s.doc, s.status = doc, status
	s.mu.Unlock()
}

func jwksPolicy(url string, c *clock) Config {
	return Config{
		JWT: &JWTConfig{
			JWKS:     &JWKSConfig{URL: url, TTL: 10 * time.Minute, MinRefreshInterval: 30 * time.Second, Timeout: 2 * time.Second},
			Issuer:   "https://id.example.com/",
			Audience: []string{"orders"},
		},
		Now: c.Now,
	}
}

// jwksTok signs a token valid at any clock time the tests reach.
func jwksTok(alg, kid string, key any) string {
	return sign(hdr(alg, kid), claims(map[string]any{"exp": t0.Add(48 * time.Hour).Unix()}), key)
}

func TestJWKSOneFetchForManyRequests(t *testing.T) {
	srv := newJWKSServer(t, jwksDoc(jwkOf("rs1", &rsaKey().PublicKey), jwkOf("es1", &ecKey().PublicKey)))
	c := newClock(t0)
	a := mustAuth(t, jwksPolicy(srv.URL, c))
	toks := []string{jwksTok("RS256", "rs1", rsaKey()), jwksTok("ES256", "es1", ecKey()), jwksTok("ES256", "", ecKey())}
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range 60 {
		wg.Go(func() {
			if res := serve(a, bearer(toks[i%len(toks)])); res.w.Code != http.StatusNoContent {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of 60 requests failed", failed.Load())
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for 60 requests, want 1", n)
	}
	// Within the TTL: still no second fetch.
	c.Advance(9 * time.Minute)
	if res := serve(a, bearer(toks[0])); res.w.Code != http.StatusNoContent {
		t.Fatalf("status %d", res.w.Code)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches within the TTL, want 1", n)
	}
	// Past the TTL: one refresh.
	c.Advance(2 * time.Minute)
	for range 5 {
		if res := serve(a, bearer(toks[1])); res.w.Code != http.StatusNoContent {
			t.Fatalf("status %d", res.w.Code)
		}
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after the TTL, want 2", n)
	}
}

func TestJWKSRefreshOnUnknownKid(t *testing.T) {
	srv := newJWKSServer(t, jwksDoc(jwkOf("k1", &rsaKey().PublicKey)))
	c := newClock(t0)
	a := mustAuth(t, jwksPolicy(srv.URL, c))
	check := func(tok string, wantStatus int, wantFetches int64) {
		t.Helper()
		res := serve(a, bearer(tok))
		if res.w.Code != wantStatus {
			t.Fatalf("status %d, want %d: %s", res.w.Code, wantStatus, res.w.Body)
		}
		if n := srv.fetches.Load(); n != wantFetches {
			t.Fatalf("%d fetches, want %d", n, wantFetches)
		}
	}
	check(jwksTok("RS256", "k1", rsaKey()), 204, 1)

	// The issuer rotates: k2 appears. The first token with k2 causes one refresh... but the
	// fetch at start-up was less than MinRefreshInterval ago, so it has to wait.
	srv.set(jwksDoc(jwkOf("k1", &rsaKey().PublicKey), jwkOf("k2", &otherRSAKey().PublicKey)), 200)
	check(jwksTok("RS256", "k2", otherRSAKey()), 401, 1)
	c.Advance(30 * time.Second)
	check(jwksTok("RS256", "k2", otherRSAKey()), 204, 2)
	check(jwksTok("RS256", "k2", otherRSAKey()), 204, 2)

	// A flood of unknown kids (an attacker's) causes at most one fetch per interval.
	for range 20 {
		check(jwksTok("RS256", "bogus", rsaKey()), 401, 2)
	}
	c.Advance(31 * time.Second)
	check(jwksTok("RS256", "bogus", rsaKey()), 401, 3)
	for range 20 {
		check(jwksTok("RS256", "bogus-2", rsaKey()), 401, 3)
	}
	res := serve(a, bearer(jwksTok("RS256", "bogus", rsaKey())))
	if !strings.Contains(decodeError(t, res.w).Detail, ErrUnknownKey.Error()) {
		t.Errorf("detail %q", res.w.Body)
	}
}

func TestJWKSStaleWhileError(t *testing.T) {
	srv := newJWKSServer(t, jwksDoc(jwkOf("k1", &ecKey().PublicKey)))
	c := newClock(t0)
	var logs bytes.Buffer
	var logMu sync.Mutex
	a, err := NewAuthenticator(jwksPolicy(srv.URL, c), slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	tok := jwksTok("ES256", "k1", ecKey())
	if res := serve(a, bearer(tok)); res.w.Code != 204 {
		t.Fatalf("status %d", res.w.Code)
	}

	t.Run("server errors", func(t *testing.T) {
		srv.set([]byte("oops"), http.StatusInternalServerError)
		c.Advance(11 * time.Minute) // past the TTL
		for range 10 {
			if res := serve(a, bearer(tok)); res.w.Code != 204 {
				t.Fatalf("status %d with the JWKS failing: cached keys must keep working", res.w.Code)
			}
		}
		if n := srv.fetches.Load(); n != 2 {
			t.Fatalf("%d fetches, want 2: a failed refresh is retried only after MinRefreshInterval", n)
		}
		c.Advance(30 * time.Second)
		serve(a, bearer(tok))
		if n := srv.fetches.Load(); n != 3 {
			t.Fatalf("%d fetches, want 3", n)
		}
	})
	t.Run("server garbage", func(t *testing.T) {
		srv.set([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`), 200)
		c.Advance(time.Minute)
		if res := serve(a, bearer(tok)); res.w.Code != 204 {
			t.Fatalf("status %d", res.w.Code)
		}
	})
	t.Run("server down", func(t *testing.T) {
		srv.Close()
		c.Advance(time.Hour)
		for range 3 {
			if res := serve(a, bearer(tok)); res.w.Code != 204 {
				t.Fatalf("status %d with the JWKS down: cached keys must keep working", res.w.Code)
			}
			c.Advance(time.Minute)
		}
	})
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logs.String(), "JWKS fetch failed") {
		t.Errorf("no warning logged:\n%s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestJWKSUnavailableFromStart(t *testing.T) {
	srv := newJWKSServer(t, []byte("down"))
	srv.set([]byte("down"), http.StatusServiceUnavailable)
	c := newClock(t0)
	a := mustAuth(t, jwksPolicy(srv.URL, c))
	tok := jwksTok("RS256", "k1", rsaKey())
	for range 5 {
		res := serve(a, bearer(tok))
		if res.w.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503", res.w.Code)
		}
		if b := decodeError(t, res.w); !strings.Contains(b.Detail, "signing keys are unavailable") {
			t.Fatalf("detail %q", b.Detail)
		}
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1: failures are retried after MinRefreshInterval", n)
	}
	if err := a.Prefetch(t.Context()); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("Prefetch: %v", err)
	}
	srv.set(jwksDoc(jwkOf("k1", &rsaKey().PublicKey)), 200)
	c.Advance(30 * time.Second)
	if err := a.Prefetch(t.Context()); err != nil {
		t.Fatalf("Prefetch: %v", err)
	}
	if res := serve(a, bearer(tok)); res.w.Code != 204 {
		t.Fatalf("status %d after recovery", res.w.Code)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}

func TestJWKSFetchLimits(t *testing.T) {
	big := jwksDoc(jwkOf("k1", &rsaKey().PublicKey), map[string]any{"kty": "x", "pad": strings.Repeat("a", 4096)})
	cases := []struct {
		name    string
		handler http.HandlerFunc
		cfg     func(*JWKSConfig)
	}{
		{"body too large", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(big) },
			func(c *JWKSConfig) { c.MaxBytes = 1024 }},
		{"timeout", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			func(c *JWKSConfig) { c.Timeout = 50 * time.Millisecond }},
		{"not JSON", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>")) }, nil},
		{"no keys member", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{}`)) }, nil},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://id.example.com/jwks", http.StatusFound)
		}, nil},
		{"only unusable keys", func(w http.ResponseWriter, r *http.Request) {
			small := mustRSA(1024)
			enc := jwkOf("k1", &rsaKey().PublicKey)
			enc["use"] = "enc"
			rs384 := jwkOf("k1", &rsaKey().PublicKey)
			rs384["alg"] = "RS384"
			_, _ = w.Write(jwksDoc(enc, rs384, jwkOf("k1", &small.PublicKey),
				map[string]any{"kty": "oct", "kid": "k1", "k": enc["n"]},
				map[string]any{"kty": "EC", "kid": "k1", "crv": "P-256", "x": "AAAA", "y": "AAAA"}))
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			cfg := jwksPolicy(srv.URL, newClock(t0))
			if tc.cfg != nil {
				tc.cfg(cfg.JWT.JWKS)
			}
			a := mustAuth(t, cfg)
			res := serve(a, bearer(jwksTok("RS256", "k1", rsaKey())))
			if res.w.Code != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503", res.w.Code)
			}
		})
	}
}

func TestParseJWKSSkipsUnusable(t *testing.T) {
	good := jwkOf("ok", &ecKey().PublicKey)
	oct := map[string]any{"kty": "oct", "kid": "o", "k": enc(hmacSecret())}
	notOnCurve := jwkOf("bad", &ecKey().PublicKey)
	notOnCurve["y"] = enc(make([]byte, 32))
	padded := jwkOf("padded", &rsaKey().PublicKey)
	padded["n"] = padded["n"].(string) + "=="
	keys, skipped, err := parseJWKS(jwksDoc(good, oct, notOnCurve, padded, map[string]any{"kty": 5}))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || skipped != 3 {
		t.Fatalf("%d keys, %d skipped; want 2 and 3", len(keys), skipped)
	}
	for _, k := range keys {
		if k.alg == HS256 || k.secret != nil {
			t.Fatal("a symmetric key was taken from a JWKS")
		}
	}
}

// countingClient is an injected HTTPClient.
type countingClient struct {
	n    atomic.Int64
	next HTTPClient
}

func (c *countingClient) Do(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.Do(r)
}

func TestJWKSInjectedClientAndCancel(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		_, _ = w.Write(jwksDoc(jwkOf("k1", &rsaKey().PublicKey)))
	}))
	defer srv.Close()
	defer close(release)
	client := &countingClient{next: srv.Client()}
	cfg := jwksPolicy(srv.URL, newClock(t0))
	cfg.JWT.JWKS.Client = client
	a := mustAuth(t, cfg)
	tok := jwksTok("RS256", "k1", rsaKey())

	// One request fetches; a second, waiting for that fetch, is cancelled by its client.
	first := make(chan int, 1)
	go func() { first <- serve(a, bearer(tok)).w.Code }()
	testwait.Until(t, 5*time.Second, "the first fetch", func() bool { return client.n.Load() == 1 })
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res := serve(a, bearer(tok).WithContext(ctx))
	if res.w.Code != 499 {
		t.Fatalf("cancelled waiter: status %d, want 499", res.w.Code)
	}
	release <- struct{}{}
	if code := <-first; code != 204 {
		t.Fatalf("first request: status %d", code)
	}
	if n := client.n.Load(); n != 1 {
		t.Fatalf("%d fetches through the injected client, want 1", n)
	}
}

// TestParseJWKSRFC7517 reads the example key set of RFC 7517 Appendix A.1: the EC key is for
// encryption ("use":"enc") and skipped; the RSA key is kept for RS256 under its kid.
func TestParseJWKSRFC7517(t *testing.T) {
	doc, err := os.ReadFile("testdata/rfc7517-a1.jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	keys, skipped, err := parseJWKS(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || skipped != 1 {
		t.Fatalf("%d keys, %d skipped; want 1 and 1", len(keys), skipped)
	}
	if k := keys[0]; k.id != "2011-04-29" || k.alg != RS256 || k.rsa.N.BitLen() != 2048 || k.rsa.E != 65537 {
		t.Fatalf("key %q %s, %d bits, e=%d", k.id, k.alg, k.rsa.N.BitLen(), k.rsa.E)
	}
}
