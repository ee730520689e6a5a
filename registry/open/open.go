// Package open builds the registry a config.Registry describes. It is shared by cmd/gateway and
// by programs that discover services the same way the gateway does (the examples, the CLI), so
// every program reads the same config.yaml the same way.
package open

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/edgeapi/gateway/config"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/registry/memory"
	"github.com/edgeapi/gateway/registry/static"
)

// Registry returns the configured registry and a function that releases what it holds. The
// returned value also implements registry.Registrar when the backend accepts registrations.
func Registry(_ context.Context, cfg config.Registry, _ *slog.Logger) (registry.Registry, func(), error) {
	switch cfg.Type {
	case "", "static":
		r, err := static.New(StaticServices(cfg.Static))
		if err != nil {
			return nil, nil, err
		}
		return r, func() {}, nil
	case "memory":
		return memory.New(), func() {}, nil
	}
	return nil, nil, fmt.Errorf("registry.type %q: unknown registry", cfg.Type)
}

// StaticServices converts config entries into registry services.
func StaticServices(in []config.StaticService) []*registry.Service {
	out := make([]*registry.Service, 0, len(in))
	for _, s := range in {
		svc := &registry.Service{Name: s.Name, Version: s.Version, Metadata: s.Metadata}
		for _, n := range s.Nodes {
			svc.Nodes = append(svc.Nodes, registry.Node{ID: n.ID, Address: n.Address, Metadata: n.Metadata})
		}
		for _, e := range s.Endpoints {
			svc.Endpoints = append(svc.Endpoints, registry.Endpoint{Name: e.Name, Metadata: e.Metadata})
		}
		out = append(out, svc)
	}
	return out
}
