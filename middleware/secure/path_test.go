package secure

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func TestNormalizePath(t *testing.T) {
	cases := []struct {
		name string
		raw  string
		want string // normalised path; "" when refused
		why  string // a fragment of the refusal reason
	}{
		// normalised
		{"empty is root", "", "/", ""},
		{"root", "/", "/", ""},
		{"plain", "/orders/1", "/orders/1", ""},
		{"trailing slash kept", "/orders/", "/orders/", ""},
		{"double slash collapses", "//a//b///c", "/a/b/c", ""},
		{"only slashes", "////", "/", ""},
		{"dot segment", "/a/./b", "/a/b", ""},
		{"trailing dot ends in slash", "/a/.", "/a/", ""},
		{"dot dot inside", "/a/b/../c", "/a/c", ""},
		{"trailing dot dot ends in slash", "/a/b/..", "/a/", ""},
		{"back to the root", "/a/..", "/", ""},
		{"back to the root with slash", "/a/../", "/", ""},
		{"dot dot after double slash", "/a//..//b", "/b", ""},
		{"name with dots is not a dot segment", "/a..b/...", "/a..b/...", ""},
		{"dot file", "/.well-known/x", "/.well-known/x", ""},
		{"unreserved decoded", "/%61%70%69/%7Euser/%2D%5F%2e%30", "/api/~user/-_.0", ""},
		{"encoded dot inside a name decoded", "/a%2eb", "/a.b", ""},
		{"reserved kept upper-cased", "/a%3bb/%3a%40%3D", "/a%3Bb/%3A%40%3D", ""},
		{"space kept encoded", "/a%20b", "/a%20b", ""},
		{"encoded percent kept", "/100%25", "/100%25", ""},
		{"double encoding of a letter kept", "/a%2541", "/a%2541", ""},
		{"encoded question mark and hash kept", "/a%3F%23", "/a%3F%23", ""},
		{"sub-delims and colon raw", "/a:b@c!$&'()*+,;=", "/a:b@c!$&'()*+,;=", ""},
		{"raw unsafe ASCII encoded", "/a\"<>[]^`{|} b", "/a%22%3C%3E%5B%5D%5E%60%7B%7C%7D%20b", ""},
		{"raw UTF-8 encoded", "/caf\u00e9", "/caf%C3%A9", ""},
		{"encoded UTF-8 upper-cased", "/caf%c3%a9", "/caf%C3%A9", ""},
		{"four-byte UTF-8", "/%F0%9F%98%80", "/%F0%9F%98%80", ""},
		{"mixed raw and encoded UTF-8 bytes", "/caf\xc3%a9", "/caf%C3%A9", ""},
		{"semicolon in a name", "/a;b/c", "/a;b/c", ""},
		{"dot dot with suffix is a name", "/..a/b", "/..a/b", ""},

		// refused
		{"relative", "a/b", "", "does not start with /"},
		{"asterisk", "*", "", "does not start with /"},
		{"encoded slash upper", "/a%2Fb", "", "encoded slash"},
		{"encoded slash lower", "/a%2fb", "", "encoded slash"},
		{"encoded backslash upper", "/a%5Cb", "", "encoded backslash"},
		{"encoded backslash lower", "/a%5cb", "", "encoded backslash"},
		{"raw backslash", "/a\\..\\b", "", "backslash"},
		{"encoded NUL", "/a%00.json", "", "NUL"},
		{"raw NUL", "/a\x00", "", "NUL"},
		{"encoded CR LF", "/a%0d%0aSet-Cookie:x", "", "control character 0x0D"},
		{"raw tab", "/a\tb", "", "control character 0x09"},
		{"encoded DEL", "/a%7F", "", "control character 0x7F"},
		{"C1 control NEL", "/a%C2%85", "", "control character U+0085"},
		{"raw hash", "/a#/../b", "", "raw '#'"},
		{"raw question mark", "/a?b", "", "raw '?'"},
		{"truncated escape", "/a%4", "", "malformed percent-encoding"},
		{"lone percent", "/a%", "", "malformed percent-encoding"},
		{"bad hex", "/a%zz", "", "malformed percent-encoding"},
		{"overlong slash", "/a%c0%afb", "", "invalid UTF-8"},
		{"overlong dot dot", "/%c0%ae%c0%ae/x", "", "invalid UTF-8"},
		{"three-byte overlong slash", "/%e0%80%af", "", "invalid UTF-8"},
		{"four-byte overlong", "/%f0%80%80%af", "", "invalid UTF-8"},
		{"surrogate", "/%ed%a0%80", "", "invalid UTF-8"},
		{"truncated sequence", "/caf%c3", "", "truncated"},
		{"truncated before ASCII", "/caf%c3a", "", "truncated"},
		{"lone continuation byte", "/%a9", "", "invalid UTF-8"},
		{"raw invalid byte", "/\xff", "", "invalid UTF-8"},
		{"fullwidth solidus", "/a%EF%BC%8Fb", "", "U+FF0F"},
		{"fullwidth full stop", "/%EF%BC%8E%EF%BC%8E/x", "", "U+FF0E"},
		{"one dot leader raw", "/\u2024\u2024/x", "", "U+2024"},
		{"fullwidth reverse solidus", "/a\uff3cb", "", "U+FF3C"},
		{"fullwidth percent", "/a\uff052f", "", "U+FF05"},
		{"encoded dot dot", "/a/%2e%2e/b", "", "percent-encoded dot segment"},
		{"encoded dot dot upper", "/a/%2E%2E/b", "", "percent-encoded dot segment"},
		{"half encoded dot dot", "/a/.%2e/b", "", "percent-encoded dot segment"},
		{"other half encoded", "/a/%2e./b", "", "percent-encoded dot segment"},
		{"encoded dot", "/a/%2e/b", "", "percent-encoded dot segment"},
		{"encoded dot dot at the end", "/a/%2e%2e", "", "percent-encoded dot segment"},
		{"dot dot semicolon", "/public/..;/admin", "", "dot segment with parameters"},
		{"dot semicolon", "/public/.;/admin", "", "dot segment with parameters"},
		{"dot dot with parameter", "/public/..;jsessionid=1/admin", "", "dot segment with parameters"},
		{"dot dot encoded semicolon", "/public/..%3B/admin", "", "dot segment with parameters"},
		{"encoded dot dot semicolon", "/public/%2e%2e;/admin", "", "dot segment"},
		{"above root", "/..", "", "climbs above the root"},
		{"above root deep", "/a/../../etc/passwd", "", "climbs above the root"},
		{"above root after double slash", "//../x", "", "climbs above the root"},
		{"double-encoded dot", "/a/%252e%252e/b", "", "double-encoded byte (%252e)"},
		{"double-encoded slash", "/a%252fb", "", "double-encoded byte (%252f)"},
		{"double-encoded backslash", "/a%255Cb", "", "double-encoded byte (%255C)"},
		{"double-encoded NUL", "/a%2500", "", "double-encoded byte (%2500)"},
		{"double-encoded overlong", "/a%25c0%25af", "", "double-encoded byte (%25c0)"},
		{"triple encoding", "/a%25252e", "", "double-encoded byte (%2525)"},
		{"double encoding hidden in escaped digits", "/a%25%32%65", "", "double-encoded byte (%252e)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizePath(tc.raw)
			if tc.want == "" {
				var pe *PathError
				if !errors.As(err, &pe) {
					t.Fatalf("NormalizePath(%q) = %q, %v; want a *PathError", tc.raw, got, err)
				}
				if !strings.Contains(pe.Reason, tc.why) {
					t.Errorf("NormalizePath(%q) reason %q, want it to contain %q", tc.raw, pe.Reason, tc.why)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("NormalizePath(%q) = %q, %v; want %q", tc.raw, got, err, tc.want)
			}
			checkNormal(t, tc.raw, got)
		})
	}
}

func TestPathErrorTruncates(t *testing.T) {
	_, err := NormalizePath("/" + strings.Repeat("a", 1000) + "%2F")
	var pe *PathError
	if !errors.As(err, &pe) || len(pe.Path) > maxQuoted+3 {
		t.Fatalf("error %v: path not truncated", err)
	}
}

// TestConfusablesMatchNFKC recomputes the confusables table: every character whose NFKC form
// contains ".", "/", "\" or "%", and no other, is refused.
func TestConfusablesMatchNFKC(t *testing.T) {
	for r := rune(0x80); r <= utf8.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		want := strings.ContainsAny(norm.NFKC.String(string(r)), "./\\%")
		if got := confusable(r); got != want {
			t.Errorf("confusable(U+%04X) = %v, NFKC says %v", r, got, want)
		}
	}
}

// checkNormal asserts the properties NormalizePath promises of its result.
func checkNormal(t *testing.T, raw, out string) {
	t.Helper()
	if !strings.HasPrefix(out, "/") {
		t.Fatalf("NormalizePath(%q) = %q: no leading slash", raw, out)
	}
	if strings.Contains(out, "//") {
		t.Fatalf("NormalizePath(%q) = %q: double slash", raw, out)
	}
	if strings.ContainsAny(out, "\x00\\#?") {
		t.Fatalf("NormalizePath(%q) = %q: NUL, backslash, # or ?", raw, out)
	}
	for seg := range strings.SplitSeq(out[1:], "/") {
		if seg == "." || seg == ".." {
			t.Fatalf("NormalizePath(%q) = %q: dot segment", raw, out)
		}
	}
	for i := 0; i < len(out); i++ {
		c := out[i]
		if c <= ' ' || c >= 0x7f {
			t.Fatalf("NormalizePath(%q) = %q: byte 0x%02x not escaped", raw, out, c)
		}
		if c == '%' && (i+2 >= len(out) || strings.ToUpper(out[i+1:i+3]) != out[i+1:i+3]) {
			t.Fatalf("NormalizePath(%q) = %q: escape not upper-case", raw, out)
		}
	}
	if !utf8.ValidString(unescape(out)) {
		t.Fatalf("NormalizePath(%q) = %q: decodes to invalid UTF-8", raw, out)
	}
	again, err := NormalizePath(out)
	if err != nil || again != out {
		t.Fatalf("not idempotent: NormalizePath(%q) = %q, then %q, %v", raw, out, again, err)
	}
}
