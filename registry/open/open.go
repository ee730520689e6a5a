// Package open builds the registry a config.Config describes. It is shared by cmd/gateway and
// by programs that discover services the same way the gateway does (the examples, the CLI), so
// every program reads the same config.yaml the same way.
//
// For the nats registry, NATSURL says where to connect: nats.url when set, else the embedded
// server's address from config (the gateway, which runs that server, passes its real URL).
package open

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/edgeapi/gateway/config"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/registry/consul"
	"github.com/edgeapi/gateway/registry/memory"
	natsreg "github.com/edgeapi/gateway/registry/nats"
	"github.com/edgeapi/gateway/registry/static"
)

// Registry returns the configured registry and a function that releases what it holds. The
// returned value also implements registry.Registrar when the backend accepts registrations
// (nats, consul, memory).
func Registry(ctx context.Context, cfg config.Config, log *slog.Logger, natsOpts ...nats.Option) (registry.Registry, func(), error) {
	switch cfg.Registry.Type {
	case "static":
		r, err := static.New(StaticServices(cfg.Registry.Static))
		if err != nil {
			return nil, nil, err
		}
		return r, func() {}, nil
	case "memory":
		// In-process only: nothing outside this process sees it. For tests and embedding.
		return memory.New(), func() {}, nil
	case "consul":
		c := cfg.Registry.Consul
		r, err := consul.New(consul.Config{
			Address:    c.Address,
			Scheme:     c.Scheme,
			Datacenter: c.Datacenter,
			Token:      c.Token,
			TLS: consul.TLSConfig{
				CAFile: c.TLS.CAFile, CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile,
				InsecureSkipVerify: c.TLS.InsecureSkipVerify,
			},
			TagFilter:       c.TagFilter,
			TTL:             c.TTL.D(),
			DeregisterAfter: c.DeregisterAfter.D(),
		}, log)
		if err != nil {
			return nil, nil, err
		}
		return r, func() {}, nil
	case "", "nats":
		nc, err := ConnectNATS(cfg, "gateway-registry", natsOpts...)
		if err != nil {
			return nil, nil, err
		}
		r, err := natsreg.New(ctx, nc, natsreg.Config{Bucket: cfg.Registry.NATS.Bucket, TTL: cfg.Registry.NATS.TTL.D()}, log)
		if err != nil {
			nc.Close()
			return nil, nil, err
		}
		return r, nc.Close, nil
	}
	return nil, nil, fmt.Errorf("registry.type %q: unknown registry", cfg.Registry.Type)
}

// NATSURL is where NATS is: nats.url, or the embedded server configured in nats.embedded.
func NATSURL(cfg config.Config) string {
	if cfg.NATS.URL != "" {
		return cfg.NATS.URL
	}
	e := cfg.NATS.Embedded
	return "nats://" + net.JoinHostPort(e.Host, strconv.Itoa(e.Port))
}

// ConnectNATS connects to NATSURL(cfg), reconnecting forever after a loss (the registry and the
// broker ride out a NATS restart). opts are added to the defaults.
func ConnectNATS(cfg config.Config, name string, opts ...nats.Option) (*nats.Conn, error) {
	url := NATSURL(cfg)
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond), nats.RetryOnFailedConnect(false)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS at %s (is the gateway running? it embeds the NATS server): %w", url, err)
	}
	return nc, nil
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
