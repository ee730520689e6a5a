package main

import (
	"context"
	"log/slog"

	"github.com/edgeapi/gateway/examples/hello/hellosrv"
	"github.com/edgeapi/gateway/examples/internal/launch"
	"github.com/edgeapi/gateway/registry"
)

// serve runs the hello service at address until ctx is done, registered in reg when reg takes
// registrations.
func serve(ctx context.Context, reg registry.Registry, address string, cfg hellosrv.Config, log *slog.Logger) error {
	return launch.ServeHTTP(ctx, reg, address, launch.HTTPService{
		Name:     hellosrv.Name,
		Handler:  hellosrv.New(cfg),
		Metadata: map[string]string{"protocol": "http"},
	}, log)
}
