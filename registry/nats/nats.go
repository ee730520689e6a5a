// Package nats is the registry backend of the zero-infrastructure setup: services register in a
// JetStream key-value bucket, served by the embedded NATS server (package natsserver) or by any
// NATS cluster with JetStream.
//
// # Contract
//
// Registry implements registry.Registry and registry.Registrar.
//
//   - Key layout: one key per node, "svc.<service>.<node>", in the bucket Config.Bucket
//     (default "gateway_registry"). Service name and node ID are escaped so that each is one
//     token of the key, reversibly: ASCII letters, digits, '-' and '_' stay, every other byte
//     becomes '=' and two upper-case hex digits ("go.micro.api.user" / "10.0.0.7:9090" ->
//     "svc.go=2Emicro=2Eapi=2Euser.10=2E0=2E0=2E7=3A9090"). Keys without the "svc." prefix
//     are not this package's and are ignored.
//   - Value: the JSON object {"service": {name, version, metadata, endpoints}, "node": {id,
//     address, metadata}}. The key, not the value, says which service and node an entry is.
//   - Register puts one entry per node (a node without ID gets its address as ID); calling it
//     again within the TTL is the heartbeat. Register replaces a node's entry whole. It is one
//     Put per node, not a transaction: watchers may see one event per node. A service
//     registered without nodes stores nothing. Deregister deletes the entries of the given
//     nodes; unknown nodes are not an error.
//   - TTL: the bucket's TTL (Config.TTL, default 15s, at least 1s) is the node TTL. Every Put
//     restarts it, so a node that stops heartbeating disappears TTL after its last Register
//     (plus up to ~250ms, the server's expiry check interval). The bucket is created with
//     KeyValueConfig.LimitMarkerTTL (NATS server 2.11 or later), so the server writes a delete
//     marker when it expires an entry and watchers see expiry like a delete. On an older server
//     New falls back to a bucket without markers and Watch drops nodes whose last write (server
//     time) is older than TTL+250ms itself, checking every TTL/5 (a sweeper in the watch
//     goroutine). New updates an existing bucket to this configuration (the last writer's TTL
//     wins). Entries that expired while the server was down are gone after it restarts.
//   - GetService and ListServices read the latest entry of every key (nodes sorted by ID,
//     services by name). The service-level fields (version, metadata, endpoints) come from the
//     node entry written last (highest revision), like the Consul backend. GetService wraps
//     registry.ErrNotFound when no node is left.
//   - Watch sends no event for the state at the time of the call (the consumer lists that): it
//     loads it before returning, then sends one Event per change made after it returned, with
//     the whole service, EventDelete when its last node went (deregistered or expired). Heartbeats that change nothing send nothing.
//     Its one goroutine owns the KV watcher and closes the channel as the last thing it does,
//     so a closed channel means the goroutine is done and the watcher stopped (nats.go then
//     deletes the server-side consumer on a goroutine of its own).
//
// # Failure behaviour
//
// The *nats.Conn is the caller's: New neither configures nor closes it. Every call is bounded
// by Config.Timeout as well as by its ctx. While NATS is unreachable,
// Register, Deregister, GetService, ListServices and Watch return errors. Watch's channel is
// closed when its ctx is done, and also as soon as the connection drops (even if it will
// reconnect) or the KV watcher ends: the consumer (registry/cache) then lists again and
// watches again, serving its last view meanwhile, so no change made during the outage (expiry
// included) is missed.
package nats

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeapi/gateway/registry"
)

// Defaults of Config fields left zero.
const (
	DefaultBucket  = "gateway_registry"
	DefaultTTL     = 15 * time.Second
	DefaultTimeout = 5 * time.Second
	// MinTTL is the shortest node TTL: NATS keeps expiry markers for at least a second.
	MinTTL = time.Second
)

// Config tunes the registry; zero values mean the documented defaults.
type Config struct {
	// Bucket is the KV bucket's name; default "gateway_registry".
	Bucket string
	// TTL is how long a node stays registered after its last Register; default 15s, at
	// least 1s. Services should re-register well within it (a third of it is usual).
	TTL time.Duration
	// Replicas of the bucket in a JetStream cluster; default 1.
	Replicas int
	// Storage of the bucket; default (zero) jetstream.FileStorage.
	Storage jetstream.StorageType
	// Timeout bounds every call (Watch: setting the watch up); default 5s.
	Timeout time.Duration
}

func (c Config) withDefaults() (Config, error) {
	if c.Bucket == "" {
		c.Bucket = DefaultBucket
	}
	switch {
	case c.TTL == 0:
		c.TTL = DefaultTTL
	case c.TTL < MinTTL:
		return c, fmt.Errorf("nats registry: ttl %v is shorter than %v", c.TTL, MinTTL)
	}
	switch {
	case c.Replicas == 0:
		c.Replicas = 1
	case c.Replicas < 0 || c.Replicas > 5:
		return c, fmt.Errorf("nats registry: replicas %d out of range 1-5", c.Replicas)
	}
	if c.Storage != jetstream.FileStorage && c.Storage != jetstream.MemoryStorage {
		return c, fmt.Errorf("nats registry: unknown storage %v", c.Storage)
	}
	switch {
	case c.Timeout == 0:
		c.Timeout = DefaultTimeout
	case c.Timeout < 0:
		return c, fmt.Errorf("nats registry: timeout %v is negative", c.Timeout)
	}
	return c, nil
}

// Registry is safe for concurrent use. Create with New.
type Registry struct {
	nc  *nats.Conn
	kv  jetstream.KeyValue
	cfg Config
	log *slog.Logger
	// sweep is set when the server cannot write expiry markers: Watch then expires nodes itself.
	sweep bool
}

var (
	_ registry.Registry  = (*Registry)(nil)
	_ registry.Registrar = (*Registry)(nil)
)

// New opens the registry bucket on nc, creating it or updating its configuration. The
// connection stays the caller's: close it after the last use of the registry. A nil log
// discards.
func New(ctx context.Context, nc *nats.Conn, cfg Config, log *slog.Logger) (*Registry, error) {
	return newRegistry(ctx, nc, cfg, log, true)
}

// newRegistry is New; markers=false creates the bucket without expiry markers, as on a server
// older than 2.11 (tests use it to exercise the sweeper).
func newRegistry(ctx context.Context, nc *nats.Conn, cfg Config, log *slog.Logger, markers bool) (*Registry, error) {
	if nc == nil {
		return nil, errors.New("nats registry: nil connection")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(cfg.Timeout))
	if err != nil {
		return nil, fmt.Errorf("nats registry: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	kvc := jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "edge gateway service registry: svc.<service>.<node> -> JSON",
		TTL:         cfg.TTL,
		Replicas:    cfg.Replicas,
		Storage:     cfg.Storage,
	}
	if markers {
		kvc.LimitMarkerTTL = max(cfg.TTL, MinTTL)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, kvc)
	if errors.Is(err, jetstream.ErrLimitMarkerTTLNotSupported) {
		log.Warn("NATS server cannot mark expired keys (needs 2.11+), the registry watch expires nodes itself",
			"bucket", cfg.Bucket)
		markers, kvc.LimitMarkerTTL = false, 0
		kv, err = js.CreateOrUpdateKeyValue(ctx, kvc)
	}
	if err != nil {
		return nil, fmt.Errorf("nats registry: bucket %q: %w", cfg.Bucket, err)
	}
	return &Registry{nc: nc, kv: kv, cfg: cfg, log: log, sweep: !markers}, nil
}

// record is the value of a node's key. Service.Nodes stays empty.
type record struct {
	Service registry.Service `json:"service"`
	Node    registry.Node    `json:"node"`
}

// nodeEntry is the latest entry of one node's key.
type nodeEntry struct {
	rec      record
	revision uint64
	created  time.Time // server time of the write; the node expires TTL after it
}

// decode parses a Put entry of this package. ok is false for foreign keys; err is set for a key
// of ours whose value does not parse.
func decode(e jetstream.KeyValueEntry) (service string, n nodeEntry, ok bool, err error) {
	service, id, ok := parseKey(e.Key())
	if !ok {
		return "", nodeEntry{}, false, nil
	}
	if err := json.Unmarshal(e.Value(), &n.rec); err != nil {
		return "", nodeEntry{}, true, fmt.Errorf("key %q: %w", e.Key(), err)
	}
	// The key is authoritative: a value cannot move a node to another service or ID.
	n.rec.Service.Name = service
	n.rec.Service.Nodes = nil
	n.rec.Node.ID = id
	n.revision = e.Revision()
	n.created = e.Created()
	return service, n, true, nil
}

// assemble builds the service from its nodes' entries: nodes sorted by ID, service-level fields
// from the entry written last. It returns nil for no nodes.
func assemble(name string, nodes map[string]nodeEntry) *registry.Service {
	if len(nodes) == 0 {
		return nil
	}
	var latest nodeEntry
	out := make([]registry.Node, 0, len(nodes))
	for _, n := range nodes {
		if n.revision >= latest.revision {
			latest = n
		}
		out = append(out, n.rec.Node)
	}
	slices.SortFunc(out, func(a, b registry.Node) int { return cmp.Compare(a.ID, b.ID) })
	svc := latest.rec.Service
	svc.Name = name
	svc.Nodes = out
	return &svc
}

// callContext bounds a call by cfg.Timeout.
func (r *Registry) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.cfg.Timeout)
}

// Register implements registry.Registrar. It writes every node even when one write fails, and
// reports the failures together.
func (r *Registry) Register(ctx context.Context, svc *registry.Service) error {
	if svc == nil || svc.Name == "" {
		return errors.New("register: service name is empty")
	}
	ctx, cancel := r.callContext(ctx)
	defer cancel()
	rec := record{Service: *svc}
	rec.Service.Nodes = nil
	var errs []error
	for _, n := range svc.Nodes {
		if n.ID == "" {
			n.ID = n.Address
		}
		if n.ID == "" {
			errs = append(errs, errors.New("node has neither ID nor address"))
			continue
		}
		rec.Node = n
		data, err := json.Marshal(rec)
		if err != nil {
			errs = append(errs, fmt.Errorf("node %q: %w", n.ID, err))
			continue
		}
		if _, err := r.kv.Put(ctx, nodeKey(svc.Name, n.ID), data); err != nil {
			errs = append(errs, fmt.Errorf("node %q: %w", n.ID, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("register %q: %w", svc.Name, err)
	}
	return nil
}

// Deregister implements registry.Registrar.
func (r *Registry) Deregister(ctx context.Context, svc *registry.Service) error {
	if svc == nil || svc.Name == "" {
		return errors.New("deregister: service name is empty")
	}
	ctx, cancel := r.callContext(ctx)
	defer cancel()
	var errs []error
	for _, n := range svc.Nodes {
		if n.ID == "" {
			n.ID = n.Address
		}
		if n.ID == "" {
			continue
		}
		if err := r.kv.Delete(ctx, nodeKey(svc.Name, n.ID)); err != nil {
			errs = append(errs, fmt.Errorf("node %q: %w", n.ID, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("deregister %q: %w", svc.Name, err)
	}
	return nil
}

// GetService implements registry.Registry.
func (r *Registry) GetService(ctx context.Context, name string) (*registry.Service, error) {
	if name == "" {
		return nil, fmt.Errorf("%q: %w", name, registry.ErrNotFound)
	}
	ctx, cancel := r.callContext(ctx)
	defer cancel()
	w, err := r.kv.WatchFiltered(ctx, []string{serviceFilter(name)}, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("get service %q: %w", name, err)
	}
	byService, err := r.readAll(ctx, cancel, w)
	if err != nil {
		return nil, fmt.Errorf("get service %q: %w", name, err)
	}
	svc := assemble(name, byService[name])
	if svc == nil {
		return nil, fmt.Errorf("%q: %w", name, registry.ErrNotFound)
	}
	return svc, nil
}

// ListServices implements registry.Registry, sorted by name.
func (r *Registry) ListServices(ctx context.Context) ([]*registry.Service, error) {
	ctx, cancel := r.callContext(ctx)
	defer cancel()
	w, err := r.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	byService, err := r.readAll(ctx, cancel, w)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	out := make([]*registry.Service, 0, len(byService))
	for name, nodes := range byService {
		if svc := assemble(name, nodes); svc != nil {
			out = append(out, svc)
		}
	}
	slices.SortFunc(out, func(a, b *registry.Service) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// readAll collects the initial values of w (up to the nil marker) by service and node, then
// stops w by calling cancel, the cancel of w's ctx.
func (r *Registry) readAll(ctx context.Context, cancel context.CancelFunc, w jetstream.KeyWatcher) (map[string]map[string]nodeEntry, error) {
	defer stopWatcher(cancel, w)
	out := make(map[string]map[string]nodeEntry)
	for {
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errWatcherClosed
			}
			if e == nil {
				return out, nil
			}
			if e.Operation() != jetstream.KeyValuePut {
				continue
			}
			service, n, ok, err := decode(e)
			if err != nil {
				r.log.Warn("ignoring unreadable registry entry", "error", err)
			}
			if !ok || err != nil {
				continue
			}
			if out[service] == nil {
				out[service] = make(map[string]nodeEntry)
			}
			out[service][n.rec.Node.ID] = n
		}
	}
}

var errWatcherClosed = errors.New("KV watcher closed")

// stopWatcher stops w, whose ctx cancel ends, and waits until nats.go let go of it: its
// delivery goroutine blocks on a full updates channel and closes the channel only once it has
// returned. Cancelling the ctx unsubscribes at once (nats.go then deletes the consumer on its
// own goroutine); w.Stop would delete it first, which takes the whole JetStream timeout when
// the connection is down, so it is only the fallback.
func stopWatcher(cancel context.CancelFunc, w jetstream.KeyWatcher) {
	cancel()
	updates := w.Updates()
	fallback := time.NewTimer(time.Second)
	defer fallback.Stop()
	for {
		select {
		case _, ok := <-updates:
			if !ok {
				return
			}
		case <-fallback.C:
			_ = w.Stop() // fails only when already stopped
			for range updates {
			}
			return
		}
	}
}
