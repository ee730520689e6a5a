// Package h2grpc is a unary gRPC client for messages that are already encoded: it speaks gRPC's
// HTTP/2 protocol itself on an x/net/http2 Framer, with none of grpc-go's per-call goroutines,
// retry machinery or interceptors. The rpc handler's fast path uses it; streams stay on grpc-go.
//
// Contract:
//   - A Client talks to one node (address, plaintext h2c with prior knowledge or TLS with ALPN
//     "h2"). It dials lazily on the first call, and again on the next call after its connection
//     died or the server sent GOAWAY; a draining connection finishes its streams meanwhile.
//   - Invoke writes the call (HEADERS and DATA) from the caller's goroutine under the
//     connection's write lock, into one buffered write flushed by the last of the calls writing
//     at that moment, and has copied the request bytes out when it returns, so the caller may
//     recycle them. One reader goroutine per connection hands frames to the calls waiting on
//     them; Close stops and waits for them.
//   - Every error Invoke returns is a gRPC status error (status.FromError works) with grpc-go's
//     codes; NeverSent tells the calls that provably never reached the node (dial failed,
//     REFUSED_STREAM, above GOAWAY's last stream id, connection dead before the call's HEADERS
//     left), which are safe to repeat on another node.
//   - Frames from the server are untrusted: header lists, messages and flow-control windows are
//     bounded, and a protocol violation closes the connection and fails its calls; it never
//     panics.
package h2grpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// BufferPool recycles byte buffers; the rpc handler's Buffers implements it.
type BufferPool interface {
	// Get returns a buffer of length n.
	Get(n int) *[]byte
	// Put recycles a buffer Get returned.
	Put(b *[]byte)
}

// Config tunes a Client; zero values mean the documented defaults.
type Config struct {
	// TLS, when set, dials with TLS (ALPN "h2" is added); nil dials plaintext HTTP/2 (h2c with
	// prior knowledge). Its ServerName, when set, is also the calls' :authority.
	TLS *tls.Config
	// DialTimeout bounds one connection attempt (TCP and TLS handshake); default 3s.
	DialTimeout time.Duration
	// MaxMessageBytes bounds an answer's message; default 16 MiB. A longer one fails the call
	// with ResourceExhausted.
	MaxMessageBytes int
	// MaxHeaderListBytes bounds a header or trailer block from the server (as HPACK counts
	// it); default 1 MiB.
	MaxHeaderListBytes uint32
	// WriteTimeout bounds one write to the connection; default 20s. A server that stops reading
	// for that long fails the connection, rather than holding up, with the write lock, every
	// call on it past its deadline.
	WriteTimeout time.Duration
	// UserAgent is sent with every call; default "edgeapi-gateway".
	UserAgent string
	// Dial opens the transport connection; nil uses a net.Dialer. Tests use it.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Field is one metadata entry. Keys are lower case; a "-bin" key's value is raw bytes (base64
// on the wire, as grpc encodes it).
type Field struct {
	Name, Value string
}

// Call is one unary call: what to send, and where the answer goes. A Call may be reused after
// the caller has taken what it needs from it (see Reset).
type Call struct {
	// Method is the gRPC path, "/package.Service/Method".
	Method string
	// Metadata is sent as headers. Reserved and connection-specific keys are dropped.
	Metadata []Field
	// Request is the encoded message, without gRPC's 5-byte prefix.
	Request []byte
	// Buffers supplies the buffer the answer is copied into; nil allocates it.
	Buffers BufferPool

	// Response is the answer's message, in a buffer from Buffers that now belongs to the caller;
	// nil when the call failed. Reset gives it back.
	Response *[]byte
	// Header and Trailer are the answer's metadata (reserved keys left out), appended to.
	Header, Trailer []Field
}

// Reset makes c ready for another call: the answer goes back to Buffers, the slices keep their
// arrays.
func (c *Call) Reset() {
	if c.Response != nil && c.Buffers != nil {
		c.Buffers.Put(c.Response)
	}
	clear(c.Metadata)
	clear(c.Header)
	clear(c.Trailer)
	*c = Call{Metadata: c.Metadata[:0], Header: c.Header[:0], Trailer: c.Trailer[:0]}
}

// Client makes unary calls to one node. It is safe for concurrent use.
type Client struct {
	addr      string
	authority string
	scheme    string
	cfg       Config
	streams   sync.Pool // *stream

	mu      sync.Mutex
	cur     *conn         // the connection new calls use; nil before the first dial or after it died
	dialing chan struct{} // closed when the dial in progress ends; nil when none is
	dialErr error         // the last dial's failure, for the calls that waited on it
	conns   map[*conn]struct{}
	closed  bool
	readers sync.WaitGroup // the connections' reader goroutines
}

// New returns a client for the node at addr (host:port). It does not dial.
func New(addr string, cfg Config) *Client {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 3 * time.Second
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 16 << 20
	}
	if cfg.MaxHeaderListBytes == 0 {
		cfg.MaxHeaderListBytes = 1 << 20
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 20 * time.Second
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "edgeapi-gateway"
	}
	c := &Client{addr: addr, authority: addr, scheme: "http", cfg: cfg, conns: map[*conn]struct{}{}}
	if cfg.TLS != nil {
		tc := cfg.TLS.Clone()
		if !hasH2(tc.NextProtos) {
			tc.NextProtos = append([]string{"h2"}, tc.NextProtos...)
		}
		if tc.ServerName == "" {
			// Verify the node's host, as grpc does with the dialled address as authority.
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				host = addr
			}
			tc.ServerName = host
		} else {
			c.authority = tc.ServerName
		}
		c.cfg.TLS = tc
		c.scheme = "https"
	}
	return c
}

func hasH2(protos []string) bool {
	for _, p := range protos {
		if p == "h2" {
			return true
		}
	}
	return false
}

// Addr is the node's address.
func (c *Client) Addr() string { return c.addr }

// errClientClosed fails calls on a closed client; nothing was sent.
var errClientClosed = unsent(codes.Unavailable, "h2grpc: the client is closed")

// Close closes every connection, failing the calls still running on them with Unavailable,
// and waits for the connections' reader goroutines. It is safe to call twice.
func (c *Client) Close() {
	c.mu.Lock()
	c.closed = true
	conns := make([]*conn, 0, len(c.conns))
	for cn := range c.conns {
		conns = append(conns, cn)
	}
	c.cur = nil
	c.mu.Unlock()
	for _, cn := range conns {
		cn.fail(status.Error(codes.Unavailable, "h2grpc: the connection was closed by the gateway"))
	}
	c.readers.Wait()
}

// Invoke makes the call described by call. It returns nil once the server answered with status
// OK and one message (call.Response); otherwise a status error, whose NeverSent tells whether
// the node provably never saw the call. Header and Trailer are filled in either case, as far as
// the server sent them.
func (c *Client) Invoke(ctx context.Context, call *Call) error {
	if err := ctx.Err(); err != nil {
		return unsentCtx(err)
	}
	st := c.getStream()
	defer c.putStream(st)
	// A connection that turned out to be draining or dead before the call was registered on it
	// sent nothing: the call moves to a fresh one. Bounded, in case a server keeps refusing.
	for range 4 {
		cn, err := c.conn(ctx)
		if err != nil {
			return err
		}
		err = cn.call(ctx, st, call)
		if err != errRetryConn {
			return err
		}
		c.forget(cn)
	}
	return unsent(codes.Unavailable, "h2grpc: no usable connection to "+c.addr)
}

// errRetryConn is conn.call's report that the connection could not take the call (draining or
// dead) before anything was sent.
var errRetryConn = errors.New("h2grpc: connection unusable")

// conn returns the connection for new calls, dialling one when there is none.
func (c *Client) conn(ctx context.Context) (*conn, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, errClientClosed
		}
		if cn := c.cur; cn != nil && cn.usable() {
			c.mu.Unlock()
			return cn, nil
		}
		c.cur = nil
		if wait := c.dialing; wait != nil {
			// Another call is dialling: share its outcome rather than dial too.
			c.mu.Unlock()
			select {
			case <-wait:
			case <-ctx.Done():
				return nil, unsentCtx(ctx.Err())
			}
			c.mu.Lock()
			cn, err := c.cur, c.dialErr
			c.mu.Unlock()
			if cn == nil && err != nil {
				return nil, err
			}
			continue
		}
		done := make(chan struct{})
		c.dialing = done
		c.mu.Unlock()

		cn, err := c.dial(ctx)

		c.mu.Lock()
		c.dialing = nil
		c.dialErr = err
		if err == nil {
			if c.closed {
				c.mu.Unlock()
				close(done)
				cn.fail(errClientClosed)
				return nil, errClientClosed
			}
			c.cur = cn
			c.conns[cn] = struct{}{}
			c.readers.Add(1)
			go func() {
				defer c.readers.Done()
				cn.readLoop()
			}()
		}
		c.mu.Unlock()
		close(done)
		if err != nil {
			return nil, err
		}
		return cn, nil
	}
}

// forget makes cn no longer the connection for new calls.
func (c *Client) forget(cn *conn) {
	c.mu.Lock()
	if c.cur == cn {
		c.cur = nil
	}
	c.mu.Unlock()
}

// removeConn drops a dead connection from the client's set.
func (c *Client) removeConn(cn *conn) {
	c.mu.Lock()
	delete(c.conns, cn)
	if c.cur == cn {
		c.cur = nil
	}
	c.mu.Unlock()
}

// dial connects, handshakes TLS when configured, and writes the client preface.
func (c *Client) dial(ctx context.Context) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	var nc net.Conn
	var err error
	if c.cfg.Dial != nil {
		nc, err = c.cfg.Dial(dctx, "tcp", c.addr)
	} else {
		var d net.Dialer
		nc, err = d.DialContext(dctx, "tcp", c.addr)
	}
	if err != nil {
		return nil, dialError(ctx, err)
	}
	if c.cfg.TLS != nil {
		tc := tls.Client(nc, c.cfg.TLS)
		if err := tc.HandshakeContext(dctx); err != nil {
			_ = nc.Close()
			return nil, dialError(ctx, err)
		}
		if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
			_ = nc.Close()
			return nil, unsent(codes.Unavailable, "h2grpc: "+c.addr+" did not negotiate HTTP/2 over TLS (ALPN "+quoteProto(p)+")")
		}
		nc = tc
	}
	cn, err := newConn(c, nc)
	if err == nil {
		err = cn.readPreface(dctx)
	}
	if err != nil {
		_ = nc.Close()
		return nil, dialError(ctx, fmt.Errorf("HTTP/2 handshake with %s: %w", c.addr, err))
	}
	return cn, nil
}

func quoteProto(p string) string {
	if p == "" {
		return "none"
	}
	return `"` + strings.ToValidUTF8(p, "?") + `"`
}

// dialError turns a failed dial into an Unavailable status that never reached the node, or the
// caller's own cancellation.
func dialError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return unsentCtx(ctx.Err())
	}
	return unsent(codes.Unavailable, "h2grpc: connection error: "+err.Error())
}

func (c *Client) getStream() *stream {
	if v := c.streams.Get(); v != nil {
		return v.(*stream)
	}
	return &stream{done: make(chan struct{}, 1)}
}

func (c *Client) putStream(st *stream) {
	st.reset()
	c.streams.Put(st)
}
