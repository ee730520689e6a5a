package config

import "time"

// DefaultFile is the configuration file Load reads when no -config flag is given. It may be
// missing; the gateway then runs on defaults, environment and flags.
const DefaultFile = "config.yaml"

// DefaultNamespace is the resolver namespace when none is configured, as in micro api.
const DefaultNamespace = "go.micro.api"

// Default returns the configuration with every documented default filled in. Each call returns
// a fresh value; changing it affects nothing else.
func Default() Config {
	ns := DefaultNamespace
	return Config{
		Server: Server{
			Address:           ":8080",
			ReadHeaderTimeout: Duration(10 * time.Second),
			IdleTimeout:       Duration(120 * time.Second),
			WriteTimeout:      Duration(60 * time.Second),
			MaxHeaderBytes:    64 * KiB,
			Engine:            "gateway",
			BodyLimit:         4 * MiB,
			ShutdownTimeout:   Duration(15 * time.Second),
		},
		Log:      Log{Level: "info", Format: "text"},
		Resolver: Resolver{Type: "micro", Namespace: &ns},
		Registry: Registry{
			Type:   "nats",
			NATS:   RegistryNATS{Bucket: "gateway_registry", TTL: Duration(15 * time.Second)},
			Consul: Consul{Address: "127.0.0.1:8500", TTL: Duration(15 * time.Second), DeregisterAfter: Duration(time.Minute)},
		},
		NATS:      NATS{Embedded: EmbeddedNATS{Host: "127.0.0.1", Port: 4222, StoreDir: "data/nats"}},
		CORS:      CORS{MaxAge: Duration(10 * time.Minute)},
		Limits:    Limits{XFFDepth: 1},
		Observe:   Observability{Metrics: true, MetricsPath: "/metrics"},
		Dashboard: Dashboard{Prefix: "/dashboard", RecentErrors: 100},
		OpenAPI:   OpenAPI{Enabled: true, Path: "/openapi.json"},
		Web:       Web{ReadLimit: MiB, IdleTimeout: Duration(60 * time.Second), MaxConns: 10000},
		Events:    Events{Source: "/gateway", Stream: "GATEWAY_EVENTS", AckTimeout: Duration(5 * time.Second), DuplicateWindow: Duration(2 * time.Minute)},
		Selector: Selector{
			Strategy: "round_robin",
			Breaker: Breaker{
				ConsecutiveFailures: 5,
				OpenTimeout:         Duration(10 * time.Second),
				HalfOpenRequests:    1,
				MaxEjectionPercent:  50,
			},
		},
		RPC: RPC{
			Timeout:     Duration(15 * time.Second),
			MaxTimeout:  Duration(60 * time.Second),
			DialTimeout: Duration(3 * time.Second),
		},
		Retry:   Retry{Attempts: 1, BudgetPercent: 20, MinRetries: 3},
		Runtime: Runtime{GCMinHeap: 64 * MiB},
		Handler: "rpc",
	}
}

// NamespaceOrDefault returns the configured namespace, or DefaultNamespace when none is set
// (nil). An explicit empty namespace stays empty.
func (r Resolver) NamespaceOrDefault() string {
	if r.Namespace == nil {
		return DefaultNamespace
	}
	return *r.Namespace
}

// complete fills the defaults that live inside lists and maps, and a namespace cleared with a
// YAML null, so that a loaded Config spells out what the gateway will do.
func complete(c *Config) {
	if c.Resolver.Namespace == nil {
		ns := DefaultNamespace
		c.Resolver.Namespace = &ns
	}
	for i := range c.Routes {
		if c.Routes[i].Handler == "" {
			c.Routes[i].Handler = "rpc"
		}
	}
	for name, s := range c.RPC.Services {
		if s.Descriptors == "" {
			s.Descriptors = "reflection"
			c.RPC.Services[name] = s
		}
	}
	for i := range c.Registry.Static {
		for j := range c.Registry.Static[i].Nodes {
			if n := &c.Registry.Static[i].Nodes[j]; n.ID == "" {
				n.ID = n.Address
			}
		}
	}
}
