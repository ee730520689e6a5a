// Package registry defines what the gateway knows about backend services: a Service with its
// Nodes (where it runs) and Endpoints (what it offers, with routing metadata), and the small
// interfaces a registry backend implements.
//
// Contract:
//   - A Service value handed out by a Registry is never mutated afterwards; readers may keep it.
//     Writers build a new value (Clone helps) instead of changing a shared one.
//   - GetService returns ErrNotFound (wrapped with %w) when no live node of the service exists.
//   - Watch delivers the whole current state of one service per Event, so a consumer can replace
//     its entry without merging partial updates. An Event of type EventDelete carries the name only.
//   - Backends live in subpackages: memory (tests and embedding), static (from config), consul and
//     nats (later). Consumers read through registry/cache, which keeps an in-memory snapshot.
package registry

import (
	"context"
	"errors"
	"maps"
	"slices"
)

// ErrNotFound is returned when a service has no registered live node.
var ErrNotFound = errors.New("service not found")

// Service is a named backend with the nodes that serve it and the endpoints it offers.
type Service struct {
	Name      string            `json:"name"`
	Version   string            `json:"version,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	Endpoints []Endpoint        `json:"endpoints,omitempty"`
	Nodes     []Node            `json:"nodes,omitempty"`
}

// Node is one running instance of a service.
type Node struct {
	ID       string            `json:"id"`
	Address  string            `json:"address"` // host:port
	Metadata map[string]string `json:"metadata,omitempty"`
}

// TLS reports whether the node says it serves TLS (metadata tls=true): the gateway then dials
// it with TLS whatever upstream.tls.enabled says.
func (n Node) TLS() bool { return n.Metadata["tls"] == "true" }

// Endpoint is one method a service offers. Metadata keys the router understands: "handler"
// (rpc, api, http, web, event), "method" (HTTP method), "path" (template with {vars}), "host".
type Endpoint struct {
	Name     string            `json:"name"` // e.g. "OrderSrv.GetOrder"
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Clone returns a deep copy, so a writer can change it without touching readers' values.
func (s *Service) Clone() *Service {
	if s == nil {
		return nil
	}
	c := *s
	c.Metadata = maps.Clone(s.Metadata)
	c.Endpoints = slices.Clone(s.Endpoints)
	for i := range c.Endpoints {
		c.Endpoints[i].Metadata = maps.Clone(c.Endpoints[i].Metadata)
	}
	c.Nodes = slices.Clone(s.Nodes)
	for i := range c.Nodes {
		c.Nodes[i].Metadata = maps.Clone(c.Nodes[i].Metadata)
	}
	return &c
}

// EventType says what happened to a service.
type EventType int

const (
	// EventUpdate means the service exists with the state carried in the event (new or changed).
	EventUpdate EventType = iota
	// EventDelete means the service has no node left.
	EventDelete
)

func (t EventType) String() string {
	if t == EventDelete {
		return "delete"
	}
	return "update"
}

// Event is a change of one service. Service is the whole new state (nil for EventDelete).
type Event struct {
	Type    EventType
	Name    string
	Service *Service
}

// Registry is the read side every backend implements.
type Registry interface {
	// GetService returns the service with its live nodes, or an error wrapping ErrNotFound.
	GetService(ctx context.Context, name string) (*Service, error)
	// ListServices returns every service with at least one live node.
	ListServices(ctx context.Context) ([]*Service, error)
	// Watch streams changes until ctx is done; the channel is closed then, or when the watch
	// fails for good (the consumer re-lists and watches again).
	Watch(ctx context.Context) (<-chan Event, error)
}

// Registrar is the write side, used by services registering themselves (and by tests).
type Registrar interface {
	// Register adds or refreshes the nodes of svc. Nodes of svc not already known are added;
	// known nodes are replaced. Endpoints and metadata replace the service's.
	Register(ctx context.Context, svc *Service) error
	// Deregister removes the nodes of svc; a service with no node left disappears.
	Deregister(ctx context.Context, svc *Service) error
}
