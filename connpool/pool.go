// Package connpool keeps, per backend node address, one *grpc.ClientConn and one *h2grpc.Client
// (the unary fast path's client), shared by every request to that node, and closes a node's
// connections when the node leaves the registry.
//
// Contract: a node is dialled with TLS (Config.TLS, TLS 1.2 or later, ALPN h2) when
// Config.TLSAll is set or its metadata says tls=true, in plaintext otherwise; the two never share
// a connection. Get and Unary never block on the network (both clients connect lazily); Retain
// retires every node whose address is not in the live set (its clients close after a drain
// delay, so calls in flight finish); after Close, which closes everything at once, Get and Unary
// fail with ErrClosed.
package connpool

import (
	"crypto/tls"
	"errors"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/edgeapi/gateway/h2grpc"
	"github.com/edgeapi/gateway/registry"
)

// ErrClosed is returned by Get after Close.
var ErrClosed = errors.New("connection pool closed")

// Config tunes the pool; zero values mean the documented defaults.
type Config struct {
	// DialTimeout bounds one connection attempt; default 3s.
	DialTimeout time.Duration
	// MaxMessageBytes bounds a message received from a backend; default 16 MiB.
	MaxMessageBytes int
	// Options are appended to the dial options (TLS credentials, interceptors...).
	Options []grpc.DialOption
	// DrainDelay is how long the connection of a node that left the registry stays open for
	// the calls still running on it; default 60s. Closing at once would cancel them.
	DrainDelay time.Duration
	// TLS is the client TLS configuration for backends that get TLS; nil: system roots.
	TLS *tls.Config
	// TLSAll dials every backend with TLS, not only nodes whose metadata says tls=true.
	TLSAll bool
}

// key tells a node's plaintext and TLS connections apart: a node that turns TLS on must not be
// handed its old plaintext connection.
type key struct {
	addr string
	tls  bool
}

// node is what the pool keeps for one node: both clients share its lifecycle.
type node struct {
	cc *grpc.ClientConn
	uc *h2grpc.Client
}

func (n *node) close() {
	_ = n.cc.Close()
	n.uc.Close()
}

// Pool is safe for concurrent use.
type Pool struct {
	opts     []grpc.DialOption // without transport credentials
	tls      credentials.TransportCredentials
	tlsConf  *tls.Config
	unary    h2grpc.Config // without TLS
	tlsAll   bool
	drain    time.Duration
	mu       sync.RWMutex
	conns    map[key]*node
	draining map[*node]*time.Timer
	closed   bool
}

// New returns an empty pool.
func New(cfg Config) *Pool {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 3 * time.Second
	}
	if cfg.DrainDelay <= 0 {
		cfg.DrainDelay = 60 * time.Second
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = 16 << 20
	}
	tc := cfg.TLS
	if tc == nil {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	opts := []grpc.DialOption{
		grpc.WithConnectParams(grpc.ConnectParams{
			MinConnectTimeout: cfg.DialTimeout,
			// A refused node is retried soon but not hammered; the breaker keeps traffic away
			// from it meanwhile.
			Backoff: backoff.Config{BaseDelay: 200 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(cfg.MaxMessageBytes)),
	}
	return &Pool{
		opts: append(opts, cfg.Options...), drain: cfg.DrainDelay,
		tls: credentials.NewTLS(tc), tlsConf: tc, tlsAll: cfg.TLSAll,
		unary: h2grpc.Config{DialTimeout: cfg.DialTimeout, MaxMessageBytes: cfg.MaxMessageBytes},
		conns: map[key]*node{}, draining: map[*node]*time.Timer{},
	}
}

// Get returns the shared grpc connection to node n, creating it on first use.
func (p *Pool) Get(n registry.Node) (*grpc.ClientConn, error) {
	e, err := p.node(n)
	if err != nil {
		return nil, err
	}
	return e.cc, nil
}

// Unary returns the shared unary client of node n, creating it on first use.
func (p *Pool) Unary(n registry.Node) (*h2grpc.Client, error) {
	e, err := p.node(n)
	if err != nil {
		return nil, err
	}
	return e.uc, nil
}

func (p *Pool) node(n registry.Node) (*node, error) {
	k := key{addr: n.Address, tls: p.tlsAll || n.TLS()}
	p.mu.RLock()
	e, ok := p.conns[k]
	closed := p.closed
	p.mu.RUnlock()
	if ok {
		return e, nil
	}
	if closed {
		return nil, ErrClosed
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	if e, ok := p.conns[k]; ok {
		return e, nil
	}
	creds := insecure.NewCredentials()
	uc := p.unary
	if k.tls {
		creds = p.tls
		uc.TLS = p.tlsConf
	}
	// passthrough: the address comes from the registry as host:port; the dialer resolves it.
	// The authority is that address, so TLS verifies the node's host unless a server name is set.
	cc, err := grpc.NewClient("passthrough:///"+k.addr, append(p.opts, grpc.WithTransportCredentials(creds))...)
	if err != nil {
		return nil, err
	}
	e = &node{cc: cc, uc: h2grpc.New(k.addr, uc)}
	p.conns[k] = e
	return e, nil
}

// Retain retires the connections whose address is not in live: no new call gets them, and they
// close after the drain delay, so calls already running on them finish.
func (p *Pool) Retain(live map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, e := range p.conns {
		if live[k.addr] {
			continue
		}
		delete(p.conns, k)
		p.draining[e] = time.AfterFunc(p.drain, func() {
			p.mu.Lock()
			delete(p.draining, e)
			p.mu.Unlock()
			e.close()
		})
	}
}

// Len reports how many nodes have connections.
func (p *Pool) Len() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.conns)
}

// Close closes every connection; it is safe to call twice.
func (p *Pool) Close() {
	p.mu.Lock()
	nodes := make([]*node, 0, len(p.conns)+len(p.draining))
	for _, e := range p.conns {
		nodes = append(nodes, e)
	}
	p.conns = map[key]*node{}
	for e, t := range p.draining {
		if t.Stop() { // a timer that already fired closes its node itself
			nodes = append(nodes, e)
		}
	}
	p.draining = map[*node]*time.Timer{}
	p.closed = true
	p.mu.Unlock()
	for _, e := range nodes {
		e.close()
	}
}
