// Package trust decides which peers may speak for the client: X-Forwarded-For and friends are
// believed only from peers inside configured CIDRs (a load balancer in front of the gateway),
// and overwritten for everyone else.
//
// Contract:
//   - Proxies is an immutable set of CIDRs; the zero value trusts nobody. It is safe for
//     concurrent use and cheap to copy.
//   - Addresses are compared unmapped and without IPv6 zone: a peer "[::ffff:10.0.0.1]:80"
//     matches "10.0.0.0/8", and an IPv4-mapped CIDR ("::ffff:10.0.0.0/104") is stored as its
//     IPv4 form so that it matches too.
//   - ClientIP returns the peer's address unless the peer is trusted; only then is
//     X-Forwarded-For read, and only the entry depth hops from its right end (see FromRight), so
//     what the client itself wrote to the left of the trusted hops is never believed.
package trust

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies is a set of trusted CIDRs. The zero value trusts nobody.
type Proxies struct {
	prefixes []netip.Prefix
}

// Parse builds a set from CIDRs or bare addresses ("10.0.0.0/8", "127.0.0.1", "::1",
// "fd00::/8"). Surrounding spaces are ignored; an empty entry, a zoned address or anything
// else that is not an address or prefix is an error naming the entry.
func Parse(cidrs []string) (Proxies, error) {
	var p Proxies
	for _, c := range cidrs {
		c = strings.TrimSpace(c)
		if strings.Contains(c, "%") {
			return Proxies{}, fmt.Errorf("trusted proxy %q: an IPv6 zone is not allowed", c)
		}
		if !strings.Contains(c, "/") {
			a, err := netip.ParseAddr(c)
			if err != nil {
				return Proxies{}, fmt.Errorf("trusted proxy %q: %w", c, err)
			}
			a = a.Unmap()
			p.prefixes = append(p.prefixes, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		pr, err := netip.ParsePrefix(c)
		if err != nil {
			return Proxies{}, fmt.Errorf("trusted proxy %q: %w", c, err)
		}
		if a := pr.Addr(); a.Is4In6() {
			if pr.Bits() < 96 {
				return Proxies{}, fmt.Errorf("trusted proxy %q: an IPv4-mapped prefix needs at least 96 bits", c)
			}
			pr = netip.PrefixFrom(a.Unmap(), pr.Bits()-96)
		}
		p.prefixes = append(p.prefixes, pr.Masked())
	}
	return p, nil
}

// Empty reports whether the set trusts nobody.
func (p Proxies) Empty() bool { return len(p.prefixes) == 0 }

// String lists the CIDRs, comma separated (for logs).
func (p Proxies) String() string {
	s := make([]string, len(p.prefixes))
	for i, pr := range p.prefixes {
		s[i] = pr.String()
	}
	return strings.Join(s, ",")
}

// Trusted reports whether the peer at remoteAddr ("ip:port" as in http.Request.RemoteAddr, or
// a bare address) is a trusted proxy.
func (p Proxies) Trusted(remoteAddr string) bool {
	if len(p.prefixes) == 0 {
		return false
	}
	return p.Contains(PeerAddr(remoteAddr))
}

// Contains reports whether a (unmapped, zone ignored) is inside one of the CIDRs. The zero
// Addr is never contained.
func (p Proxies) Contains(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, pr := range p.prefixes {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the address of the client that sent r: the peer (r.RemoteAddr), unless the
// peer is trusted and X-Forwarded-For holds a valid address depth entries from its right end
// (FromRight). depth is the number of trusted proxies in front of the gateway, the peer
// included; values below 1 mean 1. The result is the zero Addr only when RemoteAddr is not an
// address either (a Unix socket, a hand-built request).
func (p Proxies) ClientIP(r *http.Request, depth int) netip.Addr {
	peer := PeerAddr(r.RemoteAddr)
	if !p.Contains(peer) {
		return peer
	}
	if a, ok := FromRight(r.Header.Values("X-Forwarded-For"), depth); ok {
		return a
	}
	return peer
}

// PeerAddr parses remoteAddr ("ip:port", "[v6]:port", or a bare address) into an unmapped
// address without zone; it returns the zero Addr when remoteAddr is none of these.
func PeerAddr(remoteAddr string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	if a, ok := parseEntry(remoteAddr); ok {
		return a
	}
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		if a, ok := parseEntry(host); ok {
			return a
		}
	}
	return netip.Addr{}
}

// FromRight picks the entry depth hops from the right end of X-Forwarded-For, given as the
// header's values in order (several header lines are one comma-separated list, RFC 9110
// 5.3). depth 1 is the last entry: the address the nearest trusted proxy saw connecting to it;
// depth 2 the one before, written by the proxy in front of that one; values below 1 mean 1.
// Empty elements are skipped. When the list has fewer than depth entries, all of them were
// written by trusted proxies and the leftmost is the client. An entry may carry a port
// ("192.0.2.1:4711", "[2001:db8::1]:4711") or brackets; ok is false when the chosen entry is not
// an address ("unknown", obfuscated identifiers, garbage) or the list is empty. Only the
// entries up to the chosen one are examined, so a long header costs no more than depth
// entries.
func FromRight(values []string, depth int) (netip.Addr, bool) {
	if depth < 1 {
		depth = 1
	}
	var last string // leftmost non-empty entry seen so far, walking right to left
	seen := 0
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for end := len(v); end >= 0; {
			start := strings.LastIndexByte(v[:end], ',') + 1
			entry := strings.TrimSpace(v[start:end])
			end = start - 1
			if entry == "" {
				continue
			}
			seen++
			last = entry
			if seen == depth {
				return parseEntry(entry)
			}
		}
	}
	if seen == 0 {
		return netip.Addr{}, false
	}
	return parseEntry(last)
}

// parseEntry parses one X-Forwarded-For element: an address, optionally bracketed, optionally
// with a port.
func parseEntry(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return netip.Addr{}, false
		}
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Addr().Zone() != "" {
			return netip.Addr{}, false
		}
		return ap.Addr().Unmap(), true
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() && a.Zone() == "" {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}
