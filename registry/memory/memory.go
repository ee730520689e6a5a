// Package memory is an in-process registry. It is the test double for every consumer of
// registry.Registry and also serves embedded setups where services register in-process.
//
// Watchers get every change in order. A watcher that falls behind by more than its buffer has
// its channel closed instead of blocking writers; per the registry contract the consumer then
// lists again and re-watches, so no state is lost.
package memory

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/edgeapi/gateway/registry"
)

const watchBuffer = 256

// Registry is safe for concurrent use. The zero value is not usable; call New.
type Registry struct {
	mu       sync.Mutex
	services map[string]*registry.Service
	watchers map[chan registry.Event]struct{}
}

var (
	_ registry.Registry  = (*Registry)(nil)
	_ registry.Registrar = (*Registry)(nil)
)

// New returns an empty registry.
func New() *Registry {
	return &Registry{
		services: make(map[string]*registry.Service),
		watchers: make(map[chan registry.Event]struct{}),
	}
}

// GetService implements registry.Registry.
func (m *Registry) GetService(_ context.Context, name string) (*registry.Service, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.services[name]
	if !ok {
		return nil, fmt.Errorf("%q: %w", name, registry.ErrNotFound)
	}
	return s, nil
}

// ListServices implements registry.Registry, sorted by name.
func (m *Registry) ListServices(context.Context) ([]*registry.Service, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*registry.Service, 0, len(m.services))
	for _, s := range m.services {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Watch implements registry.Registry.
func (m *Registry) Watch(ctx context.Context) (<-chan registry.Event, error) {
	ch := make(chan registry.Event, watchBuffer)
	m.mu.Lock()
	m.watchers[ch] = struct{}{}
	m.mu.Unlock()
	context.AfterFunc(ctx, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if _, ok := m.watchers[ch]; ok {
			delete(m.watchers, ch)
			close(ch)
		}
	})
	return ch, nil
}

// Register implements registry.Registrar. Nodes without an ID get their address as ID. A new
// service registered without nodes is not stored (it has nowhere to go), so GetService keeps
// returning ErrNotFound for it.
func (m *Registry) Register(_ context.Context, svc *registry.Service) error {
	if svc == nil || svc.Name == "" {
		return fmt.Errorf("register: service name is empty")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	next := svc.Clone()
	normalizeIDs(next.Nodes)
	var oldNodes []registry.Node
	if old, ok := m.services[svc.Name]; ok {
		oldNodes = old.Nodes
	}
	next.Nodes = mergeNodes(oldNodes, next.Nodes)
	if len(next.Nodes) == 0 {
		return nil
	}
	m.services[svc.Name] = next
	m.notify(registry.Event{Type: registry.EventUpdate, Name: next.Name, Service: next})
	return nil
}

// Deregister implements registry.Registrar. Removing nodes that are not registered changes
// nothing and sends no event.
func (m *Registry) Deregister(_ context.Context, svc *registry.Service) error {
	if svc == nil || svc.Name == "" {
		return fmt.Errorf("deregister: service name is empty")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.services[svc.Name]
	if !ok {
		return nil
	}
	gone := make(map[string]bool, len(svc.Nodes))
	for _, n := range svc.Nodes {
		gone[nodeID(n)] = true
	}
	next := old.Clone()
	next.Nodes = next.Nodes[:0]
	for _, n := range old.Nodes {
		if !gone[n.ID] {
			next.Nodes = append(next.Nodes, n)
		}
	}
	if len(next.Nodes) == len(old.Nodes) {
		return nil
	}
	if len(next.Nodes) == 0 {
		delete(m.services, svc.Name)
		m.notify(registry.Event{Type: registry.EventDelete, Name: svc.Name})
		return nil
	}
	m.services[svc.Name] = next
	m.notify(registry.Event{Type: registry.EventUpdate, Name: next.Name, Service: next})
	return nil
}

// notify runs with m.mu held, so events reach each watcher in order.
func (m *Registry) notify(ev registry.Event) {
	for ch := range m.watchers {
		select {
		case ch <- ev:
		default:
			delete(m.watchers, ch)
			close(ch)
		}
	}
}

// mergeNodes keeps old nodes not in add and replaces those that are (the last of several with
// the same ID wins), sorted by ID.
func mergeNodes(old, add []registry.Node) []registry.Node {
	byID := make(map[string]registry.Node, len(old)+len(add))
	for _, n := range old {
		byID[n.ID] = n
	}
	for _, n := range add {
		byID[n.ID] = n
	}
	out := make([]registry.Node, 0, len(byID))
	for _, n := range byID {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func normalizeIDs(nodes []registry.Node) {
	for i := range nodes {
		nodes[i].ID = nodeID(nodes[i])
	}
}

func nodeID(n registry.Node) string {
	if n.ID == "" {
		return n.Address
	}
	return n.ID
}
