// Package cors answers Cross-Origin Resource Sharing for the gateway from an allow-list.
//
//	mw, err := cors.New(cors.Config{
//		AllowedOrigins:   []string{"https://app.example.com"},
//		AllowedHeaders:   []string{"Authorization", "Content-Type"},
//		AllowCredentials: true,
//	})
//
// Contract:
//   - An origin is allowed when it equals an entry of AllowedOrigins (scheme, host and port,
//     compared case-insensitively, default ports ignored), or when AllowedOrigins contains "*".
//     "*" cannot be combined with AllowCredentials (New refuses it): an arbitrary origin is never
//     reflected together with credentials. "null" is never allowed.
//   - Preflight (OPTIONS with Origin and Access-Control-Request-Method): answered here, never
//     passed on. Allowed origin, method and headers: 204 with Access-Control-Allow-Origin,
//     -Methods, -Headers, -Max-Age and, when configured, -Allow-Credentials. Anything not allowed:
//     403 with the gateway's JSON error naming what was refused.
//   - Actual request with an allowed Origin: Access-Control-Allow-Origin (the origin itself, or
//     "*" for a wildcard without credentials), -Allow-Credentials when configured,
//     -Expose-Headers when configured; then the next handler. With an Origin that is not allowed:
//     passed on without CORS headers (the browser withholds the response; non-browser clients are
//     not CORS's business).
//   - Every response carries "Vary: Origin" unless the policy is a wildcard without
//     credentials (the answer then does not depend on the Origin); preflight answers also vary on
//     Access-Control-Request-Method and -Headers.
//   - A request without Origin is passed on untouched.
package cors

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgeapi/gateway/apierror"
)

// Config is the CORS policy; zero values mean the documented defaults.
type Config struct {
	// AllowedOrigins lists origins as "scheme://host[:port]" (no path), or "*" for any origin.
	// Empty allows no origin: every preflight is refused and no CORS header is ever sent.
	AllowedOrigins []string
	// AllowedMethods may be requested by a preflight. Default GET, HEAD, POST.
	AllowedMethods []string
	// AllowedHeaders may be requested by a preflight, compared case-insensitively; "*" allows
	// any (the requested names are echoed). Default Accept, Accept-Language, Content-Language,
	// Content-Type.
	AllowedHeaders []string
	// ExposedHeaders lets scripts read these response headers. Default none.
	ExposedHeaders []string
	// MaxAge is how long a browser may cache a preflight answer, in whole seconds. Default 10
	// minutes; negative omits the header (the browser's own default, 5 s, applies).
	MaxAge time.Duration
	// AllowCredentials sends Access-Control-Allow-Credentials: true, letting browsers include
	// cookies and HTTP authentication. Not allowed with origin "*".
	AllowCredentials bool
}

// Defaults for the zero Config.
var (
	defaultMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost}
	defaultHeaders = []string{"Accept", "Accept-Language", "Content-Language", "Content-Type"}
)

// DefaultMaxAge is the preflight cache time when Config.MaxAge is zero.
const DefaultMaxAge = 10 * time.Minute

type policy struct {
	anyOrigin bool
	origins   map[string]bool // canonical origins
	// exact are the canonical origins that are their own canonical form (all but oddities
	// such as an IPv6 zone): an Origin header spelled exactly so is allowed without parsing.
	exact       map[string]bool
	methods     []string
	methodsList string
	anyHeader   bool
	headers     map[string]bool // lower-cased
	exposed     string
	maxAge      string // "" to omit
	credentials bool
}

// New validates cfg and returns the middleware.
func New(cfg Config) (func(http.Handler) http.Handler, error) {
	p := &policy{origins: map[string]bool{}, exact: map[string]bool{}, headers: map[string]bool{}, credentials: cfg.AllowCredentials}
	for _, o := range cfg.AllowedOrigins {
		if o == "*" {
			p.anyOrigin = true
			continue
		}
		c, err := canonicalOrigin(strings.TrimSuffix(o, "/"))
		if err != nil {
			return nil, fmt.Errorf("cors: allowed origin %q: %w", o, err)
		}
		p.origins[c] = true
		if again, err := canonicalOrigin(c); err == nil && again == c {
			p.exact[c] = true
		}
	}
	if p.anyOrigin && cfg.AllowCredentials {
		return nil, errors.New(`cors: origin "*" cannot be combined with AllowCredentials; list the origins`)
	}
	methods := cfg.AllowedMethods
	if len(methods) == 0 {
		methods = defaultMethods
	}
	for _, m := range methods {
		if !token(m) {
			return nil, fmt.Errorf("cors: allowed method %q is not a method name", m)
		}
		if m == "*" {
			return nil, errors.New(`cors: allowed method "*": list the methods`)
		}
		if !slices.Contains(p.methods, m) {
			p.methods = append(p.methods, m)
		}
	}
	p.methodsList = strings.Join(p.methods, ", ")
	headers := cfg.AllowedHeaders
	if len(headers) == 0 {
		headers = defaultHeaders
	}
	for _, h := range headers {
		if h == "*" {
			p.anyHeader = true
			continue
		}
		if !token(h) {
			return nil, fmt.Errorf("cors: allowed header %q is not a header name", h)
		}
		p.headers[strings.ToLower(h)] = true
	}
	for _, h := range cfg.ExposedHeaders {
		if !token(h) || h == "*" {
			return nil, fmt.Errorf("cors: exposed header %q is not a header name", h)
		}
	}
	p.exposed = strings.Join(cfg.ExposedHeaders, ", ")
	switch {
	case cfg.MaxAge == 0:
		p.maxAge = strconv.Itoa(int(DefaultMaxAge / time.Second))
	case cfg.MaxAge > 0:
		p.maxAge = strconv.FormatInt(int64(cfg.MaxAge/time.Second), 10)
	}
	return func(next http.Handler) http.Handler {
		return &handler{p: p, next: next}
	}, nil
}

type handler struct {
	p    *policy
	next http.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := h.p
	origin, hasOrigin := r.Header["Origin"]
	preflight := r.Method == http.MethodOptions && hasOrigin && r.Header.Get("Access-Control-Request-Method") != ""
	hdr := w.Header()
	if !p.anyOrigin || p.credentials {
		hdr.Add("Vary", "Origin")
	}
	if preflight {
		hdr.Add("Vary", "Access-Control-Request-Method")
		hdr.Add("Vary", "Access-Control-Request-Headers")
		h.preflight(w, r)
		return
	}
	if !hasOrigin || len(origin) != 1 || !p.allowOrigin(origin[0]) {
		h.next.ServeHTTP(w, r)
		return
	}
	h.allowOriginHeaders(hdr, origin[0])
	if p.exposed != "" {
		hdr.Set("Access-Control-Expose-Headers", p.exposed)
	}
	h.next.ServeHTTP(w, r)
}

func (h *handler) preflight(w http.ResponseWriter, r *http.Request) {
	p := h.p
	origins := r.Header["Origin"]
	if len(origins) != 1 || !p.allowOrigin(origins[0]) {
		forbid(w, "origin %s is not allowed", quote(strings.Join(origins, ", ")))
		return
	}
	method := r.Header.Get("Access-Control-Request-Method")
	if !slices.Contains(p.methods, method) {
		forbid(w, "method %s is not allowed from origin %s", quote(method), quote(origins[0]))
		return
	}
	requested, ok := requestedHeaders(r.Header.Values("Access-Control-Request-Headers"))
	if !ok {
		forbid(w, "Access-Control-Request-Headers is malformed or names more than %d headers", maxRequestedHeaders)
		return
	}
	if !p.anyHeader {
		for _, name := range requested {
			if !p.headers[name] {
				forbid(w, "header %s is not allowed from origin %s", quote(name), quote(origins[0]))
				return
			}
		}
	}
	hdr := w.Header()
	h.allowOriginHeaders(hdr, origins[0])
	hdr.Set("Access-Control-Allow-Methods", p.methodsList)
	if len(requested) > 0 {
		hdr.Set("Access-Control-Allow-Headers", strings.Join(requested, ", "))
	}
	if p.maxAge != "" {
		hdr.Set("Access-Control-Max-Age", p.maxAge)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) allowOriginHeaders(hdr http.Header, origin string) {
	if h.p.anyOrigin && !h.p.credentials {
		hdr.Set("Access-Control-Allow-Origin", "*")
		return
	}
	hdr.Set("Access-Control-Allow-Origin", origin)
	if h.p.credentials {
		hdr.Set("Access-Control-Allow-Credentials", "true")
	}
}

func (p *policy) allowOrigin(origin string) bool {
	if origin == "" || strings.EqualFold(origin, "null") {
		return false
	}
	if p.anyOrigin || p.exact[origin] {
		return true
	}
	c, err := canonicalOrigin(origin)
	return err == nil && p.origins[c]
}

// canonicalOrigin returns "scheme://host[:port]" lower-cased, without a default port, or an
// error when s is not a serialised origin (no path, not even "/"; New trims a configured
// trailing slash first).
func canonicalOrigin(s string) (string, error) {
	if strings.EqualFold(s, "null") {
		return "", errors.New(`"null" is the origin of sandboxed and file: documents, never allowed`)
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	if u.Scheme == "" || u.Host == "" || u.Opaque != "" || u.User != nil ||
		u.Path != "" || u.RawPath != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", errors.New("want scheme://host[:port]")
	}
	if strings.Contains(u.Host, "*") {
		return "", errors.New("wildcards in a host are not supported; list the origins")
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", errors.New("bad port")
		}
	}
	if scheme == "http" && port == "80" || scheme == "https" && port == "443" {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}

// maxRequestedHeaders bounds the names a preflight may ask for (browsers send a handful).
const maxRequestedHeaders = 64

// requestedHeaders splits Access-Control-Request-Headers into lower-cased names, in order,
// without empties or duplicates; ok is false when a name is not a token or there are more
// than maxRequestedHeaders.
func requestedHeaders(values []string) (names []string, ok bool) {
	for _, v := range values {
		for f := range strings.SplitSeq(v, ",") {
			f = strings.ToLower(strings.TrimSpace(f))
			if f == "" || slices.Contains(names, f) {
				continue
			}
			if !token(f) || len(names) == maxRequestedHeaders {
				return nil, false
			}
			names = append(names, f)
		}
	}
	return names, true
}

func forbid(w http.ResponseWriter, format string, args ...any) {
	apierror.Write(w, apierror.GatewayID, apierror.New(http.StatusForbidden, "CORS preflight refused: "+format, args...))
}

func quote(s string) string {
	if len(s) > 128 {
		s = s[:128] + "..."
	}
	return strconv.Quote(s)
}

// token reports whether s is an RFC 9110 token (a method or header name).
func token(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}
