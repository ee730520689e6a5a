// Package testsvc is the gateway's test backend: a plain gRPC server (no gateway library) with
// server reflection, serving testsvc.v1.Echo and, on request, testsvc.v2.Echo, so end-to-end
// tests can drive every path of the rpc handler against a real server on loopback.
//
// Contract:
//   - Start serves on 127.0.0.1:0 (or the address given WithAddress, to restart a node in place)
//     until Stop or Kill; the test's Cleanup stops it. Every goroutine it starts has ended when
//     Stop or Kill returns, and both are safe to call more than once.
//   - The server counts what tests assert on: reflection streams (v1 and v1alpha), unary calls,
//     and Slow calls that saw their context cancelled.
//   - The .proto files and descriptor sets are embedded (see WriteDescriptors), so tests can
//     feed the gateway all three descriptor sources from any working directory.
//
// The protos live under proto/ with generated code committed; gen.sh regenerates them.
package testsvc

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"

	testsvcv1 "github.com/edgeapi/gateway/internal/testsvc/proto/testsvc/v1"
	testsvcv2 "github.com/edgeapi/gateway/internal/testsvc/proto/testsvc/v2"
)

// stopGrace bounds Stop's graceful phase; calls still running after it are cut.
const stopGrace = 5 * time.Second

// Option changes how Start builds the server.
type Option func(*options)

type options struct {
	addr       string
	v2         bool
	reflection bool
}

// WithAddress listens on addr instead of 127.0.0.1:0, e.g. to restart a stopped node in place.
func WithAddress(addr string) Option { return func(o *options) { o.addr = addr } }

// WithV2 also serves testsvc.v2.Echo, so that the short name "Echo" is ambiguous.
func WithV2() Option { return func(o *options) { o.v2 = true } }

// WithoutReflection serves no reflection service (for gateways given .proto files or a protoset).
func WithoutReflection() Option { return func(o *options) { o.reflection = false } }

// Server is one running test node.
type Server struct {
	// Name is the node name Start was given; Unary reports it so tests see who answered.
	Name string
	// Addr is the bound host:port.
	Addr string

	grpc *grpc.Server
	done chan struct{} // closed when Serve has returned
	once sync.Once

	reflections atomic.Int64
	calls       atomic.Int64
	cancels     atomic.Int64
	slowStarted chan struct{}
	slowCancel  chan struct{}
	release     chan struct{} // Release sends one token per held Count stream
	// holdsCancelled counts held Count streams that ended by cancellation, not by a token: a
	// test releasing the next stream waits for it, or the cancelled one may take the token.
	holdsCancelled atomic.Int64
}

// Release lets one Count stream that is holding (hold_after) go on.
func (s *Server) Release() { s.release <- struct{}{} }

// Start serves a node named name until the test ends (or Stop/Kill).
func Start(t testing.TB, name string, opts ...Option) *Server {
	t.Helper()
	o := options{addr: "127.0.0.1:0", reflection: true}
	for _, opt := range opts {
		opt(&o)
	}
	lis, err := net.Listen("tcp", o.addr)
	if err != nil {
		t.Fatalf("testsvc: listen %s: %v", o.addr, err)
	}
	s := &Server{
		Name:        name,
		Addr:        lis.Addr().String(),
		done:        make(chan struct{}),
		slowStarted: make(chan struct{}, 64),
		slowCancel:  make(chan struct{}, 64),
		release:     make(chan struct{}, 64),
	}
	s.grpc = grpc.NewServer(
		grpc.ChainUnaryInterceptor(s.countUnary),
		grpc.ChainStreamInterceptor(s.countStreams),
	)
	testsvcv1.RegisterEchoServer(s.grpc, &echoV1{s: s})
	if o.v2 {
		testsvcv2.RegisterEchoServer(s.grpc, echoV2{})
	}
	if o.reflection {
		// reflection.Register serves both v1 and v1alpha.
		reflection.Register(s.grpc)
	}
	go func() {
		defer close(s.done)
		_ = s.grpc.Serve(lis)
	}()
	t.Cleanup(s.Stop)
	return s
}

// Stop stops gracefully: in-flight calls finish (within a bound), new ones are refused.
func (s *Server) Stop() {
	s.once.Do(func() {
		stopped := make(chan struct{})
		go func() {
			s.grpc.GracefulStop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(stopGrace):
			s.grpc.Stop()
			<-stopped
		}
	})
	<-s.done
}

// Kill stops at once: listeners and connections close, in-flight calls are cancelled.
func (s *Server) Kill() {
	s.once.Do(s.grpc.Stop)
	<-s.done
}

// HoldsCancelled reports how many held Count streams ended by cancellation.
func (s *Server) HoldsCancelled() int64 { return s.holdsCancelled.Load() }

// Reflections reports how many reflection streams (v1 or v1alpha) the server has accepted.
func (s *Server) Reflections() int64 { return s.reflections.Load() }

// Calls reports how many unary calls the server has handled.
func (s *Server) Calls() int64 { return s.calls.Load() }

// SlowCancels reports how many Slow calls ended because their context was done.
func (s *Server) SlowCancels() int64 { return s.cancels.Load() }

// SlowStarted receives a value each time a Slow call begins waiting (buffered; extra values
// beyond the buffer are dropped).
func (s *Server) SlowStarted() <-chan struct{} { return s.slowStarted }

// SlowCancelled receives a value each time a Slow call sees its context done.
func (s *Server) SlowCancelled() <-chan struct{} { return s.slowCancel }

func (s *Server) countUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	s.calls.Add(1)
	return h(ctx, req)
}

func (s *Server) countStreams(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if strings.HasPrefix(info.FullMethod, "/grpc.reflection.") {
		s.reflections.Add(1)
	}
	return h(srv, ss)
}

// UnusedAddr returns a loopback address nothing listens on (it was free a moment ago), for
// nodes that must refuse connections.
func UnusedAddr(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testsvc: %v", err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	return addr
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
