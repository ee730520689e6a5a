// Package launch is the plumbing the example programs share: reading the gateway's config file
// for its registry section, and serving a grpc.Server registered in that registry.
//
// Contract: Serve registers the server when the registry accepts registrations
// (registry.Registrar) and otherwise serves at the fixed address, warning when the registry does
// not list the service at that address (a static registry whose config disagrees with --address).
package launch

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"time"

	"google.golang.org/grpc"

	"github.com/edgeapi/gateway/config"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/service"
)

// LoadConfig reads the gateway configuration at path. A missing file that was not named
// explicitly (the default path), or an empty path, gives the defaults.
func LoadConfig(path string, explicit bool) (config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	cfg, err := config.LoadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return config.Default(), nil
	}
	return cfg, err
}

// Serve serves gs at address as service name until ctx is done (see service.Server.Serve),
// registering it in reg when reg accepts registrations.
func Serve(ctx context.Context, gs *grpc.Server, reg registry.Registry, name, address string, log *slog.Logger) error {
	opts := service.Options{Server: gs, Name: name, Address: address, Logger: log}
	registrar, canRegister := reg.(registry.Registrar)
	if canRegister {
		opts.Registrar = registrar
	}
	srv, err := service.New(opts)
	if err != nil {
		return err
	}
	if !canRegister {
		checkListed(ctx, reg, name, srv.Addr(), log)
	}
	return srv.Serve(ctx)
}

// checkListed warns when a registry that takes no registrations will not send anyone to addr.
func checkListed(ctx context.Context, reg registry.Registry, name, addr string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	svc, err := reg.GetService(ctx, name)
	if err != nil {
		log.Warn("the registry takes no registrations and does not list this service: clients will not find it",
			"service", name, "address", addr, "error", err)
		return
	}
	var listed []string
	for _, n := range svc.Nodes {
		if n.Address == addr {
			log.Info("the registry takes no registrations; serving at the address it lists",
				"service", name, "address", addr)
			return
		}
		listed = append(listed, n.Address)
	}
	log.Warn("the registry takes no registrations and lists this service at other addresses: clients will not find this one",
		"service", name, "address", addr, "listed", listed)
}
