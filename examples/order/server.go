package main

import (
	"context"
	"log/slog"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/edgeapi/gateway/examples/internal/launch"
	"github.com/edgeapi/gateway/examples/order/ordersrv"
	"github.com/edgeapi/gateway/examples/proto/order"
	"github.com/edgeapi/gateway/examples/proto/user"
	"github.com/edgeapi/gateway/examples/user/usersrv"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/registry/cache"
	"github.com/edgeapi/gateway/service"
)

const roundRobin = `{"loadBalancingConfig":[{"round_robin":{}}]}`

// serve runs OrderSrv at address until ctx is done, registered in reg when reg takes
// registrations, reaching UserSrv through reg.
func serve(ctx context.Context, reg registry.Registry, address string, log *slog.Logger) error {
	// Follow the registry in memory; the resolver reads that snapshot and never waits on the
	// registry. The builder must exist before the cache runs.
	c := cache.New(reg, log, cache.Config{})
	users := service.NewResolverBuilder(c)
	cacheCtx, stopCache := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = c.Run(cacheCtx) })
	defer func() {
		stopCache()
		wg.Wait()
	}()

	conn, err := grpc.NewClient(service.Scheme+":///"+usersrv.Name,
		grpc.WithResolvers(users),
		grpc.WithDefaultServiceConfig(roundRobin),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()

	gs := grpc.NewServer()
	order.RegisterOrderSrvServer(gs, ordersrv.New(user.NewUserSrvClient(conn)))
	return launch.Serve(ctx, gs, reg, ordersrv.Name, address, log)
}
