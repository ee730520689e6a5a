package resolver

import (
	"fmt"
	"net/url"
	"strings"
)

// This file holds the byte-level checks the resolvers share. They work on substrings of the
// request path and never allocate.

// isNameByte reports whether c may appear in a service name segment: [A-Za-z0-9_-].
func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// isLetter reports whether c is an ASCII letter.
func isLetter(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// isDigit reports whether c is an ASCII digit.
func isDigit(c byte) bool {
	return '0' <= c && c <= '9'
}

// upper returns the ASCII upper case of c.
func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// lower returns the ASCII lower case of c.
func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// validName reports whether s is a non-empty service name segment of [A-Za-z0-9_-]. That
// excludes ".", "..", "%", NUL, "\" and every other byte that could escape the namespace.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}

// isVersion reports whether s matches ^v[0-9]+$.
func isVersion(s string) bool {
	if len(s) < 2 || s[0] != 'v' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// firstSegment splits an absolute path "/seg/rest..." into its first segment and the rest
// (which starts with "/" or is empty). ok is false when p does not start with "/".
func firstSegment(p string) (seg, rest string, ok bool) {
	if p == "" || p[0] != '/' {
		return "", "", false
	}
	p = p[1:]
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i], p[i:], true
	}
	return p, "", true
}

// forwardable reports why the path p, which a proxy handler forwards as it is, is unsafe, or ""
// when it is not. Dot segments ("." and "..") could make the backend, or anything between, see
// another path than the one the service was resolved from; NUL and backslash are rejected
// because some servers treat them as terminators or separators.
func forwardable(p string) string {
	start := 0
	for i := 0; i <= len(p); i++ {
		if i < len(p) {
			switch p[i] {
			case 0:
				return "NUL byte in path"
			case '\\':
				return "backslash in path"
			case '/':
			default:
				continue
			}
		}
		if seg := p[start:i]; seg == "." || seg == ".." {
			return "dot segment in path"
		}
		start = i + 1
	}
	return ""
}

// rawPrefixOK reports whether the escaped form of u's path agrees with its decoded form on the
// prefix the resolver used. prefix consists of "/" and name bytes only, whose escaped form is
// themselves, so any difference means the client percent-encoded part of it (for example
// "/foo%2Fbar" decodes to "/foo/bar"); such requests are refused rather than guessed at.
func rawPrefixOK(u *url.URL, prefix string) bool {
	raw := u.RawPath
	if raw == "" {
		return true
	}
	if !strings.HasPrefix(raw, prefix) {
		return false
	}
	return len(raw) == len(prefix) || raw[len(prefix)] == '/'
}

// maxQuoted bounds how much of the offending input an error message repeats.
const maxQuoted = 128

// noMatch returns an error wrapping ErrNoMatch that names the resolver, the input and the
// reason. It is only called on the error path, so it may allocate.
func noMatch(kind, input, reason string) error {
	if len(input) > maxQuoted {
		input = input[:maxQuoted] + "..."
	}
	return fmt.Errorf("resolver %s: %w: %q: %s", kind, ErrNoMatch, input, reason)
}
