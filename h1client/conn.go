package h1client

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// conn is one connection to a node. It is used by one exchange at a time: the goroutine that
// took it from the pool (or dialed it) owns it until it is put back or closed. The idle fields
// belong to the Transport's mutex.
type conn struct {
	t   *Transport
	key connKey
	nc  net.Conn
	br  *bufio.Reader // over connReader: counts the header bytes
	bw  *bufio.Writer // over connWriter: counts what reached the connection

	reused   bool  // taken from the pool: a failure may be the server's idle close
	nwritten int64 // bytes written to nc, by the owner or its body writer, never both at once
	// readLimit bounds what may be read from nc while it is positive: the response headers.
	readLimit int64
	limiting  bool
	// The exchange's context reaches the connection lazily: a timer (watchT, ctxWatchDelay)
	// registers abort with the context (context.AfterFunc) only for an exchange still running
	// then. Registering costs several allocations and most of a microsecond, a timer's Reset
	// and Stop a tenth of that, and most exchanges end sooner. wmu guards wctx and stop.
	wmu     sync.Mutex
	wctx    context.Context // the running exchange's, when it can be cancelled
	stop    func() bool     // disarms the registered abort; nil: none registered
	watchT  *time.Timer
	aborted atomic.Bool // abort ran for the exchange in flight

	// dl is the deadline the owner left on nc; zero: none. RoundTripBy's bound is set lazily,
	// as NGINX moves its timers: kept when the one in place ends at most a slack after the new
	// bound, else set to the bound plus the slack, so an exchange is never cut short and a busy
	// connection rarely touches a runtime timer. It stays after the headers until the body's
	// first read from the socket (unbound) clears it: an answer that came whole with its
	// headers costs no deadline at all.
	dl      time.Time
	unbound bool

	// raw and peek serve alive's look at the socket; raw is nil where that is not possible.
	raw      syscall.RawConn
	peek     func(fd uintptr) bool
	peekN    int
	peekErr  error
	peekByte [1]byte

	// Guarded by t.mu.
	idle       bool
	idleSince  time.Time
	idleTimer  *time.Timer
	timerArmed bool
}

// connReader is what the connection's bufio.Reader reads from: nc, within readLimit while the
// headers are read.
type connReader struct{ c *conn }

func (r connReader) Read(p []byte) (int, error) {
	c := r.c
	if c.unbound {
		c.unbind()
	}
	if c.limiting {
		if c.readLimit <= 0 {
			return 0, errHeadersTooLarge
		}
		if int64(len(p)) > c.readLimit {
			p = p[:c.readLimit]
		}
	}
	n, err := c.nc.Read(p)
	if c.limiting {
		c.readLimit -= int64(n)
	}
	return n, err
}

// connWriter is what the connection's bufio.Writer writes to: nc, counting the bytes.
type connWriter struct{ c *conn }

func (w connWriter) Write(p []byte) (int, error) {
	n, err := w.c.nc.Write(p)
	w.c.nwritten += int64(n)
	return n, err
}

var errHeadersTooLarge = errors.New("h1client: the response headers exceed 1 MiB")

// aLongTimeAgo is a deadline in the past: setting it makes every blocked read and write on
// the connection return at once.
var aLongTimeAgo = time.Unix(1, 0)

// dial opens a connection for key, over TLS for https.
func (t *Transport) dial(ctx context.Context, key connKey) (*conn, error) {
	var nc net.Conn
	var err error
	if key.scheme == "https" {
		d := tls.Dialer{NetDialer: &t.dialer, Config: t.tls}
		nc, err = d.DialContext(ctx, "tcp", key.addr)
	} else {
		nc, err = t.dialer.DialContext(ctx, "tcp", key.addr)
	}
	if err != nil {
		return nil, err
	}
	c := &conn{t: t, key: key, nc: nc}
	c.br = bufio.NewReaderSize(connReader{c}, bufioSize)
	c.bw = bufio.NewWriterSize(connWriter{c}, bufioSize)
	c.initPeek()
	return c, nil
}

// close closes the connection; it is not reused.
func (c *conn) close() { _ = c.nc.Close() }

// abort runs when the exchange's context is done: blocked reads and writes return now.
func (c *conn) abort() {
	c.aborted.Store(true)
	_ = c.nc.SetDeadline(aLongTimeAgo)
}

// deadlineSlack is how much later than asked a bound d from now may end: 1/64, at most 250 ms.
func deadlineSlack(d time.Duration) time.Duration { return min(max(d, 0)/64, 250*time.Millisecond) }

// setDeadline sets nc's deadline for the owner, which tracks it in dl.
func (c *conn) setDeadline(t time.Time) {
	_ = c.nc.SetDeadline(t)
	c.dl = t
}

// bound bounds the exchange about to start by by (zero: unbounded), lazily (see dl).
func (c *conn) bound(by time.Time) {
	c.unbound = false
	if by.IsZero() {
		if !c.dl.IsZero() {
			c.setDeadline(time.Time{})
		}
		return
	}
	slack := deadlineSlack(time.Until(by))
	if !by.After(c.dl) && c.dl.Sub(by) <= slack {
		return
	}
	c.setDeadline(by.Add(slack))
}

// unbind lifts the exchange's bound once its headers are in; an abort that ran meanwhile is
// made again, since clearing the deadline undid it.
func (c *conn) unbind() {
	c.unbound = false
	c.setDeadline(time.Time{})
	if c.aborted.Load() {
		c.abort()
	}
}

// dropExpired clears a deadline an earlier exchange left that has passed: a look at an idle
// socket would fail on it.
func (c *conn) dropExpired() {
	if !c.dl.IsZero() && !time.Now().Before(c.dl) {
		c.setDeadline(time.Time{})
	}
}

// ctxWatchDelay is how long an exchange runs before its context is registered: a
// cancellation is noticed at most this late. (The gateway's server notices a departing client
// only after 20 ms.)
const ctxWatchDelay = 10 * time.Millisecond

// watch hands the running exchange's context to the connection, lazily (see wctx).
func (c *conn) watch(ctx context.Context) {
	c.wmu.Lock()
	c.wctx = ctx
	c.wmu.Unlock()
	if c.watchT == nil {
		c.watchT = time.AfterFunc(ctxWatchDelay, c.register)
	} else {
		c.watchT.Reset(ctxWatchDelay)
	}
}

// register runs on the watch timer: the exchange still runs, so its context now gets the
// power to abort it. A timer firing late, after its exchange ended, finds no context.
func (c *conn) register() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wctx != nil && c.stop == nil {
		c.stop = context.AfterFunc(c.wctx, c.abort)
	}
}

// disarm stops the context's hold on the connection; false means the context was done first
// and the connection may hold a past deadline.
func (c *conn) disarm() bool {
	if c.watchT != nil {
		c.watchT.Stop()
	}
	c.wmu.Lock()
	stop := c.stop
	c.wctx, c.stop = nil, nil
	c.wmu.Unlock()
	return stop == nil || stop()
}

// release ends an exchange whose response was read whole: the connection goes back to the
// pool if reusable, else it is closed.
func (c *conn) release(reusable bool) {
	if !c.disarm() || !reusable {
		c.close()
		return
	}
	c.t.put(c)
}

// retryErr marks a failure on a reused connection before any byte of the answer arrived; the
// Transport decides whether to send again.
type retryErr struct {
	err            error
	nothingWritten bool // not one byte of the request reached the connection
}

func (e *retryErr) Error() string { return e.err.Error() }
func (e *retryErr) Unwrap() error { return e.err }

func unwrapRetry(err error) error {
	if re, ok := err.(*retryErr); ok {
		return re.err
	}
	return err
}

// retryable is net/http's rule for sending a request again after a reused connection failed
// before the answer began.
func retryable(req *http.Request, err error) bool {
	re, ok := err.(*retryErr)
	if !ok {
		return false
	}
	if re.nothingWritten {
		return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	}
	return replayable(req)
}

// replayable reports whether req may be sent again even when some of it went out: its body
// can be produced again and the method (or an idempotency key) says a repeat does no harm.
func replayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, k1 := req.Header["Idempotency-Key"]
	_, k2 := req.Header["X-Idempotency-Key"]
	return k1 || k2
}

// roundTrip runs one exchange on c, which the caller owns; on error c is closed. A non-zero by
// bounds it until the response's headers are in.
func (c *conn) roundTrip(ctx context.Context, req *http.Request, by time.Time) (*http.Response, error) {
	// The bound first: set after the context's abort, it could undo an abort that ran at once.
	c.bound(by)
	c.aborted.Store(false)
	if ctx.Done() != nil {
		if ctx.Err() != nil {
			// Done before anything went out; the lazy watch would let the exchange run.
			c.fail()
			closeBody(req)
			return nil, context.Cause(ctx)
		}
		c.watch(ctx)
	}
	w, err := c.newRequestWriter(req)
	if err != nil {
		c.fail()
		closeBody(req)
		return nil, err
	}
	started := c.nwritten
	werr, berr := w.writeHead()
	if werr == nil && berr == nil && w.sync {
		werr, berr = w.writeBody()
		closeBody(req)
		w.bodyDone = werr == nil && berr == nil
	}
	if berr != nil {
		// The request went out incomplete: the node would wait for the rest.
		c.fail()
		closeBody(req)
		return nil, c.ctxErr(ctx, berr)
	}
	if werr != nil && !w.sync {
		closeBody(req)
	}
	if werr != nil && c.nwritten == started {
		c.fail()
		return nil, c.mayRetry(ctx, werr, true)
	}
	var writing chan writeResult
	if werr == nil && !w.sync {
		writing = make(chan writeResult, 1)
		go w.writeAsync(writing)
	}
	// A write error does not end the exchange: the node may have answered before it stopped
	// reading (a 413 and a close). If it did not, the read fails too.
	resp, rerr := c.readResponse(ctx, req)
	if rerr != nil {
		c.fail()
		if writing != nil {
			select {
			case res := <-writing:
				if res.bodyErr != nil {
					return nil, c.ctxErr(ctx, res.bodyErr)
				}
			default:
			}
		}
		if werr != nil {
			return nil, c.ctxErr(ctx, werr)
		}
		return nil, c.ctxErr(ctx, rerr)
	}
	if !by.IsZero() {
		// The body is the caller's to bound (a stream may run for hours): its first read from
		// the socket lifts the bound. A body writer still at work and an upgraded connection
		// are not bounded either, and write without reading first: lifted now.
		if writing != nil || resp.StatusCode == http.StatusSwitchingProtocols {
			c.unbind()
		} else {
			c.unbound = true
		}
	}
	ex := &exchange{c: c, req: req, ctx: ctx, writing: writing, bodyDone: w.bodyDone}
	return ex.response(resp)
}

// fail closes a connection whose exchange failed, disarming the context's hold on it.
func (c *conn) fail() {
	c.disarm()
	c.close()
}

// ctxErr returns the context's cause when the context ended the exchange, else err.
func (c *conn) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}

// mayRetry marks err, a failure before the answer began, as one the Transport may retry when
// the connection was reused and the context is still live.
func (c *conn) mayRetry(ctx context.Context, err error, nothingWritten bool) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return err // RoundTripBy's deadline: a fresh connection would meet it too
	}
	if !c.reused {
		return err
	}
	return &retryErr{err: err, nothingWritten: nothingWritten}
}

// readResponse reads the final answer's headers, passing informational ones to the trace.
func (c *conn) readResponse(ctx context.Context, req *http.Request) (*http.Response, error) {
	c.limiting, c.readLimit = true, maxHeaderBytes
	defer func() { c.limiting = false }()
	if _, err := c.br.Peek(1); err != nil {
		// Nothing of an answer: on a reused connection, most likely the server's idle close.
		if isEOF(err) {
			err = errServerClosedIdle
		}
		return nil, c.mayRetry(ctx, err, false)
	}
	if resp, ok := readSimple(c.br, req); ok {
		return resp, nil
	}
	var trace *httptrace.ClientTrace
	for n := 0; ; n++ {
		resp, err := http.ReadResponse(c.br, req)
		if err != nil {
			return nil, malformed(err)
		}
		code := resp.StatusCode
		if code < 100 || code > 199 || code == http.StatusSwitchingProtocols {
			return resp, nil
		}
		if n == max1xx {
			return nil, &ProtocolError{Err: errors.New("too many 1xx informational answers")}
		}
		if trace == nil {
			trace = httptrace.ContextClientTrace(ctx)
		}
		if trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(code, textproto.MIMEHeader(resp.Header)); err != nil {
				return nil, fmt.Errorf("h1client: 1xx answer refused: %w", err)
			}
		}
	}
}

// ProtocolError is a server's answer that is not HTTP/1.1 (a garbled status line or header,
// an impossible length, endless 1xx answers). It is a net.Error: like a reset, it is the
// node failing, so a gateway answers it 502 and counts it against the node.
type ProtocolError struct{ Err error }

func (e *ProtocolError) Error() string {
	return "h1client: the server's answer is not valid HTTP/1.1: " + e.Err.Error()
}
func (e *ProtocolError) Unwrap() error   { return e.Err }
func (e *ProtocolError) Timeout() bool   { return false }
func (e *ProtocolError) Temporary() bool { return false }

var _ net.Error = (*ProtocolError)(nil)

// malformed marks a failure to parse an answer as the server's fault; failures of the
// connection itself (I/O errors, a cut) stay as they are.
func malformed(err error) error {
	var ne net.Error
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &ProtocolError{Err: err}
}

// isEOF reports the clean end of the connection.
func isEOF(err error) bool { return err == io.EOF }
