package resolver

import "net/http"

// VPath resolves versioned paths for the http and web handlers: "/v1/foo/bar" is service
// "<ns>.v1.foo", Method "", Path "/v1/foo/bar".
//
// The first segment must match ^v[0-9]+$ and the second be non-empty and made of
// [A-Za-z0-9_-], neither percent-encoded in the raw path. The rest of the path obeys the same
// rules as for Path (no NUL, backslash or dot segments). Violations are errors wrapping
// ErrNoMatch.
//
// The zero value has no namespace. VPath is safe for concurrent use.
type VPath struct {
	// Namespace prefixes every service name, followed by a dot; "" for none.
	Namespace string
}

var _ Resolver = VPath{}

// Resolve implements Resolver.
func (v VPath) Resolve(r *http.Request) (Endpoint, error) {
	const kind = "vpath"
	p := r.URL.Path
	ver, rest, ok := firstSegment(p)
	if !ok {
		return Endpoint{}, noMatch(kind, p, "path is not absolute")
	}
	if !isVersion(ver) {
		return Endpoint{}, noMatch(kind, p, "first segment is not a version (v1, v2, ...)")
	}
	name, _, _ := firstSegment(rest)
	if !validName(name) {
		return Endpoint{}, noMatch(kind, p, "second segment is empty or has a character outside [A-Za-z0-9_-]")
	}
	if why := forwardable(p); why != "" {
		return Endpoint{}, noMatch(kind, p, why)
	}
	if !rawPrefixOK(r.URL, p[:2+len(ver)+len(name)]) {
		return Endpoint{}, noMatch(kind, r.URL.RawPath, "percent-encoded service segment")
	}
	return Endpoint{Service: qualify(v.Namespace, p[1:1+len(ver)]+"."+name), Path: p, Host: r.Host}, nil
}
