package httphandler

import (
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/edgeapi/gateway/h1client"
)

// hopByHop reports whether a header (canonical key) belongs to one connection only and never
// crosses the proxy (RFC 9110 7.6.1, plus the pre-standard Proxy-Connection and Keep-Alive).
func hopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// forwardedByUs reports whether the proxy sets a header itself; the client's copy is not passed.
func forwardedByUs(k string) bool {
	switch k {
	case "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto":
		return true
	}
	return false
}

// namedIn reports whether the Connection header values name the header k; those are hop-by-hop
// too.
func namedIn(connection []string, k string) bool {
	return len(connection) > 0 && h1client.HasToken(connection, k)
}

// upgradeType is the protocol an upgrade request asks for ("websocket"), or "" when h is not an
// upgrade request (it needs "Connection: upgrade" and an Upgrade header).
func upgradeType(h http.Header) string {
	up := h["Upgrade"]
	if len(up) == 0 || !h1client.HasToken(h["Connection"], "upgrade") {
		return ""
	}
	return up[0]
}

// Values the outbound request shares between requests; nothing writes to them.
var (
	schemeHTTP     = []string{"http"}
	schemeHTTPS    = []string{"https"}
	noUserAgent    = []string{""}
	connUpgrade    = []string{"Upgrade"}
	teTrailersOnly = []string{"trailers"}
)

// outboundHeader builds the header sent to the node from the inbound one in a single map: every
// end-to-end header (values shared, not copied: neither side changes them), TE only as
// "trailers", the upgrade pair for an upgrade request, and X-Forwarded-For/Host/Proto by the
// rules of Config.TrustedProxies. xf backs the X-Forwarded values so they cost no allocation.
func (h *Handler) outboundHeader(r *http.Request, upType string, xf *[3]string) http.Header {
	in := r.Header
	_, hasUA := in["User-Agent"]
	te := in["Te"]
	n := len(in) + 3 // the inbound headers and X-Forwarded-For/Host/Proto
	if !hasUA {
		n++
	}
	if len(te) > 0 {
		n++
	}
	if upType != "" {
		n += 2
	}
	out := make(http.Header, n)
	conn := in["Connection"]
	for k, v := range in {
		if hopByHop(k) || forwardedByUs(k) || namedIn(conn, k) {
			continue
		}
		out[k] = v
	}
	if !hasUA {
		// Without one, the transport would send its own ("Go-http-client/1.1").
		out["User-Agent"] = noUserAgent
	}
	if len(te) > 0 && h1client.HasToken(te, "trailers") {
		out["Te"] = teTrailersOnly
	}
	if upType != "" {
		out["Connection"] = connUpgrade
		xf[2] = upType
		out["Upgrade"] = xf[2:3:3]
	}

	proto := schemeHTTP
	if r.TLS != nil {
		proto = schemeHTTPS
	}
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if !h.cfg.TrustedProxies.Trusted(r.RemoteAddr) {
		if err == nil {
			xf[0] = ip
			out["X-Forwarded-For"] = xf[0:1:1]
		}
		xf[1] = r.Host
		out["X-Forwarded-Host"] = xf[1:2:2]
		out["X-Forwarded-Proto"] = proto
		return out
	}
	// A trusted proxy in front: keep what it said and add this hop.
	if err == nil {
		if prior := in["X-Forwarded-For"]; len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		xf[0] = ip
		out["X-Forwarded-For"] = xf[0:1:1]
	}
	if v := in["X-Forwarded-Host"]; len(v) > 0 && v[0] != "" {
		out["X-Forwarded-Host"] = v[:1:1]
	} else {
		xf[1] = r.Host
		out["X-Forwarded-Host"] = xf[1:2:2]
	}
	if v := in["X-Forwarded-Proto"]; len(v) > 0 && v[0] != "" {
		out["X-Forwarded-Proto"] = v[:1:1]
	} else {
		out["X-Forwarded-Proto"] = proto
	}
	return out
}

// copyResponseHeader adds the node's end-to-end response headers to dst (which may already
// hold headers the middleware set, such as "Connection: close": those stay). The node's value
// slices are handed over, not copied: the response is ours alone.
func copyResponseHeader(dst, src http.Header) {
	conn := src["Connection"]
	for k, v := range src {
		if hopByHop(k) || namedIn(conn, k) {
			continue
		}
		if prev, ok := dst[k]; ok {
			dst[k] = append(prev[:len(prev):len(prev)], v...)
			continue
		}
		dst[k] = v
	}
}

// cleanQuery returns the raw query to forward: as received, unless it holds a ';' or a broken
// %-escape, which servers split or decode differently (parameter smuggling); such a query is
// re-encoded from what Go's own parser makes of it, as httputil.ReverseProxy does.
func cleanQuery(q string) string {
	for i := 0; i < len(q); i++ {
		switch q[i] {
		case ';':
			return reencodeQuery(q)
		case '%':
			if i+2 >= len(q) || !isHex(q[i+1]) || !isHex(q[i+2]) {
				return reencodeQuery(q)
			}
			i += 2
		}
	}
	return q
}

func reencodeQuery(q string) string {
	v, _ := url.ParseQuery(q)
	return v.Encode()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// isEventStream reports whether a Content-Type is text/event-stream (parameters ignored),
// without parsing it into a map.
func isEventStream(ct string) bool {
	const es = "text/event-stream"
	ct = strings.TrimLeft(ct, " \t")
	if len(ct) < len(es) || !strings.EqualFold(ct[:len(es)], es) {
		return false
	}
	rest := strings.TrimLeft(ct[len(es):], " \t")
	return rest == "" || rest[0] == ';'
}
