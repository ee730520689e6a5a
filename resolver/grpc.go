package resolver

import (
	"net/http"
	"strings"
)

// GRPC resolves gRPC-style paths, "/<package>.<Service>/<Method>", as a gRPC client sends them:
//
//	/order.OrderSrv/GetOrder   -> service "<ns>.order",          method "order.OrderSrv.GetOrder"
//	/acme.order.v1.Orders/Get  -> service "<ns>.acme.order.v1",  method "acme.order.v1.Orders.Get"
//	/Greeter/SayHello          -> service "<ns>.greeter",        method "Greeter.SayHello"
//
// Service is the namespace plus the protobuf package of the gRPC service (everything before
// its last dot, as written), or, when the gRPC service has no package, its name lower-cased.
// That is a convention, not knowledge: the gateway cannot tell from a path which registry name
// serves a gRPC service, so backends that use this resolver register under "<ns>.<package>".
//
// Method is the fully qualified gRPC service name, a dot, and the method. The rpc handler
// splits it at the last dot and matches the service part against reflected services by short
// or full name, so the full name here removes any ambiguity between packages.
//
// The service name must be dot-separated identifiers ([A-Za-z_][A-Za-z0-9_]*) and the method
// an identifier; one trailing slash is tolerated. Anything else, percent-encoding in the raw
// path included, is an error wrapping ErrNoMatch.
//
// The zero value has no namespace. GRPC is safe for concurrent use.
type GRPC struct {
	// Namespace prefixes every service name, followed by a dot; "" for none.
	Namespace string
}

var _ Resolver = GRPC{}

// Resolve implements Resolver. It makes one allocation, holding both Service and Method.
func (g GRPC) Resolve(r *http.Request) (Endpoint, error) {
	const kind = "grpc"
	p := r.URL.Path
	if r.URL.RawPath != "" && r.URL.RawPath != p {
		return Endpoint{}, noMatch(kind, r.URL.RawPath, "percent-encoded path")
	}
	full, method, ok := firstSegment(p)
	if !ok {
		return Endpoint{}, noMatch(kind, p, "path is not absolute")
	}
	method = strings.TrimPrefix(method, "/")
	method = strings.TrimSuffix(method, "/")
	if !validQualified(full) || !validIdent(method) {
		return Endpoint{}, noMatch(kind, p, `path is not "/<package>.<Service>/<Method>"`)
	}

	pkg, lowerName := full, false
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		pkg = full[:i]
	} else {
		lowerName = true
	}

	var b strings.Builder
	nsLen := 0
	if g.Namespace != "" {
		nsLen = len(g.Namespace) + 1
	}
	b.Grow(nsLen + len(pkg) + len(full) + 1 + len(method))
	if nsLen > 0 {
		b.WriteString(g.Namespace)
		b.WriteByte('.')
	}
	if lowerName {
		for i := 0; i < len(pkg); i++ {
			b.WriteByte(lower(pkg[i]))
		}
	} else {
		b.WriteString(pkg)
	}
	b.WriteString(full)
	b.WriteByte('.')
	b.WriteString(method)
	s := b.String()
	cut := nsLen + len(pkg)
	return Endpoint{Service: s[:cut], Method: s[cut:], Path: p, Host: r.Host}, nil
}

// validIdent reports whether s is a protobuf identifier: [A-Za-z_][A-Za-z0-9_]*.
func validIdent(s string) bool {
	if s == "" || !(isLetter(s[0]) || s[0] == '_') {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isLetter(c) && !isDigit(c) && c != '_' {
			return false
		}
	}
	return true
}

// validQualified reports whether s is dot-separated protobuf identifiers.
func validQualified(s string) bool {
	for {
		i := strings.IndexByte(s, '.')
		if i < 0 {
			return validIdent(s)
		}
		if !validIdent(s[:i]) {
			return false
		}
		s = s[i+1:]
	}
}
