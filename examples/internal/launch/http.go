package launch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/service"
)

// shutdownTimeout bounds the graceful stop; requests still running after it are cut.
const shutdownTimeout = 10 * time.Second

// HTTPService is an HTTP backend for ServeHTTP.
type HTTPService struct {
	// Name is the registry name.
	Name string
	// Handler serves the requests.
	Handler http.Handler
	// Metadata is attached to the registered node.
	Metadata map[string]string
	// Shutdown, if set, ends what http.Server.Shutdown does not track (hijacked connections such
	// as WebSockets) and waits for it; it runs after the server stopped taking requests.
	Shutdown func(ctx context.Context) error
}

// ServeHTTP serves svc at address until ctx is done or the listener fails. When reg accepts
// registrations the node (address: the bound one, 127.0.0.1 for all interfaces) is kept
// registered with heartbeats by service.Announce. On the way out it deregisters first, so the
// gateway stops sending requests, then stops gracefully within shutdownTimeout (the server, then
// svc.Shutdown). Every goroutine it starts has ended when it returns; it returns nil after a
// shutdown caused by ctx.
// It is the HTTP counterpart of Serve.
func ServeHTTP(ctx context.Context, reg registry.Registry, address string, svc HTTPService, log *slog.Logger) error {
	lis, err := net.Listen("tcp", address)
	if err != nil {
		return fmt.Errorf("service %s: %w", svc.Name, err)
	}
	node := registry.Node{ID: service.NodeID(svc.Name), Address: service.Advertised(lis.Addr()), Metadata: svc.Metadata}
	srv := &http.Server{
		Handler:           svc.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}

	var serving sync.WaitGroup
	serveErr := make(chan error, 1)
	serving.Go(func() { serveErr <- srv.Serve(lis) })
	log.Info("serving", "service", svc.Name, "node", node.ID, "address", node.Address)

	var announcing sync.WaitGroup
	announceCtx, stopAnnounce := context.WithCancel(ctx)
	defer stopAnnounce()
	if r, ok := reg.(registry.Registrar); ok {
		rs := &registry.Service{Name: svc.Name, Nodes: []registry.Node{node}}
		announcing.Go(func() { service.Announce(announceCtx, r, rs, service.DefaultHeartbeatInterval, log) })
	} else {
		log.Info("the registry takes no registrations: the gateway finds this service only if its config lists it",
			"service", svc.Name, "address", node.Address)
	}

	select {
	case <-ctx.Done():
		err = nil
	case err = <-serveErr:
		err = fmt.Errorf("service %s: serve: %w", svc.Name, err)
	}
	stopAnnounce()
	announcing.Wait() // Announce returns after deregistering

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		log.Warn("graceful stop timed out, closing remaining connections", "service", svc.Name, "timeout", shutdownTimeout)
		_ = srv.Close()
	}
	if svc.Shutdown != nil {
		if serr := svc.Shutdown(sctx); serr != nil {
			log.Warn("graceful stop timed out, cut the remaining connections", "service", svc.Name, "timeout", shutdownTimeout)
		}
	}
	serving.Wait()
	if err == nil {
		if serr := <-serveErr; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			err = fmt.Errorf("service %s: serve: %w", svc.Name, serr)
		}
	}
	log.Info("stopped", "service", svc.Name, "node", node.ID)
	return err
}
