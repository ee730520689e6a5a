// Command clock is the clock service of the examples: a plain gRPC server (Clock, with
// reflection and health) registered as go.micro.api.clock in the registry the gateway's config
// file describes. Clock.Tick is a server stream, which the gateway's rpc handler answers as
// NDJSON (or server-sent events).
//
//	go run ./examples/clock --config config.yaml --address 127.0.0.1:9095
//	curl -N localhost:8080/clock/Clock/Tick -d '{"count":3,"intervalMs":200}'   # through the gateway
//	curl localhost:8080/clock/Clock/Now -d '{}'
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgeapi/gateway/config"
	"github.com/edgeapi/gateway/examples/internal/launch"
	"github.com/edgeapi/gateway/registry/open"
)

func main() {
	configPath := flag.String("config", config.DefaultFile, "the gateway's config file; its registry section says where to register")
	address := flag.String("address", "127.0.0.1:9095", "listen address (port 0 picks a free port)")
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *configPath, explicit, *address, log); err != nil {
		log.Error("clock service failed", "error", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, configPath string, explicit bool, address string, log *slog.Logger) error {
	cfg, err := launch.LoadConfig(configPath, explicit)
	if err != nil {
		return err
	}
	reg, release, err := open.Registry(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer release()
	return serve(ctx, reg, address, log)
}
