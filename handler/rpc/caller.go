package rpc

import (
	"context"
	"errors"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/selector"
)

// Selector picks a node of a service; *selector.Selector implements it.
type Selector interface {
	Select(service string, exclude ...string) (selector.Pick, error)
}

// Pool hands out the shared connection to a node; *connpool.Pool implements it.
type Pool interface {
	Get(addr string) (*grpc.ClientConn, error)
}

// Caller makes unary gRPC calls to a service: it picks a node, reports the outcome to the node's
// breaker, and retries once on another node when the first one never received the request
// (connection refused, node gone), which is always safe.
type Caller struct {
	Selector Selector
	Pool     Pool
}

// Invoke calls method (a gRPC path) on some node of service.
func (c *Caller) Invoke(ctx context.Context, service, method string, req, resp any, opts ...grpc.CallOption) error {
	var tried []string
	for attempt := 0; ; attempt++ {
		pick, err := c.Selector.Select(service, tried...)
		if err != nil {
			if attempt > 0 && errors.Is(err, selector.ErrNoNodes) {
				return apierror.New(http.StatusBadGateway, "%s: the only node could not be reached", service)
			}
			return err
		}
		cc, err := c.Pool.Get(pick.Node.Address)
		if err != nil {
			pick.Done(err)
			return &apierror.DialError{Address: pick.Node.Address, Err: err}
		}
		var p peer.Peer
		err = cc.Invoke(ctx, method, req, resp, append(opts, grpc.Peer(&p))...)
		pick.Done(err)
		if err == nil || attempt > 0 || !neverSent(ctx, err, &p) {
			return err
		}
		tried = append(tried, pick.Node.ID)
	}
}

// neverSent reports whether a failed call provably never reached the node: the call failed as
// Unavailable without a transport (no peer) while the caller still wanted an answer.
func neverSent(ctx context.Context, err error, p *peer.Peer) bool {
	return ctx.Err() == nil && status.Code(err) == codes.Unavailable && p.Addr == nil
}

// Conn returns a connection to a node of service for a one-off exchange (server reflection), and
// the function that reports its outcome.
func (c *Caller) Conn(_ context.Context, service string) (grpc.ClientConnInterface, func(error), error) {
	pick, err := c.Selector.Select(service)
	if err != nil {
		return nil, nil, err
	}
	cc, err := c.Pool.Get(pick.Node.Address)
	if err != nil {
		pick.Done(err)
		return nil, nil, &apierror.DialError{Address: pick.Node.Address, Err: err}
	}
	return cc, pick.Done, nil
}
