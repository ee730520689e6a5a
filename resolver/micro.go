package resolver

import (
	"net/http"
	"strings"
)

// Micro resolves paths the way micro api (go-micro v2) does: the path names the service and
// the method, in the forms the package documentation lists.
//
// Segment count decides the split. With one segment it is the service and the method is
// "<Seg>.Call"; with two, the first is the service and both make the method; with three or more,
// the last two make the method and all before them, joined with dots, the service. A first
// segment matching ^v[0-9]+$ followed by at least one more is a version: it is joined with the
// next segment into the service name and the rules above apply to the segments after it, so
// "/v1/foo" is service "v1.foo", method "Foo.Call". A lone "/v1" is an ordinary name.
//
// Method parts are camel-cased: the first letter and every letter after a dash are upper-cased
// and the dashes dropped ("say-hello" -> "SayHello"). Service segments are kept as written.
//
// The path must be absolute, and every segment non-empty and made of [A-Za-z0-9_-]; method
// segments must moreover start with a letter and have no leading, trailing or doubled dash, so
// that they camel-case to a protobuf identifier. One trailing slash is ignored. Anything else,
// percent-encoding in the raw path included, is an error wrapping ErrNoMatch, which guarantees
// the service name stays inside the namespace.
//
// The zero value has no namespace. Micro is safe for concurrent use.
type Micro struct {
	// Namespace prefixes every service name, followed by a dot; "" for none. It is used as
	// given (see ValidateNamespace); the gateway's configured default is "go.micro.api".
	Namespace string
}

var _ Resolver = Micro{}

// Resolve implements Resolver. It makes one allocation, holding both Service and Method.
func (m Micro) Resolve(r *http.Request) (Endpoint, error) {
	const kind = "micro"
	p := r.URL.Path
	if r.URL.RawPath != "" && r.URL.RawPath != p {
		return Endpoint{}, noMatch(kind, r.URL.RawPath, "percent-encoded path")
	}
	if p == "" || p[0] != '/' {
		return Endpoint{}, noMatch(kind, p, "path is not absolute")
	}
	rest := p[1:]
	if rest != "" && rest[len(rest)-1] == '/' {
		rest = rest[:len(rest)-1] // one trailing slash is tolerated
	}
	if rest == "" {
		return Endpoint{}, noMatch(kind, p, "no service in path")
	}

	// Validate every byte once and count the segments.
	n := 1
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if c == '/' {
			if i == 0 || rest[i-1] == '/' || i == len(rest)-1 {
				return Endpoint{}, noMatch(kind, p, "empty path segment")
			}
			n++
			continue
		}
		if !isNameByte(c) {
			return Endpoint{}, noMatch(kind, p, "path segment has a character outside [A-Za-z0-9_-]")
		}
	}

	// body is the path after an optional version segment; svc (computed below) always starts
	// at rest[0] so that a version stays in the service name.
	body, off := rest, 0
	if n >= 2 {
		first := rest[:strings.IndexByte(rest, '/')]
		if isVersion(first) {
			off = len(first) + 1
			body = rest[off:]
			n--
		}
	}

	var svcLen int
	var m1, m2 string // method parts, m2 == "" means "Call"
	switch n {
	case 1:
		svcLen, m1 = len(body), body
	case 2:
		i := strings.IndexByte(body, '/')
		svcLen, m1, m2 = i, body[:i], body[i+1:]
	default:
		j := strings.LastIndexByte(body, '/')
		i := strings.LastIndexByte(body[:j], '/')
		svcLen, m1, m2 = i, body[i+1:j], body[j+1:]
	}
	svc := rest[:off+svcLen]

	l1, ok1 := camelLen(m1)
	l2, ok2 := len("Call"), true
	if m2 != "" {
		l2, ok2 = camelLen(m2)
	}
	if !ok1 || !ok2 {
		return Endpoint{}, noMatch(kind, p, "method segment is not an identifier (letter first, single inner dashes)")
	}

	// Build "ns.svc" and "M1.M2" in one buffer and slice it.
	var b strings.Builder
	nsLen := 0
	if m.Namespace != "" {
		nsLen = len(m.Namespace) + 1
	}
	b.Grow(nsLen + len(svc) + l1 + 1 + l2)
	if nsLen > 0 {
		b.WriteString(m.Namespace)
		b.WriteByte('.')
	}
	for i := 0; i < len(svc); i++ {
		if c := svc[i]; c == '/' {
			b.WriteByte('.')
		} else {
			b.WriteByte(c)
		}
	}
	writeCamel(&b, m1)
	b.WriteByte('.')
	if m2 == "" {
		b.WriteString("Call")
	} else {
		writeCamel(&b, m2)
	}
	s := b.String()
	cut := nsLen + len(svc)
	return Endpoint{Service: s[:cut], Method: s[cut:], Path: p, Host: r.Host}, nil
}

// camelLen returns the length of s camel-cased, and whether s is a valid method segment: it
// starts with a letter, and its dashes are single and inner. s holds name bytes only.
func camelLen(s string) (int, bool) {
	if s == "" || !isLetter(s[0]) || s[len(s)-1] == '-' {
		return 0, false
	}
	n := len(s)
	for i := 1; i < len(s); i++ {
		if s[i] == '-' {
			if s[i-1] == '-' {
				return 0, false
			}
			n--
		}
	}
	return n, true
}

// writeCamel writes s (valid per camelLen) camel-cased: the first byte and each byte after a
// dash upper-cased, dashes dropped.
func writeCamel(b *strings.Builder, s string) {
	up := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '-' {
			up = true
			continue
		}
		if up {
			c = upper(c)
			up = false
		}
		b.WriteByte(c)
	}
}
