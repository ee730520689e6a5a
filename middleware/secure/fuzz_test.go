package secure

import (
	"errors"
	"path"
	"strings"
	"testing"
)

// FuzzNormalizePath: NormalizePath never panics; it either refuses with a *PathError or returns
// a path that starts with "/", has no "//", no "." or ".." segment, no NUL, backslash, "#" or "?",
// only escaped bytes outside printable ASCII, that decodes to a clean path (path.Clean keeps it)
// and that normalises to itself.
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{
		"", "/", "//", "/a/b/../c", "/a/./b/", "/..", "/a%2Fb", "/a%5cb", "/a\\b", "/a%00", "/%2e%2e/x",
		"/.%2E/", "/a%c0%af", "/caf%C3%A9", "/caf\u00e9", "/%EF%BC%8F", "/public/..;/admin", "/a%252e",
		"/a%25%32%65", "/%61%7e", "/a b\"<>", "/a%3bb", "/x/\x00", "*", "/a%", "/a%4", "/\xff", "/%F0%9F%98%80",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out, err := NormalizePath(raw)
		if strings.HasPrefix(raw, "/") && alreadyNormal(raw) {
			// The fast path agrees with the full one.
			if slow, err := normalize(raw); err != nil || slow != raw || out != raw {
				t.Fatalf("fast path %q, full normalisation %q, %v", raw, slow, err)
			}
		}
		if err != nil {
			var pe *PathError
			if !errors.As(err, &pe) || pe.Reason == "" {
				t.Fatalf("NormalizePath(%q): error %v is not a *PathError with a reason", raw, err)
			}
			return
		}
		checkNormal(t, raw, out)
		dec := unescape(out)
		if want := path.Clean(dec); strings.TrimSuffix(dec, "/") != strings.TrimSuffix(want, "/") {
			t.Fatalf("NormalizePath(%q) = %q decodes to %q, which path.Clean makes %q", raw, out, dec, want)
		}
	})
}
