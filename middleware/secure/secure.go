// Package secure hardens a request before the gateway routes it, so that the gateway never
// forwards something it did not check, and routing and forwarding see the same path.
//
// Install it outermost, before the router:
//
//	mw, err := secure.New(secure.Config{})
//	if err != nil { ... }
//	handler := mw(router)
//
// Every refusal is written by apierror.Write (the gateway's JSON error body), on HTTP/1 with
// "Connection: close", so that bytes a client sent after a refused request are never read as
// another request.
//
// What it refuses:
//   - 405 (Allow lists the ordinary methods): CONNECT, TRACE and PRI. The gateway is not a
//     forward proxy, TRACE reflects credentials, PRI is an HTTP/2 preface sent as HTTP/1.
//   - 400: a request target that is not origin-form ("/path?query"): absolute-form
//     ("GET http://evil/ HTTP/1.1") and asterisk-form ("GET *"). net/http replaces Host with the
//     authority of an absolute-form target and drops the Host header, so a mismatch between the
//     two cannot be seen once the request is parsed; every absolute-form target is refused
//     rather than guessing (upstreams come from the registry, never from the request). net/http
//     itself answers "OPTIONS *".
//   - 414: a path longer than Config.MaxPathBytes.
//   - 400: a path that NormalizePath refuses (encoded separators, backslashes, NUL and control
//     characters, invalid or overlong UTF-8, encoded or parameterised dot segments, ".." above the
//     root, double encoding; see NormalizePath for the full list).
//   - 400: an Upgrade header other than exactly one "websocket" token on a GET of HTTP/1.1 or
//     later ("Upgrade: h2c", "Upgrade: websocket, h2c", "Upgrade: TLS/1.2"); any Upgrade at all
//     when Config.DenyWebSocket is set.
//   - 400: ambiguous message framing: Transfer-Encoding other than exactly "chunked", several
//     or malformed Content-Length values (net/http's server already answers these with 400 or
//     501 before any handler runs), and Content-Length together with Transfer-Encoding (which
//     net/http never shows a handler: it drops Content-Length, see below). The checks matter for
//     requests that reach the middleware another way (another server, a test, a future
//     net/http); the attack corpus in testdata/attacks records what net/http does on its own.
//
// What it changes:
//   - The path is replaced by its normalised form (NormalizePath): r.URL.Path holds it decoded,
//     r.URL.RawPath holds it escaped when that differs from Go's default escaping, and
//     r.RequestURI is the escaped path plus the query as received. The query is not touched.
//   - The HTTP2-Settings header is removed (it only means something next to "Upgrade: h2c").
//   - Headers whose names hold an underscore are removed, as NGINX does by default, unless
//     Config.UnderscoresInHeaders is set. CGI-style backends (WSGI, Rack, PHP) read "-" and "_"
//     as one character, so "X_Jwt_Sub" would reach them as the identity header the gateway
//     strips from clients, and "X_Forwarded_For" as the header it rewrites.
//   - "Connection: close" is set on the response to a request with a chunked body and to every
//     HTTP/1.0 request. net/http resolves "Content-Length + Transfer-Encoding: chunked" by
//     dropping Content-Length (RFC 9112 6.3) and ignores Transfer-Encoding on HTTP/1.0 (using
//     Content-Length or no body); neither is visible to a handler afterwards. A proxy in front
//     that framed the message the other way would take what follows the body for a new request:
//     closing the connection after such a request means the gateway never reads those bytes.
//     (Handlers after this one must leave the header in place; the http handler's proxy does.)
//
// A request whose path, URL and RequestURI are already in that form (the common case: a clean
// path) is passed on as it is; any other as a shallow copy with its own URL. The header map is
// shared either way.
package secure

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/internal/h1wire"
)

// Config tunes the middleware; the zero value is the documented default.
type Config struct {
	// MaxPathBytes bounds the raw (escaped) path; longer paths are refused with 414.
	// Default 8192; negative is an error.
	MaxPathBytes int
	// DenyWebSocket refuses "Upgrade: websocket" as well (for a gateway with no web handler).
	DenyWebSocket bool
	// UnderscoresInHeaders keeps request headers whose names hold an underscore; by default
	// they are removed (see the package doc).
	UnderscoresInHeaders bool
}

// DefaultMaxPathBytes is the path length limit when Config.MaxPathBytes is zero.
const DefaultMaxPathBytes = 8192

// allowedMethods is the Allow header of the 405 for CONNECT, TRACE and PRI.
const allowedMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

// New validates cfg and returns the middleware.
func New(cfg Config) (func(http.Handler) http.Handler, error) {
	if cfg.MaxPathBytes < 0 {
		return nil, errors.New("secure: MaxPathBytes must not be negative")
	}
	if cfg.MaxPathBytes == 0 {
		cfg.MaxPathBytes = DefaultMaxPathBytes
	}
	return func(next http.Handler) http.Handler {
		return &guard{cfg: cfg, next: next}
	}, nil
}

type guard struct {
	cfg  Config
	next http.Handler
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodConnect, http.MethodTrace, "PRI":
		refuse(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed", "Allow", allowedMethods)
		return
	}
	rawPath, rawQuery, ok := target(r)
	if !ok {
		refuse(w, r, http.StatusBadRequest, "the request target must be a path (origin-form), not "+quote(r.RequestURI))
		return
	}
	if len(rawPath) > g.cfg.MaxPathBytes {
		refuse(w, r, http.StatusRequestURITooLong, "the path is longer than "+strconv.Itoa(g.cfg.MaxPathBytes)+" bytes")
		return
	}
	clean, err := NormalizePath(rawPath)
	if err != nil {
		refuse(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if reason := framing(r); reason != "" {
		refuse(w, r, http.StatusBadRequest, reason)
		return
	}
	if reason := g.upgrade(r); reason != "" {
		refuse(w, r, http.StatusBadRequest, reason)
		return
	}
	r.Header.Del("Http2-Settings")
	if !g.cfg.UnderscoresInHeaders {
		dropUnderscored(r.Header)
	}
	if r.ProtoMajor == 1 && (r.ProtoMinor == 0 || chunked(r)) {
		w.Header().Set("Connection", "close")
	}
	if !normalised(r, clean, rawQuery) {
		r = withPath(r, clean, rawQuery)
	}
	g.next.ServeHTTP(w, r)
}

// dropUnderscored removes the headers whose names hold an underscore.
func dropUnderscored(h http.Header) {
	for k := range h {
		if strings.IndexByte(k, '_') >= 0 {
			delete(h, k)
		}
	}
}

// normalised reports whether r already carries exactly what withPath would give it for the
// normalised path clean and the query rawQuery, so that the common request, whose path was
// clean on arrival, is passed on without a copy. That needs a path Go's URL escaping leaves
// as it is (no escapes, no sub-delims Go escapes), so that withPath would set Path to clean
// and RawPath to "".
func normalised(r *http.Request, clean, rawQuery string) bool {
	u := r.URL
	if u.Path != clean || u.RawPath != "" || u.RawQuery != rawQuery || u.ForceQuery || !plainPath(clean) {
		return false
	}
	uri := r.RequestURI
	if rawQuery == "" {
		return uri == clean
	}
	return len(uri) == len(clean)+1+len(rawQuery) && strings.HasPrefix(uri, clean) &&
		uri[len(clean)] == '?' && strings.HasSuffix(uri, rawQuery)
}

// target returns the raw path and query of r's request target, and false when the target is
// not origin-form.
func target(r *http.Request) (path, query string, ok bool) {
	uri := r.RequestURI
	if uri == "" {
		// A request built in-process (tests, an embedding program): its URL is all there is.
		if r.URL.Scheme != "" || r.URL.Host != "" || r.URL.Opaque != "" {
			return "", "", false
		}
		return r.URL.EscapedPath(), r.URL.RawQuery, true
	}
	if uri[0] != '/' {
		return "", "", false
	}
	path, query, _ = strings.Cut(uri, "?")
	return path, query, true
}

// plainPath reports whether every byte of p is one that url.URL.EscapedPath keeps unescaped:
// letters, digits, "-._~" and "$&+,/:;=@".
func plainPath(p string) bool {
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '/', c == '-', c == '.', c == '_', c == '~', c == '$', c == '&', c == '+', c == ',',
			c == ':', c == ';', c == '=', c == '@':
		default:
			return false
		}
	}
	return true
}

// withPath returns a shallow copy of r whose URL and RequestURI carry the normalised path.
func withPath(r *http.Request, escaped, rawQuery string) *http.Request {
	r2 := r.WithContext(r.Context())
	u := *r.URL
	u.Path = unescape(escaped)
	u.RawPath = ""
	if u.EscapedPath() != escaped {
		u.RawPath = escaped
	}
	u.RawQuery = rawQuery
	u.ForceQuery = false
	r2.URL = &u
	r2.RequestURI = escaped
	if rawQuery != "" {
		r2.RequestURI += "?" + rawQuery
	}
	return r2
}

// unescape decodes a path NormalizePath produced (its escapes are all well formed).
func unescape(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			hi, _ := h1wire.HexDigit(s[i+1])
			lo, _ := h1wire.HexDigit(s[i+2])
			b = append(b, hi<<4|lo)
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

// refuse writes the gateway's JSON error and, on HTTP/1, asks net/http to close the connection
// afterwards (on HTTP/2 "Connection: close" would tear down every stream of the connection,
// and HTTP/2 framing leaves nothing to smuggle). extra are header name/value pairs.
func refuse(w http.ResponseWriter, r *http.Request, code int, detail string, extra ...string) {
	e := apierror.New(code, "%s", detail)
	e.Header = http.Header{}
	if r.ProtoMajor < 2 || r.Method == "PRI" { // "PRI * HTTP/2.0" arrives on an HTTP/1 connection
		e.Header.Set("Connection", "close")
	}
	for i := 0; i+1 < len(extra); i += 2 {
		e.Header.Set(extra[i], extra[i+1])
	}
	apierror.Write(w, apierror.GatewayID, e)
}

func quote(s string) string {
	if len(s) > maxQuoted {
		s = s[:maxQuoted] + "..."
	}
	return strconv.Quote(s)
}
