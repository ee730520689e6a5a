// Command hello is the hello service of the examples: a plain HTTP server (no gRPC) registered
// as go.micro.api.hello in the registry the gateway's config file describes, for the gateway's
// http handler. It answers JSON greetings and a short server-sent event stream, and echoes the
// X-Forwarded-For it received in X-Echo-Forwarded-For.
//
//	go run ./examples/hello --config config.yaml --address 127.0.0.1:9093
//	curl -i 'localhost:8080/hello?name=john'   # through the gateway (route /hello/* -> http)
//	curl -N localhost:8080/hello/events
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgeapi/gateway/config"
	"github.com/edgeapi/gateway/examples/hello/hellosrv"
	"github.com/edgeapi/gateway/examples/internal/launch"
	"github.com/edgeapi/gateway/registry/open"
)

func main() {
	configPath := flag.String("config", config.DefaultFile, "the gateway's config file; its registry section says where to register")
	address := flag.String("address", "127.0.0.1:9093", "listen address (port 0 picks a free port)")
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *configPath, explicit, *address, log); err != nil {
		log.Error("hello service failed", "error", err)
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
	return serve(ctx, reg, address, hellosrv.Config{}, log)
}
