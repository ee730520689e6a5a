// Package h1client is an HTTP/1.1 client for the gateway's proxy backends: an
// http.RoundTripper on pooled keep-alive connections, in which the calling goroutine writes the
// request and reads the response itself.
//
// net/http's Transport gives every connection a read and a write goroutine and hands each
// request to them over channels; at proxy loads that machinery (scheduling, parking, the
// connection-wanting bookkeeping) costs more CPU than the bytes it moves. Here the common
// exchange, a request with no body or a small one of known length, runs on the caller's
// goroutine alone: header and body go out in one flush, http.ReadResponse parses the answer
// from the connection's reader, and the connection goes back to its pool when the body has
// been read to its end.
//
// Contract:
//   - Schemes http and https (req.URL.Scheme); HTTP/1.1 only (the TLS handshake offers only
//     "http/1.1"). The connection is chosen by (scheme, URL host), the Host header is req.Host
//     or else the URL's host. The request line carries the URL's path and raw query as given.
//   - Headers are written as given, nothing added: no User-Agent (an empty User-Agent is not
//     written), no Accept-Encoding, no compression. A value holding a control character (CR,
//     LF, NUL...) is dropped rather than written. Content-Length is sent as net/http sends it
//     (a positive length; 0 for POST, PUT and PATCH), Transfer-Encoding: chunked when a body's
//     length is unknown, request trailers (req.Trailer) announced and sent after the last chunk
//     with the values they hold once the body has been read. "Connection: close" when req.Close.
//     "Expect: 100-continue" is not waited on: the body is sent at once.
//   - A body of known length up to 64 KiB is written by the caller with the headers; a larger or
//     streaming body is written by a goroutine the call owns while the caller reads the
//     response, so a node that answers early (a 413) without reading cannot deadlock the
//     exchange. That goroutine ends when the body is written or the connection fails; it closes
//     req.Body when done, as the RoundTripper contract allows.
//   - 1xx answers other than 101 go to the context's httptrace.ClientTrace.Got1xxResponse (at
//     most 5 of them); a 101's Body is an io.ReadWriteCloser over the connection, which is then
//     the caller's and never pooled.
//   - Connections are pooled per (scheme, host), most recently used first, at most
//     MaxIdleConnsPerHost idle; one idle longer than IdleConnTimeout is closed. A connection goes
//     back to the pool when its response body reaches EOF (before the caller's Close), provided
//     neither side asked to close and the request body was written whole; a body closed before
//     its end closes the connection. Before an idle connection is reused it is checked, without
//     blocking, for a close (or stray bytes) from the server that arrived while it was idle;
//     a replayable request (below) skips that look on a connection idle for less than a second,
//     since a close is then repaired by the resend.
//   - Cancelling the request's context aborts a dial, a write or a read in progress, including a
//     read of the response body, and the error returned is context.Cause of it. A request whose
//     context is done already is not sent. Once the exchange runs, cancellation takes effect
//     within 10 ms (ctxWatchDelay): registering with the context costs more than the rest of an
//     exchange's bookkeeping, so only exchanges that last are registered.
//   - RoundTripBy bounds the exchange until the response's headers (the dial included) by a
//     deadline on the connection itself, set lazily (at most 1/64 of the bound, and 250 ms,
//     later; never earlier); past it the call fails, the connection is closed and the request
//     is not sent again. The response body is not bounded by it.
//   - A reused connection that fails before any byte of the response arrived (the server closed
//     it while it was idle) is replaced by a fresh one and the request sent again, once, when
//     net/http would do so: nothing was written and the body can be produced again (GetBody), or
//     the request is replayable (GET, HEAD, OPTIONS, TRACE, or an Idempotency-Key header, with no
//     body or GetBody).
//   - Errors: a failed dial is a *net.OpError with Op "dial"; a refused TLS handshake is the tls
//     package's error (tls.CertificateVerificationError, tls.RecordHeaderError...); a connection
//     the server closed without answering wraps io.EOF; an answer that is not HTTP/1.1 is a
//     *ProtocolError (a net.Error); a failure reading the request body is returned as that
//     error (an *http.MaxBytesError stays one).
//   - A Transport is safe for concurrent use and runs no goroutine of its own: idle connections
//     are reaped by timers.
package h1client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Config tunes a Transport; zero values mean the documented defaults.
type Config struct {
	// DialTimeout bounds connecting, the TLS handshake included; default 3s.
	DialTimeout time.Duration
	// MaxIdleConnsPerHost bounds the idle connections kept per (scheme, host); default 256.
	MaxIdleConnsPerHost int
	// IdleConnTimeout closes a connection idle for longer; default 90s.
	IdleConnTimeout time.Duration
	// TLS configures https connections; nil means the system roots. The Transport uses a copy
	// with NextProtos ["http/1.1"], TLS 1.2 at least unless MinVersion says more, and a session
	// cache when none is set. ServerName, when empty, is the URL's host.
	TLS *tls.Config
}

// Transport is an HTTP/1.1 http.RoundTripper; see the package documentation.
type Transport struct {
	dialer      net.Dialer
	tls         *tls.Config
	maxIdle     int
	idleTimeout time.Duration
	trustIdle   time.Duration // see defaultTrustIdle
	bufs        sync.Pool     // *[]byte of copyBufSize, for streaming request bodies

	mu     sync.Mutex
	idle   map[connKey][]*conn // per key, most recently used last
	closed bool                // Close was called: released connections are closed, not pooled
}

var _ http.RoundTripper = (*Transport)(nil)

// connKey names a pool: connections are shared only by requests to the same scheme and host.
type connKey struct {
	scheme string // "http" or "https"
	addr   string // host:port
}

const (
	// maxSyncBody is the largest body of known length written by the caller with the headers.
	maxSyncBody = 64 << 10
	// max1xx bounds the informational answers read before the final one, as net/http does.
	max1xx = 5
	// maxHeaderBytes bounds what a response's headers (1xx answers included) may take.
	maxHeaderBytes = 1 << 20
	// maxWriteWait is how long a released connection waits for its body writer to report
	// before it is closed rather than reused (net/http waits as long).
	maxWriteWait = 50 * time.Millisecond
	copyBufSize  = 32 << 10
	bufioSize    = 4 << 10
)

// New returns a Transport configured by cfg.
func New(cfg Config) *Transport {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 3 * time.Second
	}
	if cfg.MaxIdleConnsPerHost <= 0 {
		cfg.MaxIdleConnsPerHost = 256
	}
	if cfg.IdleConnTimeout <= 0 {
		cfg.IdleConnTimeout = 90 * time.Second
	}
	var tc *tls.Config
	if cfg.TLS != nil {
		tc = cfg.TLS.Clone()
	} else {
		tc = &tls.Config{}
	}
	tc.NextProtos = []string{"http/1.1"}
	if tc.MinVersion < tls.VersionTLS12 {
		tc.MinVersion = tls.VersionTLS12
	}
	if tc.ClientSessionCache == nil {
		// Redials to a node resume the session instead of a full handshake.
		tc.ClientSessionCache = tls.NewLRUClientSessionCache(0)
	}
	t := &Transport{
		dialer:      net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second},
		tls:         tc,
		maxIdle:     cfg.MaxIdleConnsPerHost,
		idleTimeout: cfg.IdleConnTimeout,
		trustIdle:   defaultTrustIdle,
		idle:        make(map[connKey][]*conn),
	}
	t.bufs.New = func() any { b := make([]byte, copyBufSize); return &b }
	return t
}

// RoundTrip sends req and returns the response once its headers arrived. It implements
// http.RoundTripper: req is not modified, and its body is closed, on errors too.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.RoundTripBy(req, time.Time{})
}

// RoundTripBy is RoundTrip with the exchange up to the response's headers bounded by the
// deadline by (none when zero): the dial, the request going out and the headers coming back.
// The bound is the connection's own deadline, cleared once the headers are in, so it costs
// neither a context nor a timer. Past it the call fails (the connection is closed, and the
// request is not sent again on another); the response body is not bounded.
func (t *Transport) RoundTripBy(req *http.Request, by time.Time) (*http.Response, error) {
	key, err := requestKey(req)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	ctx := req.Context()
	fresh, replay := false, replayable(req)
	for {
		c, err := t.getConn(ctx, key, fresh, replay, by)
		if err != nil {
			closeBody(req)
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			return nil, err
		}
		resp, err := c.roundTrip(ctx, req, by)
		if err == nil {
			return resp, nil
		}
		if fresh || !c.reused || !retryable(req, err) {
			return nil, unwrapRetry(err)
		}
		// The server closed the idle connection as the request went out: once more on a new one.
		fresh = true
		if req.Body != nil && req.Body != http.NoBody {
			body, gerr := req.GetBody()
			if gerr != nil {
				return nil, unwrapRetry(err)
			}
			r2 := *req
			r2.Body = body
			req = &r2
		}
	}
}

// requestKey checks that req can be sent and names its pool.
func requestKey(req *http.Request) (connKey, error) {
	if req.URL == nil {
		return connKey{}, errors.New("h1client: request without a URL")
	}
	var port string
	switch req.URL.Scheme {
	case "http":
		port = "80"
	case "https":
		port = "443"
	default:
		return connKey{}, fmt.Errorf("h1client: unsupported scheme %q", req.URL.Scheme)
	}
	host := req.URL.Host
	if host == "" {
		return connKey{}, errors.New("h1client: request URL without a host")
	}
	if !hasPort(host) {
		host = net.JoinHostPort(strings.Trim(host, "[]"), port)
	}
	return connKey{scheme: req.URL.Scheme, addr: host}, nil
}

// hasPort reports whether a URL host ends in a port ("h:80", "[::1]:80").
func hasPort(host string) bool {
	i := strings.LastIndexByte(host, ':')
	return i >= 0 && i > strings.LastIndexByte(host, ']')
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// defaultTrustIdle is how long a connection may have been idle and still carry a replayable request
// without the look at its socket (a syscall per request at proxy loads). A close the look
// would have caught costs such a request only a resend on a fresh connection; what a resend
// cannot repair is a stray answer, an "408 Request Timeout" written by a server whose idle
// timeout ran out, and servers do not time out idle keep-alive connections within a second.
const defaultTrustIdle = time.Second

// getConn returns an idle connection for key that is still open, or dials a new one; fresh
// skips the pool. replay says the request can be sent again should the connection turn out
// closed.
func (t *Transport) getConn(ctx context.Context, key connKey, fresh, replay bool, by time.Time) (*conn, error) {
	if !fresh {
		for {
			c := t.popIdle(key)
			if c == nil {
				break
			}
			c.dropExpired()
			if c.alive(!replay || time.Since(c.idleSince) >= t.trustIdle) {
				c.reused = true
				return c, nil
			}
			c.close()
		}
	}
	if !by.IsZero() {
		// Only a dial needs the deadline as a context; a pooled connection costs none.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, by)
		defer cancel()
	}
	return t.dial(ctx, key)
}

// popIdle takes the most recently used idle connection for key, or returns nil.
func (t *Transport) popIdle(key connKey) *conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	list := t.idle[key]
	n := len(list)
	if n == 0 {
		return nil
	}
	c := list[n-1]
	list[n-1] = nil
	t.idle[key] = list[:n-1]
	c.idle = false
	return c
}

// put keeps c idle for the next request to its host, or closes it when the pool is full or the
// Transport closed. Its idle timer is armed unless it still runs from an earlier idle spell
// (expire re-arms it for what is left), so a busy connection costs no timer operation.
func (t *Transport) put(c *conn) {
	t.mu.Lock()
	list := t.idle[c.key]
	if t.closed || len(list) >= t.maxIdle {
		t.mu.Unlock()
		c.close()
		return
	}
	c.idle = true
	c.idleSince = time.Now()
	t.idle[c.key] = append(list, c)
	if !c.timerArmed {
		c.timerArmed = true
		if c.idleTimer == nil {
			c.idleTimer = time.AfterFunc(t.idleTimeout, c.expire)
		} else {
			c.idleTimer.Reset(t.idleTimeout)
		}
	}
	t.mu.Unlock()
}

// expire runs on c's idle timer: it closes c if c has been idle for the whole timeout, and
// re-arms the timer for the rest if c is idle since less.
func (c *conn) expire() {
	t := c.t
	t.mu.Lock()
	if !c.idle {
		c.timerArmed = false // in use (or closed); put arms the timer again
		t.mu.Unlock()
		return
	}
	if left := t.idleTimeout - time.Since(c.idleSince); left > 0 {
		c.idleTimer.Reset(left)
		t.mu.Unlock()
		return
	}
	c.idle, c.timerArmed = false, false
	list := t.idle[c.key]
	for i, ic := range list {
		if ic == c {
			list = append(list[:i], list[i+1:]...)
			list[:len(list)+1][len(list)] = nil
			break
		}
	}
	if len(list) == 0 {
		delete(t.idle, c.key) // nodes come and go: forget the empty pools
	} else {
		t.idle[c.key] = list
	}
	t.mu.Unlock()
	c.close()
}

// CloseIdleConnections closes the connections now idle; those in use are not affected.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = make(map[connKey][]*conn)
	for _, list := range idle {
		for _, c := range list {
			c.idle = false
			if c.timerArmed && c.idleTimer.Stop() {
				c.timerArmed = false
			}
		}
	}
	t.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.close()
		}
	}
}

// Close closes the idle connections and makes every connection in use close when its exchange
// ends, for the gateway's shutdown. Requests still work afterwards, each on a new connection.
// It is safe to call more than once.
func (t *Transport) Close() error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.CloseIdleConnections()
	return nil
}

// idleCount reports the idle connections for a scheme and host:port (tests).
func (t *Transport) idleCount(scheme, addr string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.idle[connKey{scheme, addr}])
}

// errServerClosedIdle is the error of a reused connection the server closed before answering.
var errServerClosedIdle = fmt.Errorf("h1client: the server closed the connection without answering: %w", io.EOF)
