package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Header names the middleware sets for backends. Clients can never set them: any copy a request
// arrives with is deleted first.
const (
	ClaimHeaderPrefix = "Grpc-Metadata-X-Jwt-"
	APIKeyNameHeader  = "Grpc-Metadata-X-Api-Key-Name"
)

// maxForwardedValue bounds one forwarded claim value.
const maxForwardedValue = 4 << 10

// Claims are a verified token's claims, as decoded JSON: numbers are json.Number, objects
// map[string]any, arrays []any.
type Claims map[string]any

// Subject returns the sub claim, "" when absent or not a string.
func (c Claims) Subject() string { s, _ := c["sub"].(string); return s }

// Issuer returns the iss claim, "" when absent or not a string.
func (c Claims) Issuer() string { s, _ := c["iss"].(string); return s }

// audience returns aud as a list; a string is a list of one.
func (c Claims) audience() ([]string, error) {
	switch v := c["aud"].(type) {
	case nil:
		return nil, nil
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, a := range v {
			s, ok := a.(string)
			if !ok {
				return nil, fmt.Errorf("%w: aud holds a non-string", ErrClaims)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: aud is neither a string nor an array", ErrClaims)
}

type claimsKey struct{}
type apiKeyNameKey struct{}

// ClaimsFrom returns the claims of the token the middleware verified for this request.
func ClaimsFrom(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(Claims)
	return c, ok
}

// APIKeyNameFrom returns the configured name of the API key the middleware accepted.
func APIKeyNameFrom(ctx context.Context) (string, bool) {
	n, ok := ctx.Value(apiKeyNameKey{}).(string)
	return n, ok
}

// forwardClaim is a claim sent to backends, with its header.
type forwardClaim struct {
	claim, header string
}

// newForwardClaims maps claim names to headers and rejects two claims sharing one.
func newForwardClaims(names []string) ([]forwardClaim, error) {
	seen := map[string]string{}
	out := make([]forwardClaim, 0, len(names))
	for _, n := range names {
		if n == "" {
			return nil, fmt.Errorf("jwt.forward_claims: empty claim name")
		}
		h := http.CanonicalHeaderKey(ClaimHeaderPrefix + headerSuffix(n))
		if other, ok := seen[h]; ok {
			return nil, fmt.Errorf("jwt.forward_claims: %q and %q would both be sent as %s", other, n, h)
		}
		seen[h] = n
		out = append(out, forwardClaim{claim: n, header: h})
	}
	return out, nil
}

// headerSuffix lower-cases name and replaces what a gRPC metadata key cannot hold with '-'.
func headerSuffix(name string) string {
	b := []byte(strings.ToLower(name))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '-'
		}
	}
	return string(b)
}

// claimValues renders a claim as header values; values gRPC cannot carry are left out.
func claimValues(v any) []string {
	var out []string
	add := func(s string) {
		if len(s) <= maxForwardedValue && printable(s) {
			out = append(out, s)
		}
	}
	var render func(v any, top bool)
	render = func(v any, top bool) {
		switch x := v.(type) {
		case nil:
		case string:
			add(x)
		case json.Number:
			add(x.String())
		case bool:
			if x {
				add("true")
			} else {
				add("false")
			}
		case []any:
			if !top {
				add(compactJSON(x))
				return
			}
			for _, e := range x {
				render(e, false)
			}
		default:
			add(compactJSON(x))
		}
	}
	render(v, true)
	return out
}

func compactJSON(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// stripReserved deletes the headers only this middleware may set, however they are spelled:
// X-Jwt-* and X-Api-Key-Name, bare or behind Grpc-Metadata-.
func stripReserved(h http.Header) { StripIdentity(h) }

// StripIdentity removes the identity headers only this package may set (X-Jwt-*,
// X-Api-Key-Name, bare or behind Grpc-Metadata-). The gateway runs it on every request, so a
// route without auth cannot be used to forge an identity either.
func StripIdentity(h http.Header) {
	for k := range h {
		if identityHeader(k) {
			delete(h, k)
		}
	}
}

// identityHeader reports whether the header name k is one StripIdentity removes. Names off the
// network are ASCII tokens, compared here without the lower-cased copy (an allocation per
// header per request) that the general rule below needs for other names.
func identityHeader(k string) bool {
	for i := 0; i < len(k); i++ {
		if k[i] >= utf8.RuneSelf {
			name := strings.TrimPrefix(strings.ToLower(k), "grpc-metadata-")
			return strings.HasPrefix(name, "x-jwt-") || name == "x-api-key-name"
		}
	}
	const grpcMeta, jwt, keyName = "grpc-metadata-", "x-jwt-", "x-api-key-name"
	name := k
	if len(name) >= len(grpcMeta) && strings.EqualFold(name[:len(grpcMeta)], grpcMeta) {
		name = name[len(grpcMeta):]
	}
	return len(name) >= len(jwt) && strings.EqualFold(name[:len(jwt)], jwt) || strings.EqualFold(name, keyName)
}
