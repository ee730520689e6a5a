package rpc

import (
	"context"
	"errors"
	"io"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/h2grpc"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/retry"
	"github.com/edgeapi/gateway/selector"
)

// Selector picks a node of a service; *selector.Selector implements it.
type Selector interface {
	Select(service string, exclude ...string) (selector.Pick, error)
}

// Pool hands out the shared connection to a node; *connpool.Pool implements it.
type Pool interface {
	Get(n registry.Node) (*grpc.ClientConn, error)
}

// Caller makes unary gRPC calls to a service (through grpc, or through h2grpc for the fast
// path when the Pool is also a UnaryPool): it picks a node, reports the outcome to the node's
// breaker, and tries another node when the retry policy allows (see package retry): always once
// when the first node never received the request (connection refused, node gone); with retries
// on, also after a node failure of an idempotent call, under the route's retry budget.
type Caller struct {
	Selector Selector
	Pool     Pool
	// Retry is the policy of the route; nil retries only calls that never left, once.
	Retry *retry.Policy
}

// WithRetry returns a caller like c that follows p.
func (c *Caller) WithRetry(p *retry.Policy) *Caller {
	cc := *c
	cc.Retry = p
	return &cc
}

// idempotentOption marks a call as safe to repeat; grpc ignores it.
type idempotentOption struct{ grpc.EmptyCallOption }

// Idempotent is the call option that lets the retry policy repeat a call that may have reached a
// node. The rpc handler passes it for methods whose descriptor declares an idempotency level.
func Idempotent() grpc.CallOption { return idempotentOption{} }

func isIdempotent(opts []grpc.CallOption) bool {
	for _, o := range opts {
		if _, ok := o.(idempotentOption); ok {
			return true
		}
	}
	return false
}

// Invoke calls method (a gRPC path) on some node of service.
func (c *Caller) Invoke(ctx context.Context, service, method string, req, resp any, opts ...grpc.CallOption) error {
	return c.invoke(ctx, service, isIdempotent(opts), func(ctx, tctx context.Context, n registry.Node) (error, bool, error) {
		cc, err := c.Pool.Get(n)
		if err != nil {
			return nil, false, err
		}
		var p peer.Peer
		err = notOurCancel(tctx, cc, cc.Invoke(tctx, method, req, resp, append(opts, grpc.Peer(&p))...))
		return err, neverSent(ctx, err, &p), nil
	})
}

// UnaryPool is the optional ability of a Pool to hand out a node's raw unary client, which the
// fast path prefers to grpc (see package h2grpc); *connpool.Pool has it.
type UnaryPool interface {
	Unary(n registry.Node) (*h2grpc.Client, error)
}

// unaryPool returns the pool's raw unary clients, or nil when it has none.
func (c *Caller) unaryPool() UnaryPool {
	up, _ := c.Pool.(UnaryPool)
	return up
}

// invokeRaw makes call (already encoded) on some node of service with the nodes' raw unary
// clients, under the same node selection, breaker reports and retry policy as Invoke. Header,
// Trailer and Response are those of the last try.
func (c *Caller) invokeRaw(ctx context.Context, up UnaryPool, service string, call *h2grpc.Call, idempotent bool) error {
	return c.invoke(ctx, service, idempotent, func(ctx, tctx context.Context, n registry.Node) (error, bool, error) {
		uc, err := up.Unary(n)
		if err != nil {
			return nil, false, err
		}
		clear(call.Header)
		clear(call.Trailer)
		call.Header, call.Trailer = call.Header[:0], call.Trailer[:0]
		err = uc.Invoke(tctx, call)
		// As with grpc (see neverSent): only an Unavailable the caller did not cause is retried
		// as unsent.
		unsent := ctx.Err() == nil && status.Code(err) == codes.Unavailable && h2grpc.NeverSent(err)
		return err, unsent, nil
	})
}

// tryFunc makes one try of a call on node n under tctx (ctx bounded by the per-try timeout):
// err is its outcome and unsent whether the node provably never saw it; poolErr reports that
// the node's client could not even be had, and nothing was tried.
type tryFunc func(ctx, tctx context.Context, n registry.Node) (err error, unsent bool, poolErr error)

// invoke runs try on a node of service, and again on another when the retry policy allows.
func (c *Caller) invoke(ctx context.Context, service string, idempotent bool, try tryFunc) error {
	pol := c.Retry
	pol.Begin()
	defer pol.End()
	var tried []string
	var lastErr error
	token := false
	defer func() {
		if token {
			pol.Release()
		}
	}()
	for attempt := 0; ; attempt++ {
		pick, err := c.Selector.Select(service, tried...)
		if err != nil {
			if attempt > 0 && errors.Is(err, selector.ErrNoNodes) {
				return lastErr // no other node: the last one's failure says most
			}
			return err
		}
		tctx, cancel := pol.Try(ctx)
		err, unsent, poolErr := try(ctx, tctx, pick.Node)
		if poolErr != nil {
			cancel()
			pick.Done(poolErr)
			return &apierror.DialError{Address: pick.Node.Address, Err: poolErr}
		}
		outcome := nodeOutcome(clientDeadline(ctx), err)
		if err != nil && retry.PerTryExpired(ctx, tctx) {
			outcome = err // our own per-try bound ran out: the node was too slow
		}
		cancel()
		pick.Done(outcome)
		if err == nil || ctx.Err() != nil {
			return err
		}
		sent := !unsent
		if sent && !selector.IsNodeFailure(outcome) {
			return err // the node answered: its answer stands
		}
		if !pol.May(attempt, sent, idempotent) {
			return err
		}
		if !pol.Grant(service, &token) {
			return err
		}
		lastErr = err
		if !sent {
			lastErr = &apierror.DialError{Address: pick.Node.Address, Err: err}
		}
		tried = append(tried, pick.Node.ID)
	}
}

// notOurCancel turns a Canceled the caller did not cause because the connection was shut down
// under the call into Unavailable: answering it as 499 "client closed request" would blame the
// client. A Canceled the backend itself returned stays as it is.
func notOurCancel(ctx context.Context, cc *grpc.ClientConn, err error) error {
	if ctx.Err() == nil && status.Code(err) == codes.Canceled && cc.GetState() == connectivity.Shutdown {
		return status.Error(codes.Unavailable, "the connection to the node closed during the call: "+status.Convert(err).Message())
	}
	return err
}

// neverSent reports whether a failed call provably never reached the node: the call failed as
// Unavailable without a transport (no peer) while the caller still wanted an answer. grpc sets
// the peer in the same step that queues the request's headers (its stats handlers hear OutHeader
// there too), so a call that failed with a peer may have been seen by the node, e.g. when the
// connection broke right after: such calls are repeated only when idempotent.
func neverSent(ctx context.Context, err error, p *peer.Peer) bool {
	return ctx.Err() == nil && status.Code(err) == codes.Unavailable && p.Addr == nil
}

type clientDeadlineKey struct{}

// WithClientDeadline marks ctx's deadline as one the client chose, shorter than the route's own.
// Its expiry is the client's choice, not a sign that the node is unhealthy; counted against the
// node, any client could open every breaker with "Timeout: 1ms".
func WithClientDeadline(ctx context.Context) context.Context {
	return context.WithValue(ctx, clientDeadlineKey{}, true)
}

// clientDeadline reports whether WithClientDeadline marked ctx.
func clientDeadline(ctx context.Context) bool { return ctx.Value(clientDeadlineKey{}) != nil }

// nodeOutcome is the error to report to the node's breaker: a timeout under a client-chosen
// deadline counts as a cancellation, which breakers ignore.
func nodeOutcome(clientDeadline bool, err error) error {
	if err != nil && clientDeadline &&
		(status.Code(err) == codes.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded)) {
		return context.Canceled
	}
	return err
}

// Conn returns a connection to a node of service for a one-off exchange (server reflection), and
// the function that reports its outcome. A stream that cannot be opened because its node is
// unreachable is opened on another node instead: reflection is read-only, and without this one
// dead node fails every request that happens to load descriptors through it.
func (c *Caller) Conn(ctx context.Context, service string) (grpc.ClientConnInterface, func(error), error) {
	pick, err := c.Selector.Select(service)
	if err != nil {
		return nil, nil, err
	}
	cc, err := c.Pool.Get(pick.Node)
	if err != nil {
		pick.Done(err)
		return nil, nil, &apierror.DialError{Address: pick.Node.Address, Err: err}
	}
	f := &failoverConn{caller: c, service: service, pick: pick, cc: cc, clientDeadline: clientDeadline(ctx)}
	return f, f.done, nil
}

// failoverConn is the connection Conn hands out: it moves to another node when a stream cannot
// be opened on the current one, and reports each node's outcome exactly once.
type failoverConn struct {
	caller         *Caller
	service        string
	clientDeadline bool // the exchange runs under a deadline the client chose

	mu    sync.Mutex
	pick  selector.Pick
	cc    *grpc.ClientConn
	tried []string
}

var _ grpc.ClientConnInterface = (*failoverConn)(nil)

func (f *failoverConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	f.mu.Lock()
	cc := f.cc
	f.mu.Unlock()
	return cc.Invoke(ctx, method, args, reply, opts...)
}

func (f *failoverConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		s, err := f.cc.NewStream(ctx, desc, method, opts...)
		if err == nil || ctx.Err() != nil || status.Code(err) != codes.Unavailable {
			return s, err
		}
		// No stream was opened, so nothing reached the node: another one may serve it.
		next, serr := f.caller.Selector.Select(f.service, append(f.tried, f.pick.Node.ID)...)
		if serr != nil {
			return nil, &apierror.DialError{Address: f.pick.Node.Address, Err: err}
		}
		cc, gerr := f.caller.Pool.Get(next.Node)
		if gerr != nil {
			next.Done(gerr)
			return nil, &apierror.DialError{Address: f.pick.Node.Address, Err: err}
		}
		f.pick.Done(err)
		f.tried = append(f.tried, f.pick.Node.ID)
		f.pick, f.cc = next, cc
	}
}

// done reports the exchange's outcome to the node that served it last.
func (f *failoverConn) done(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pick.Done(nodeOutcome(f.clientDeadline, err))
}

// NewStream opens a stream of method on a node of service. done must be called once with the
// stream's final error (nil or io.EOF for success) so the node's breaker hears the outcome. A
// stream that could not be opened because its node was unreachable is opened on another node,
// under the retry budget; once open, a stream is never retried (its messages may have been seen).
func (c *Caller) NewStream(ctx context.Context, service string, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, func(error), error) {
	pol := c.Retry
	pol.Begin() // while opening: an open stream is not a request the budget weighs
	defer pol.End()
	token := false
	defer func() {
		if token {
			pol.Release()
		}
	}()
	var tried []string
	var lastErr error
	for attempt := 0; ; attempt++ {
		pick, err := c.Selector.Select(service, tried...)
		if err != nil {
			if attempt > 0 && errors.Is(err, selector.ErrNoNodes) {
				return nil, nil, lastErr // no other node: the last one's failure says most
			}
			return nil, nil, err
		}
		cc, err := c.Pool.Get(pick.Node)
		if err != nil {
			pick.Done(err)
			return nil, nil, &apierror.DialError{Address: pick.Node.Address, Err: err}
		}
		cs, err := cc.NewStream(ctx, desc, method, opts...)
		if err == nil {
			p := pick
			return cs, func(err error) {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				p.Done(nodeOutcome(clientDeadline(ctx), err))
			}, nil
		}
		pick.Done(err)
		// Opening the stream failed before any message left: safe to try another node.
		if ctx.Err() != nil || status.Code(err) != codes.Unavailable || !pol.May(attempt, false, false) {
			return nil, nil, err
		}
		if !pol.Grant(service, &token) {
			return nil, nil, err
		}
		lastErr = &apierror.DialError{Address: pick.Node.Address, Err: err}
		tried = append(tried, pick.Node.ID)
	}
}
