package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestJWTValid(t *testing.T) {
	a := mustAuth(t, basePolicy())
	cases := []struct {
		name string
		tok  string
	}{
		{"HS256 with kid", sign(hdr("HS256", "hs"), claims(nil), hmacSecret())},
		{"HS256 without kid", sign(hdr("HS256", ""), claims(nil), hmacSecret())},
		{"RS256 with kid", sign(hdr("RS256", "rs"), claims(nil), rsaKey())},
		{"RS256 without kid", sign(hdr("RS256", ""), claims(nil), rsaKey())},
		{"ES256 with kid", sign(hdr("ES256", "es"), claims(nil), ecKey())},
		{"ES256 without kid", sign(hdr("ES256", ""), claims(nil), ecKey())},
		{"aud array with one match", sign(hdr("ES256", "es"), claims(map[string]any{"aud": []string{"x", "billing"}}), ecKey())},
		{"nbf in the past", sign(hdr("RS256", "rs"), claims(map[string]any{"nbf": t0.Add(-time.Second).Unix()}), rsaKey())},
		{"nbf now", sign(hdr("RS256", "rs"), claims(map[string]any{"nbf": t0.Unix()}), rsaKey())},
		{"fractional exp", sign(hdr("HS256", "hs"), claims(map[string]any{"exp": float64(t0.Unix()) + 0.5}), hmacSecret())},
		{"exp one second ahead", sign(hdr("HS256", "hs"), claims(map[string]any{"exp": t0.Unix() + 1}), hmacSecret())},
		{"lower-case scheme", ""}, // filled below
	}
	cases[len(cases)-1].tok = sign(hdr("HS256", "hs"), claims(nil), hmacSecret())
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := bearer(tc.tok)
			if i == len(cases)-1 {
				r.Header.Set("Authorization", "bearer "+tc.tok)
			}
			res := serve(a, r)
			if res.w.Code != http.StatusNoContent {
				t.Fatalf("status %d, body %s", res.w.Code, res.w.Body)
			}
			c, ok := ClaimsFrom(res.backend.Context())
			if !ok || c.Subject() != "user-1" || c.Issuer() != "https://id.example.com/" {
				t.Fatalf("claims in context: %v %v", c, ok)
			}
			if got := res.backend.Header.Get("Grpc-Metadata-X-Jwt-Sub"); got != "user-1" {
				t.Errorf("forwarded sub %q", got)
			}
			if got := res.backend.Header.Get("Authorization"); got == "" {
				t.Error("Authorization removed; the bearer token stays for the backend")
			}
		})
	}
}

func TestJWTFailures(t *testing.T) {
	a := mustAuth(t, basePolicy())
	good := sign(hdr("RS256", "rs"), claims(nil), rsaKey())
	parts := strings.Split(good, ".")
	rsaPEM := []byte(pemPublic(&rsaKey().PublicKey))
	rsaDER, _ := x509.MarshalPKIXPublicKey(&rsaKey().PublicKey)

	// A DER (ASN.1) ECDSA signature instead of JWS r||s.
	esInput := jsonSeg(hdr("ES256", "es")) + "." + jsonSeg(claims(nil))
	rs := rawSig(esInput, ecKey())
	der, _ := asn1Sig(rs)

	cases := []struct {
		name   string
		policy func(*Config)
		tok    string
		want   error
		status int
	}{
		{"expired", nil, sign(hdr("RS256", "rs"), claims(map[string]any{"exp": t0.Add(-time.Second).Unix()}), rsaKey()), ErrExpired, 401},
		{"expired exactly now", nil, sign(hdr("HS256", "hs"), claims(map[string]any{"exp": t0.Unix()}), hmacSecret()), ErrExpired, 401},
		{"not yet valid", nil, sign(hdr("RS256", "rs"), claims(map[string]any{"nbf": t0.Add(time.Minute).Unix()}), rsaKey()), ErrNotYetValid, 401},
		{"expired beyond leeway", func(c *Config) { c.JWT.Leeway = 30 * time.Second },
			sign(hdr("ES256", "es"), claims(map[string]any{"exp": t0.Add(-31 * time.Second).Unix()}), ecKey()), ErrExpired, 401},
		{"wrong audience", nil, sign(hdr("RS256", "rs"), claims(map[string]any{"aud": "payments"}), rsaKey()), ErrAudience, 401},
		{"wrong audience array", nil, sign(hdr("RS256", "rs"), claims(map[string]any{"aud": []string{"a", "b"}}), rsaKey()), ErrAudience, 401},
		{"no audience", nil, sign(hdr("RS256", "rs"), claims(map[string]any{"aud": nil}), rsaKey()), ErrAudience, 401},
		{"audience of wrong type", nil, sign(hdr("RS256", "rs"), claims(map[string]any{"aud": 7}), rsaKey()), ErrClaims, 401},
		{"wrong issuer", nil, sign(hdr("RS256", "rs"), claims(map[string]any{"iss": "https://evil.example.com/"}), rsaKey()), ErrIssuer, 401},
		{"no issuer", nil, sign(hdr("RS256", "rs"), claims(map[string]any{"iss": nil}), rsaKey()), ErrIssuer, 401},
		{"no exp", nil, sign(hdr("RS256", "rs"), claims(map[string]any{"exp": nil}), rsaKey()), ErrClaims, 401},
		{"exp is a string", nil, sign(hdr("RS256", "rs"), claims(map[string]any{"exp": "9999999999"}), rsaKey()), ErrClaims, 401},
		{"nbf is a bool", nil, sign(hdr("RS256", "rs"), claims(map[string]any{"nbf": true}), rsaKey()), ErrClaims, 401},
		{"payload is an array", nil, sign(hdr("HS256", "hs"), []int{1}, hmacSecret()), ErrClaims, 401},
		{"alg none", nil, sign(hdr("none", ""), claims(nil), nil) + "", ErrMalformedToken, 401}, // no signature at all
		{"alg none with a signature segment", nil, jsonSeg(hdr("none", "")) + "." + jsonSeg(claims(nil)) + ".AAAA", ErrAlgorithm, 401},
		{"alg None", nil, jsonSeg(hdr("None", "")) + "." + jsonSeg(claims(nil)) + ".AAAA", ErrAlgorithm, 401},
		{"alg not implemented", nil, jsonSeg(hdr("HS512", "hs")) + "." + jsonSeg(claims(nil)) + ".AAAA", ErrAlgorithm, 401},
		{"alg not in allow-list", func(c *Config) { c.JWT.Algorithms = []string{"RS256"}; c.JWT.Keys = c.JWT.Keys[1:2] },
			sign(hdr("ES256", "es"), claims(nil), ecKey()), ErrAlgorithm, 401},
		{"HS256 signed with the RSA public key PEM, RS256-only policy", func(c *Config) { c.JWT.Keys = c.JWT.Keys[1:2] },
			sign(hdr("HS256", "rs"), claims(nil), rsaPEM), ErrAlgorithm, 401},
		{"HS256 signed with the RSA public key PEM, kid of the RSA key", nil,
			sign(hdr("HS256", "rs"), claims(nil), rsaPEM), ErrKeyMismatch, 401},
		{"HS256 signed with the RSA public key DER, no kid", nil,
			sign(hdr("HS256", ""), claims(nil), rsaDER), ErrSignature, 401},
		{"HS256 signed with the RSA PEM, HS256 explicitly allowed", func(c *Config) { c.JWT.Algorithms = []string{"HS256", "RS256", "ES256"} },
			sign(hdr("HS256", "rs"), claims(nil), rsaPEM), ErrKeyMismatch, 401},
		{"RS256 token claiming the ES256 key", nil, sign(hdr("RS256", "es"), claims(nil), rsaKey()), ErrKeyMismatch, 401},
		{"unknown kid", nil, sign(hdr("RS256", "nope"), claims(nil), rsaKey()), ErrUnknownKey, 401},
		{"signed by another RSA key", nil, sign(hdr("RS256", "rs"), claims(nil), otherRSAKey()), ErrSignature, 401},
		{"signed by another EC key", nil, sign(hdr("ES256", "es"), claims(nil), otherECKey()), ErrSignature, 401},
		{"signed by another secret", nil, sign(hdr("HS256", "hs"), claims(nil), randomBytes(32)), ErrSignature, 401},
		{"tampered payload", nil, parts[0] + "." + jsonSeg(claims(map[string]any{"sub": "admin"})) + "." + parts[2], ErrSignature, 401},
		{"tampered header", nil, jsonSeg(map[string]any{"alg": "RS256", "kid": "rs", "typ": "at+jwt"}) + "." + parts[1] + "." + parts[2], ErrSignature, 401},
		{"truncated signature", nil, parts[0] + "." + parts[1] + "." + parts[2][:20], ErrSignature, 401},
		{"ES256 DER signature", nil, esInput + "." + enc(der), ErrSignature, 401},
		{"two segments", nil, parts[0] + "." + parts[1], ErrMalformedToken, 401},
		{"four segments", nil, good + ".x", ErrMalformedToken, 401},
		{"JWE, five segments", nil, "a.b.c.d.e", ErrMalformedToken, 401},
		{"empty token", nil, "", ErrMalformedToken, 401},
		{"dots only", nil, "..", ErrMalformedToken, 401},
		{"empty payload", nil, parts[0] + ".." + parts[2], ErrMalformedToken, 401},
		{"bad base64 header", nil, "e*J." + parts[1] + "." + parts[2], ErrMalformedToken, 401},
		{"bad base64 payload", nil, parts[0] + ".e!y." + parts[2], ErrMalformedToken, 401},
		{"bad base64 signature", nil, parts[0] + "." + parts[1] + ".%%%", ErrMalformedToken, 401},
		{"padded base64", nil, parts[0] + "=." + parts[1] + "." + parts[2], ErrMalformedToken, 401},
		{"standard base64 alphabet", nil, parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[2]) + "+/", ErrMalformedToken, 401},
		{"header not JSON", nil, enc([]byte("nope")) + "." + parts[1] + "." + parts[2], ErrMalformedToken, 401},
		{"header JSON with trailing data", nil, enc([]byte(`{"alg":"RS256"}{}`)) + "." + parts[1] + "." + parts[2], ErrMalformedToken, 401},
		{"header without alg", nil, jsonSeg(map[string]any{"kid": "rs"}) + "." + parts[1] + "." + parts[2], ErrMalformedToken, 401},
		{"alg not a string", nil, jsonSeg(map[string]any{"alg": 1}) + "." + parts[1] + "." + parts[2], ErrMalformedToken, 401},
		{"kid not a string", nil, jsonSeg(map[string]any{"alg": "RS256", "kid": []int{1}}) + "." + parts[1] + "." + parts[2], ErrMalformedToken, 401},
		{"crit header", nil, sign(map[string]any{"alg": "RS256", "kid": "rs", "crit": []string{"exp"}}, claims(nil), rsaKey()), ErrMalformedToken, 401},
		{"too long", nil, sign(hdr("HS256", "hs"), claims(map[string]any{"pad": strings.Repeat("a", maxTokenBytes)}), hmacSecret()), ErrMalformedToken, 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			aa := a
			if tc.policy != nil {
				cfg := basePolicy()
				tc.policy(&cfg)
				aa = mustAuth(t, cfg)
			}
			_, err := aa.jwt.verify(t.Context(), tc.tok)
			if !errors.Is(err, tc.want) {
				t.Fatalf("verify: %v, want %v", err, tc.want)
			}
			res := serve(aa, bearer(tc.tok))
			if res.w.Code != tc.status || res.backend != nil {
				t.Fatalf("status %d (backend reached: %v), want %d", res.w.Code, res.backend != nil, tc.status)
			}
			body := decodeError(t, res.w)
			if !strings.Contains(body.Detail, tc.want.Error()) {
				t.Errorf("detail %q does not name the reason %q", body.Detail, tc.want)
			}
			ch := res.w.Header().Get("WWW-Authenticate")
			if !strings.HasPrefix(ch, `Bearer realm="gateway", error="invalid_token", error_description="`) ||
				!strings.Contains(ch, tc.want.Error()) {
				t.Errorf("WWW-Authenticate %q", ch)
			}
			for _, seg := range strings.Split(tc.tok, ".") {
				if len(seg) >= 8 && (strings.Contains(body.Detail, seg) || strings.Contains(ch, seg)) {
					t.Errorf("response echoes the token: %q / %q", body.Detail, ch)
				}
			}
		})
	}
}

// asn1Sig re-encodes an r||s signature as the DER ECDSA-Sig-Value some libraries emit.
func asn1Sig(rs []byte) ([]byte, error) {
	r := new(big.Int).SetBytes(rs[:32])
	s := new(big.Int).SetBytes(rs[32:])
	return ecdsaDER(r, s), nil
}

func ecdsaDER(r, s *big.Int) []byte {
	intDER := func(i *big.Int) []byte {
		b := i.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return append([]byte{0x02, byte(len(b))}, b...)
	}
	body := append(intDER(r), intDER(s)...)
	return append([]byte{0x30, byte(len(body))}, body...)
}

func TestJWTLeeway(t *testing.T) {
	cfg := basePolicy()
	cfg.JWT.Leeway = 30 * time.Second
	a := mustAuth(t, cfg)
	cases := []struct {
		name string
		over map[string]any
		want error
	}{
		{"expired 29s ago", map[string]any{"exp": t0.Add(-29 * time.Second).Unix()}, nil},
		{"expired 30s ago", map[string]any{"exp": t0.Add(-30 * time.Second).Unix()}, ErrExpired},
		{"valid from 30s on", map[string]any{"nbf": t0.Add(30 * time.Second).Unix()}, nil},
		{"valid from 31s on", map[string]any{"nbf": t0.Add(31 * time.Second).Unix()}, ErrNotYetValid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.jwt.verify(t.Context(), sign(hdr("HS256", "hs"), claims(tc.over), hmacSecret()))
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("verify: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestJWTNoIssuerOrAudienceConfigured(t *testing.T) {
	cfg := basePolicy()
	cfg.JWT.Issuer, cfg.JWT.Audience = "", nil
	a := mustAuth(t, cfg)
	tok := sign(hdr("HS256", "hs"), claims(map[string]any{"iss": nil, "aud": nil}), hmacSecret())
	if _, err := a.jwt.verify(t.Context(), tok); err != nil {
		t.Fatalf("verify: %v", err)
	}
}

func TestAllowMissingExp(t *testing.T) {
	cfg := basePolicy()
	cfg.JWT.AllowMissingExp = true
	a := mustAuth(t, cfg)
	if _, err := a.jwt.verify(t.Context(), sign(hdr("HS256", "hs"), claims(map[string]any{"exp": nil}), hmacSecret())); err != nil {
		t.Fatalf("verify: %v", err)
	}
}

func TestKeyForms(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey().PublicKey)}))
	cert := selfSigned(t, ecKey())
	// A secret file is text: the random test secret could end in '\r', which the reader takes
	// for half of a CRLF line end (1 run in 256 failed on that).
	secret := "a-text-secret-of-more-than-32-bytes"
	cases := []struct {
		name string
		key  Key
		tok  string
	}{
		{"PEM file", Key{PEMFile: write("rsa.pem", pemPublic(&rsaKey().PublicKey))}, sign(hdr("RS256", ""), claims(nil), rsaKey())},
		{"PKCS1 PEM", Key{PEM: pkcs1, Algorithm: "RS256"}, sign(hdr("RS256", ""), claims(nil), rsaKey())},
		{"certificate", Key{PEM: cert}, sign(hdr("ES256", ""), claims(nil), ecKey())},
		{"secret file with trailing newline", Key{SecretFile: write("hs.secret", secret+"\n")}, sign(hdr("HS256", ""), claims(nil), []byte(secret))},
		{"secret file with CRLF", Key{SecretFile: write("hs-crlf.secret", secret+"\r\n")}, sign(hdr("HS256", ""), claims(nil), []byte(secret))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := basePolicy()
			cfg.JWT.Keys = []Key{tc.key}
			a := mustAuth(t, cfg)
			if _, err := a.jwt.verify(t.Context(), tc.tok); err != nil {
				t.Fatalf("verify: %v", err)
			}
		})
	}
}

func selfSigned(t *testing.T, k *ecdsa.PrivateKey) string {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(time.Hour)}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestNewErrors(t *testing.T) {
	smallRSA := mustRSA(1024)
	privDER, _ := x509.MarshalPKCS8PrivateKey(ecKey())
	privPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))
	p384 := func() string {
		k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		return pemPublic(&k.PublicKey)
	}()
	rsaPEM := pemPublic(&rsaKey().PublicKey)
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"nothing configured", Config{}, "configure jwt, api_keys or both"},
		{"jwt without keys", Config{JWT: &JWTConfig{}}, "configure keys, jwks or both"},
		{"alg none allowed", Config{JWT: &JWTConfig{Algorithms: []string{"none"}, Keys: []Key{{Secret: string(hmacSecret())}}}}, `"none"`},
		{"alg not supported", Config{JWT: &JWTConfig{Algorithms: []string{"PS256"}, Keys: []Key{{PEM: rsaPEM}}}}, `"PS256" is not supported`},
		{"alg without a key", Config{JWT: &JWTConfig{Algorithms: []string{"HS256"}, Keys: []Key{{PEM: rsaPEM}}}}, "HS256 is allowed but no key"},
		{"key of an alg not allowed", Config{JWT: &JWTConfig{Algorithms: []string{"RS256"}, Keys: []Key{{PEM: rsaPEM}, {Secret: string(hmacSecret())}}}}, "does not allow HS256"},
		{"short secret", Config{JWT: &JWTConfig{Keys: []Key{{Secret: "short"}}}}, "at least 32 bytes"},
		{"two key sources", Config{JWT: &JWTConfig{Keys: []Key{{Secret: string(hmacSecret()), PEM: rsaPEM}}}}, "exactly one"},
		{"algorithm disagrees with key", Config{JWT: &JWTConfig{Keys: []Key{{PEM: rsaPEM, Algorithm: "HS256"}}}}, "does not match the key"},
		{"private key", Config{JWT: &JWTConfig{Keys: []Key{{PEM: privPEM}}}}, "private key"},
		{"not PEM", Config{JWT: &JWTConfig{Keys: []Key{{PEM: "hello"}}}}, "no PEM block"},
		{"two PEM blocks", Config{JWT: &JWTConfig{Keys: []Key{{PEM: rsaPEM + rsaPEM}}}}, "more than one PEM block"},
		{"RSA 1024", Config{JWT: &JWTConfig{Keys: []Key{{PEM: pemPublic(&smallRSA.PublicKey)}}}}, "1024 bits"},
		{"P-384", Config{JWT: &JWTConfig{Keys: []Key{{PEM: p384}}}}, "needs P-256"},
		{"missing file", Config{JWT: &JWTConfig{Keys: []Key{{PEMFile: "/nonexistent/key.pem"}}}}, "no such file"},
		{"negative leeway", Config{JWT: &JWTConfig{Leeway: -1, Keys: []Key{{PEM: rsaPEM}}}}, "leeway"},
		{"empty audience", Config{JWT: &JWTConfig{Audience: []string{""}, Keys: []Key{{PEM: rsaPEM}}}}, "audience"},
		{"claims collide", Config{JWT: &JWTConfig{Keys: []Key{{PEM: rsaPEM}}, ForwardClaims: []string{"Sub", "sub"}}}, "would both be sent"},
		{"http JWKS", Config{JWT: &JWTConfig{JWKS: &JWKSConfig{URL: "http://id.example.com/jwks"}}}, "use https"},
		{"relative JWKS", Config{JWT: &JWTConfig{JWKS: &JWKSConfig{URL: "/jwks"}}}, "absolute"},
		{"api keys empty", Config{APIKeys: &APIKeyConfig{}}, "at least one key"},
		{"api key bad hash", Config{APIKeys: &APIKeyConfig{Keys: []APIKey{{Name: "a", SHA256: "abc"}}}}, "64 hex digits"},
		{"api key no name", Config{APIKeys: &APIKeyConfig{Keys: []APIKey{{SHA256: HashKey("k")}}}}, "name"},
		{"api key name twice", Config{APIKeys: &APIKeyConfig{Keys: []APIKey{{Name: "a", SHA256: HashKey("k")}, {Name: "a", SHA256: HashKey("l")}}}}, "used twice"},
		{"api key hash twice", Config{APIKeys: &APIKeyConfig{Keys: []APIKey{{Name: "a", SHA256: HashKey("k")}, {Name: "b", SHA256: HashKey("k")}}}}, "same key as a"},
		{"api key header Authorization", Config{APIKeys: &APIKeyConfig{Header: "authorization", Keys: []APIKey{{Name: "a", SHA256: HashKey("k")}}}}, "ApiKey"},
		{"api key header invalid", Config{APIKeys: &APIKeyConfig{Header: "X Key", Keys: []APIKey{{Name: "a", SHA256: HashKey("k")}}}}, "not a valid header"},
		{"realm with a quote", Config{Realm: `a"b`, APIKeys: &APIKeyConfig{Keys: []APIKey{{Name: "a", SHA256: HashKey("k")}}}}, "realm"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, discardLog())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := New(Config{APIKeys: &APIKeyConfig{Keys: []APIKey{{Name: "a", SHA256: HashKey("k")}}}}, nil); err == nil {
		t.Error("New accepted a nil logger")
	}
}
