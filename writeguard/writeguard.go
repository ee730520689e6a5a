// Package writeguard bounds how long a connection's writes may go without progress, as NGINX's
// send_timeout does: a client that sends a request and then stops reading must not hold a
// connection, its handler and whatever the handler holds (a backend connection) forever.
//
// net/http's WriteTimeout is no substitute: it bounds a whole response, so it also cuts long
// streams (SSE, WebSocket, slow downloads) whose client reads along. The guard bounds each
// write instead, and sits on the listener so that every server engine and the TLS layer above
// it get the same bound from one place.
//
// Contract, for every connection accepted through Listener(ln, d) with d > 0:
//   - Before a write, the connection's write deadline is armed to d from now, unless the one
//     armed last is still at least d/2 away (a busy connection then does not move a runtime
//     timer per write). So each write gets from d/2 to d to go out, however long the
//     connection sat idle before it; one that cannot (the client stopped reading and the
//     socket is full) fails with an error that wraps os.ErrDeadlineExceeded, and what happens
//     next is the server's business (both engines close the connection).
//   - A Write larger than 64 KiB is written in pieces of at most 64 KiB, the deadline armed
//     before each, so a large answer to a slow client that keeps reading is never cut off: a
//     client is cut off only when one piece finds no room in its socket for d/2 to d.
//   - An explicit write deadline wins: after SetWriteDeadline or SetDeadline with a non-zero
//     time (a handler through http.ResponseController, the TLS layer, a WebSocket session)
//     the guard arms nothing until the write deadline is cleared with the zero time; then it
//     guards again. Clearing while the guard is in charge keeps the guard's deadline.
//   - The connection is otherwise the accepted one: every net.Conn method passes through,
//     and CloseWrite is offered exactly when the accepted connection has it (h1server and the
//     http handler's upgrade proxying use it to half-close). ReadFrom is not offered, so
//     io.Copy writes through Write (and net/http forgoes sendfile): arming before a ReadFrom
//     would count the wait for its source, which may be long, against the client.
//   - Hijacked connections (WebSocket and other upgrades) keep the guard: a hijacker that
//     wants no bound sets its own write deadline, far away or per write.
//   - Writes and deadline changes may run on different goroutines.
//
// With d <= 0, Listener returns ln itself: no guard.
package writeguard

import (
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// piece is the most a write hands the socket under one arming of the deadline.
const piece = 64 << 10

// explicit is conn.armed while a caller's write deadline is in force: a deadline that never
// comes within d/2, so Write's fast path arms nothing without a second check.
const explicit = math.MaxInt64

// Listener returns ln whose accepted connections' writes must make progress within d (see the
// package doc). With d <= 0 it returns ln unchanged.
func Listener(ln net.Listener, d time.Duration) net.Listener {
	if d <= 0 {
		return ln
	}
	return &listener{Listener: ln, d: d}
}

// listener hands out its accepted connections guarded.
type listener struct {
	net.Listener
	d time.Duration
}

// closeWriter is what h1server, net/http and the upgrade proxy look for to half-close.
type closeWriter interface {
	CloseWrite() error
}

func (l *listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := &conn{Conn: nc, d: l.d, epoch: time.Now()}
	if _, ok := nc.(closeWriter); ok {
		return &halfCloser{c}, nil
	}
	return c, nil
}

// conn guards the writes of an accepted connection.
type conn struct {
	net.Conn
	d time.Duration
	// epoch is the accept time. Deadlines are kept as offsets from it, read off the monotonic
	// clock, so that a step of the wall clock cannot make the guard skip a re-arm it needs.
	epoch time.Time
	// armed is the write deadline the guard set last, as nanoseconds since epoch; 0: none yet;
	// explicit: a caller's deadline is in force. Write reads it without a lock.
	armed atomic.Int64
	// mu orders the changes of the inner conn's write deadline, so that a re-arm decided just
	// before a caller sets its own deadline cannot land after it and overwrite it. It is taken
	// only to change the deadline (at most about once per d/2 for the guard), never for a write.
	mu sync.Mutex
}

// halfCloser is a conn whose accepted connection can half-close.
type halfCloser struct{ *conn }

func (c *halfCloser) CloseWrite() error { return c.Conn.(closeWriter).CloseWrite() }

var (
	_ net.Conn    = (*conn)(nil)
	_ closeWriter = (*halfCloser)(nil)
)

// Write writes p in pieces of at most 64 KiB, arming the write deadline before each.
func (c *conn) Write(p []byte) (int, error) {
	n := 0
	for {
		q := p[:min(len(p), piece)]
		c.arm()
		m, err := c.Conn.Write(q)
		n += m
		p = p[m:]
		if err != nil || len(p) == 0 {
			return n, err
		}
	}
}

// arm makes sure the write deadline is at least d/2 away, unless a caller's is in force.
func (c *conn) arm() {
	now := time.Since(c.epoch)
	if time.Duration(c.armed.Load())-now >= c.d/2 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Duration(c.armed.Load())-now >= c.d/2 {
		return // re-armed by a concurrent write, or a caller set a deadline meanwhile
	}
	at := now + c.d
	if c.Conn.SetWriteDeadline(c.epoch.Add(at)) == nil {
		c.armed.Store(int64(at))
	} // else the connection is closed, and the write will say so
}

// SetWriteDeadline sets a caller's write deadline, which suspends the guard; the zero time
// hands the connection back to the guard.
func (c *conn) SetWriteDeadline(t time.Time) error {
	if t.IsZero() && c.armed.Load() != explicit {
		// The guard is in charge and its deadline stays (net/http clears after every request).
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.IsZero() {
		c.armed.Store(0) // the next write arms
	} else {
		c.armed.Store(explicit)
	}
	return c.Conn.SetWriteDeadline(t)
}

// SetDeadline sets the read deadline and, as SetWriteDeadline does, the write deadline.
func (c *conn) SetDeadline(t time.Time) error {
	rerr := c.Conn.SetReadDeadline(t)
	if werr := c.SetWriteDeadline(t); rerr == nil {
		return werr
	}
	return rerr
}
