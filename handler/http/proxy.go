// Package httphandler is the gateway's http handler: a reverse proxy to a node of the resolved
// service. (The directory is handler/http; the package name avoids shadowing net/http.)
//
// Contract:
//   - The proxy is written here (forward.go), not httputil.ReverseProxy: the outbound request is
//     built directly from the inbound one (no full clone, one header map), and the per-request
//     state is a local struct. One transport serves every request: by default an h1client
//     Transport, an HTTP/1.1 client on keep-alive pools in which the handler's goroutine writes
//     the request and reads the answer itself (no per-connection goroutines, no channel
//     handoffs). The target node comes from the selector per try and its breaker hears the
//     outcome (Pick.Done once per try): nil once response headers arrived, whatever the status,
//     the transport error otherwise (a failure to connect, a reset, a timeout). A client that
//     went away counts for nothing.
//   - The forwarded path is the endpoint's Path (after a route's strip-prefix), in the same
//     normalised form the router matched; the query is kept as received (re-encoded only when
//     it holds ';' or a broken %-escape, which servers parse differently); Host is the client's.
//   - X-Forwarded-For/Host/Proto: appended to (For) or kept (Host, Proto) when the peer is a
//     trusted proxy, overwritten otherwise; a client's Forwarded header is dropped. Hop-by-hop
//     headers never cross, either way: Connection and every header it names, Proxy-Connection,
//     Keep-Alive, Proxy-Authenticate, Proxy-Authorization, TE (except "TE: trailers"), Trailer,
//     Transfer-Encoding, Upgrade. Without a User-Agent none is added.
//   - Retries follow the route's retry.Policy: a request that failed to connect moves to another
//     node once (any method, if its body can be replayed); with retries on, an idempotent request
//     (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) is also retried after a transport failure or a
//     per-try timeout, its body (up to 64 KiB) kept in memory for the replay; every retry needs
//     a budget token. Nothing is retried once the response has started: retries happen only
//     before the backend's headers arrived. With no node left, the last node's error answers.
//   - Config.Timeout bounds connecting, sending and waiting for the response headers, over all
//     tries; the policy's PerTryTimeout bounds each try. Once headers arrived nothing cuts the
//     answer: streams run as long as both sides want.
//   - Nodes are reached over https when Config.TLSAll is set or their metadata says tls=true.
//   - Answers: status and end-to-end headers are added to what the middleware set; bodies are
//     copied through pooled 32 KiB buffers, flushed as they arrive for server-sent events and
//     bodies of unknown length; trailers pass (undeclared ones too); 1xx answers such as 103
//     Early Hints are passed on (100 Continue is the server's own). A body the node cuts short
//     aborts the client's response (http.ErrAbortHandler) rather than ending it cleanly.
//   - An upgrade request ("Connection: upgrade" + Upgrade) is forwarded as one; when the node
//     switches (101) to the protocol asked for, the client's connection is taken over and bytes
//     pumped both ways until either side is done; a switch to another protocol is a 502. (The
//     edge guard admits only "Upgrade: websocket"; the web handler proxies WebSockets itself.)
//   - Failures are written by apierror: unreachable 502, timeout 504, client gone 499.
package httphandler

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/h1client"
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
	sel     Selector
	log     *slog.Logger
	cfg     Config
	buffers *sync.Pool // *[]byte of 32 KiB, shared by the handler's route copies
	// by is cfg.Transport when it can bound a try itself (h1client): see tryBy.
	by deadlineTransport
}

// deadlineTransport bounds an exchange until the response's headers by a deadline on the
// connection, which spares each try a context of its own and a timer (a tenth of the handler's
// allocations, ~5% of its CPU per request).
type deadlineTransport interface {
	RoundTripBy(req *http.Request, by time.Time) (*http.Response, error)
}

// errResponseTimeout is the error of a try cut because the node did not send response headers
// within the response timeout; errTryTimeout within the per-try timeout.
var (
	errResponseTimeout = fmt.Errorf("no response headers in time: %w", context.DeadlineExceeded)
	errTryTimeout      = fmt.Errorf("no response headers within the per-try timeout: %w", context.DeadlineExceeded)
)

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
		cfg.Transport = NewTransport(cfg.DialTimeout, cfg.MaxIdleConnsPerHost, cfg.TLS)
	}
	by, _ := cfg.Transport.(deadlineTransport)
	return &Handler{sel: sel, log: log, cfg: cfg, buffers: newBufferPool(), by: by}
}

// NewTransport is the shared backend transport: an h1client Transport with keep-alive pools
// sized for load and bounded dials. Upstreams come only from the registry (no proxy from the
// environment), and nothing is compressed by the transport: the client's Accept-Encoding
// crosses as sent and a compressed answer passes through as it is.
func NewTransport(dialTimeout time.Duration, idlePerHost int, tlsConfig *tls.Config) *h1client.Transport {
	return h1client.New(h1client.Config{DialTimeout: dialTimeout, MaxIdleConnsPerHost: idlePerHost, TLS: tlsConfig})
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
	h.forward(w, r, ep.Service, ep.Path)
}

// Forward proxies r to a node of service at path. The web handler uses it for plain requests.
func (h *Handler) Forward(w http.ResponseWriter, r *http.Request, service, path string) {
	h.forward(w, r, service, path)
}

// brokenConnection turns the io.EOF the transport reports when a node closed the connection
// after the request was written and before any response byte (or io.ErrUnexpectedEOF, when it
// cut the response headers short) into the network error it is: like a reset, it counts
// against the node, may be retried (idempotent requests), and is answered 502 rather than 500.
func brokenConnection(err error) error {
	var ne net.Error
	if (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) && !errors.As(err, &ne) {
		return &net.OpError{Op: "read", Net: "tcp", Err: fmt.Errorf("the node closed the connection without answering: %w", err)}
	}
	return err
}

// isDialError reports a failure to connect: the backend never saw the request. A TLS
// handshake that failed on the gateway's side (the node's certificate is not trusted, or the
// node does not speak TLS) is one too: the request is sent only after the handshake.
func isDialError(err error) bool {
	var op *net.OpError
	var cert *tls.CertificateVerificationError
	var rec tls.RecordHeaderError
	return errors.As(err, &op) && op.Op == "dial" || errors.As(err, &cert) || errors.As(err, &rec)
}

// replayable reports whether the request's body is absent or can be produced again.
func replayable(r *http.Request) bool {
	return r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 || r.GetBody != nil
}

// keepBody reads a small body of known length into memory so a retry can send it again; a body
// too large or of unknown length is streamed as usual and the request is not retried once sent.
// It returns nil when nothing was kept.
func keepBody(r *http.Request) ([]byte, error) {
	if replayable(r) || r.ContentLength < 0 || r.ContentLength > maxReplayBody {
		return nil, nil
	}
	b := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(r.Body, b); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, err // apierror answers it 413
		}
		return nil, apierror.BadRequest("", fmt.Errorf("reading the request body: %w", err))
	}
	_ = r.Body.Close()
	return b, nil
}
