// Package web is the gateway's web handler: the http handler's reverse proxy for ordinary
// requests, plus WebSocket proxying for upgrade requests.
//
// Contract for WebSockets:
//   - Only "Upgrade: websocket" is accepted; the Origin must be in the allow-list (or absent, for
//     non-browser clients, unless RequireOrigin is set); otherwise 403.
//   - The gateway dials the backend node first, offering the client's subprotocols, and accepts the
//     client with the subprotocol the backend chose, so negotiation is end to end. A backend that
//     refuses the handshake gets its status passed back (as a JSON error body).
//   - Messages are pumped both ways in order, text stays text and binary stays binary; each side
//     has a read limit and an idle timeout kept alive by pings; a close frame's code and reason
//     cross to the other side; when either side goes away the other is closed.
//   - Concurrent sessions are bounded (MaxConns); past it the upgrade is refused with 503.
package web

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/edgeapi/gateway/apierror"
	httphandler "github.com/edgeapi/gateway/handler/http"
	"github.com/edgeapi/gateway/handler/wsgate"
	"github.com/edgeapi/gateway/resolver"
	"github.com/edgeapi/gateway/retry"
	"github.com/edgeapi/gateway/selector"
)

// Config tunes the WebSocket side; zero values mean the documented defaults.
type Config struct {
	// AllowedOrigins lists exact origins ("https://app.example.com") or "*" for any.
	AllowedOrigins []string
	// RequireOrigin refuses upgrades without an Origin header.
	RequireOrigin bool
	// ReadLimit caps one message, each way; default 1 MiB.
	ReadLimit int64
	// IdleTimeout closes a session that exchanged nothing (not even pongs) for this long; default 60s.
	IdleTimeout time.Duration
	// PingInterval sends pings to both sides; default IdleTimeout/2.
	PingInterval time.Duration
	// DialTimeout bounds the backend handshake; default 3s.
	DialTimeout time.Duration
	// MaxConns bounds concurrent sessions; default 10000.
	MaxConns int64
	// TLS is the client TLS configuration for wss backends; nil: system roots.
	TLS *tls.Config
	// TLSAll reaches every node over wss, not only those whose metadata says tls=true.
	TLSAll bool
}

// Handler is the web handler.
type Handler struct {
	proxy  *httphandler.Handler
	sel    httphandler.Selector
	log    *slog.Logger
	cfg    Config
	dialer *websocket.Dialer
	active atomic.Int64
	// sessions tracks live sessions so Shutdown can close them with 1001 and wait.
	mu       sync.Mutex
	sessions map[*session]struct{}
	wg       sync.WaitGroup
}

// New returns the web handler over an http handler for plain requests.
func New(proxy *httphandler.Handler, sel httphandler.Selector, log *slog.Logger, cfg Config) *Handler {
	if cfg.ReadLimit <= 0 {
		cfg.ReadLimit = 1 << 20
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = cfg.IdleTimeout / 2
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 3 * time.Second
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 10000
	}
	return &Handler{
		proxy: proxy, sel: sel, log: log, cfg: cfg,
		dialer:   &websocket.Dialer{HandshakeTimeout: cfg.DialTimeout, Proxy: nil, TLSClientConfig: cfg.TLS},
		sessions: map[*session]struct{}{},
	}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, h.proxy)
}

// Route returns a handler whose plain (non-WebSocket) requests use a route's response timeout;
// WebSocket sessions are unaffected and still tracked by h.
func (h *Handler) Route(timeout, maxTimeout time.Duration, bodyLimit int64) http.Handler {
	return (&routed{h: h, proxy: h.proxy}).Route(timeout, maxTimeout, bodyLimit)
}

// WithRetry returns a handler whose plain requests follow p (a route's own retry policy).
// WebSocket handshakes move to another node only when the first could not be reached at all.
func (h *Handler) WithRetry(p *retry.Policy) http.Handler {
	return (&routed{h: h, proxy: h.proxy}).WithRetry(p)
}

// routed is the web handler with a route's own proxy settings; its sessions are h's.
type routed struct {
	h     *Handler
	proxy *httphandler.Handler
}

func (rt *routed) ServeHTTP(w http.ResponseWriter, r *http.Request) { rt.h.serve(w, r, rt.proxy) }

func (rt *routed) Route(timeout, maxTimeout time.Duration, bodyLimit int64) http.Handler {
	if p, ok := rt.proxy.Route(timeout, maxTimeout, bodyLimit).(*httphandler.Handler); ok {
		return &routed{h: rt.h, proxy: p}
	}
	return rt
}

func (rt *routed) WithRetry(pol *retry.Policy) http.Handler {
	if p, ok := rt.proxy.WithRetry(pol).(*httphandler.Handler); ok {
		return &routed{h: rt.h, proxy: p}
	}
	return rt
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, proxy *httphandler.Handler) {
	ep := resolver.EndpointFrom(r.Context())
	if ep == nil {
		apierror.Write(w, apierror.GatewayID, errors.New("web handler reached without a resolved endpoint"))
		return
	}
	if !wsgate.IsUpgrade(r) {
		if r.Header.Get("Upgrade") != "" {
			apierror.Write(w, ep.Service, apierror.New(http.StatusBadRequest, "only Upgrade: websocket is supported"))
			return
		}
		proxy.Forward(w, r, ep.Service, ep.Path)
		return
	}
	h.serveWebSocket(w, r, ep)
}

func (h *Handler) serveWebSocket(w http.ResponseWriter, r *http.Request, ep *resolver.Endpoint) {
	if !wsgate.OriginAllowed(r, h.cfg.AllowedOrigins, h.cfg.RequireOrigin) {
		apierror.Write(w, ep.Service, apierror.New(http.StatusForbidden, "origin %q is not allowed", r.Header.Get("Origin")))
		return
	}
	if h.isShutDown() {
		apierror.Write(w, ep.Service, apierror.New(http.StatusServiceUnavailable, "the gateway is shutting down"))
		return
	}
	if h.active.Add(1) > h.cfg.MaxConns {
		h.active.Add(-1)
		apierror.Write(w, ep.Service, apierror.New(http.StatusServiceUnavailable, "too many WebSocket connections"))
		return
	}
	released := false // set once a tracked session gave its slot back, before Shutdown's wait ends
	defer func() {
		if !released {
			h.active.Add(-1)
		}
	}()

	backend, resp, pick, err := h.dialBackend(r, ep)
	if err != nil {
		if resp != nil {
			// A refusal (4xx, 5xx) is passed back; any other answer means the node does not
			// speak WebSocket on this path, which is a bad gateway.
			code := resp.StatusCode
			if code < 400 || code > 599 {
				code = http.StatusBadGateway
			}
			apierror.Write(w, ep.Service, apierror.New(code, "the backend refused the WebSocket handshake: %s", resp.Status))
			return
		}
		apierror.Write(w, ep.Service, err)
		return
	}
	defer pick.Done(nil)

	up := websocket.Upgrader{
		HandshakeTimeout: h.cfg.DialTimeout,
		CheckOrigin:      func(*http.Request) bool { return true }, // checked above
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			apierror.Write(w, ep.Service, apierror.New(status, "WebSocket handshake: %v", reason))
		},
	}
	if p := backend.Subprotocol(); p != "" {
		up.Subprotocols = []string{p}
	}
	client, err := up.Upgrade(w, r, nil)
	if err != nil {
		// Upgrade already answered the client.
		_ = backend.Close()
		return
	}
	s := newSession(client, backend, h.cfg, h.log.With("service", ep.Service, "node", pick.Node.ID))
	if !h.track(s) {
		// Shutdown began after the check above: no pumps will run, so close here.
		s.closeBoth(websocket.CloseGoingAway, "gateway shutting down")
		_ = client.Close()
		_ = backend.Close()
		return
	}
	defer func() {
		// The slot is given back before untrack ends Shutdown's wait, so Active() is 0 by then.
		h.active.Add(-1)
		released = true
		h.untrack(s)
	}()
	s.run()
}

// dialBackend opens the backend WebSocket on a node, retrying once on another node when the
// first could not be reached at all.
func (h *Handler) dialBackend(r *http.Request, ep *resolver.Endpoint) (*websocket.Conn, *http.Response, selector.Pick, error) {
	var tried []string
	var lastErr error // why the node tried first could not be reached
	for {
		pick, err := h.sel.Select(ep.Service, tried...)
		if err != nil {
			if len(tried) > 0 && errors.Is(err, selector.ErrNoNodes) {
				// No other node: the first node's own failure says most.
				err = lastErr
			}
			return nil, nil, selector.Pick{}, err
		}
		u := url.URL{Scheme: "ws", Host: pick.Node.Address, Path: ep.Path, RawQuery: r.URL.RawQuery}
		if h.cfg.TLSAll || pick.Node.TLS() {
			u.Scheme = "wss"
		}
		hdr := http.Header{}
		for _, k := range []string{"Authorization", "Cookie", "X-Request-Id", "User-Agent"} {
			if v := r.Header.Values(k); len(v) > 0 {
				hdr[k] = v
			}
		}
		if o := r.Header.Get("Origin"); o != "" {
			hdr.Set("Origin", o)
		}
		if protos := websocket.Subprotocols(r); len(protos) > 0 {
			hdr.Set("Sec-WebSocket-Protocol", strings.Join(protos, ", "))
		}
		hdr.Set("X-Forwarded-For", clientIP(r))
		ctx, cancel := context.WithTimeout(r.Context(), h.cfg.DialTimeout)
		conn, resp, err := h.dialer.DialContext(ctx, u.String(), hdr)
		cancel()
		if err == nil {
			return conn, resp, pick, nil
		}
		if resp != nil {
			pick.Done(nil) // the node answered: it is alive
			return nil, resp, selector.Pick{}, err
		}
		pick.Done(err)
		lastErr = &apierror.DialError{Address: pick.Node.Address, Err: err}
		if len(tried) > 0 || r.Context().Err() != nil {
			return nil, nil, selector.Pick{}, lastErr
		}
		tried = append(tried, pick.Node.ID)
	}
}

func clientIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		host = strings.Trim(host[:i], "[]")
	}
	return host
}

func (h *Handler) isShutDown() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sessions == nil
}

func (h *Handler) track(s *session) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sessions == nil {
		return false
	}
	h.sessions[s] = struct{}{}
	h.wg.Add(1)
	return true
}

func (h *Handler) untrack(s *session) {
	h.mu.Lock()
	delete(h.sessions, s)
	h.mu.Unlock()
	h.wg.Done()
}

// Shutdown closes every session with 1001 (going away) and waits for them, or for ctx.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	sessions := h.sessions
	h.sessions = nil
	h.mu.Unlock()
	for s := range sessions {
		s.closeBoth(websocket.CloseGoingAway, "gateway shutting down")
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Active reports the number of live sessions.
func (h *Handler) Active() int64 { return h.active.Load() }
