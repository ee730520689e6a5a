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
//   - Retries follow the route's retry.Policy: a request that failed to connect moves to another
//     node once (any method, if its body can be replayed); with retries on, an idempotent request
//     (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) is also retried after a transport failure or a
//     per-try timeout, its body (up to 64 KiB) kept in memory for the replay. Nothing is retried
//     once the response has started: retries happen only before the backend's headers arrived.
//   - Nodes are reached over https when Config.TLSAll is set or their metadata says tls=true.
//   - Streaming answers (server-sent events, chunked bodies) are flushed as they arrive.
//   - Failures are written by apierror: unreachable 502, timeout 504, client gone 499.
package httphandler

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/resolver"
	"github.com/edgeapi/gateway/retry"
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
	// Transport replaces the shared transport (tests).
	Transport http.RoundTripper
	// TLS is the client TLS configuration for https backends; nil: system roots.
	TLS *tls.Config
	// TLSAll reaches every node over https, not only those whose metadata says tls=true.
	TLSAll bool
	// Retry is the default retry policy; nil retries only connect failures, once.
	Retry *retry.Policy
}

// maxReplayBody is the largest request body kept in memory so that a retry can send it again.
const maxReplayBody = 64 << 10

// Handler is the reverse proxy handler.
type Handler struct {
	sel   Selector
	log   *slog.Logger
	cfg   Config
	proxy *httputil.ReverseProxy
}

type pickKey struct{}

// errResponseTimeout is the cancel cause when a node did not send response headers in time;
// errTryTimeout when one try ran out of its per-try timeout.
var (
	errResponseTimeout = fmt.Errorf("no response headers in time: %w", context.DeadlineExceeded)
	errTryTimeout      = fmt.Errorf("no response headers within the per-try timeout: %w", context.DeadlineExceeded)
)

// attempt is the per-request state the proxy's hooks share through the request context.
type attempt struct {
	service string
	path    string
	pol     *retry.Policy
	// in is the inbound request (with the request's context); a retry starts again from it, not
	// from the outbound request the failed attempt built.
	in    *http.Request
	timer *time.Timer // the response timeout of the whole request
	// The current try: its node, its per-try timer (nil without a per-try timeout).
	pick     selector.Pick
	tryTimer *time.Timer
	tries    int
	tried    []string
	token    bool // holds a retry budget token
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
		t := NewTransport(cfg.DialTimeout, cfg.MaxIdleConnsPerHost)
		t.TLSClientConfig = cfg.TLS
		cfg.Transport = t
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

// WithRetry returns a handler like h that follows p (a route's own retry policy).
func (h *Handler) WithRetry(p *retry.Policy) http.Handler { return h.withRetry(p) }

func (h *Handler) withRetry(p *retry.Policy) *Handler {
	c := *h
	c.cfg.Retry = p
	return &c
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
	pol := h.cfg.Retry
	pol.Begin()
	defer pol.End()
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	// The response timeout covers connecting and waiting for headers; a stream that already
	// started is not cut (ModifyResponse stops the timer).
	timer := time.AfterFunc(h.cfg.Timeout, func() { cancel(errResponseTimeout) })
	defer timer.Stop()
	a := &attempt{service: service, path: path, pol: pol, timer: timer}
	defer func() {
		if a.token {
			pol.Release()
		}
	}()
	ctx = context.WithValue(ctx, pickKey{}, a)
	a.in = r.WithContext(ctx)
	if pol.Enabled() && idempotent(r.Method) {
		if err := keepBody(a.in); err != nil {
			apierror.Write(w, service, err)
			return
		}
	}
	h.serveAttempt(w, a)
}

func (h *Handler) serveAttempt(w http.ResponseWriter, a *attempt) {
	pick, err := h.sel.Select(a.service, a.tried...)
	if err != nil {
		if len(a.tried) > 0 && errors.Is(err, selector.ErrNoNodes) {
			err = &apierror.DialError{Address: a.service, Err: errors.New("no other node to retry on")}
		}
		apierror.Write(w, a.service, err)
		return
	}
	a.pick = pick
	a.tries++
	r := a.in
	if t := a.pol; t != nil && t.PerTryTimeout > 0 {
		ctx, cancel := context.WithCancelCause(a.in.Context())
		defer cancel(nil)
		a.tryTimer = time.AfterFunc(t.PerTryTimeout, func() { cancel(errTryTimeout) })
		defer a.tryTimer.Stop()
		r = a.in.WithContext(ctx)
	}
	h.proxy.ServeHTTP(w, r)
}

func attemptFrom(r *http.Request) *attempt {
	a, _ := r.Context().Value(pickKey{}).(*attempt)
	return a
}

func (h *Handler) rewrite(pr *httputil.ProxyRequest) {
	a := attemptFrom(pr.In)
	pr.Out.URL.Scheme = "http"
	if h.cfg.TLSAll || a.pick.Node.TLS() {
		pr.Out.URL.Scheme = "https"
	}
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
		if a.tryTimer != nil {
			a.tryTimer.Stop()
		}
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
	// Our own response timeouts are reported as such (a DeadlineExceeded), to the breaker too,
	// whatever the transport wrapped them in: the node did not answer in time.
	switch cause := context.Cause(out.Context()); {
	case errors.Is(cause, errResponseTimeout):
		err = errResponseTimeout
	case errors.Is(cause, errTryTimeout):
		err = errTryTimeout
	}
	a.pick.Done(err)
	if h.retryable(a, err) {
		a.tried = append(a.tried, a.pick.Node.ID)
		in := a.in
		if in.GetBody != nil && in.Body != nil && in.Body != http.NoBody {
			body, berr := in.GetBody()
			if berr != nil {
				apierror.Write(w, a.service, berr)
				return
			}
			in.Body = body
		}
		h.serveAttempt(w, a)
		return
	}
	if isDialError(err) {
		err = &apierror.DialError{Address: a.pick.Node.Address, Err: err}
	}
	h.log.Debug("proxy error", "service", a.service, "node", a.pick.Node.ID, "error", err)
	apierror.Write(w, a.service, err)
}

// retryable reports whether the failed try may be made again on another node, and takes the
// budget token for it. The error handler runs before anything was written to the client.
func (h *Handler) retryable(a *attempt, err error) bool {
	if a.in.Context().Err() != nil { // the client left or the response timeout ran out
		return false
	}
	sent := !isDialError(err)
	if sent && !selector.IsNodeFailure(err) {
		return false
	}
	if !replayable(a.in) || !a.pol.May(a.tries-1, sent, idempotent(a.in.Method)) {
		return false
	}
	if !a.token {
		a.token = a.pol.Acquire()
	}
	return a.token
}

// isDialError reports a failure to connect: the backend never saw the request.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// idempotent reports whether HTTP says the method may be repeated (RFC 9110 9.2.2).
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// replayable reports whether the request's body is absent or can be produced again.
func replayable(r *http.Request) bool {
	return r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 || r.GetBody != nil
}

// keepBody reads a small body of known length into memory so a retry can send it again; a body
// too large or of unknown length is streamed as usual and the request is not retried once sent.
func keepBody(r *http.Request) error {
	if replayable(r) || r.ContentLength < 0 || r.ContentLength > maxReplayBody {
		return nil
	}
	b := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(r.Body, b); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return apierror.New(http.StatusRequestEntityTooLarge, "request body exceeds the limit of %d bytes", tooBig.Limit)
		}
		return apierror.BadRequest("", fmt.Errorf("reading the request body: %w", err))
	}
	_ = r.Body.Close()
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	r.Body, _ = r.GetBody()
	return nil
}

// bufferPool recycles the proxy's copy buffers, which otherwise cost 32 KiB per request.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(x []byte) { b.p.Put(&x) }
