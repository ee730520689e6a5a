package launch

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgeapi/gateway/config"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/registry/open"
)

// ServeFunc runs an example service at address until ctx is done, registered in reg.
type ServeFunc func(ctx context.Context, reg registry.Registry, address string, log *slog.Logger) error

// Main is an example program's main: flags --config (the gateway's config file: its registry
// section says where to register) and --address (default defaultAddress), a text logger, and
// SIGINT/SIGTERM for a graceful stop. Programs with flags of their own define them on
// flag.CommandLine before calling Main and read them inside serve. It exits 1 on failure.
func Main(name, defaultAddress string, serve ServeFunc) {
	configPath := flag.String("config", config.DefaultFile, "the gateway's config file; its registry section says where to register")
	address := flag.String("address", defaultAddress, "listen address (port 0 picks a free port)")
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *configPath, explicit, *address, serve, log); err != nil {
		log.Error(name+" failed", "error", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, configPath string, explicit bool, address string, serve ServeFunc, log *slog.Logger) error {
	cfg, err := LoadConfig(configPath, explicit)
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
