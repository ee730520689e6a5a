package static

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeapi/gateway/registry"
)

func node(id, addr string) registry.Node { return registry.Node{ID: id, Address: addr} }

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		in      []*registry.Service
		wantErr string              // substring; "" means success
		want    map[string][]string // service -> node IDs, in ListServices order by name
	}{
		{
			name: "empty",
			want: map[string][]string{},
		},
		{
			name: "IDs default to address",
			in: []*registry.Service{
				{Name: "foo", Nodes: []registry.Node{node("", "10.0.0.1:80"), node("n2", "10.0.0.2:80")}},
			},
			want: map[string][]string{"foo": {"10.0.0.1:80", "n2"}},
		},
		{
			name: "services without nodes are left out",
			in: []*registry.Service{
				{Name: "empty"},
				{Name: "foo", Nodes: []registry.Node{node("a", "h:1")}},
			},
			want: map[string][]string{"foo": {"a"}},
		},
		{
			name: "duplicate service rejected",
			in: []*registry.Service{
				{Name: "foo", Nodes: []registry.Node{node("a", "h:1")}},
				{Name: "foo", Nodes: []registry.Node{node("b", "h:2")}},
			},
			wantErr: `service "foo" declared twice`,
		},
		{
			name: "duplicate service rejected even when the first has no nodes",
			in: []*registry.Service{
				{Name: "foo"},
				{Name: "foo", Nodes: []registry.Node{node("b", "h:2")}},
			},
			wantErr: `service "foo" declared twice`,
		},
		{
			name: "duplicate node ID rejected",
			in: []*registry.Service{
				{Name: "foo", Nodes: []registry.Node{node("a", "h:1"), node("a", "h:2")}},
			},
			wantErr: `node "a" declared twice`,
		},
		{
			name: "defaulted ID colliding with an explicit one rejected",
			in: []*registry.Service{
				{Name: "foo", Nodes: []registry.Node{node("h:1", "h:9"), node("", "h:1")}},
			},
			wantErr: `node "h:1" declared twice`,
		},
		{
			name: "same node ID in different services is fine",
			in: []*registry.Service{
				{Name: "foo", Nodes: []registry.Node{node("a", "h:1")}},
				{Name: "bar", Nodes: []registry.Node{node("a", "h:1")}},
			},
			want: map[string][]string{"bar": {"a"}, "foo": {"a"}},
		},
		{
			name:    "node without address rejected",
			in:      []*registry.Service{{Name: "foo", Nodes: []registry.Node{node("a", "")}}},
			wantErr: "has no address",
		},
		{
			name:    "service without name rejected",
			in:      []*registry.Service{{Nodes: []registry.Node{node("a", "h:1")}}},
			wantErr: "has no name",
		},
		{
			name:    "nil service rejected",
			in:      []*registry.Service{nil},
			wantErr: "has no name",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			list, err := r.ListServices(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != len(tt.want) {
				t.Fatalf("ListServices has %d services, want %d", len(list), len(tt.want))
			}
			if !slices.IsSortedFunc(list, func(a, b *registry.Service) int { return strings.Compare(a.Name, b.Name) }) {
				t.Error("ListServices is not sorted by name")
			}
			for _, s := range list {
				var ids []string
				for _, n := range s.Nodes {
					ids = append(ids, n.ID)
				}
				if want, ok := tt.want[s.Name]; !ok || !slices.Equal(ids, want) {
					t.Errorf("%s: nodes %v, want %v", s.Name, ids, want)
				}
				got, err := r.GetService(ctx, s.Name)
				if err != nil || got != s {
					t.Errorf("GetService(%s) = %v, %v", s.Name, got, err)
				}
			}
		})
	}
}

func TestGetServiceUnknown(t *testing.T) {
	r, err := New([]*registry.Service{
		{Name: "empty"},
		{Name: "foo", Nodes: []registry.Node{node("a", "h:1")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"nope", "empty"} {
		t.Run(name, func(t *testing.T) {
			if _, err := r.GetService(context.Background(), name); !errors.Is(err, registry.ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestValuesAreCopied(t *testing.T) {
	in := &registry.Service{
		Name:     "foo",
		Metadata: map[string]string{"k": "v"},
		Nodes:    []registry.Node{{Address: "h:1", Metadata: map[string]string{"zone": "a"}}},
	}
	r, err := New([]*registry.Service{in})
	if err != nil {
		t.Fatal(err)
	}
	if in.Nodes[0].ID != "" {
		t.Error("New changed the caller's node ID")
	}
	in.Metadata["k"] = "changed"
	in.Nodes[0].Metadata["zone"] = "changed"
	in.Nodes[0].Address = "changed"

	got, err := r.GetService(context.Background(), "foo")
	if err != nil {
		t.Fatal(err)
	}
	if got.Metadata["k"] != "v" || got.Nodes[0].Metadata["zone"] != "a" || got.Nodes[0].Address != "h:1" {
		t.Fatalf("registry shares the caller's value: %+v", got)
	}

	// The list is the caller's to change.
	list, _ := r.ListServices(context.Background())
	list[0] = nil
	again, _ := r.ListServices(context.Background())
	if again[0] == nil {
		t.Fatal("ListServices hands out its internal slice")
	}
}

func TestWatchClosesWithContext(t *testing.T) {
	r, err := New([]*registry.Service{{Name: "foo", Nodes: []registry.Node{node("a", "h:1")}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := r.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev, ok := <-ch:
		t.Fatalf("static watch delivered %v (open %v) before cancel", ev, ok)
	default:
	}
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("static watch delivered an event")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch channel not closed after cancel")
	}
}
