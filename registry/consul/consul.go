// Package consul is the production registry backend: services are Consul services, nodes are
// Consul service instances guarded by a TTL check, and only instances whose checks pass are
// visible.
//
// # Contract
//
// Registry implements registry.Registry and registry.Registrar.
//
//   - Register registers every node of the service with the Consul agent at Config.Address, as a
//     service instance whose ID is the node ID, whose address and port come from Node.Address
//     (host:port), tagged with Config.TagFilter, and with one TTL check (Config.TTL) that Consul
//     deregisters after Config.DeregisterAfter in the critical state. The check starts passing
//     and Register marks it passing again, so calling Register every interval shorter than the
//     TTL is the heartbeat. Node IDs are Consul service IDs: they must be unique among all the
//     services registered with one agent. Register replaces a node's registration whole: its
//     endpoints, version and metadata are the ones of the latest call.
//   - Deregister removes the nodes of the service from the agent (unknown nodes are not an
//     error). Deregister talks to the same agent Register did: Consul keeps agent registrations
//     on the agent that made them.
//   - GetService and ListServices read the health endpoint with passing=true: a node whose TTL
//     ran out or whose check failed is not returned. GetService wraps registry.ErrNotFound when
//     no passing node is left; ListServices leaves such services (and Consul's own "consul"
//     service) out. Nodes are sorted by ID, services by name. The service-level fields (version,
//     metadata, endpoints) come from the node registered last (highest ModifyIndex).
//   - Instances registered by other tools (without the encoding below) are returned as nodes
//     with their Consul metadata as node metadata and no endpoints.
//
// # Metadata encoding
//
// Consul allows at most 64 metadata keys per instance, keys of at most 128 characters from
// [A-Za-z0-9_-] (not starting with "consul-"), values of at most 512 bytes. A node's Meta holds:
//
//   - svc_<k> = v for every service metadata entry whose key and value fit those rules;
//   - k = v for every node metadata entry that fits them and does not start with "ep_" or "svc_";
//   - ep_0 .. ep_<n-1>: the payload, cut into 512-character chunks, and ep_n = n (decimal;
//     ep_n is always present and marks an instance registered by this package).
//
// The payload is the JSON object {"v": version, "e": endpoints, "s": service metadata that did
// not fit as keys, "n": node metadata that did not fit}, compressed with raw DEFLATE and encoded
// with unpadded URL-safe base64 (RFC 4648 §5). Endpoint names and metadata are therefore
// unrestricted; 63 chunks hold ~24 KiB of compressed JSON, about 2,500 endpoints with handler,
// method and path metadata (200 such endpoints take 5 chunks).
// Register fails with an error wrapping ErrMetaLimit when plain entries plus chunks plus ep_n
// would exceed 64 keys. Decoding is exact: what Register was given is what GetService returns,
// except that empty maps and slices come back nil (strings must be valid UTF-8, as everywhere in
// Consul's JSON API). The encoding is deterministic, so re-registering an unchanged service
// does not change Consul's catalog or wake any watcher.
//
// # Failure behaviour
//
// Every call that is not a blocking query is bounded by Config.Timeout as well as by its ctx.
// GetService, ListServices, Register and Deregister return errors while Consul is unreachable;
// the cache in registry/cache serves its last view meanwhile.
//
// Watch first lists the services synchronously, so an unreachable Consul is reported as Watch's
// error. It then sends the current state of every service it found (an update, or a delete for
// a service without a passing instance) and after that every change; an event is sent only when
// a service's state differs from the last event sent for it, so a state that comes back to what
// the consumer already has (after an outage, say) produces none. After that its goroutines
// follow Consul with blocking queries (one on the service list, one per service on its passing
// instances) and retry on errors: they back off between Config.MinBackoff and Config.MaxBackoff
// (with jitter) and log the outage once at Warn and the recovery at Info. After an error the
// next query is a fresh read (index 0), so a Consul that lost its state (or a new leader behind
// the same address) is seen at once; whole-service events that changed nothing are suppressed.
//
// An outage (from the first failed query to the first successful query sent after it) shorter
// than Config.OutageGrace (default 2s: a leader election, a blip) is ridden out with the channel
// open. A longer one ends the watch: it logs that at Warn and closes the channel, as the
// registry.Registry contract allows, so that the consumer learns of it. The consumer lists and
// watches again; while Consul stays down that fails (Watch's synchronous listing, bounded by
// Config.Timeout), so registry/cache marks its view stale (the gateway reports itself degraded)
// and keeps serving it, retrying with its own backoff; its first retry after Consul is back
// takes up the current state. A negative OutageGrace never ends the watch (the consumer then
// never hears of an outage). The channel is closed when ctx is done or the watch gave up, after
// every goroutine of the watch has returned.
package consul

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/go-cleanhttp"
	"golang.org/x/sync/errgroup"

	"github.com/edgeapi/gateway/registry"
)

// Config tunes the registry; zero values mean the documented defaults.
type Config struct {
	// Address is the Consul agent's HTTP address, host:port; default 127.0.0.1:8500.
	Address string
	// Scheme is http or https; default https when any TLS field is set, else http.
	Scheme string
	// Datacenter to query and register in; default the agent's own.
	Datacenter string
	// Token is the ACL token. When empty, consul/api's CONSUL_HTTP_TOKEN(_FILE) environment
	// variables apply, as for the consul CLI.
	Token string
	// TLS configures HTTPS to the agent.
	TLS TLSConfig
	// TagFilter restricts reads to instances carrying all these tags; Register adds them to
	// every instance it registers.
	TagFilter []string
	// TTL is the time-to-live of each registered node's check; default 15s. Register again
	// within it.
	TTL time.Duration
	// DeregisterAfter is how long a node's check may stay critical before Consul removes the
	// node; default 1m (Consul's minimum; it reaps every 30s).
	DeregisterAfter time.Duration
	// WaitTime is the longest a blocking query of Watch waits; default 30s.
	WaitTime time.Duration
	// Timeout bounds every request that is not a blocking query; default 10s.
	Timeout time.Duration
	// MinBackoff is Watch's first wait after an error; default 100ms.
	MinBackoff time.Duration
	// MaxBackoff caps Watch's wait between errors; default 10s.
	MaxBackoff time.Duration
	// OutageGrace is how long Watch rides out a Consul that fails every query (retrying with
	// backoff) before it gives up and closes its channel, so that the consumer learns of the
	// outage: registry/cache then reports itself stale, keeps serving its last view, and lists
	// and watches again until Consul answers. Default 2s; negative never gives up (the channel
	// stays open through outages and the consumer is not told).
	OutageGrace time.Duration
}

// TLSConfig configures HTTPS to the Consul agent.
type TLSConfig struct {
	CAFile             string // CA bundle to verify the agent; default the system roots
	CertFile           string // client certificate, with KeyFile
	KeyFile            string
	InsecureSkipVerify bool
}

func (t TLSConfig) set() bool {
	return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.InsecureSkipVerify
}

// Registry is a registry.Registry and registry.Registrar backed by Consul. It is safe for
// concurrent use and holds no goroutine outside Watch.
type Registry struct {
	client *api.Client
	cfg    Config
	log    *slog.Logger
}

var (
	_ registry.Registry  = (*Registry)(nil)
	_ registry.Registrar = (*Registry)(nil)
)

// New validates cfg and returns a registry talking to the agent at cfg.Address. It does not
// contact Consul.
func New(cfg Config, log *slog.Logger) (*Registry, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Address == "" {
		cfg.Address = "127.0.0.1:8500"
	}
	if _, _, err := net.SplitHostPort(cfg.Address); err != nil {
		return nil, fmt.Errorf("consul: address %q: want host:port: %w", cfg.Address, err)
	}
	switch cfg.Scheme {
	case "":
		cfg.Scheme = "http"
		if cfg.TLS.set() {
			cfg.Scheme = "https"
		}
	case "http", "https":
	default:
		return nil, fmt.Errorf("consul: scheme %q: want http or https", cfg.Scheme)
	}
	if (cfg.TLS.CertFile == "") != (cfg.TLS.KeyFile == "") {
		return nil, errors.New("consul: tls: cert file and key file go together")
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"ttl", &cfg.TTL, 15 * time.Second},
		{"deregister after", &cfg.DeregisterAfter, time.Minute},
		{"wait time", &cfg.WaitTime, 30 * time.Second},
		{"timeout", &cfg.Timeout, 10 * time.Second},
		{"min backoff", &cfg.MinBackoff, 100 * time.Millisecond},
		{"max backoff", &cfg.MaxBackoff, 10 * time.Second},
	} {
		if *d.v < 0 {
			return nil, fmt.Errorf("consul: %s %s: negative", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if cfg.OutageGrace == 0 {
		cfg.OutageGrace = 2 * time.Second // negative stays: never give up
	}
	if cfg.TTL < time.Second {
		return nil, fmt.Errorf("consul: ttl %s: want at least 1s", cfg.TTL)
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		return nil, fmt.Errorf("consul: max backoff %s is below min backoff %s", cfg.MaxBackoff, cfg.MinBackoff)
	}
	cfg.TagFilter = slices.Clone(cfg.TagFilter)

	tlsCfg := api.TLSConfig{
		Address:            cfg.Address,
		CAFile:             cfg.TLS.CAFile,
		CertFile:           cfg.TLS.CertFile,
		KeyFile:            cfg.TLS.KeyFile,
		InsecureSkipVerify: cfg.TLS.InsecureSkipVerify,
	}
	transport := cleanhttp.DefaultPooledTransport()
	var httpClient *http.Client
	if cfg.Scheme == "https" {
		var err error
		// Built here rather than by api.NewClient so that only cfg.TLS applies, not CONSUL_*
		// environment variables.
		if httpClient, err = api.NewHttpClient(transport, tlsCfg); err != nil {
			return nil, fmt.Errorf("consul: tls: %w", err)
		}
	} else {
		httpClient = &http.Client{Transport: transport}
	}
	client, err := api.NewClient(&api.Config{
		Address:    cfg.Address,
		Scheme:     cfg.Scheme,
		Datacenter: cfg.Datacenter,
		Token:      cfg.Token,
		Transport:  transport,
		HttpClient: httpClient,
		TLSConfig:  tlsCfg,
	})
	if err != nil {
		return nil, fmt.Errorf("consul: %w", err)
	}
	return &Registry{client: client, cfg: cfg, log: log}, nil
}

// GetService implements registry.Registry.
func (r *Registry) GetService(ctx context.Context, name string) (*registry.Service, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	svc, _, err := r.health(ctx, name, nil)
	if err != nil {
		return nil, fmt.Errorf("consul: get service %q: %w", name, err)
	}
	if svc == nil {
		return nil, fmt.Errorf("consul: service %q: %w", name, registry.ErrNotFound)
	}
	return svc, nil
}

// ListServices implements registry.Registry.
func (r *Registry) ListServices(ctx context.Context) ([]*registry.Service, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	names, _, err := r.serviceNames(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("consul: list services: %w", err)
	}
	found := make([]*registry.Service, len(names))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, name := range names {
		g.Go(func() error {
			svc, _, err := r.health(gctx, name, nil)
			if err != nil {
				return fmt.Errorf("consul: list services: %q: %w", name, err)
			}
			found[i] = svc
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make([]*registry.Service, 0, len(found))
	for _, svc := range found {
		if svc != nil {
			out = append(out, svc)
		}
	}
	return out, nil
}

// Register implements registry.Registrar: it registers (or refreshes) every node of svc and
// marks its check passing. It stops at the first node that fails.
func (r *Registry) Register(ctx context.Context, svc *registry.Service) error {
	if svc == nil || svc.Name == "" {
		return errors.New("consul: register: service name is empty")
	}
	if len(svc.Nodes) == 0 {
		return fmt.Errorf("consul: register %q: no nodes", svc.Name)
	}
	regs := make([]*api.AgentServiceRegistration, 0, len(svc.Nodes))
	for i := range svc.Nodes {
		reg, err := r.registration(svc, &svc.Nodes[i])
		if err != nil {
			return fmt.Errorf("consul: register %q node %q: %w", svc.Name, svc.Nodes[i].ID, err)
		}
		regs = append(regs, reg)
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx)
	q := (&api.QueryOptions{}).WithContext(ctx)
	for _, reg := range regs {
		if err := r.client.Agent().ServiceRegisterOpts(reg, opts); err != nil {
			return fmt.Errorf("consul: register %q node %q: %w", svc.Name, reg.ID, err)
		}
		if err := r.client.Agent().UpdateTTLOpts(reg.Check.CheckID, "", api.HealthPassing, q); err != nil {
			return fmt.Errorf("consul: register %q node %q: pass ttl: %w", svc.Name, reg.ID, err)
		}
	}
	return nil
}

// Deregister implements registry.Registrar.
func (r *Registry) Deregister(ctx context.Context, svc *registry.Service) error {
	if svc == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	q := (&api.QueryOptions{}).WithContext(ctx)
	for _, n := range svc.Nodes {
		err := r.client.Agent().ServiceDeregisterOpts(n.ID, q)
		if se := (api.StatusError{}); errors.As(err, &se) && se.Code == http.StatusNotFound {
			err = nil // already gone
		}
		if err != nil {
			return fmt.Errorf("consul: deregister %q node %q: %w", svc.Name, n.ID, err)
		}
	}
	return nil
}

// CheckID is the ID of the TTL check Register gives the node with this ID, for tools (and
// tests) that update the check themselves.
func CheckID(nodeID string) string { return "service:" + nodeID }

func (r *Registry) registration(svc *registry.Service, n *registry.Node) (*api.AgentServiceRegistration, error) {
	if n.ID == "" {
		return nil, errors.New("node id is empty")
	}
	host, portStr, err := net.SplitHostPort(n.Address)
	if err != nil {
		return nil, fmt.Errorf("address %q: want host:port: %w", n.Address, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("address %q: bad port: %w", n.Address, err)
	}
	meta, err := encodeMeta(svc, n)
	if err != nil {
		return nil, err
	}
	return &api.AgentServiceRegistration{
		ID:      n.ID,
		Name:    svc.Name,
		Tags:    slices.Clone(r.cfg.TagFilter),
		Address: host,
		Port:    int(port),
		Meta:    meta,
		Check: &api.AgentServiceCheck{
			CheckID:                        CheckID(n.ID),
			Name:                           "gateway registry heartbeat",
			TTL:                            r.cfg.TTL.String(),
			DeregisterCriticalServiceAfter: r.cfg.DeregisterAfter.String(),
			Status:                         api.HealthPassing,
		},
	}, nil
}

// serviceNames lists the names of services that may have instances carrying every filter tag,
// sorted, without Consul's own service. With q.WaitIndex set it is a blocking query.
func (r *Registry) serviceNames(ctx context.Context, q *api.QueryOptions) ([]string, *api.QueryMeta, error) {
	if q == nil {
		q = &api.QueryOptions{}
	}
	all, meta, err := r.client.Catalog().Services(q.WithContext(ctx))
	if err != nil {
		return nil, nil, err
	}
	names := make([]string, 0, len(all))
	for name, tags := range all {
		if name == "consul" || !hasAll(tags, r.cfg.TagFilter) {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names, meta, nil
}

// health reads the passing instances of name and builds the service, nil when there is none.
// With q.WaitIndex set it is a blocking query.
func (r *Registry) health(ctx context.Context, name string, q *api.QueryOptions) (*registry.Service, *api.QueryMeta, error) {
	if q == nil {
		q = &api.QueryOptions{}
	}
	entries, meta, err := r.client.Health().ServiceMultipleTags(name, r.cfg.TagFilter, true, q.WithContext(ctx))
	if err != nil {
		return nil, nil, err
	}
	return r.build(name, entries), meta, nil
}

// build turns Consul's instances into one service. Service-level fields come from the instance
// registered last; an instance whose payload cannot be decoded still serves as a node.
func (r *Registry) build(name string, entries []*api.ServiceEntry) *registry.Service {
	if len(entries) == 0 {
		return nil
	}
	svc := &registry.Service{Name: name, Nodes: make([]registry.Node, 0, len(entries))}
	var newest uint64
	var haveNewest bool
	for _, e := range entries {
		if e.Service == nil {
			continue
		}
		addr := e.Service.Address
		if addr == "" && e.Node != nil {
			addr = e.Node.Address
		}
		node := registry.Node{ID: e.Service.ID, Address: net.JoinHostPort(addr, strconv.Itoa(e.Service.Port))}
		p, nodeMeta, _, err := decodeMeta(e.Service.Meta)
		if err != nil {
			r.log.Warn("consul instance metadata undecodable, using the node without it",
				"service", name, "node", e.Service.ID, "error", err)
			svc.Nodes = append(svc.Nodes, node)
			continue
		}
		node.Metadata = nodeMeta
		svc.Nodes = append(svc.Nodes, node)
		if idx := e.Service.ModifyIndex; !haveNewest || idx > newest {
			newest, haveNewest = idx, true
			svc.Version, svc.Metadata, svc.Endpoints = p.Version, p.ServiceMeta, p.Endpoints
		}
	}
	if len(svc.Nodes) == 0 {
		return nil
	}
	sort.Slice(svc.Nodes, func(i, j int) bool { return svc.Nodes[i].ID < svc.Nodes[j].ID })
	return svc
}

func hasAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}
