package cors

import (
	"net/http"
	"testing"
)

// TestAllowOriginExact: an Origin spelled exactly as a listed origin's canonical form is
// allowed without parsing, other spellings after canonicalisation, and a canonical form that
// is not its own canonical form (an IPv6 zone) only the way canonicalisation decides.
func TestAllowOriginExact(t *testing.T) {
	mw, err := New(Config{AllowedOrigins: []string{"https://app.example", "HTTP://B.example:80", "http://[fe80::1%25en0]:8080"}})
	if err != nil {
		t.Fatal(err)
	}
	p := mw(http.NotFoundHandler()).(*handler).p
	if len(p.exact) != 2 || !p.exact["https://app.example"] || !p.exact["http://b.example"] {
		t.Fatalf("exact %v", p.exact)
	}
	for origin, want := range map[string]bool{
		"https://app.example":         true,
		"HTTPS://APP.EXAMPLE:443":     true,
		"http://b.example":            true,
		"http://B.EXAMPLE":            true,
		"https://b.example":           false,
		"http://[fe80::1%25en0]:8080": true,
		"http://[fe80::1%en0]:8080":   false,
		"https://app.example.evil":    false,
		"null":                        false,
		"":                            false,
	} {
		if got := p.allowOrigin(origin); got != want {
			t.Errorf("allowOrigin(%q) = %v, want %v", origin, got, want)
		}
	}
}
