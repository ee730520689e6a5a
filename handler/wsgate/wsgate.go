// Package wsgate holds the two checks every WebSocket entry of the gateway makes (the web
// handler's proxying and the rpc handler's client/bidi streams): is this a WebSocket upgrade,
// and may this browser origin open one.
package wsgate

import (
	"net/http"
	"slices"
	"strings"
)

// IsUpgrade reports whether r asks for a WebSocket: Upgrade: websocket with "upgrade" among the
// Connection tokens.
func IsUpgrade(r *http.Request) bool {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	for _, v := range r.Header.Values("Connection") {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), "upgrade") {
				return true
			}
		}
	}
	return false
}

// OriginAllowed reports whether r's Origin is in allowed ("*" allows any). A request without
// Origin (not from a browser) is allowed unless requireOrigin is set.
func OriginAllowed(r *http.Request, allowed []string, requireOrigin bool) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return !requireOrigin
	}
	return slices.Contains(allowed, "*") || slices.Contains(allowed, origin)
}
