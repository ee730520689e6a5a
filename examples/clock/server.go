package main

import (
	"context"
	"log/slog"

	"google.golang.org/grpc"

	"github.com/edgeapi/gateway/examples/clock/clocksrv"
	"github.com/edgeapi/gateway/examples/internal/launch"
	"github.com/edgeapi/gateway/examples/proto/clock"
	"github.com/edgeapi/gateway/registry"
)

// serve runs Clock at address until ctx is done, registered in reg when reg takes
// registrations.
func serve(ctx context.Context, reg registry.Registry, address string, log *slog.Logger) error {
	gs := grpc.NewServer()
	clock.RegisterClockServer(gs, clocksrv.New())
	return launch.Serve(ctx, gs, reg, clocksrv.Name, address, log)
}
