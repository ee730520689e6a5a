package resolver

import "net/http"

// Path resolves the first path segment to a service, for the http and web handlers, which
// forward the whole request: "/foo/bar/baz" is service "<ns>.foo", Method "", Path
// "/foo/bar/baz".
//
// The first segment must be non-empty and made of [A-Za-z0-9_-], and not percent-encoded in
// the raw path. Because the path is forwarded as it is, the rest of it may hold any character
// except NUL and backslash, and no segment may be "." or "..". Violations, and "/", are errors
// wrapping ErrNoMatch.
//
// The zero value has no namespace. Path is safe for concurrent use.
type Path struct {
	// Namespace prefixes every service name, followed by a dot; "" for none.
	Namespace string
}

var _ Resolver = Path{}

// Resolve implements Resolver.
func (pr Path) Resolve(r *http.Request) (Endpoint, error) {
	const kind = "path"
	p := r.URL.Path
	seg, _, ok := firstSegment(p)
	if !ok {
		return Endpoint{}, noMatch(kind, p, "path is not absolute")
	}
	if !validName(seg) {
		return Endpoint{}, noMatch(kind, p, "first segment is empty or has a character outside [A-Za-z0-9_-]")
	}
	if why := forwardable(p); why != "" {
		return Endpoint{}, noMatch(kind, p, why)
	}
	if !rawPrefixOK(r.URL, p[:1+len(seg)]) {
		return Endpoint{}, noMatch(kind, r.URL.RawPath, "percent-encoded service segment")
	}
	return Endpoint{Service: qualify(pr.Namespace, seg), Path: p, Host: r.Host}, nil
}
