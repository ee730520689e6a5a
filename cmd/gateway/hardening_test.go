package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeapi/gateway/config"
	"github.com/edgeapi/gateway/internal/testsvc"
	"github.com/edgeapi/gateway/internal/testwait"
)

// The hardening tests drive the protection the gateway wires in (edge guards, auth, rate and
// concurrency limits, CORS, metrics, the admin listener, TLS, reload and drain) through the real
// gateway over real HTTP on loopback, in front of real gRPC backends.

// hardSecret is the HS256 secret of the JWT policy (at least 32 bytes).
const hardSecret = "hardening-test-secret-0123456789abcdef"

// hardJWT builds a compact JWS by hand: header and claims as JSON, base64url without padding,
// signed with HMAC-SHA256 under secret ("" leaves the signature empty, as alg "none" does).
func hardJWT(t testing.TB, header, claims map[string]any, secret string) string {
	t.Helper()
	enc := base64.RawURLEncoding
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	if secret == "" {
		return input + "."
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(input))
	return input + "." + enc.EncodeToString(m.Sum(nil))
}

// metadataOf returns the metadata testsvc's Unary echoed back.
func metadataOf(t testing.TB, got map[string]any) map[string]any {
	t.Helper()
	md, ok := got["metadata"].(map[string]any)
	if !ok {
		t.Fatalf("no metadata in the answer: %v", got)
	}
	return md
}

// TestHardeningAuth: per-route API keys (stored hashed) and HS256 JWTs. Refusals are 401 JSON
// with a challenge; the backend sees who the caller is as metadata (x-api-key-name, x-jwt-sub),
// never the key itself, and never identity headers the client wrote itself.
func TestHardeningAuth(t *testing.T) {
	t.Parallel()
	srv := testsvc.Start(t, "n1")
	key := "hardening-key-" + rand.Text()
	sum := sha256.Sum256([]byte(key))
	extra := fmt.Sprintf(`headers:
  forward: [X-API-Key]
auth:
  policies:
    keys:
      api_keys:
        keys:
          - {name: alice, sha256: %s}
    tokens:
      jwt:
        algorithms: [HS256]
        issuer: hardening
        audience: [gateway]
        forward_claims: [sub]
        keys:
          - {secret: %q}
routes:
  - path: /keyed
    service: %s
    endpoint: Echo.Unary
    auth: keys
  - path: /token
    service: %[3]s
    endpoint: Echo.Unary
    auth: tokens
`, hex.EncodeToString(sum[:]), hardSecret, echoService)
	g := startGateway(t, gatewayYAML(extra, svc(echoService, srv.Addr)))

	t.Run("api key", func(t *testing.T) {
		r := g.post(t, "/keyed", `{}`)
		wantError(t, r, http.StatusUnauthorized, "gateway")
		if ch := r.header.Values("WWW-Authenticate"); !slices.ContainsFunc(ch, func(v string) bool { return strings.HasPrefix(v, "ApiKey ") }) {
			t.Errorf("WWW-Authenticate %q, want an ApiKey challenge", ch)
		}
		wantError(t, g.post(t, "/keyed", `{}`, "X-API-Key", key+"x"), http.StatusUnauthorized, "gateway")
		wantError(t, g.post(t, "/keyed", `{}`, "X-API-Key", ""), http.StatusUnauthorized, "gateway")

		before := srv.Calls()
		md := metadataOf(t, wantOK(t, g.post(t, "/keyed", `{}`, "X-API-Key", key, "Grpc-Metadata-X-Api-Key-Name", "mallory")))
		if md["x-api-key-name"] != "alice" {
			t.Errorf("x-api-key-name = %v, want alice", md["x-api-key-name"])
		}
		for k, v := range md {
			if k == "x-api-key" || strings.Contains(fmt.Sprint(v), key) {
				t.Errorf("the key reached the backend as metadata %s=%v", k, v)
			}
		}
		md = metadataOf(t, wantOK(t, g.post(t, "/keyed", `{}`, "Authorization", "ApiKey "+key)))
		if md["x-api-key-name"] != "alice" {
			t.Errorf("Authorization: ApiKey: x-api-key-name = %v, want alice", md["x-api-key-name"])
		}
		if _, ok := md["authorization"]; ok {
			t.Errorf("the key reached the backend in authorization metadata")
		}
		if n := srv.Calls() - before; n != 2 {
			t.Errorf("backend saw %d calls, want the 2 authenticated ones", n)
		}
	})

	t.Run("jwt", func(t *testing.T) {
		now := time.Now().Unix()
		hs := map[string]any{"alg": "HS256", "typ": "JWT"}
		good := map[string]any{"sub": "user-42", "iss": "hardening", "aud": "gateway", "exp": now + 300, "iat": now}
		with := func(k string, v any) map[string]any {
			c := map[string]any{}
			for kk, vv := range good {
				c[kk] = vv
			}
			c[k] = v
			return c
		}

		tok := hardJWT(t, hs, good, hardSecret)
		before := srv.Calls()
		md := metadataOf(t, wantOK(t, g.post(t, "/token", `{}`, "Authorization", "Bearer "+tok,
			"Grpc-Metadata-X-Jwt-Sub", "admin", "Grpc-Metadata-X-Jwt-Role", "root", "X-Jwt-Sub", "admin")))
		if md["x-jwt-sub"] != "user-42" {
			t.Errorf("x-jwt-sub = %v, want user-42 (the client forged admin)", md["x-jwt-sub"])
		}
		if v, ok := md["x-jwt-role"]; ok {
			t.Errorf("forged x-jwt-role = %v reached the backend", v)
		}
		if n := srv.Calls() - before; n != 1 {
			t.Errorf("backend saw %d calls, want 1", n)
		}

		before = srv.Calls()
		for _, tc := range []struct {
			name, token, detail string
		}{
			{"no token", "", "authentication required"},
			{"expired", hardJWT(t, hs, with("exp", now-60), hardSecret), "expired"},
			{"alg none", hardJWT(t, map[string]any{"alg": "none", "typ": "JWT"}, good, ""), ""},
			{"alg none with a signature", hardJWT(t, map[string]any{"alg": "none"}, good, hardSecret), ""},
			{"wrong secret", hardJWT(t, hs, good, hardSecret+"-other"), "signature"},
			{"tampered claims", strings.Join([]string{strings.Split(tok, ".")[0],
				base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin","iss":"hardening","aud":"gateway","exp":` + strconv.FormatInt(now+300, 10) + `}`)),
				strings.Split(tok, ".")[2]}, "."), "signature"},
			{"wrong issuer", hardJWT(t, hs, with("iss", "elsewhere"), hardSecret), "issuer"},
			{"wrong audience", hardJWT(t, hs, with("aud", "other"), hardSecret), "audience"},
			{"not yet valid", hardJWT(t, hs, with("nbf", now+600), hardSecret), "not valid yet"},
		} {
			var hdr []string
			if tc.token != "" {
				hdr = []string{"Authorization", "Bearer " + tc.token}
			}
			r := g.post(t, "/token", `{}`, append(hdr, "Grpc-Metadata-X-Jwt-Sub", "admin")...)
			wantError(t, r, http.StatusUnauthorized, "gateway", tc.detail)
			if !slices.ContainsFunc(r.header.Values("WWW-Authenticate"), func(v string) bool { return strings.HasPrefix(v, "Bearer ") }) {
				t.Errorf("%s: WWW-Authenticate %q, want a Bearer challenge", tc.name, r.header.Values("WWW-Authenticate"))
			}
			if tc.token != "" && strings.Contains(string(r.body), tc.token) {
				t.Errorf("%s: the refusal echoes the token", tc.name)
			}
		}
		if n := srv.Calls() - before; n != 0 {
			t.Errorf("backend saw %d calls from refused tokens", n)
		}
	})

	// The identity headers are the auth middleware's alone: a client must not be able to send
	// them to a backend through a path without auth either (the default resolver route reaches
	// the same service).
	t.Run("identity headers on a route without auth", func(t *testing.T) {
		md := metadataOf(t, wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{}`,
			"Grpc-Metadata-X-Jwt-Sub", "admin", "Grpc-Metadata-X-Api-Key-Name", "alice")))
		for _, k := range []string{"x-jwt-sub", "x-api-key-name"} {
			if v, ok := md[k]; ok {
				t.Errorf("a client-forged %s=%v reached the backend through a route without auth", k, v)
			}
		}
	})
}

// TestHardeningRateLimit: a route's token bucket per client (rate 1, burst 2) refuses the third
// quick request with 429 and Retry-After. Behind a trusted proxy, clients are told apart by
// X-Forwarded-For; from an untrusted peer the header is ignored.
func TestHardeningRateLimit(t *testing.T) {
	t.Parallel()
	srv := testsvc.Start(t, "n1")
	route := fmt.Sprintf(`routes:
  - path: /limited
    service: %s
    endpoint: Echo.Unary
    rate_limit: {rate: 1, burst: 2}
`, echoService)
	// three sends three requests for one client and returns their replies.
	three := func(t *testing.T, g *testGateway, hdr ...string) []reply {
		out := make([]reply, 3)
		for i := range out {
			out[i] = g.post(t, "/limited", `{}`, hdr...)
		}
		return out
	}
	want429 := func(t *testing.T, r reply) {
		t.Helper()
		wantError(t, r, http.StatusTooManyRequests, "gateway", "rate limit")
		if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 {
			t.Errorf("Retry-After %q, want whole seconds >= 1", r.header.Get("Retry-After"))
		}
	}

	t.Run("burst then 429", func(t *testing.T) {
		g := startGateway(t, gatewayYAML(route, svc(echoService, srv.Addr)))
		rs := three(t, g)
		wantOK(t, rs[0])
		wantOK(t, rs[1])
		want429(t, rs[2])
		// Other routes are not limited.
		for range 3 {
			wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{}`))
		}
	})

	t.Run("trusted proxy: X-Forwarded-For clients have their own buckets", func(t *testing.T) {
		g := startGateway(t, gatewayYAML("server:\n  trusted_proxies: [127.0.0.1/32]\nlimits:\n  xff_depth: 1\n"+route, svc(echoService, srv.Addr)))
		a := three(t, g, "X-Forwarded-For", "198.51.100.7")
		wantOK(t, a[0])
		wantOK(t, a[1])
		want429(t, a[2])
		// A different client behind the same proxy starts with a full bucket; what it writes to
		// the left of the proxy's own entry is not believed.
		b := three(t, g, "X-Forwarded-For", "198.51.100.7, 203.0.113.9")
		wantOK(t, b[0])
		wantOK(t, b[1])
		want429(t, b[2])
	})

	t.Run("untrusted peer: X-Forwarded-For is ignored", func(t *testing.T) {
		g := startGateway(t, gatewayYAML(route, svc(echoService, srv.Addr)))
		wantOK(t, g.post(t, "/limited", `{}`, "X-Forwarded-For", "198.51.100.1"))
		wantOK(t, g.post(t, "/limited", `{}`, "X-Forwarded-For", "198.51.100.2"))
		want429(t, g.post(t, "/limited", `{}`, "X-Forwarded-For", "198.51.100.3"))
	})
}

// TestHardeningMaxConcurrent: with max_concurrent 1, a second request while a Slow call holds
// the slot is refused at once with 503 and Retry-After; the slot is free again afterwards.
func TestHardeningMaxConcurrent(t *testing.T) {
	t.Parallel()
	srv := testsvc.Start(t, "n1")
	g := startGateway(t, gatewayYAML(fmt.Sprintf(`routes:
  - path: /one-at-a-time
    service: %s
    endpoint: Echo.Slow
    max_concurrent: 1
`, echoService), svc(echoService, srv.Addr)))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	held := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.url+"/one-at-a-time", strings.NewReader(`{"millis":30000}`))
		req.Header.Set("Content-Type", "application/json")
		res, err := g.client.Do(req)
		if err == nil {
			_ = res.Body.Close()
		}
		held <- err
	}()
	select {
	case <-srv.SlowStarted():
	case <-time.After(5 * time.Second):
		t.Fatal("the Slow call never reached the backend")
	}
	before := srv.Calls()
	r := g.post(t, "/one-at-a-time", `{"millis":1}`)
	wantError(t, r, http.StatusServiceUnavailable, "gateway", "concurrent")
	if v := r.header.Get("Retry-After"); v == "" {
		t.Error("503 without Retry-After")
	}
	if n := srv.Calls() - before; n != 0 {
		t.Errorf("the refused request reached the backend (%d calls)", n)
	}
	// Another route is not affected.
	wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{}`))

	cancel()
	<-held
	var last reply
	testwait.Until(t, 5*time.Second, "the slot to be released", func() bool {
		last = g.post(t, "/one-at-a-time", `{"millis":1}`)
		return last.code != http.StatusServiceUnavailable
	})
	wantOK(t, last)
}

// TestHardeningCORS: preflights from allowed origins get 204 with the CORS headers, others 403
// JSON; credentials are announced only when configured.
func TestHardeningCORS(t *testing.T) {
	t.Parallel()
	const origin = "https://app.example.com"
	preflight := func(t *testing.T, g *testGateway, origin, method string) reply {
		t.Helper()
		return g.call(t, http.MethodOptions, "/echoservice/Echo/Unary", "",
			"Origin", origin, "Access-Control-Request-Method", method, "Access-Control-Request-Headers", "content-type")
	}
	for _, creds := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow_credentials=%v", creds), func(t *testing.T) {
			t.Parallel()
			// A backend of its own: the subtests run in parallel and each counts its calls.
			srv := testsvc.Start(t, "n1")
			g := startGateway(t, gatewayYAML(fmt.Sprintf(`cors:
  allowed_origins: [%q]
  allowed_methods: [POST]
  allowed_headers: [Content-Type]
  allow_credentials: %v
`, origin, creds), svc(echoService, srv.Addr)))
			before := srv.Calls()

			r := preflight(t, g, origin, http.MethodPost)
			if r.code != http.StatusNoContent {
				t.Fatalf("allowed preflight: %s", r)
			}
			if got := r.header.Get("Access-Control-Allow-Origin"); got != origin {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, origin)
			}
			if got := r.header.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "POST") {
				t.Errorf("Access-Control-Allow-Methods %q", got)
			}
			wantCreds := ""
			if creds {
				wantCreds = "true"
			}
			if got := r.header.Get("Access-Control-Allow-Credentials"); got != wantCreds {
				t.Errorf("preflight Access-Control-Allow-Credentials %q, want %q", got, wantCreds)
			}

			wantError(t, preflight(t, g, "https://evil.example", http.MethodPost), http.StatusForbidden, "gateway")
			wantError(t, preflight(t, g, "null", http.MethodPost), http.StatusForbidden, "gateway")
			wantError(t, preflight(t, g, origin, http.MethodDelete), http.StatusForbidden, "gateway")
			if n := srv.Calls() - before; n != 0 {
				t.Errorf("preflights reached the backend (%d calls)", n)
			}

			r = g.post(t, "/echoservice/Echo/Unary", `{}`, "Origin", origin)
			wantOK(t, r)
			if got := r.header.Get("Access-Control-Allow-Origin"); got != origin {
				t.Errorf("actual request: Access-Control-Allow-Origin %q, want %q", got, origin)
			}
			if got := r.header.Get("Access-Control-Allow-Credentials"); got != wantCreds {
				t.Errorf("actual request: Access-Control-Allow-Credentials %q, want %q", got, wantCreds)
			}
			r = g.post(t, "/echoservice/Echo/Unary", `{}`, "Origin", "https://evil.example")
			wantOK(t, r)
			for _, h := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials"} {
				if v := r.header.Get(h); v != "" {
					t.Errorf("disallowed origin got %s: %q", h, v)
				}
			}
		})
	}
}

// hardAttack is one raw request of an attack corpus file.
type hardAttack struct {
	name     string
	status   []int
	calls    int64 // -1: not stated (the secure middleware's corpus: 0 when it refuses)
	seenNone bool
	closes   bool
	raw      []byte

	engineStatus, engineCalls bool // the gateway engine's own lines were read: they win
}

// loadHardAttacks reads corpus files in the format of middleware/secure/testdata/attacks.
// For the gateway engine, engine-status and engine-calls replace status and calls.
func loadHardAttacks(t *testing.T, pattern, engine string) []hardAttack {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no attack files match %s: %v", pattern, err)
	}
	var out []hardAttack
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		meta, raw, ok := strings.Cut(string(b), "\n--\n")
		if !ok {
			t.Fatalf("%s: no -- line", f)
		}
		a := hardAttack{name: strings.TrimSuffix(filepath.Base(f), ".txt"), calls: -1}
		for line := range strings.SplitSeq(meta, "\n") {
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, v, ok := strings.Cut(line, ": ")
			if !ok {
				t.Fatalf("%s: bad metadata line %q", f, line)
			}
			if strings.HasPrefix(k, "engine-") {
				if engine != "gateway" {
					continue
				}
				k = strings.TrimPrefix(k, "engine-")
				if k == "status" {
					a.status, a.engineStatus = nil, true
				}
			} else if a.engineStatus && k == "status" || a.engineCalls && k == "calls" {
				continue
			}
			switch k {
			case "status":
				for s := range strings.FieldsSeq(v) {
					if s == "none" {
						continue
					}
					n, err := strconv.Atoi(s)
					if err != nil {
						t.Fatalf("%s: status %q", f, s)
					}
					a.status = append(a.status, n)
				}
			case "calls":
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Fatalf("%s: calls %q", f, v)
				}
				a.calls, a.engineCalls = n, strings.HasPrefix(line, "engine-")
			case "seen":
				a.seenNone = v == "none"
			case "closes":
				a.closes = v == "yes"
			}
		}
		for _, s := range a.status {
			if s >= 400 {
				a.closes = true
			}
		}
		raw = strings.ReplaceAll(raw, "{NOEOL}\n", "")
		raw = strings.ReplaceAll(raw, "{LF}\n", "{x0A}")
		raw = strings.ReplaceAll(raw, "\n", "\r\n")
		a.raw = []byte(hardExpand(raw))
		out = append(out, a)
	}
	return out
}

// hardExpand replaces each {xHH} by the byte 0xHH.
func hardExpand(s string) string {
	re := regexp.MustCompile(`\{x([0-9A-Fa-f]{2})\}`)
	return re.ReplaceAllStringFunc(s, func(m string) string {
		n, _ := strconv.ParseUint(m[2:4], 16, 8)
		return string([]byte{byte(n)})
	})
}

// hardExchange sends raw on a fresh connection and reads responses: n of them when n > 0,
// otherwise until the server closes the connection (open reports that it still held it open at
// the deadline). The client never half-closes: net/http takes a half-closed connection for a
// client that went away and cancels the request (499).
func hardExchange(t *testing.T, addr string, raw []byte, n int) (statuses []int, bodies []string, open bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for n <= 0 || len(statuses) < n {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			var ne net.Error
			return statuses, bodies, errors.As(err, &ne) && ne.Timeout()
		}
		b, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		statuses = append(statuses, res.StatusCode)
		bodies = append(bodies, string(b))
	}
	return statuses, bodies, false
}

// TestHardeningAttacks sends raw attacks over TCP to the real gateway in front of a real backend:
// every request of middleware/secure's corpus that the edge refuses (same statuses as documented
// there), and the gateway's own corpus aimed at a real method. The backend counts every unary
// call, so a smuggled or escaped request would show.
//
// It runs once per server engine: h1server is stricter than net/http where the two could
// disagree on framing, so an attack may state the gateway engine's answer apart
// (engine-status, engine-calls).
func TestHardeningAttacks(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"gateway", "stdlib"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			hardeningAttacks(t, engine)
		})
	}
}

func hardeningAttacks(t *testing.T, engine string) {
	srv := testsvc.Start(t, "n1")
	g := startGateway(t, gatewayYAML("server:\n  engine: "+engine+"\n", svc(echoService, srv.Addr)))
	wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{}`)) // descriptors loaded
	addr := strings.TrimPrefix(g.url, "http://")

	var attacks []hardAttack
	for _, a := range loadHardAttacks(t, filepath.Join("..", "..", "middleware", "secure", "testdata", "attacks", "*.txt"), engine) {
		refused := a.seenNone && len(a.status) > 0 && !slices.ContainsFunc(a.status, func(s int) bool { return s < 400 })
		if refused {
			a.calls = 0
			a.name = "secure/" + a.name
			attacks = append(attacks, a)
		}
	}
	if len(attacks) < 20 {
		t.Fatalf("only %d refused attacks in middleware/secure's corpus", len(attacks))
	}
	attacks = append(attacks, loadHardAttacks(t, filepath.Join("testdata", "hardening", "attacks", "*.txt"), engine)...)

	// Sequential: the call count of the one backend is attributed to one attack at a time.
	for _, a := range attacks {
		before := srv.Calls()
		n := 0 // read until the server closes
		if !a.closes {
			n = len(a.status)
		}
		statuses, bodies, open := hardExchange(t, addr, a.raw, n)
		if open {
			t.Errorf("%s: the gateway kept the connection open after %v", a.name, statuses)
		}
		if !slices.Equal(statuses, a.status) {
			t.Errorf("%s: statuses %v, want %v (bodies %q)", a.name, statuses, a.status, bodies)
		}
		if n := srv.Calls() - before; n != a.calls {
			t.Errorf("%s: the backend saw %d calls, want %d", a.name, n, a.calls)
		}
	}
	// The gateway still serves normally afterwards.
	wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{}`))
}

// TestHardeningHeaderLimit: 70 KiB of request headers is past the default 64 KiB: 431, and the
// backend sees nothing.
func TestHardeningHeaderLimit(t *testing.T) {
	t.Parallel()
	srv := testsvc.Start(t, "n1")
	g := startGateway(t, gatewayYAML("", svc(echoService, srv.Addr)))
	var b strings.Builder
	b.WriteString("POST /echoservice/Echo/Unary HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 2\r\n")
	pad := strings.Repeat("a", 1000)
	for i := range 70 {
		fmt.Fprintf(&b, "X-Pad-%02d: %s\r\n", i, pad)
	}
	b.WriteString("\r\n{}")
	before := srv.Calls()
	statuses, _, _ := hardExchange(t, strings.TrimPrefix(g.url, "http://"), []byte(b.String()), 0)
	if len(statuses) != 1 || statuses[0] != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("70 KiB of headers: statuses %v, want [431]", statuses)
	}
	if n := srv.Calls() - before; n != 0 {
		t.Errorf("backend saw %d calls", n)
	}
	// Below the limit is fine.
	hdr := make([]string, 0, 40)
	for i := range 20 {
		hdr = append(hdr, fmt.Sprintf("X-Pad-%02d", i), pad)
	}
	wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{}`, hdr...))
}

// hardScrape fetches the Prometheus text from url.
func hardScrape(t testing.TB, client *http.Client, url string) string {
	t.Helper()
	res, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", url, res.StatusCode, err, b)
	}
	return string(b)
}

// hardSample returns the value of the sample of metric whose labels are exactly labels ("" if
// there is none). Labels are compared as a set.
func hardSample(text, metric string, labels map[string]string) string {
	for line := range strings.SplitSeq(text, "\n") {
		name, rest, ok := strings.Cut(line, "{")
		if !ok || name != metric {
			continue
		}
		lbls, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		got := map[string]string{}
		for pair := range strings.SplitSeq(lbls, ",") {
			k, v, _ := strings.Cut(pair, "=")
			got[k] = strings.Trim(v, `"`)
		}
		if len(got) != len(labels) {
			continue
		}
		match := true
		for k, v := range labels {
			if got[k] != v {
				match = false
			}
		}
		if match {
			return strings.TrimSpace(value)
		}
	}
	return ""
}

// TestHardeningMetrics: /metrics counts requests by route, service, handler and status, shows
// requests in flight and every node's breaker state, and never makes a label out of a name a
// client invented.
func TestHardeningMetrics(t *testing.T) {
	t.Parallel()
	srv := testsvc.Start(t, "n1")
	g := startGateway(t, gatewayYAML(fmt.Sprintf(`routes:
  - path: /metered
    service: %s
    endpoint: Echo.Unary
  - path: /metered-slow
    service: %[1]s
    endpoint: Echo.Slow
`, echoService), svc(echoService, srv.Addr)))
	for range 2 {
		wantOK(t, g.post(t, "/metered", `{}`))
	}
	wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{}`))
	wantError(t, g.post(t, "/nosuchsvcxyz/Foo/Bar", `{}`), http.StatusNotFound, "")

	// A Slow call in flight shows in the gauge of its route.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	held := make(chan struct{})
	go func() {
		defer close(held)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.url+"/metered-slow", strings.NewReader(`{"millis":30000}`))
		req.Header.Set("Content-Type", "application/json")
		if res, err := g.client.Do(req); err == nil {
			_ = res.Body.Close()
		}
	}()
	select {
	case <-srv.SlowStarted():
	case <-time.After(5 * time.Second):
		t.Fatal("the Slow call never reached the backend")
	}
	slow := map[string]string{"route": "/metered-slow", "service": echoService, "handler": "rpc"}
	routeOK := map[string]string{"route": "/metered", "service": echoService, "handler": "rpc", "status": "200"}
	var text string
	testwait.Until(t, 5*time.Second, "the metrics of the requests", func() bool {
		text = hardScrape(t, g.client, g.url+"/metrics")
		return hardSample(text, "gateway_requests_total", routeOK) == "2" &&
			hardSample(text, "gateway_requests_in_flight", slow) == "1"
	})
	if v := hardSample(text, "gateway_breaker_state", map[string]string{"service": echoService, "node": "node0"}); v != "0" {
		t.Errorf("gateway_breaker_state of node0 = %q, want 0 (closed)", v)
	}
	if v := hardSample(text, "gateway_requests_total", map[string]string{"route": "resolver", "service": echoService, "handler": "rpc", "status": "200"}); v != "1" {
		t.Errorf("resolver-routed request counted %q times, want 1:\n%s", v, hardGrep(text, "gateway_requests_total"))
	}
	if v := hardSample(text, "gateway_requests_total", map[string]string{"route": "resolver", "service": "unknown", "handler": "rpc", "status": "404"}); v != "1" {
		t.Errorf("the unknown service counted %q times as service=\"unknown\", want 1:\n%s", v, hardGrep(text, "gateway_requests_total"))
	}
	if strings.Contains(text, "nosuchsvcxyz") {
		t.Errorf("a client-invented service name became a label:\n%s", hardGrep(text, "nosuchsvcxyz"))
	}
	for _, m := range []string{"gateway_request_duration_seconds_bucket", "gateway_requests_in_flight", "gateway_breaker_state", "gateway_registry_stale_seconds"} {
		if !strings.Contains(text, m) {
			t.Errorf("no %s in /metrics", m)
		}
	}
	cancel()
	<-held
	testwait.Until(t, 5*time.Second, "the in-flight gauge to drop", func() bool {
		return hardSample(hardScrape(t, g.client, g.url+"/metrics"), "gateway_requests_in_flight", slow) == "0"
	})
}

// hardGrep returns the lines of text containing s (for failure messages).
func hardGrep(text, s string) string {
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// hardFreeAddr returns a loopback address that was free a moment ago.
func hardFreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// TestHardeningAdmin: the admin listener serves metrics, and pprof only when enabled; pprof is
// never on the main listener.
func TestHardeningAdmin(t *testing.T) {
	t.Parallel()
	srv := testsvc.Start(t, "n1")
	get := func(t *testing.T, client *http.Client, url string) (int, string) {
		t.Helper()
		res, err := client.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, pprof := range []bool{true, false} {
		t.Run(fmt.Sprintf("pprof=%v", pprof), func(t *testing.T) {
			t.Parallel()
			admin := hardFreeAddr(t)
			g := startGateway(t, gatewayYAML(fmt.Sprintf("observability:\n  admin_address: %q\n  pprof: %v\n", admin, pprof), svc(echoService, srv.Addr)))
			code, body := get(t, g.client, "http://"+admin+"/debug/pprof/")
			switch {
			case pprof && (code != http.StatusOK || !strings.Contains(body, "goroutine")):
				t.Errorf("admin /debug/pprof/ with pprof on: %d %.200s", code, body)
			case !pprof && code != http.StatusNotFound:
				t.Errorf("admin /debug/pprof/ with pprof off: %d, want 404", code)
			}
			if code, body := get(t, g.client, "http://"+admin+"/metrics"); code != http.StatusOK || !strings.Contains(body, "gateway_requests_total") && !strings.Contains(body, "go_goroutines") {
				t.Errorf("admin /metrics: %d %.200s", code, body)
			}
			for _, p := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline"} {
				code, body := get(t, g.client, g.url+p)
				if code == http.StatusOK || strings.Contains(body, "goroutine profile") {
					t.Errorf("main listener %s: %d %.200s", p, code, body)
				}
			}
		})
	}
}

// hardPKI is a CA with a server certificate for 127.0.0.1 and a client certificate, as PEM files.
type hardPKI struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
	client                    tls.Certificate // signed by the CA
	stranger                  tls.Certificate // self-signed, not by the CA
}

func newHardPKI(t *testing.T) *hardPKI {
	t.Helper()
	dir := t.TempDir()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	serial := int64(0)
	issue := func(tmpl *x509.Certificate, key *ecdsa.PrivateKey, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) *x509.Certificate {
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore = time.Now().Add(-time.Hour)
		tmpl.NotAfter = time.Now().Add(time.Hour)
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	pair := func(c *x509.Certificate, k *ecdsa.PrivateKey) tls.Certificate {
		return tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: k, Leaf: c}
	}

	caKey := newKey()
	ca := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "hardening CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}, caKey, nil, nil)
	srvKey := newKey()
	srvCert := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "gateway"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, srvKey, ca, caKey)
	cliKey := newKey()
	cliCert := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "client"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, cliKey, ca, caKey)
	strKey := newKey()
	strCert := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "stranger"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, strKey, nil, nil)

	p := &hardPKI{
		caFile:   write("ca.pem", "CERTIFICATE", ca.Raw),
		certFile: write("server.pem", "CERTIFICATE", srvCert.Raw),
		keyFile:  write("server-key.pem", "PRIVATE KEY", keyDER(srvKey)),
		pool:     x509.NewCertPool(),
		client:   pair(cliCert, cliKey),
		stranger: pair(strCert, strKey),
	}
	p.pool.AddCert(ca)
	return p
}

// hardStartTLS is startGateway for an HTTPS gateway: client must trust the server's certificate
// (and present a client certificate when the config asks for one).
func hardStartTLS(t *testing.T, yaml string, client *http.Client) *testGateway {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("config.Parse:\n%s\n%v", yaml, err)
	}
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("GATEWAY_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	gw, err := newGateway(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatalf("newGateway: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	g := &testGateway{url: "https://" + ln.Addr().String(), gw: gw, client: client, cancel: cancel, done: make(chan error, 1)}
	go func() { g.done <- gw.serve(ctx, ln) }()
	t.Cleanup(func() {
		if err := g.stop(); err != nil {
			t.Errorf("serve returned %v", err)
		}
	})
	testwait.Until(t, 5*time.Second, "TLS gateway ready", func() bool {
		res, err := client.Get(g.url + "/health/ready")
		if err != nil {
			return false
		}
		_ = res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	return g
}

// hardTLSClient trusts pool, speaks TLS versions [minV, maxV] and presents certs.
func hardTLSClient(pool *x509.CertPool, minV, maxV uint16, certs ...tls.Certificate) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: pool, MinVersion: minV, MaxVersion: maxV, Certificates: certs,
		}},
	}
}

// TestHardeningTLS: server.tls serves HTTPS (TLS 1.2 or later, older clients refused) and, with
// client_ca_file, requires a client certificate signed by that CA.
func TestHardeningTLS(t *testing.T) {
	t.Parallel()
	srv := testsvc.Start(t, "n1")
	pki := newHardPKI(t)

	t.Run("server certificate", func(t *testing.T) {
		t.Parallel()
		client := hardTLSClient(pki.pool, tls.VersionTLS12, 0)
		defer client.CloseIdleConnections()
		g := hardStartTLS(t, gatewayYAML(fmt.Sprintf("server:\n  tls:\n    cert_file: %q\n    key_file: %q\n", pki.certFile, pki.keyFile),
			svc(echoService, srv.Addr)), client)
		wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{}`))

		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			c := hardTLSClient(pki.pool, v, v)
			res, err := c.Get(g.url + "/health/live")
			if err != nil {
				t.Errorf("%s client: %v", tls.VersionName(v), err)
				continue
			}
			if res.TLS == nil || res.TLS.Version != v {
				t.Errorf("%s client: negotiated %v", tls.VersionName(v), res.TLS)
			}
			_ = res.Body.Close()
			c.CloseIdleConnections()
		}
		for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
			c := hardTLSClient(pki.pool, v, v)
			res, err := c.Get(g.url + "/health/live")
			if err == nil {
				_ = res.Body.Close()
				t.Errorf("a %s client was served", tls.VersionName(v))
			} else if !strings.Contains(err.Error(), "protocol version") {
				t.Errorf("a %s client failed for another reason than the version: %v", tls.VersionName(v), err)
			}
		}
		// Plain HTTP on the TLS port gets no answer from the router.
		res, err := (&http.Client{Timeout: 5 * time.Second}).Get(strings.Replace(g.url, "https://", "http://", 1) + "/health/live")
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				t.Error("plain HTTP was served on the TLS listener")
			}
		}
		// An untrusting client refuses the gateway.
		if res, err := (&http.Client{Timeout: 5 * time.Second}).Get(g.url + "/health/live"); err == nil {
			_ = res.Body.Close()
			t.Error("a client that does not trust the CA accepted the certificate")
		}
	})

	t.Run("client certificates", func(t *testing.T) {
		t.Parallel()
		// Its own backend: the other subtests run in parallel, and their calls would count here.
		srv := testsvc.Start(t, "tls-client-certs")
		client := hardTLSClient(pki.pool, tls.VersionTLS12, 0, pki.client)
		defer client.CloseIdleConnections()
		g := hardStartTLS(t, gatewayYAML(fmt.Sprintf("server:\n  tls:\n    cert_file: %q\n    key_file: %q\n    client_ca_file: %q\n",
			pki.certFile, pki.keyFile, pki.caFile), svc(echoService, srv.Addr)), client)
		wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{}`))

		before := srv.Calls()
		for name, c := range map[string]*http.Client{
			"no certificate":       hardTLSClient(pki.pool, tls.VersionTLS12, 0),
			"not signed by the CA": hardTLSClient(pki.pool, tls.VersionTLS12, 0, pki.stranger),
			"no certificate, 1.2":  hardTLSClient(pki.pool, tls.VersionTLS12, tls.VersionTLS12),
		} {
			res, err := c.Post(g.url+"/echoservice/Echo/Unary", "application/json", strings.NewReader(`{}`))
			if err == nil {
				_ = res.Body.Close()
				t.Errorf("%s: served with %d", name, res.StatusCode)
			}
			c.CloseIdleConnections()
		}
		if n := srv.Calls() - before; n != 0 {
			t.Errorf("refused clients reached the backend (%d calls)", n)
		}
	})
}

// TestHardeningReload: gateway.reload swaps in a routing built from the new config; a config
// that cannot be built is rejected and the running one keeps serving; a call in flight across a
// reload completes.
func TestHardeningReload(t *testing.T) {
	t.Parallel()
	srv := testsvc.Start(t, "n1")
	routes := func(paths ...string) string {
		var b strings.Builder
		b.WriteString("routes:\n")
		for _, p := range paths {
			fmt.Fprintf(&b, "  - path: %s\n    service: %s\n    endpoint: Echo.Unary\n", p, echoService)
		}
		return b.String()
	}
	parse := func(t *testing.T, yaml string) config.Config {
		t.Helper()
		cfg, err := config.Parse([]byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	g := startGateway(t, gatewayYAML(routes("/before"), svc(echoService, srv.Addr)))
	wantOK(t, g.post(t, "/before", `{}`))
	wantError(t, g.post(t, "/after", `{}`), http.StatusNotFound, "")
	ctx := context.Background()

	// A call in flight across the reload finishes on the routing it started with.
	inflight := make(chan reply, 1)
	go func() {
		code, body, err := g.tryPost("/echoservice/Echo/Slow", `{"millis":400}`)
		if err != nil {
			body = err.Error()
		}
		inflight <- reply{code: code, body: []byte(body)}
	}()
	select {
	case <-srv.SlowStarted():
	case <-time.After(5 * time.Second):
		t.Fatal("the Slow call never reached the backend")
	}
	good := parse(t, gatewayYAML(routes("/before", "/after"), svc(echoService, srv.Addr)))
	if err := g.gw.reload(ctx, func() (config.Config, error) { return good, nil }); err != nil {
		t.Fatalf("reload: %v", err)
	}
	wantOK(t, g.post(t, "/after", `{}`))
	wantOK(t, g.post(t, "/before", `{}`))
	if r := <-inflight; r.code != http.StatusOK {
		t.Errorf("call in flight across the reload: %s", r)
	}
	if n := srv.SlowCancels(); n != 0 {
		t.Errorf("the reload cancelled %d backend calls", n)
	}

	// Configs that cannot be built are rejected; the running routing stays.
	withRoute := func(r config.Route) config.Config {
		c := parse(t, gatewayYAML(routes("/before", "/after"), svc(echoService, srv.Addr)))
		c.Routes = append(c.Routes, r)
		return c
	}
	noEvents := withRoute(config.Route{Path: "/events/*", Handler: "event"})
	for _, tc := range []struct {
		name string
		load func() (config.Config, error)
	}{
		{"loader error", func() (config.Config, error) {
			return config.Config{}, errors.New("config.yaml: line 3: bad indentation")
		}},
		{"unknown auth policy", func() (config.Config, error) {
			return withRoute(config.Route{Path: "/ghost", Handler: "rpc", Service: echoService, Endpoint: "Echo.Unary", Auth: "ghost"}), nil
		}},
		{"unknown handler", func() (config.Config, error) {
			return withRoute(config.Route{Path: "/ghost", Handler: "soap", Service: echoService}), nil
		}},
		{"duplicate route", func() (config.Config, error) {
			return withRoute(config.Route{Path: "/before", Handler: "rpc", Service: echoService, Endpoint: "Echo.Unary"}), nil
		}},
		{"events without a broker", func() (config.Config, error) { return noEvents, nil }},
		{"rpc route without a service", func() (config.Config, error) {
			return withRoute(config.Route{Path: "/ghost", Handler: "rpc", Endpoint: "Echo.Unary"}), nil
		}},
		{"negative rate limit", func() (config.Config, error) {
			return withRoute(config.Route{Path: "/ghost", Handler: "rpc", Service: echoService, Endpoint: "Echo.Unary", RateLimit: config.RateLimit{Rate: -1}}), nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := g.gw.reload(ctx, tc.load); err == nil {
				t.Errorf("reload accepted the config")
			}
			wantOK(t, g.post(t, "/before", `{}`))
			wantOK(t, g.post(t, "/after", `{}`))
			if r := g.post(t, "/ghost", `{}`); r.code != http.StatusNotFound {
				t.Errorf("/ghost after a rejected reload: %s, want the old routing's 404", r)
			}
		})
	}

	// Dropping a route by reload takes effect too.
	only := parse(t, gatewayYAML(routes("/after"), svc(echoService, srv.Addr)))
	if err := g.gw.reload(ctx, func() (config.Config, error) { return only, nil }); err != nil {
		t.Fatalf("reload: %v", err)
	}
	wantError(t, g.post(t, "/before", `{}`), http.StatusNotFound, "")
	wantOK(t, g.post(t, "/after", `{}`))
}

// TestHardeningDrainDelay: once serve's context is cancelled (SIGTERM), /health/ready answers
// 503 at once while ordinary requests are still served for the drain delay; then serve returns.
func TestHardeningDrainDelay(t *testing.T) {
	t.Parallel()
	srv := testsvc.Start(t, "n1")
	g := startGateway(t, gatewayYAML("server:\n  drain_delay: 1s\n", svc(echoService, srv.Addr)))
	wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{}`))

	stopped := make(chan error, 1)
	go func() { stopped <- g.stop() }()
	// A separate client: new connections, as a load balancer's health checker would use.
	probe := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var ready reply
	testwait.Until(t, 5*time.Second, "readiness to fail", func() bool {
		res, err := probe.Get(g.url + "/health/ready")
		if err != nil {
			t.Fatalf("readiness probe: %v (the gateway stopped before readiness failed)", err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		ready = reply{code: res.StatusCode, header: res.Header, body: b}
		return res.StatusCode == http.StatusServiceUnavailable
	})
	if !strings.Contains(string(ready.body), "shutting down") {
		t.Errorf("readiness while draining: %s", ready)
	}
	// Still serving: on the old keep-alive connections and on new ones.
	wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{}`))
	res, err := probe.Post(g.url+"/echoservice/Echo/Unary", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatalf("a new connection during the drain delay: %v", err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("a new connection during the drain delay: %d", res.StatusCode)
	}
	if live, err := probe.Get(g.url + "/health/live"); err != nil || live.StatusCode != http.StatusOK {
		t.Errorf("liveness during the drain delay: %v %v", live, err)
	} else {
		_ = live.Body.Close()
	}

	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not return after the drain delay")
	}
}
