package h1server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Connection states; only an idle connection may be closed by Shutdown.
const (
	stateIdle int32 = iota // waiting for a request's first byte (or never used)
	stateActive
	stateClosed
	stateHijacked
)

// errClientGone is the cause of a request context cancelled because the client left.
var errClientGone = errors.New("client closed the connection")

// aLongTimeAgo is a deadline in the past: setting it wakes a blocked read at once.
var aLongTimeAgo = time.Unix(1, 0)

type conn struct {
	s     *Server
	nc    net.Conn
	br    *bufio.Reader
	bw    *bufio.Writer
	state atomic.Int32
	ctx   context.Context // the server's base context with the local address
	addr  string          // the client's address

	parser parser
	hold   []byte   // a response's held-back body, reused between requests
	keys   []string // a response's header names, sorted for writing
	date   dateCache

	// headMu orders "100 Continue", which a goroutine reading the body may send, before the
	// answer's head, which the handler's goroutine writes: see sendContinue.
	headMu sync.Mutex

	linger    bool        // close gently: the client may still be sending (see lingerClose)
	deadlines atomic.Bool // the handler set a deadline of the connection's
	// rdl is the read deadline the connection's goroutine left on nc; zero: none. A request
	// without a body leaves its idle or header deadline in place, since nothing reads until
	// the next request sets its own: a busy connection then rarely touches a runtime timer.
	// What reads on while a handler runs (the watch, a hijacker) clears it first.
	rdl time.Time

	// The watch for a departing client; mu guards the fields below it.
	watchT   *time.Timer
	mu       sync.Mutex
	watch    int32 // watchOff, watchArmed, watchReading
	aborting bool  // stopWatch woke the read on purpose
	watched  chan struct{}
	cancel   context.CancelCauseFunc // the request in flight, for Close and the watch
	gone     bool                    // the client closed its end
	stashed  bool                    // the watch read a byte of the next request: stash[0]
	stash    [1]byte
}

const (
	watchOff int32 = iota
	watchArmed
	watchReading
)

func newConn(s *Server, nc net.Conn, base context.Context) *conn {
	c := &conn{s: s, nc: nc, addr: nc.RemoteAddr().String()}
	c.ctx = context.WithValue(base, http.LocalAddrContextKey, nc.LocalAddr())
	c.br = bufio.NewReaderSize(connReader{c}, 4<<10)
	c.bw = bufio.NewWriterSize(nc, 4<<10)
	return c
}

// connReader reads the connection, first giving back a byte the watch read.
type connReader struct{ c *conn }

func (r connReader) Read(p []byte) (int, error) {
	c := r.c
	if c.stashed && len(p) > 0 {
		c.stashed = false
		p[0] = c.stash[0]
		return 1, nil
	}
	return c.nc.Read(p)
}

// serve is the connection's goroutine: request after request until one side closes.
func (c *conn) serve() {
	defer func() {
		if p := recover(); p != nil {
			// Not a handler's (serveOne recovers those) but Reject's, say: it costs the
			// connection, not the process.
			c.s.log().Error("http: panic serving connection", "remote", c.addr, "panic", fmt.Sprint(p))
		}
		if st := c.state.Load(); st != stateHijacked {
			c.state.Store(stateClosed)
			if c.linger || c.br.Buffered() > 0 {
				c.lingerClose()
			}
			_ = c.nc.Close()
		}
		c.s.forget(c)
		if c.watchT != nil {
			c.watchT.Stop()
		}
	}()
	s := c.s
	idle, header := s.IdleTimeout, s.ReadHeaderTimeout
	if idle <= 0 {
		idle = header
	}
	for {
		if c.br.Buffered() == 0 && idle > 0 {
			// Lazily, as NGINX moves its timers: the deadline moves only once the one in place
			// is nearer than idle, and then to idle plus a slack; the wait for a request lasts
			// at least idle and at most idle plus the slack.
			if now := time.Now(); c.rdl.Before(now.Add(idle)) {
				c.setReadDeadline(now.Add(idle + slack(idle)))
			}
		}
		if _, err := c.br.Peek(1); err != nil {
			return
		}
		if !c.state.CompareAndSwap(stateIdle, stateActive) {
			return // Shutdown or Close got here first
		}
		if !headBuffered(c.br) {
			// The head is still coming: ReadHeaderTimeout bounds it from its first byte.
			var by time.Time
			if header > 0 {
				by = time.Now().Add(header)
			}
			c.setReadDeadline(by)
		}
		req, err := c.parser.read(c)
		if err != nil {
			c.refuse(err)
			return
		}
		if _, ok := req.Body.(*body); ok {
			c.setReadDeadline(time.Time{}) // the handler reads the body unbounded, as net/http's
		}
		if !c.serveOne(req) || s.closing.Load() {
			return
		}
		if c.deadlines.Swap(false) {
			// The handler's deadlines were for its request (as net/http, which resets them).
			_ = c.nc.SetReadDeadline(time.Time{})
			_ = c.nc.SetWriteDeadline(time.Time{})
			c.rdl = time.Time{}
		}
		c.state.Store(stateIdle)
		if s.closing.Load() && c.state.CompareAndSwap(stateIdle, stateClosed) {
			return // Shutdown looked before this connection was idle
		}
	}
}

// slack is how much later than asked an idle deadline may fall: 1/64 of it, at most 250 ms.
func slack(d time.Duration) time.Duration { return min(d/64, 250*time.Millisecond) }

// setReadDeadline sets nc's read deadline for the connection's goroutine, which tracks it in rdl.
func (c *conn) setReadDeadline(t time.Time) {
	if t.Equal(c.rdl) {
		return
	}
	_ = c.nc.SetReadDeadline(t)
	c.rdl = t
}

// headBuffered reports whether parsing the next request reads nothing from the connection:
// its buffer holds an empty line, where the parser stops at the latest (at the end of a head,
// or refusing an empty request line).
func headBuffered(br *bufio.Reader) bool {
	b, _ := br.Peek(br.Buffered())
	return bytes.Contains(b, []byte("\r\n\r\n"))
}

// refuse answers a request the parser turned down, unless the connection itself failed.
func (c *conn) refuse(err error) {
	var re *requestError
	if !errors.As(err, &re) {
		return // EOF, timeout, reset: nobody to answer
	}
	c.linger = true // the rest of the request may be on its way
	w := newResponse(c, &http.Request{Method: http.MethodGet, ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}}, nil)
	w.closeAfter = true
	h := w.Header()
	if re.status == http.StatusMethodNotAllowed {
		h.Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
	}
	if c.s.Reject != nil {
		c.s.Reject(w, re.status, re)
		if !w.wroteHeader {
			w.WriteHeader(re.status) // a hook that wrote nothing must not turn a refusal into a 200
		}
	} else {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(re.status)
		_, _ = fmt.Fprintf(w, "%d %s: %s", re.status, http.StatusText(re.status), re.msg)
	}
	w.finish()
}

// serveOne runs the handler for req and answers; it reports whether the connection may carry
// another request.
func (c *conn) serveOne(req *http.Request) (keep bool) {
	ctx, cancel := context.WithCancelCause(c.ctx)
	req = req.WithContext(ctx)
	var b *body
	if rb, ok := req.Body.(*body); ok {
		b = rb
		b.req = req // the handler's copy gets the trailers
	}
	w := newResponse(c, req, b)
	c.mu.Lock()
	c.cancel = cancel
	c.mu.Unlock()
	if b == nil {
		c.armWatch()
	}
	defer func() {
		if p := recover(); p != nil {
			keep = false
			if p != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.s.log().Error("http: panic serving request", "remote", c.addr, "method", req.Method,
					"uri", req.RequestURI, "panic", fmt.Sprint(p), "stack", string(buf))
			}
			if w.hijacked {
				cancel(context.Canceled)
			} else {
				c.endRequest(cancel)
				c.linger = b != nil // what is left of the body may still come
			}
		}
	}()
	h := c.s.Handler
	if req.RequestURI == "*" && req.Method == http.MethodOptions {
		h = globalOptions{}
	}
	h.ServeHTTP(w, req)
	if w.hijacked {
		cancel(context.Canceled)
		return false
	}
	gone := c.endRequest(cancel)
	bodyDone, drained := true, false
	if b != nil && !w.sentHead {
		// What the handler left of the body is read before the head, as net/http does, so
		// that the head can say whether the connection stays.
		bodyDone, drained = b.finish(), true
		w.closeAfter = w.closeAfter || !bodyDone
	}
	keep = w.finish() && !gone
	if b != nil && !drained {
		bodyDone = b.finish()
	}
	if !bodyDone {
		keep = false
		c.linger = true
	}
	return keep
}

// globalOptions answers "OPTIONS *" in place of the handler, as net/http's server does: an
// empty 200, reading at most 4 KiB of body.
type globalOptions struct{}

func (globalOptions) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", "0")
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 4<<10))
}

// endRequest stops the watch and cancels the request's context; it reports whether the
// client has left.
func (c *conn) endRequest(cancel context.CancelCauseFunc) (gone bool) {
	// No cancel first: armWatch then does nothing, so a body read that a goroutine of the
	// handler ends now cannot start a watch that would read the next request.
	c.mu.Lock()
	c.cancel = nil
	c.mu.Unlock()
	c.stopWatch()
	cancel(context.Canceled)
	c.mu.Lock()
	gone = c.gone
	c.mu.Unlock()
	return gone
}

// sendContinue answers "Expect: 100-continue" unless w's head is out already (the handler
// answered without the body). The body may be read on another goroutine than the handler's
// (a proxy's body writer) while the handler writes the answer: so 100 Continue goes straight
// to the connection, whose writes do not interleave, not through the buffer the handler
// writes, and w.sentHead is set under headMu.
func (c *conn) sendContinue(w *response) error {
	c.headMu.Lock()
	defer c.headMu.Unlock()
	if w.sentHead {
		return nil
	}
	_, err := io.WriteString(c.nc, "HTTP/1.1 100 Continue\r\n\r\n")
	return err
}

// abort cancels the request in flight and closes the connection (Server.Close). Cancelling
// first gives the request http.ErrServerClosed as its cause, not the watch's errClientGone.
func (c *conn) abort(cause error) {
	c.mu.Lock()
	if c.cancel != nil {
		c.cancel(cause)
	}
	c.mu.Unlock()
	_ = c.nc.Close()
}

// lingerTime bounds lingerClose, as net/http's rstAvoidanceDelay.
const lingerTime = 500 * time.Millisecond

// lingerClose ends the sending side, then reads and discards what the client still sends for
// a while, until it closes its side. Closing a socket with unread input makes the kernel reset
// the connection, and a reset can destroy the answer before the client has read it: a client
// still sending a refused request would never learn why.
func (c *conn) lingerClose() {
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, c.nc, maxDrain)
}

// armWatch starts the clock on watching for the client to leave: the request's body has been
// read, so nothing of the current request is left to read.
func (c *conn) armWatch() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.watch != watchOff || c.cancel == nil || c.state.Load() == stateHijacked {
		return
	}
	c.watch = watchArmed
	if c.watchT == nil {
		c.watchT = time.AfterFunc(watchDelay, c.watchRead)
	} else {
		c.watchT.Reset(watchDelay)
	}
}

// watchRead runs on the timer's goroutine while the handler still runs: a read that returns
// only if the client sends more (a pipelined request: its byte is kept) or leaves.
func (c *conn) watchRead() {
	c.mu.Lock()
	if c.watch != watchArmed || c.br.Buffered() > 0 || c.stashed {
		// Pipelined bytes already in: the client is there, and nothing more can be learnt.
		c.mu.Unlock()
		return
	}
	c.watch = watchReading
	c.aborting = false
	done := make(chan struct{})
	c.watched = done
	if !c.rdl.IsZero() {
		// The idle or header deadline a bodyless request left: the watch reads unbounded.
		_ = c.nc.SetReadDeadline(time.Time{})
		c.rdl = time.Time{}
	}
	c.mu.Unlock()

	n, err := c.nc.Read(c.stash[:])

	c.mu.Lock()
	if n > 0 {
		c.stashed = true
	}
	if err != nil && !c.aborting {
		c.gone = true
		if c.cancel != nil {
			c.cancel(errClientGone)
		}
	}
	c.watch = watchOff
	c.mu.Unlock()
	close(done)
}

// stopWatch ends a watch before the connection's reader is used again; after it, a byte the
// watch read is in stash.
func (c *conn) stopWatch() {
	c.mu.Lock()
	switch c.watch {
	case watchArmed:
		c.watch = watchOff
		c.watchT.Stop() // if it fires anyway, watchRead finds the watch off
		c.mu.Unlock()
	case watchReading:
		c.aborting = true
		done := c.watched
		c.mu.Unlock()
		_ = c.nc.SetReadDeadline(aLongTimeAgo)
		<-done
		_ = c.nc.SetReadDeadline(time.Time{})
	default:
		c.mu.Unlock()
	}
}

// dateCache keeps the Date header's value for the current second.
type dateCache struct {
	sec int64
	buf [29]byte
}

func (d *dateCache) value() []byte {
	now := time.Now()
	if s := now.Unix(); s != d.sec {
		d.sec = s
		now.UTC().AppendFormat(d.buf[:0], http.TimeFormat)
	}
	return d.buf[:]
}
