package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"

	"github.com/edgeapi/gateway/registry"
)

// Defaults of Options.
const (
	DefaultAddress           = "127.0.0.1:0"
	DefaultHeartbeatInterval = 10 * time.Second
	DefaultShutdownTimeout   = 10 * time.Second
	// deregisterTimeout bounds the Deregister call made after ctx is done.
	deregisterTimeout = 5 * time.Second
)

// Options configures a Server. Zero values mean the documented defaults.
type Options struct {
	// Server is the gRPC server to serve, with the application's services registered on it.
	// Required. New adds reflection and health to it; Serve stops it.
	Server *grpc.Server
	// Name is the registry service name, e.g. "go.micro.api.orderservice". Required when
	// Registrar is set.
	Name string
	// Address is the listen address; default "127.0.0.1:0". Port 0 picks a free port, and the
	// bound address is what gets registered.
	Address string
	// Advertise, if set, is the address registered instead of the bound one (for NAT or
	// containers). By default the bound address is used, with 127.0.0.1 for the unspecified
	// ("all interfaces") IP.
	Advertise string
	// Registrar receives the node; nil serves without registering.
	Registrar registry.Registrar
	// Endpoints are registered with the service (routing metadata for the gateway); optional.
	Endpoints []registry.Endpoint
	// Metadata is attached to the registered node; optional.
	Metadata map[string]string
	// Version is the registered service version; optional.
	Version string
	// HeartbeatInterval is how often the node is registered again; default 10s. Registries with
	// a TTL must be given a TTL longer than this.
	HeartbeatInterval time.Duration
	// ShutdownTimeout bounds the graceful stop; in-flight calls still running after it are cut.
	// Default 10s.
	ShutdownTimeout time.Duration
	// Logger receives lifecycle logs; nil discards them.
	Logger *slog.Logger
}

// Server is a gRPC server bound to its listener, ready to Serve. Create it with New.
type Server struct {
	opts   Options
	lis    net.Listener
	health *health.Server // nil when the grpc.Server already had a health service
	log    *slog.Logger
	node   registry.Node
	served atomic.Bool
}

// Run is New followed by Serve: it serves until ctx is done, then shuts down as the package
// documentation describes.
func Run(ctx context.Context, opts Options) error {
	s, err := New(opts)
	if err != nil {
		return err
	}
	return s.Serve(ctx)
}

// New validates opts, adds reflection and health to opts.Server (unless present) and binds the
// listener. The caller must then call Serve exactly once, which releases the listener (Serve with
// a done context releases it without serving).
func New(opts Options) (*Server, error) {
	if opts.Server == nil {
		return nil, errors.New("service: Options.Server is nil")
	}
	if opts.Registrar != nil && opts.Name == "" {
		return nil, errors.New("service: Options.Name is empty (required with a Registrar)")
	}
	if opts.HeartbeatInterval < 0 {
		return nil, fmt.Errorf("service: Options.HeartbeatInterval %v is negative", opts.HeartbeatInterval)
	}
	if opts.ShutdownTimeout < 0 {
		return nil, fmt.Errorf("service: Options.ShutdownTimeout %v is negative", opts.ShutdownTimeout)
	}
	if opts.Address == "" {
		opts.Address = DefaultAddress
	}
	if opts.HeartbeatInterval == 0 {
		opts.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts.Endpoints = (&registry.Service{Endpoints: opts.Endpoints}).Clone().Endpoints
	opts.Metadata = maps.Clone(opts.Metadata)

	s := &Server{opts: opts, log: log}
	info := opts.Server.GetServiceInfo()
	if _, ok := info[healthpb.Health_ServiceDesc.ServiceName]; !ok {
		s.health = health.NewServer()
		healthpb.RegisterHealthServer(opts.Server, s.health)
	}
	_, v1 := info[reflectionv1.ServerReflection_ServiceDesc.ServiceName]
	_, v1alpha := info[reflectionv1alpha.ServerReflection_ServiceDesc.ServiceName]
	if !v1 && !v1alpha {
		reflection.Register(opts.Server)
	}

	lis, err := net.Listen("tcp", opts.Address)
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", opts.Name, err)
	}
	s.lis = lis
	addr := opts.Advertise
	if addr == "" {
		addr = Advertised(lis.Addr())
	}
	s.node = registry.Node{ID: NodeID(opts.Name), Address: addr, Metadata: opts.Metadata}
	return s, nil
}

// Addr returns the address the node is registered with (the bound address unless
// Options.Advertise is set).
func (s *Server) Addr() string { return s.node.Address }

// Node returns the node Serve registers. Callers must not modify its Metadata.
func (s *Server) Node() registry.Node { return s.node }

// Serve serves until ctx is done or the server fails, registering the node meanwhile, then shuts
// down: stop heartbeats, deregister, NOT_SERVING, graceful stop bounded by ShutdownTimeout. It
// returns nil after a shutdown caused by ctx (or by the grpc.Server being stopped by its owner),
// the listener's error otherwise, and waits for every goroutine it started.
func (s *Server) Serve(ctx context.Context) error {
	if !s.served.CompareAndSwap(false, true) {
		return errors.New("service: Serve called more than once")
	}
	if ctx.Err() != nil {
		_ = s.lis.Close()
		return nil
	}
	gs := s.opts.Server
	if s.health != nil {
		s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		for name := range gs.GetServiceInfo() {
			s.health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
		}
	}

	var serving sync.WaitGroup
	serveErr := make(chan error, 1)
	serving.Go(func() { serveErr <- gs.Serve(s.lis) })
	s.log.Info("serving", "service", s.opts.Name, "node", s.node.ID, "address", s.node.Address)

	// The heartbeat has its own WaitGroup: it must have ended before Deregister, or a late
	// Register could put the node back.
	var beating sync.WaitGroup
	hbCtx, stopHeartbeat := context.WithCancel(ctx)
	defer stopHeartbeat()
	if s.opts.Registrar != nil {
		beating.Go(func() { Announce(hbCtx, s.opts.Registrar, s.service(), s.opts.HeartbeatInterval, s.log) })
	}

	var err error
	select {
	case <-ctx.Done():
	case serr := <-serveErr:
		if serr != nil {
			err = fmt.Errorf("service %s: serve: %w", s.opts.Name, serr)
		} else {
			// The grpc.Server's owner stopped it: shut down the rest the same way.
			s.log.Info("grpc server stopped underneath Serve", "service", s.opts.Name, "node", s.node.ID)
		}
	}

	stopHeartbeat()
	beating.Wait() // Announce returns after deregistering
	if s.health != nil {
		s.health.Shutdown() // every status NOT_SERVING, and stays so
	}
	s.stop()
	serving.Wait()
	s.log.Info("stopped", "service", s.opts.Name, "node", s.node.ID)
	return err
}

// stop stops gracefully, and forcibly after ShutdownTimeout.
func (s *Server) stop() {
	gs := s.opts.Server
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		gs.GracefulStop()
		close(done)
	})
	defer wg.Wait()
	t := time.NewTimer(s.opts.ShutdownTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.log.Warn("graceful stop timed out, closing remaining calls", "service", s.opts.Name,
			"timeout", s.opts.ShutdownTimeout)
		gs.Stop() // makes GracefulStop return too
	}
}

// service describes this node for the registry.
func (s *Server) service() *registry.Service {
	return (&registry.Service{Name: s.opts.Name, Version: s.opts.Version, Nodes: []registry.Node{s.node}, Endpoints: s.opts.Endpoints}).Clone()
}

// Advertised turns a bound address into one a client can dial.
func Advertised(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(tcp.Port))
}

// NodeID is name-<16 hex digits>, unique per process start.
func NodeID(name string) string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	return name + "-" + hex.EncodeToString(b[:])
}
