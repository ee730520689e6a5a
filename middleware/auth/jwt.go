package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// maxTokenBytes bounds the tokens the gateway will look at.
const maxTokenBytes = 16 << 10

// JWTConfig configures bearer-token verification. Zero values mean the documented defaults.
type JWTConfig struct {
	// Algorithms is the alg allow-list, from HS256, RS256 and ES256. Empty: the algs of the
	// configured keys (RS256 and ES256 for a JWKS). "none" is refused.
	Algorithms []string
	// Keys are static verification keys.
	Keys []Key
	// JWKS fetches keys from a URL. At least one of Keys and JWKS is required.
	JWKS *JWKSConfig
	// Issuer, when set, must equal the token's iss.
	Issuer string
	// Audience, when set, must share a value with the token's aud.
	Audience []string
	// Leeway tolerates clock skew in exp and nbf checks; default 0, must not be negative.
	Leeway time.Duration
	// AllowMissingExp accepts tokens without exp (default: exp is required).
	AllowMissingExp bool
	// ForwardClaims names the claims sent to backends as Grpc-Metadata-X-Jwt-<claim>.
	ForwardClaims []string
}

// token is a structurally valid JWS whose signature is not yet checked.
type token struct {
	alg, kid string
	input    []byte // header.payload, what the signature covers
	payload  []byte // decoded
	sig      []byte // decoded
}

var b64 = base64.RawURLEncoding.Strict()

// parseToken splits and decodes a compact JWS. It trusts nothing and reads no claims.
func parseToken(s string) (*token, error) {
	if len(s) > maxTokenBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformedToken, maxTokenBytes)
	}
	h, rest, ok1 := strings.Cut(s, ".")
	p, sg, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(sg, ".") {
		return nil, fmt.Errorf("%w: want three dot-separated segments", ErrMalformedToken)
	}
	if h == "" || p == "" {
		return nil, fmt.Errorf("%w: empty header or payload", ErrMalformedToken)
	}
	if sg == "" {
		return nil, fmt.Errorf("%w: no signature", ErrMalformedToken)
	}
	hb, err := b64.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("%w: header is not base64url", ErrMalformedToken)
	}
	t := &token{input: []byte(s[:len(h)+1+len(p)])}
	if t.payload, err = b64.DecodeString(p); err != nil {
		return nil, fmt.Errorf("%w: payload is not base64url", ErrMalformedToken)
	}
	if t.sig, err = b64.DecodeString(sg); err != nil {
		return nil, fmt.Errorf("%w: signature is not base64url", ErrMalformedToken)
	}
	var hdr map[string]json.RawMessage
	if err := strictUnmarshal(hb, &hdr); err != nil || hdr == nil {
		return nil, fmt.Errorf("%w: header is not a JSON object", ErrMalformedToken)
	}
	if err := json.Unmarshal(hdr["alg"], &t.alg); err != nil || t.alg == "" {
		return nil, fmt.Errorf("%w: header has no alg string", ErrMalformedToken)
	}
	if raw, ok := hdr["kid"]; ok {
		if err := json.Unmarshal(raw, &t.kid); err != nil {
			return nil, fmt.Errorf("%w: kid is not a string", ErrMalformedToken)
		}
	}
	if _, ok := hdr["crit"]; ok {
		return nil, fmt.Errorf("%w: crit header extensions are not supported", ErrMalformedToken)
	}
	return t, nil
}

// strictUnmarshal decodes exactly one JSON value, keeping numbers as json.Number.
func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("trailing data")
	}
	return nil
}

// jwtVerifier checks tokens against one JWTConfig.
type jwtVerifier struct {
	allowed  map[string]bool
	static   []*verifyKey
	jwks     *jwks // nil without a JWKS URL
	issuer   string
	audience []string
	leeway   time.Duration
	needExp  bool
	forward  []forwardClaim
	now      func() time.Time
}

// verify checks a token and returns its claims.
func (v *jwtVerifier) verify(ctx context.Context, s string) (Claims, error) {
	t, err := parseToken(s)
	if err != nil {
		return nil, err
	}
	if !v.allowed[t.alg] {
		if strings.EqualFold(t.alg, "none") {
			return nil, fmt.Errorf("%w: unsigned tokens (alg none) are never accepted", ErrAlgorithm)
		}
		return nil, ErrAlgorithm
	}
	keys, err := v.candidates(ctx, t.alg, t.kid)
	if err != nil {
		return nil, err
	}
	ok := false
	for _, k := range keys {
		if k.verify(t.input, t.sig) {
			ok = true
			break
		}
	}
	if !ok {
		return nil, ErrSignature
	}
	var claims Claims
	if err := strictUnmarshal(t.payload, &claims); err != nil || claims == nil {
		return nil, fmt.Errorf("%w: payload is not a JSON object", ErrClaims)
	}
	if err := v.checkClaims(claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// candidates returns the keys that may verify a token of alg with kid. With a kid: the keys
// bearing it (static ones first; the JWKS only when no static key has that id), and when none
// does, the static keys configured without an id. Without a kid: every key of alg. The key type
// must match alg: a kid naming only keys of another type is ErrKeyMismatch.
func (v *jwtVerifier) candidates(ctx context.Context, alg, kid string) ([]*verifyKey, error) {
	var named []*verifyKey
	var jwksErr error
	if kid != "" {
		for _, k := range v.static {
			if k.id == kid {
				named = append(named, k)
			}
		}
		if len(named) == 0 && v.jwks != nil {
			named, jwksErr = v.jwks.keys(ctx, kid)
		}
		if len(named) > 0 {
			out := ofAlg(nil, named, alg)
			if len(out) == 0 {
				return nil, ErrKeyMismatch
			}
			return out, nil
		}
	}
	var out []*verifyKey
	for _, k := range v.static {
		if k.alg == alg && (kid == "" || k.id == "") {
			out = append(out, k)
		}
	}
	if kid == "" && v.jwks != nil && alg != HS256 {
		var ks []*verifyKey
		ks, jwksErr = v.jwks.keys(ctx, "")
		out = ofAlg(out, ks, alg)
	}
	switch {
	case len(out) > 0:
		return out, nil
	case jwksErr != nil:
		return nil, jwksErr
	case kid != "":
		return nil, ErrUnknownKey
	}
	return nil, fmt.Errorf("%w: no key for the token's alg", ErrUnknownKey)
}

func ofAlg(dst, ks []*verifyKey, alg string) []*verifyKey {
	for _, k := range ks {
		if k.alg == alg {
			dst = append(dst, k)
		}
	}
	return dst
}

// checkClaims applies the time, issuer and audience rules.
func (v *jwtVerifier) checkClaims(c Claims) error {
	now := v.now()
	exp, hasExp, err := numericDate(c, "exp")
	if err != nil {
		return err
	}
	if !hasExp && v.needExp {
		return fmt.Errorf("%w: no exp", ErrClaims)
	}
	if hasExp && !now.Before(exp.Add(v.leeway)) {
		return ErrExpired
	}
	nbf, hasNbf, err := numericDate(c, "nbf")
	if err != nil {
		return err
	}
	if hasNbf && now.Add(v.leeway).Before(nbf) {
		return ErrNotYetValid
	}
	if v.issuer != "" {
		iss, ok := c["iss"].(string)
		if !ok || iss != v.issuer {
			return ErrIssuer
		}
	}
	if len(v.audience) > 0 {
		aud, err := c.audience()
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(aud, func(a string) bool { return slices.Contains(v.audience, a) }) {
			return ErrAudience
		}
	}
	return nil
}

// numericDate reads a NumericDate claim (seconds since the epoch, possibly fractional).
func numericDate(c Claims, name string) (time.Time, bool, error) {
	raw, ok := c[name]
	if !ok {
		return time.Time{}, false, nil
	}
	n, ok := raw.(json.Number)
	if !ok {
		return time.Time{}, false, fmt.Errorf("%w: %s is not a number", ErrClaims, name)
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return time.Time{}, false, fmt.Errorf("%w: %s is not a number", ErrClaims, name)
	}
	// Clamp to about ±31 million years, far beyond any real date, so the conversion to int64
	// stays defined.
	f = max(min(f, 1e15), -1e15)
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}
