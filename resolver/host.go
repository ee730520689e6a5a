package resolver

import (
	"net/http"
	"strings"
)

// maxHostLen is the longest DNS name, without the root dot.
const maxHostLen = 253

// Host resolves the Host header to a service, for virtual-host style deployments:
// "Host: Shop.Example.com:8443" is service "<ns>.shop.example.com", Method "", Path the request
// path. The namespace is applied like everywhere else, so the service name stays inside it;
// with an empty namespace the service is the host name alone.
//
// The port and one trailing dot are dropped and the name is lower-cased. What remains must be
// a DNS host name: at most 253 bytes of dot-separated labels of 1 to 63 bytes of [a-z0-9-],
// no label starting or ending with a dash, and a last label that is not all digits (which
// rules out IPv4 addresses; IPv6 literals fail the character check). Anything else, or an
// empty Host, is an error wrapping ErrNoMatch.
//
// The zero value has no namespace. Host is safe for concurrent use.
type Host struct {
	// Namespace prefixes every service name, followed by a dot; "" for none.
	Namespace string
}

var _ Resolver = Host{}

// Resolve implements Resolver.
func (h Host) Resolve(r *http.Request) (Endpoint, error) {
	const kind = "host"
	name := r.Host
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		for j := i + 1; j < len(name); j++ {
			if !isDigit(name[j]) {
				return Endpoint{}, noMatch(kind, r.Host, "port is not a number")
			}
		}
		name = name[:i]
	}
	name = strings.TrimSuffix(name, ".")
	if why := checkHostName(name); why != "" {
		return Endpoint{}, noMatch(kind, r.Host, why)
	}

	var b strings.Builder
	b.Grow(len(h.Namespace) + 1 + len(name))
	if h.Namespace != "" {
		b.WriteString(h.Namespace)
		b.WriteByte('.')
	}
	for i := 0; i < len(name); i++ {
		b.WriteByte(lower(name[i]))
	}
	return Endpoint{Service: b.String(), Path: r.URL.Path, Host: r.Host}, nil
}

// checkHostName returns why name (port and root dot removed, any case) is not a DNS host
// name, or "".
func checkHostName(name string) string {
	if name == "" {
		return "empty host"
	}
	if len(name) > maxHostLen {
		return "host name longer than 253 bytes"
	}
	start := 0
	for i := 0; i <= len(name); i++ {
		if i < len(name) {
			c := name[i]
			if c == '.' {
				// label ends here
			} else if isLetter(c) || isDigit(c) || c == '-' {
				continue
			} else {
				return "host has a character outside [A-Za-z0-9.-]"
			}
		}
		label := name[start:i]
		switch {
		case label == "":
			return "empty label in host"
		case len(label) > 63:
			return "host label longer than 63 bytes"
		case label[0] == '-' || label[len(label)-1] == '-':
			return "host label starts or ends with a dash"
		}
		if i == len(name) && allDigits(label) {
			return "host is an IP address or its last label is numeric"
		}
		start = i + 1
	}
	return ""
}

// allDigits reports whether s is made of ASCII digits only.
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
