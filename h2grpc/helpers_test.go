package h2grpc

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"
)

// rawCodec lets the test server see and send messages as bytes.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

var _ encoding.Codec = rawCodec{}

// handlerFunc answers one unary call of any method: in is the request, the answer goes back.
type handlerFunc func(ctx context.Context, method string, in []byte, ss grpc.ServerStream) ([]byte, error)

// testServer is a real grpc-go server on loopback that hands every call to its handler.
type testServer struct {
	addr string
	srv  *grpc.Server
	done chan struct{}
}

// startServer serves h on lis (a new loopback listener when nil) until the test ends.
func startServer(t testing.TB, lis net.Listener, h handlerFunc, opts ...grpc.ServerOption) *testServer {
	t.Helper()
	if lis == nil {
		var err error
		lis, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
	}
	opts = append(opts, grpc.ForceServerCodec(rawCodec{}), grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
		var in []byte
		if err := ss.RecvMsg(&in); err != nil {
			return err
		}
		method, _ := grpc.MethodFromServerStream(ss)
		out, err := h(ss.Context(), method, in, ss)
		if err == errNoAnswer {
			return nil
		}
		if err != nil {
			return err
		}
		return ss.SendMsg(&out)
	}))
	s := &testServer{addr: lis.Addr().String(), srv: grpc.NewServer(opts...), done: make(chan struct{})}
	go func() { defer close(s.done); _ = s.srv.Serve(lis) }()
	t.Cleanup(s.stop)
	return s
}

func (s *testServer) stop() { s.srv.Stop(); <-s.done }

// errNoAnswer makes the test server end a call with OK and no message.
var errNoAnswer = errors.New("no answer")

func echo(_ context.Context, _ string, in []byte, _ grpc.ServerStream) ([]byte, error) {
	return in, nil
}

// newClient returns a client of addr closed when the test ends.
func newClient(t testing.TB, addr string, cfg Config) *Client {
	c := New(addr, cfg)
	t.Cleanup(c.Close)
	return c
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func statusCode(err error) string { return status.Code(err).String() }
