// Package httphandler is the gateway's http handler: a reverse proxy to a node of the resolved
// service. (The directory is handler/http; the package name avoids shadowing net/http.)
//
// Contract:
//   - One httputil.ReverseProxy and one http.Transport serve every request; the target node comes
//     from the selector per request and its breaker hears the outcome: a failure to connect or a
//     transport error counts against the node, any HTTP status the backend sends does not.
//   - The forwarded path is the endpoint's Path (after a route's strip-prefix), in the same
//     normalised form the router matched; the query is kept.
//   - X-Forwarded-For/Host/Proto: appended to when the peer is a trusted proxy, overwritten
//     otherwise. Hop-by-hop headers and headers named in Connection never cross (ReverseProxy).
//   - A request that failed to connect is retried once on another node, only for idempotent
//     methods whose body can be replayed; never after the backend saw the request.
//   - Streaming answers (server-sent events, chunked bodies) are flushed as they arrive.
//   - Failures are written by apierror: unreachable 502, timeout 504, client gone 499.
package httphandler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/resolver"
	"github.com/edgeapi/gateway/selector"
	"github.com/edgeapi/gateway/trust"
)

// Selector picks a node of a service; *selector.Selector implements it.
type Selector interface {
	Select(service string, exclude ...string) (selector.Pick, error)
}

// Config tunes the proxy; zero values mean the documented defaults.
type Config struct {
	// DialTimeout bounds connecting to a node; default 3s.
	DialTimeout time.Duration
	// Timeout bounds the whole exchange until the response headers; default 15s. Streams are not
	// cut once headers arrived.
	Timeout time.Duration
	// MaxIdleConnsPerHost sizes the keep-alive pool per node; default 256.
	MaxIdleConnsPerHost int
	// TrustedProxies may set X-Forwarded-*.
	TrustedProxies trust.Proxies
	// Transport replaces the shared transport (tests, TLS to backends).
	Transport http.RoundTripper
}

// Handler is the reverse proxy handler.
type Handler struct {
	sel   Selector
	log   *slog.Logger
	cfg   Config
	proxy *httputil.ReverseProxy
}

type pickKey struct{}

// errResponseTimeout is the cancel cause when a node did not send response headers in time.
var errResponseTimeout = fmt.Errorf("no response headers in time: %w", context.DeadlineExceeded)

// attempt is the per-request state the proxy's hooks share through the request context.
type attempt struct {
	service string
	path    string
	// in is the inbound request (with the attempt's context); a retry starts again from it, not
	// from the outbound request the failed attempt built.
	in    *http.Request
	pick  selector.Pick
	tried []string
}

// New returns the http handler.
func New(sel Selector, log *slog.Logger, cfg Config) *Handler {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 3 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.MaxIdleConnsPerHost <= 0 {
		cfg.MaxIdleConnsPerHost = 256
	}
	if cfg.Transport == nil {
		cfg.Transport = NewTransport(cfg.DialTimeout, cfg.MaxIdleConnsPerHost)
	}
	h := &Handler{sel: sel, log: log, cfg: cfg}
	h.proxy = &httputil.ReverseProxy{
		Rewrite:        h.rewrite,
		Transport:      cfg.Transport,
		BufferPool:     newBufferPool(),
		ModifyResponse: h.modifyResponse,
		ErrorHandler:   h.errorHandler,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return h
}

// NewTransport is the shared backend transport: keep-alive pools sized for load, bounded dials,
// no proxy from the environment (upstreams come only from the registry).
func NewTransport(dialTimeout time.Duration, idlePerHost int) *http.Transport {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		MaxIdleConns:          idlePerHost * 4,
		MaxIdleConnsPerHost:   idlePerHost,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     false,
	}
}

// Route returns a handler with a route's own response timeout.
func (h *Handler) Route(timeout, _ time.Duration, _ int64) http.Handler {
	if timeout <= 0 {
		return h
	}
	c := *h
	c.cfg.Timeout = timeout
	return &c
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ep := resolver.EndpointFrom(r.Context())
	if ep == nil {
		apierror.Write(w, apierror.GatewayID, errors.New("http handler reached without a resolved endpoint"))
		return
	}
	h.Forward(w, r, ep.Service, ep.Path)
}

// Forward proxies r to a node of service at path. The web handler uses it for plain requests.
func (h *Handler) Forward(w http.ResponseWriter, r *http.Request, service, path string) {
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	// The response timeout covers connecting and waiting for headers; a stream that already
	// started is not cut (ModifyResponse stops the timer).
	timer := time.AfterFunc(h.cfg.Timeout, func() { cancel(errResponseTimeout) })
	defer timer.Stop()
	a := &attempt{service: service, path: path}
	ctx = context.WithValue(ctx, pickKey{}, &timedAttempt{attempt: a, timer: timer})
	a.in = r.WithContext(ctx)
	h.serveAttempt(w, a.in, a)
}

type timedAttempt struct {
	*attempt
	timer *time.Timer
}

func (h *Handler) serveAttempt(w http.ResponseWriter, r *http.Request, a *attempt) {
	pick, err := h.sel.Select(a.service, a.tried...)
	if err != nil {
		if len(a.tried) > 0 && errors.Is(err, selector.ErrNoNodes) {
			err = &apierror.DialError{Address: a.service, Err: errors.New("no other node to retry on")}
		}
		apierror.Write(w, a.service, err)
		return
	}
	a.pick = pick
	h.proxy.ServeHTTP(w, r)
}

func attemptFrom(r *http.Request) *timedAttempt {
	a, _ := r.Context().Value(pickKey{}).(*timedAttempt)
	return a
}

func (h *Handler) rewrite(pr *httputil.ProxyRequest) {
	a := attemptFrom(pr.In)
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = a.pick.Node.Address
	pr.Out.URL.Path = a.path
	pr.Out.URL.RawPath = ""
	pr.Out.Host = pr.In.Host
	if h.cfg.TrustedProxies.Trusted(pr.In.RemoteAddr) {
		// Keep what the trusted proxy in front said and add this hop.
		if v := pr.In.Header.Values("X-Forwarded-For"); len(v) > 0 {
			pr.Out.Header["X-Forwarded-For"] = v
		}
		pr.SetXForwarded()
		if v := pr.In.Header.Get("X-Forwarded-Host"); v != "" {
			pr.Out.Header.Set("X-Forwarded-Host", v)
		}
		if v := pr.In.Header.Get("X-Forwarded-Proto"); v != "" {
			pr.Out.Header.Set("X-Forwarded-Proto", v)
		}
		return
	}
	pr.SetXForwarded()
}

func (h *Handler) modifyResponse(resp *http.Response) error {
	if a := attemptFrom(resp.Request); a != nil {
		a.timer.Stop()
		a.pick.Done(nil)
	}
	return nil
}

func (h *Handler) errorHandler(w http.ResponseWriter, out *http.Request, err error) {
	a := attemptFrom(out)
	if a == nil {
		apierror.Write(w, apierror.GatewayID, err)
		return
	}
	// Our own response timeout is reported as such (a DeadlineExceeded), to the breaker too,
	// whatever the transport wrapped it in: the node did not answer in time.
	if errors.Is(context.Cause(out.Context()), errResponseTimeout) {
		err = errResponseTimeout
	}
	a.pick.Done(err)
	in := a.in
	if out.Context().Err() == nil && isDialError(err) && len(a.tried) == 0 && replayable(in) {
		a.tried = append(a.tried, a.pick.Node.ID)
		if in.GetBody != nil && in.Body != nil && in.Body != http.NoBody {
			body, berr := in.GetBody()
			if berr != nil {
				apierror.Write(w, a.service, berr)
				return
			}
			in.Body = body
		}
		h.serveAttempt(w, in, a.attempt)
		return
	}
	if isDialError(err) {
		err = &apierror.DialError{Address: a.pick.Node.Address, Err: err}
	}
	h.log.Debug("proxy error", "service", a.service, "node", a.pick.Node.ID, "error", err)
	apierror.Write(w, a.service, err)
}

// isDialError reports a failure to connect: the backend never saw the request.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// replayable reports whether the request may be sent again: idempotent method, and a body that is
// absent or can be produced again.
func replayable(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
	default:
		return false
	}
	return r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 || r.GetBody != nil
}

// bufferPool recycles the proxy's copy buffers, which otherwise cost 32 KiB per request.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(x []byte) { b.p.Put(&x) }
