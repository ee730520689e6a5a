package rpc

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/h2grpc"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/selector"
)

// nodeList is a Selector over fixed nodes, first not excluded first, and a pool of raw unary
// clients for them.
type nodeList struct {
	nodes   []registry.Node
	clients map[string]*h2grpc.Client
	picked  *[]string
}

func (l *nodeList) Select(_ string, exclude ...string) (selector.Pick, error) {
	for _, n := range l.nodes {
		if !slices.Contains(exclude, n.ID) {
			*l.picked = append(*l.picked, n.ID)
			return selector.Pick{Node: n}, nil
		}
	}
	return selector.Pick{}, selector.ErrNoNodes
}

func (l *nodeList) Get(registry.Node) (*grpc.ClientConn, error) {
	return nil, errors.New("the raw path must not ask for a grpc connection")
}

func (l *nodeList) Unary(n registry.Node) (*h2grpc.Client, error) { return l.clients[n.Address], nil }

// TestInvokeRawRetriesUnsent: a call the first node never received (its address refuses
// connections) goes to the next node, once, even without a retry policy.
func TestInvokeRawRetriesUnsent(t *testing.T) {
	_, cc := startOrderServer(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	_ = lis.Close()
	var picked []string
	l := &nodeList{
		nodes:   []registry.Node{{ID: "dead", Address: dead}, {ID: "live", Address: cc.Target()}},
		clients: map[string]*h2grpc.Client{dead: h2grpc.New(dead, h2grpc.Config{}), cc.Target(): h2grpc.New(cc.Target(), h2grpc.Config{})},
		picked:  &picked,
	}
	for _, c := range l.clients {
		t.Cleanup(c.Close)
	}
	c := &Caller{Selector: l, Pool: l}
	up := c.unaryPool()
	if up == nil {
		t.Fatal("the pool's Unary is not found")
	}
	call := &h2grpc.Call{Method: "/order.OrderSrv/GetOrder", Request: []byte{0x08, 0x07}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.invokeRaw(ctx, up, orderService, call, false); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(picked, []string{"dead", "live"}) {
		t.Fatalf("picked %v", picked)
	}
	if call.Response == nil || len(*call.Response) == 0 {
		t.Fatal("no answer")
	}

	// Only dead nodes: the answer names the unreachable node.
	picked = nil
	l.nodes = l.nodes[:1]
	err = c.invokeRaw(ctx, up, orderService, &h2grpc.Call{Method: "/order.OrderSrv/GetOrder"}, false)
	var de *apierror.DialError
	if !errors.As(err, &de) || de.Address != dead {
		t.Fatalf("got %v", err)
	}
}
