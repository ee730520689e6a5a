// Package connguard is what the gateway enforces on every connection it accepts, whichever
// server engine (and TLS) runs on top: a bound on writes that make no progress, and a cap on
// connections open at once.
//
// The write bound is NGINX's send_timeout: a client that sends a request and then stops
// reading must not hold a connection, its handler and whatever the handler holds (a backend
// connection) forever. net/http's WriteTimeout is no substitute: it bounds a whole response,
// so it also cuts long streams (SSE, WebSocket, slow downloads) whose client reads along. The
// guard bounds each write instead.
//
// Contract, for every connection accepted through Listener(ln, cfg):
//   - With cfg.WriteTimeout d > 0, before a write the connection's write deadline is armed to
//     d from now, unless the one armed last is still at least d/2 away (a busy connection then
//     does not move a runtime timer per write). So each write gets from d/2 to d to go out,
//     however long the connection sat idle before it; one that cannot (the client stopped
//     reading and the socket is full) fails with an error that wraps os.ErrDeadlineExceeded,
//     and what happens next is the server's business (both engines close the connection).
//   - A Write larger than 64 KiB is written in pieces of at most 64 KiB, the deadline armed
//     before each, so a large answer to a slow client that keeps reading is never cut off: a
//     client is cut off only when one piece finds no room in its socket for d/2 to d.
//   - An explicit write deadline wins: after SetWriteDeadline or SetDeadline with a non-zero
//     time (a handler through http.ResponseController, the TLS layer, a WebSocket session)
//     the guard arms nothing until the write deadline is cleared with the zero time; then it
//     guards again. Clearing while the guard is in charge keeps the guard's deadline.
//   - With cfg.MaxConns n > 0, at most n accepted connections are open at once, hijacked ones
//     (WebSocket) included, idle keep-alive ones too: at the cap, Accept waits until one
//     closes, so new clients wait in the kernel's listen backlog (as NGINX at
//     worker_connections), and the cap is logged at most once a minute. A slot is freed by the
//     connection's first Close. Close of the listener ends a waiting Accept with net.ErrClosed.
//   - The connection is otherwise the accepted one: every net.Conn method passes through,
//     and CloseWrite is offered exactly when the accepted connection has it (h1server and the
//     http handler's upgrade proxying use it to half-close). ReadFrom is not offered, so
//     io.Copy writes through Write (and net/http forgoes sendfile): arming before a ReadFrom
//     would count the wait for its source, which may be long, against the client.
//   - Hijacked connections (WebSocket and other upgrades) keep the guard: a hijacker that
//     wants no bound sets its own write deadline, far away or per write.
//   - Writes, deadline changes and Close may run on different goroutines.
//
// With a zero Config, Listener returns ln itself: no guard.
package connguard

import (
	"log/slog"
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

// Config is what the guard enforces; the zero value enforces nothing.
type Config struct {
	// WriteTimeout bounds a write that makes no progress (see the package doc); 0: no bound.
	WriteTimeout time.Duration
	// MaxConns caps the accepted connections open at once; 0: no cap.
	MaxConns int
	// Log hears that the cap was reached (at most once a minute); nil: not logged.
	Log *slog.Logger
}

// warnEvery spaces the log lines that say the cap holds new connections back.
const warnEvery = time.Minute

// Listener returns ln guarded by cfg (see the package doc); with a zero cfg, ln itself.
func Listener(ln net.Listener, cfg Config) net.Listener {
	if cfg.WriteTimeout <= 0 && cfg.MaxConns <= 0 {
		return ln
	}
	l := &listener{Listener: ln, d: max(cfg.WriteTimeout, 0), log: cfg.Log, done: make(chan struct{})}
	if cfg.MaxConns > 0 {
		l.slots = make(chan struct{}, cfg.MaxConns)
	}
	return l
}

// listener hands out its accepted connections guarded.
type listener struct {
	net.Listener
	d     time.Duration
	slots chan struct{} // one token per open connection; nil: no cap
	log   *slog.Logger
	done  chan struct{} // closed by Close: a waiting Accept returns
	once  sync.Once
	// warned is when the cap was last logged, in unix nanoseconds.
	warned atomic.Int64
}

// closeWriter is what h1server, net/http and the upgrade proxy look for to half-close.
type closeWriter interface {
	CloseWrite() error
}

func (l *listener) Accept() (net.Conn, error) {
	if l.slots != nil {
		if err := l.acquire(); err != nil {
			return nil, err
		}
	}
	nc, err := l.Listener.Accept()
	if err != nil {
		if l.slots != nil {
			<-l.slots
		}
		return nil, err
	}
	c := &conn{Conn: nc, l: l, d: l.d, epoch: time.Now()}
	if _, ok := nc.(closeWriter); ok {
		return &halfCloser{c}, nil
	}
	return c, nil
}

// acquire takes a connection slot, waiting for one to be freed when all are taken.
func (l *listener) acquire() error {
	select {
	case l.slots <- struct{}{}:
		return nil
	default:
	}
	if now := time.Now().UnixNano(); l.log != nil && now-l.warned.Load() >= int64(warnEvery) {
		l.warned.Store(now)
		l.log.Warn("server.max_conns reached: new connections wait in the listen backlog until one closes",
			"max_conns", cap(l.slots))
	}
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-l.done:
		return net.ErrClosed
	}
}

// Close closes the listener and ends an Accept waiting for a slot.
func (l *listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// conn guards the writes of an accepted connection.
type conn struct {
	net.Conn
	l     *listener
	freed atomic.Bool   // the connection's slot is back (MaxConns)
	d     time.Duration // 0: writes are not guarded
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
	if c.d == 0 {
		return c.Conn.Write(p)
	}
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
	if c.d == 0 {
		return c.Conn.SetWriteDeadline(t)
	}
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

// Close closes the connection and, the first time, gives its slot back.
func (c *conn) Close() error {
	err := c.Conn.Close()
	if c.l.slots != nil && c.freed.CompareAndSwap(false, true) {
		<-c.l.slots
	}
	return err
}
