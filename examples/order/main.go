// Command order is the order service of the examples: a plain gRPC server (OrderSrv, with
// reflection and health) registered as go.micro.api.orderservice in the registry the gateway's
// config file describes. It answers each order joined with its user's account, which it asks
// go.micro.api.userservices for, found through the same registry (registry:/// target, round
// robin). With the default static registry it serves at the address config.yaml lists for it
// (127.0.0.1:9092).
//
//	go run ./examples/order --config config.yaml --address 127.0.0.1:9092
//	curl localhost:8080/orderservice/OrderSrv/GetOrder -d '{"id":1}'   # through the gateway
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
	configPath := flag.String("config", config.DefaultFile, "the gateway's config file; its registry section says where to register and where the user service is")
	address := flag.String("address", "127.0.0.1:9092", "listen address (port 0 picks a free port)")
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *configPath, explicit, *address, log); err != nil {
		log.Error("order service failed", "error", err)
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
