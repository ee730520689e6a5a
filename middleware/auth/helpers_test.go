package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Keys shared by the tests: RSA generation is slow, so each is made once.
var (
	rsaKey      = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(2048) })
	otherRSAKey = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(2048) })
	ecKey       = sync.OnceValue(func() *ecdsa.PrivateKey { return mustEC() })
	otherECKey  = sync.OnceValue(func() *ecdsa.PrivateKey { return mustEC() })
	hmacSecret  = sync.OnceValue(func() []byte { return randomBytes(32) })
)

func mustRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return k
}

func mustEC() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// t0 is the tests' "now".
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is an adjustable time source.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func fixedNow() time.Time { return t0 }

func enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func jsonSeg(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return enc(b)
}

// sign builds a compact JWS of claims with header hdr (alg taken from hdr), signed with key:
// []byte for HS256, *rsa.PrivateKey for RS256, *ecdsa.PrivateKey for ES256, nil for no signature.
func sign(hdr map[string]any, claims any, key any) string {
	input := jsonSeg(hdr) + "." + jsonSeg(claims)
	return input + "." + enc(rawSig(input, key))
}

func rawSig(input string, key any) []byte {
	h := sha256.Sum256([]byte(input))
	switch k := key.(type) {
	case nil:
		return nil
	case []byte:
		m := hmac.New(sha256.New, k)
		m.Write([]byte(input))
		return m.Sum(nil)
	case *rsa.PrivateKey:
		sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, h[:])
		if err != nil {
			panic(err)
		}
		return sig
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, h[:])
		if err != nil {
			panic(err)
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	}
	panic("unknown key type")
}

// hdr makes a JOSE header; kid is omitted when empty.
func hdr(alg, kid string) map[string]any {
	h := map[string]any{"alg": alg, "typ": "JWT"}
	if kid != "" {
		h["kid"] = kid
	}
	return h
}

// claims returns valid claims for the tests' policies, with overrides (nil deletes).
func claims(over map[string]any) map[string]any {
	c := map[string]any{
		"sub": "user-1",
		"iss": "https://id.example.com/",
		"aud": "orders",
		"exp": t0.Add(time.Hour).Unix(),
		"iat": t0.Add(-time.Minute).Unix(),
	}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func pemPublic(pub any) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// jwkOf renders a public key as a JWK with kid.
func jwkOf(kid string, pub any) map[string]any {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
			"n": enc(p.N.Bytes()), "e": enc(big.NewInt(int64(p.E)).Bytes())}
	case *ecdsa.PublicKey:
		b, err := p.Bytes()
		if err != nil {
			panic(err)
		}
		return map[string]any{"kty": "EC", "kid": kid, "crv": "P-256", "x": enc(b[1:33]), "y": enc(b[33:])}
	}
	panic("unknown key type")
}

func jwksDoc(keys ...map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		panic(err)
	}
	return b
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// basePolicy is a JWT policy with all three algs as static keys, iss and aud checks.
func basePolicy() Config {
	return Config{
		JWT: &JWTConfig{
			Keys: []Key{
				{ID: "hs", Secret: string(hmacSecret())},
				{ID: "rs", PEM: pemPublic(&rsaKey().PublicKey)},
				{ID: "es", PEM: pemPublic(&ecKey().PublicKey)},
			},
			Issuer:        "https://id.example.com/",
			Audience:      []string{"orders", "billing"},
			ForwardClaims: []string{"sub", "email", "roles", "n", "ok", "obj", "name"},
		},
		Now: fixedNow,
	}
}

func mustAuth(t testing.TB, cfg Config) *Authenticator {
	t.Helper()
	a, err := NewAuthenticator(cfg, discardLog())
	if err != nil {
		t.Fatalf("NewAuthenticator: %v", err)
	}
	return a
}

// result is what a request produced: the response, and the request the backend saw (nil when
// the middleware refused it).
type result struct {
	w       *httptest.ResponseRecorder
	backend *http.Request
}

func serve(a *Authenticator, r *http.Request) result {
	var res result
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res.backend = r
		w.WriteHeader(http.StatusNoContent)
	}))
	res.w = httptest.NewRecorder()
	h.ServeHTTP(res.w, r)
	return res
}

func bearer(tok string) *http.Request {
	r := httptest.NewRequest("GET", "/orders/1", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

// errorBody is the gateway's JSON error body.
type errorBody struct {
	ID     string `json:"id"`
	Code   int    `json:"code"`
	Detail string `json:"detail"`
	Status string `json:"status"`
}

func decodeError(t *testing.T, w *httptest.ResponseRecorder) errorBody {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	var b errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body %q: %v", w.Body.String(), err)
	}
	if b.ID != "gateway" || b.Code != w.Code || b.Status != http.StatusText(w.Code) {
		t.Fatalf("error body %+v does not match status %d", b, w.Code)
	}
	return b
}
