package main

import (
	"context"
	"log/slog"

	"google.golang.org/grpc"

	"github.com/edgeapi/gateway/examples/internal/launch"
	"github.com/edgeapi/gateway/examples/proto/user"
	"github.com/edgeapi/gateway/examples/user/usersrv"
	"github.com/edgeapi/gateway/registry"
)

// serve runs UserSrv at address until ctx is done, registered in reg when reg takes
// registrations.
func serve(ctx context.Context, reg registry.Registry, address string, log *slog.Logger) error {
	gs := grpc.NewServer()
	user.RegisterUserSrvServer(gs, usersrv.New())
	return launch.Serve(ctx, gs, reg, usersrv.Name, address, log)
}
