package auth

import (
	"net/http"
	"strings"
	"testing"
)

// identityRule is StripIdentity's rule in its plain form: lower-case the name, drop a
// Grpc-Metadata- prefix, then X-Jwt-* or X-Api-Key-Name.
func identityRule(k string) bool {
	name := strings.TrimPrefix(strings.ToLower(k), "grpc-metadata-")
	return strings.HasPrefix(name, "x-jwt-") || name == "x-api-key-name"
}

func TestIdentityHeader(t *testing.T) {
	for _, k := range []string{
		"X-Jwt-Sub", "x-jwt-", "X-JWT-A", "X-Jwt", "X-Jwtx", "X-Api-Key-Name", "x-api-key-name", "X-Api-Key-Names",
		"Grpc-Metadata-X-Jwt-Sub", "GRPC-METADATA-x-api-key-name", "Grpc-Metadata-", "Grpc-Metadata-X-Api-Key",
		"Content-Type", "Authorization", "", "X-Api-\u212aey-Name", "X-Ap\u0130-Key-Name", "Grpc-Metadata-X-Jw\u0163-A",
	} {
		if got, want := identityHeader(k), identityRule(k); got != want {
			t.Errorf("identityHeader(%q) = %v, want %v", k, got, want)
		}
	}
	h := http.Header{"Content-Type": {"a"}, "X-Jwt-Sub": {"x"}, "Grpc-Metadata-X-Api-Key-Name": {"k"}, "Accept": {"b"}}
	StripIdentity(h)
	if len(h) != 2 || h.Get("Content-Type") != "a" || h.Get("Accept") != "b" {
		t.Errorf("after StripIdentity: %v", h)
	}
}

// FuzzIdentityHeader: the allocation-free comparison agrees with the plain rule on any name.
func FuzzIdentityHeader(f *testing.F) {
	for _, k := range []string{"X-Jwt-Sub", "Grpc-Metadata-X-Api-Key-Name", "X-Api-\u212aey-Name", "Content-Type"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, k string) {
		if got, want := identityHeader(k), identityRule(k); got != want {
			t.Fatalf("identityHeader(%q) = %v, want %v", k, got, want)
		}
	})
}

func BenchmarkStripIdentity(b *testing.B) {
	h := http.Header{"Content-Type": {"a"}, "Accept": {"b"}, "User-Agent": {"c"}, "Accept-Encoding": {"d"}, "X-Request-Id": {"e"}}
	b.ReportAllocs()
	for b.Loop() {
		StripIdentity(h)
	}
}
