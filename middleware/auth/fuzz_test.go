package auth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzParseToken feeds arbitrary strings as bearer tokens: nothing panics and nothing verifies.
// The seeds are validly signed tokens that have expired, and broken ones.
func FuzzParseToken(f *testing.F) {
	old := claims(map[string]any{"exp": t0.Add(-time.Hour).Unix()})
	good := sign(hdr("RS256", "rs"), old, rsaKey())
	p := strings.Split(good, ".")
	for _, seed := range []string{
		good,
		sign(hdr("HS256", "hs"), old, hmacSecret()),
		sign(hdr("ES256", "es"), old, ecKey()),
		sign(hdr("ES256", ""), old, ecKey()),
		sign(hdr("HS256", "rs"), old, []byte(pemPublic(&rsaKey().PublicKey))),
		jsonSeg(hdr("none", "")) + "." + p[1] + ".",
		p[0] + "." + p[1],
		p[0] + ".." + p[2],
		"a.b.c.d.e",
		"", ".", "..", "...",
		"eyJhbGciOiJIUzI1NiJ9.e30.AAAA",
		enc([]byte(`{"alg":"HS256","crit":["b64"]}`)) + ".e30.AAAA",
		enc([]byte(`{"alg":"RS256","kid":{"a":1}}`)) + ".e30.AAAA",
		enc([]byte(`{"alg":"RS256"`)) + ".e30.AAAA",
	} {
		f.Add(seed)
	}
	a := mustAuth(f, basePolicy())
	f.Fuzz(func(t *testing.T, s string) {
		if tok, err := parseToken(s); err == nil {
			if !strings.HasPrefix(s, string(tok.input)+".") || tok.alg == "" {
				t.Fatalf("parseToken(%q) = %+v", s, tok)
			}
		}
		if c, err := a.jwt.verify(t.Context(), s); err == nil {
			t.Fatalf("token %q verified with claims %v", s, c)
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{"Bearer " + s}
		res := serve(a, r)
		if res.backend != nil || res.w.Code != http.StatusUnauthorized {
			t.Fatalf("token %q: status %d, backend reached %v", s, res.w.Code, res.backend != nil)
		}
		if ch := res.w.Header().Get("WWW-Authenticate"); strings.ContainsAny(ch, "\r\n") || !strings.HasPrefix(ch, "Bearer ") {
			t.Fatalf("WWW-Authenticate %q", ch)
		}
	})
}

// FuzzSignedClaims signs arbitrary payloads with the policy's own secret: the claim checks and
// the forwarding never panic, an accepted token meets every rule, and whatever is forwarded is
// carriable as gRPC text metadata.
func FuzzSignedClaims(f *testing.F) {
	for _, seed := range []string{
		`{"sub":"u","iss":"https://id.example.com/","aud":"orders","exp":1900000000}`,
		`{"sub":"u","iss":"https://id.example.com/","aud":["x","billing"],"exp":1.9e9,"nbf":1e9,"roles":["a",{"b":[1,2]}],"email":null}`,
		`{"iss":"https://id.example.com/","aud":"orders","exp":"1900000000"}`,
		`{"iss":"https://id.example.com/","aud":"orders","exp":1e400}`,
		`{"iss":"https://id.example.com/","aud":"orders","exp":-1e400,"nbf":1e999}`,
		`{"iss":"https://id.example.com/","aud":"orders","exp":1900000000,"name":"\u00e9\u0000"}`,
		`[]`, `null`, `{}`, `{"exp":1900000000}{}`,
	} {
		f.Add([]byte(seed))
	}
	a := mustAuth(f, basePolicy())
	f.Fuzz(func(t *testing.T, payload []byte) {
		input := jsonSeg(hdr("HS256", "hs")) + "." + enc(payload)
		tok := input + "." + enc(rawSig(input, hmacSecret()))
		res := serve(a, bearer(tok))
		if res.backend == nil {
			if res.w.Code != http.StatusUnauthorized {
				t.Fatalf("refused with status %d", res.w.Code)
			}
			return
		}
		c, ok := ClaimsFrom(res.backend.Context())
		if !ok {
			t.Fatal("accepted without claims")
		}
		exp, hasExp, err := numericDate(c, "exp")
		if err != nil || !hasExp || !t0.Before(exp) {
			t.Fatalf("accepted exp %v (%v, %v)", c["exp"], hasExp, err)
		}
		if c.Issuer() != "https://id.example.com/" {
			t.Fatalf("accepted iss %v", c["iss"])
		}
		for k, vs := range res.backend.Header {
			if !strings.HasPrefix(k, ClaimHeaderPrefix) {
				continue
			}
			for _, v := range vs {
				if !printable(v) || len(v) > maxForwardedValue {
					t.Fatalf("forwarded %s: %q", k, v)
				}
			}
		}
	})
}

// FuzzAPIKeyHeader sends arbitrary X-API-Key and Authorization values: nothing panics, a known
// key alone is accepted, anything accepted names the key that was sent, and the key never
// reaches the backend.
func FuzzAPIKeyHeader(f *testing.F) {
	for _, seed := range [][2]string{
		{"key-billing", ""}, {"", "ApiKey key-ops"}, {" key-reports ", ""}, {"key-billing", "ApiKey key-ops"},
		{"", "apikey"}, {"", "ApiKey  "}, {"key-bil", ""}, {"\x00", "Bearer x"}, {strings.Repeat("k", 5000), ""},
	} {
		f.Add(seed[0], seed[1])
	}
	a := mustAuth(f, apiKeyPolicy())
	known := map[string]string{"key-billing": "billing-batch", "key-reports": "reports", "key-ops": "team/ops"}
	f.Fuzz(func(t *testing.T, header, authz string) {
		r := httptest.NewRequest("GET", "/", nil)
		if header != "" {
			r.Header["X-Api-Key"] = []string{header}
		}
		if authz != "" {
			r.Header["Authorization"] = []string{authz}
		}
		res := serve(a, r)
		if res.backend == nil {
			if _, ok := known[header]; ok && authz == "" {
				t.Fatalf("known key %q refused: %d", header, res.w.Code)
			}
			if res.w.Code != http.StatusUnauthorized && res.w.Code != http.StatusBadRequest {
				t.Fatalf("status %d", res.w.Code)
			}
			return
		}
		name := res.backend.Header.Get(APIKeyNameHeader)
		sent := strings.Trim(header, " \t")
		if header == "" {
			_, sent, _ = strings.Cut(strings.Trim(authz, " \t"), " ")
			sent = strings.TrimLeft(sent, " \t")
		}
		if known[sent] == "" || known[sent] != name {
			t.Fatalf("accepted %q / %q as %q", header, authz, name)
		}
		if res.backend.Header.Get("X-Api-Key") != "" || (header == "" && res.backend.Header.Get("Authorization") != "") {
			t.Fatal("the key reached the backend")
		}
	})
}
