// Package static is a registry whose services and nodes are fixed at construction, typically
// from config.yaml, for deployments whose backends do not move. It never changes, so its
// watch only ends when the context does.
package static

import (
	"context"
	"fmt"
	"sort"

	"github.com/edgeapi/gateway/registry"
)

// Registry serves a fixed set of services.
type Registry struct {
	services map[string]*registry.Service
	sorted   []*registry.Service
}

var _ registry.Registry = (*Registry)(nil)

// New returns a registry of services. Nodes without an ID get their address as ID; services
// without nodes are left out (they have nowhere to go). The values are copied. A service name
// declared twice, a node ID used twice within a service, or a node with neither ID nor address
// is an error.
func New(services []*registry.Service) (*Registry, error) {
	r := &Registry{services: make(map[string]*registry.Service, len(services))}
	declared := make(map[string]bool, len(services))
	for i, s := range services {
		if s == nil || s.Name == "" {
			return nil, fmt.Errorf("static registry: service #%d has no name", i+1)
		}
		if declared[s.Name] {
			return nil, fmt.Errorf("static registry: service %q declared twice", s.Name)
		}
		declared[s.Name] = true
		c := s.Clone()
		ids := make(map[string]bool, len(c.Nodes))
		for j := range c.Nodes {
			n := &c.Nodes[j]
			if n.ID == "" {
				n.ID = n.Address
			}
			if n.Address == "" {
				return nil, fmt.Errorf("static registry: service %q: node #%d has no address", c.Name, j+1)
			}
			if ids[n.ID] {
				return nil, fmt.Errorf("static registry: service %q: node %q declared twice", c.Name, n.ID)
			}
			ids[n.ID] = true
		}
		if len(c.Nodes) == 0 {
			continue
		}
		r.services[c.Name] = c
		r.sorted = append(r.sorted, c)
	}
	sort.Slice(r.sorted, func(i, j int) bool { return r.sorted[i].Name < r.sorted[j].Name })
	return r, nil
}

// GetService implements registry.Registry.
func (r *Registry) GetService(_ context.Context, name string) (*registry.Service, error) {
	s, ok := r.services[name]
	if !ok {
		return nil, fmt.Errorf("%q: %w", name, registry.ErrNotFound)
	}
	return s, nil
}

// ListServices implements registry.Registry.
func (r *Registry) ListServices(context.Context) ([]*registry.Service, error) {
	return append([]*registry.Service(nil), r.sorted...), nil
}

// Watch implements registry.Registry: nothing ever changes, the channel closes with ctx.
func (r *Registry) Watch(ctx context.Context) (<-chan registry.Event, error) {
	ch := make(chan registry.Event)
	context.AfterFunc(ctx, func() { close(ch) })
	return ch, nil
}
