// Package h1server is the gateway's HTTP/1.1 server: it serves an http.Handler on cleartext
// connections, for the same handlers net/http's server runs, at less cost per request.
//
// net/http's server gives every request a background read to notice a client that leaves, a
// context child of the connection's, a cloned header snapshot and a chunk writer; at proxy
// loads that is a large share of a request's CPU. Here the connection's goroutine reads a
// request, runs the handler and writes the answer, and watches for a departing client only
// when a handler runs longer than a few milliseconds.
//
// Contract:
//   - HTTP/1.0 and HTTP/1.1 requests, keep-alive and pipelining (answered in order). Other
//     versions get 505, HTTP/2 included: serve HTTP/2 and TLS with net/http.
//   - Parsing is no laxer than net/http's, and stricter where laxness lets two parsers disagree
//     on a message's framing: a request with both Content-Length and Transfer-Encoding, with
//     Transfer-Encoding on HTTP/1.0, with differing Content-Length values, obs-fold, a space
//     before a colon, a control character in a value or two Host headers is refused with 400;
//     a transfer coding other than chunked with 501, an Expect other than 100-continue with
//     417, a request line and headers over MaxHeaderBytes with 431 (414 for the line alone).
//     A refused request is answered through Reject and its connection closed. A chunked
//     body's lines, its trailers' included, must end with CRLF: a body that breaks its framing
//     fails the handler's read and ends the connection.
//   - The handler sees what net/http's server gives it: RequestURI, URL from the target
//     (absolute-form sets the Host), Host (removed from Header), canonical header keys,
//     ContentLength (-1 and TransferEncoding ["chunked"] for chunked bodies, Transfer-Encoding
//     removed from Header), Close, RemoteAddr, trailers in Trailer once the body is read, and
//     a context holding http.LocalAddrContextKey and, under http.ServerContextKey, the
//     *h1server.Server. "Expect: 100-continue" is answered when the body is first read.
//     "OPTIONS *" is answered by the server itself, as net/http's does.
//   - The request's context is cancelled when the handler returns, when the server is closed,
//     and when the client closes its connection while a handler runs (noticed once the
//     request body has been read and the handler has run for watchDelay).
//   - Answers: a body that is whole when the handler returns, up to 4 KiB, gets a
//     Content-Length; a longer or flushed one of unknown length is chunked (HTTP/1.1) or ends
//     with the connection (HTTP/1.0). Date is added, Content-Type sniffed when absent, as
//     net/http does; a response header with an invalid name is dropped and a control character
//     in a value (CR and LF among them) becomes a space, so a handler cannot split the answer
//     nor make it unreadable. Trailers are declared with the
//     Trailer header or http.TrailerPrefix. Flush, Hijack and the read and write deadlines are
//     offered through http.ResponseController.
//   - A body written short of its declared Content-Length, an unread request body over 256 KiB,
//     a handler panic (http.ErrAbortHandler included, which is not logged) or an unfinished
//     100-continue close the connection after the answer.
//   - Timeouts: ReadHeaderTimeout from a request's first byte to the end of its headers,
//     IdleTimeout for the next request on a kept-alive connection (lazily: the wait may last
//     up to 1/64 longer, at most 250 ms, so that a busy connection does not move a runtime
//     timer per request; a head that arrived whole needs no header deadline); the reading of
//     what a handler left of a body takes ReadHeaderTimeout too (else IdleTimeout). The server sets
//     no write timeout itself: the gateway bounds writes on the listener (package connguard).
//   - Shutdown stops accepting, closes every connection not inside a request (never-used ones
//     included) and waits for the others to finish their request; Close closes all at once.
//     Hijacked connections are the handler's.
package h1server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves HTTP/1.1 on the listeners given to Serve. Set the fields before Serve.
type Server struct {
	Handler http.Handler
	// ReadHeaderTimeout bounds a request from its first byte to the end of its headers; 0: none.
	ReadHeaderTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a kept-alive connection; 0 takes
	// ReadHeaderTimeout.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers together (and a chunked body's
	// trailers); 0: 1 MiB.
	MaxHeaderBytes int
	// Log receives handler panics and server errors; nil discards them.
	Log *slog.Logger
	// Reject writes the answer to a request refused before any handler runs. nil: a text/plain
	// body. The connection is closed after it.
	Reject func(w http.ResponseWriter, status int, err error)

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   atomic.Bool
}

const (
	defaultMaxHeaderBytes = 1 << 20
	// watchDelay: how long a handler runs before the server starts watching for the client to
	// leave. Watching costs a goroutine and a read; most answers are out sooner.
	watchDelay = 20 * time.Millisecond
	// maxDrain is how much of a request body a handler left unread the server discards to keep
	// the connection.
	maxDrain = 256 << 10
	// holdSize is the body a response keeps back, hoping to learn its length.
	holdSize = 4 << 10
)

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

func (s *Server) maxHeaderBytes() int {
	if s.MaxHeaderBytes > 0 {
		return s.MaxHeaderBytes
	}
	return defaultMaxHeaderBytes
}

// drainTimeout bounds the reading of what a handler left of a request body: ReadHeaderTimeout,
// else IdleTimeout; 0: none.
func (s *Server) drainTimeout() time.Duration {
	if s.ReadHeaderTimeout > 0 {
		return s.ReadHeaderTimeout
	}
	return s.IdleTimeout
}

// Serve accepts connections on ln and serves each on its own goroutine, until Shutdown or Close
// (then it returns http.ErrServerClosed) or an accept error that is not temporary.
func (s *Server) Serve(ln net.Listener) error {
	if !s.track(ln) {
		_ = ln.Close()
		return http.ErrServerClosed
	}
	defer s.untrack(ln)
	base := context.WithValue(context.Background(), http.ServerContextKey, s)
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of file descriptors, say: wait for some to be freed rather than spin.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log().Warn("http: accept failed; retrying", "error", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := newConn(s, nc, base)
		if !s.add(c) {
			_ = nc.Close()
			return http.ErrServerClosed
		}
		go c.serve() // owned by the server: tracked in conns until it ends
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) track(ln net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
	}
	s.listeners[ln] = struct{}{}
	return true
}

func (s *Server) untrack(ln net.Listener) {
	s.mu.Lock()
	delete(s.listeners, ln)
	s.mu.Unlock()
}

func (s *Server) add(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// stop marks the server closing and closes its listeners.
func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing.Store(true)
	for ln := range s.listeners {
		_ = ln.Close()
	}
	clear(s.listeners)
}

// closeIdle closes the connections that are between requests and reports how many remain.
func (s *Server) closeIdle() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.CompareAndSwap(stateIdle, stateClosed) {
			_ = c.nc.Close()
		}
	}
	return len(s.conns)
}

// Shutdown stops accepting, closes idle connections and waits until every request in flight
// has been answered, or ctx ends (its error is returned; the remaining connections stay open,
// for Close).
func (s *Server) Shutdown(ctx context.Context) error {
	s.stop()
	wait := time.Millisecond
	for {
		if s.closeIdle() == 0 {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// Close closes the listeners and every connection at once, cancelling requests in flight.
func (s *Server) Close() error {
	s.stop()
	s.mu.Lock()
	for c := range s.conns {
		c.state.Store(stateClosed)
		c.abort(http.ErrServerClosed)
	}
	s.mu.Unlock()
	return nil
}
