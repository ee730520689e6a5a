// Command user is the user service of the examples: a plain gRPC server (UserSrv, with
// reflection and health) registered as go.micro.api.userservices in the registry the gateway's
// config file describes. With the default static registry it serves at the address config.yaml
// lists for it (127.0.0.1:9091).
//
//	go run ./examples/user --config config.yaml --address 127.0.0.1:9091
//	curl localhost:8080/userservices/UserSrv/GetAccount -d '{"id":1}'   # through the gateway
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
	address := flag.String("address", "127.0.0.1:9091", "listen address (port 0 picks a free port)")
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *configPath, explicit, *address, log); err != nil {
		log.Error("user service failed", "error", err)
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
