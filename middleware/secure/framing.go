package secure

import (
	"net/http"
	"strings"
)

// framing returns why r's body framing is ambiguous, or "". net/http's server already refuses
// all of these before a handler runs (see testdata/attacks/smuggle-*.txt); the checks are for
// requests that reach the middleware another way.
func framing(r *http.Request) string {
	if _, ok := r.Header["Transfer-Encoding"]; ok {
		// net/http moves the header into r.TransferEncoding; a handler seeing it means some
		// other code parsed the request.
		return "unexpected Transfer-Encoding header"
	}
	te := r.TransferEncoding
	if len(te) > 1 || len(te) == 1 && te[0] != "chunked" {
		return "Transfer-Encoding must be exactly \"chunked\""
	}
	cl := r.Header["Content-Length"]
	if len(cl) > 0 && len(te) > 0 {
		return "Content-Length and Transfer-Encoding together"
	}
	if len(cl) > 1 {
		return "more than one Content-Length"
	}
	if len(cl) == 1 && !digits(strings.TrimSpace(cl[0])) {
		return "malformed Content-Length"
	}
	return ""
}

// chunked reports whether r's body came with chunked transfer coding.
func chunked(r *http.Request) bool {
	return len(r.TransferEncoding) > 0
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// upgrade returns why r's Upgrade header is refused, or "". Only a single "websocket" token on
// a GET of HTTP/1.1 or later passes (and not even that with Config.DenyWebSocket).
func (g *guard) upgrade(r *http.Request) string {
	vals, ok := r.Header["Upgrade"]
	if !ok {
		return ""
	}
	if g.cfg.DenyWebSocket {
		return "protocol upgrades are not allowed"
	}
	if len(vals) != 1 || !strings.EqualFold(strings.TrimSpace(vals[0]), "websocket") {
		return "only \"Upgrade: websocket\" is allowed, not " + quote(strings.Join(vals, ", "))
	}
	if r.Method != http.MethodGet || !r.ProtoAtLeast(1, 1) {
		return "a WebSocket upgrade must be a GET over HTTP/1.1"
	}
	return ""
}
