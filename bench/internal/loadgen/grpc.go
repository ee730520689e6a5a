package loadgen

import (
	"context"

	"google.golang.org/grpc"

	"github.com/edgeapi/gateway/bench/benchpb"
)

// GRPC calls Bench.Echo with a fixed message over shared client connections (HTTP/2 multiplexes
// the load generator's "connections" as concurrent streams).
type GRPC struct {
	Clients []benchpb.BenchClient
	Msg     *benchpb.Message
	next    int
}

// Dial implements Dialer; it hands the shared clients out in turn. Not safe for concurrent use.
func (g *GRPC) Dial(context.Context) (Conn, error) {
	c := g.Clients[g.next%len(g.Clients)]
	g.next++
	return &grpcConn{c: c, msg: g.Msg}, nil
}

type grpcConn struct {
	c   benchpb.BenchClient
	msg *benchpb.Message
}

func (c *grpcConn) Do(ctx context.Context) error {
	_, err := c.c.Echo(ctx, c.msg, grpc.WaitForReady(false))
	return err
}

func (c *grpcConn) Close() error { return nil }
