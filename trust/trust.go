// Package trust decides which peers may speak for the client: X-Forwarded-For and friends are
// believed only from peers inside configured CIDRs (a load balancer in front of the gateway),
// and overwritten for everyone else.
package trust

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Proxies is a set of trusted CIDRs. The zero value trusts nobody.
type Proxies struct {
	prefixes []netip.Prefix
}

// Parse builds a set from CIDRs or bare addresses ("10.0.0.0/8", "127.0.0.1").
func Parse(cidrs []string) (Proxies, error) {
	var p Proxies
	for _, c := range cidrs {
		c = strings.TrimSpace(c)
		if !strings.Contains(c, "/") {
			a, err := netip.ParseAddr(c)
			if err != nil {
				return Proxies{}, fmt.Errorf("trusted proxy %q: %w", c, err)
			}
			p.prefixes = append(p.prefixes, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		pr, err := netip.ParsePrefix(c)
		if err != nil {
			return Proxies{}, fmt.Errorf("trusted proxy %q: %w", c, err)
		}
		p.prefixes = append(p.prefixes, pr.Masked())
	}
	return p, nil
}

// Trusted reports whether the peer at remoteAddr ("ip:port" as in http.Request.RemoteAddr) is
// a trusted proxy.
func (p Proxies) Trusted(remoteAddr string) bool {
	if len(p.prefixes) == 0 {
		return false
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, pr := range p.prefixes {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}
