package service

import (
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"testing"

	"google.golang.org/grpc/resolver"

	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/registry/cache"
	"github.com/edgeapi/gateway/registry/memory"
)

// recordingCC is a resolver.ClientConn that records what the resolver pushes.
type recordingCC struct {
	resolver.ClientConn // unimplemented methods panic
	states              [][]string
	errs                []error
}

func (r *recordingCC) UpdateState(s resolver.State) error {
	addrs := []string{}
	for _, a := range s.Addresses {
		addrs = append(addrs, a.Addr)
	}
	r.states = append(r.states, addrs)
	return nil
}

func (r *recordingCC) ReportError(err error) { r.errs = append(r.errs, err) }

func snapshot(version uint64, services ...*registry.Service) *cache.Snapshot {
	m := map[string]*registry.Service{}
	for _, s := range services {
		m[s.Name] = s
	}
	return &cache.Snapshot{Version: version, Services: m}
}

func TestResolverPushes(t *testing.T) {
	c := cache.New(memory.New(), slog.New(slog.DiscardHandler), cache.Config{})
	b := NewResolverBuilder(c).(*builder)
	cc := &recordingCC{}
	r, err := b.Build(resolver.Target{URL: url.URL{Scheme: Scheme, Path: "/svc"}}, cc, resolver.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cc.states) != 0 || len(cc.errs) != 0 {
		t.Fatalf("pushed before the cache synced: %v %v", cc.states, cc.errs)
	}

	two := &registry.Service{Name: "svc", Nodes: []registry.Node{{ID: "a", Address: "10.0.0.1:1"}, {ID: "b", Address: "10.0.0.2:1"}}}
	one := &registry.Service{Name: "svc", Nodes: []registry.Node{{ID: "b", Address: "10.0.0.2:1"}}}
	other := &registry.Service{Name: "other", Nodes: []registry.Node{{ID: "x", Address: "10.0.0.9:1"}}}

	steps := []struct {
		name       string
		snap       *cache.Snapshot
		wantStates [][]string
		wantErrs   int
	}{
		{name: "first sync", snap: snapshot(2, two), wantStates: [][]string{{"10.0.0.1:1", "10.0.0.2:1"}}},
		{name: "older snapshot ignored", snap: snapshot(1, one)},
		{name: "other service changed", snap: snapshot(3, two, other)},
		{name: "node removed", snap: snapshot(4, one, other), wantStates: [][]string{{"10.0.0.2:1"}}},
		{name: "service gone", snap: snapshot(5, other), wantStates: [][]string{{}}, wantErrs: 1},
		{name: "still gone", snap: snapshot(6)},
		{name: "back", snap: snapshot(7, one), wantStates: [][]string{{"10.0.0.2:1"}}},
	}
	for _, st := range steps {
		cc.states, cc.errs = nil, nil
		b.changed(st.snap)
		if !slices.EqualFunc(cc.states, st.wantStates, slices.Equal) || len(cc.errs) != st.wantErrs {
			t.Fatalf("%s: pushed %v and %d errors, want %v and %d", st.name, cc.states, len(cc.errs), st.wantStates, st.wantErrs)
		}
		for _, err := range cc.errs {
			if !errors.Is(err, registry.ErrNotFound) {
				t.Errorf("%s: error %v does not wrap registry.ErrNotFound", st.name, err)
			}
		}
	}

	r.Close()
	if len(b.live) != 0 {
		t.Fatalf("closed resolver still tracked")
	}
	cc.states = nil
	b.changed(snapshot(8, two))
	r.(*registryResolver).update(snapshot(9, two))
	if len(cc.states) != 0 {
		t.Fatalf("pushed after Close: %v", cc.states)
	}
}

func TestResolverBuildRejectsEmptyName(t *testing.T) {
	c := cache.New(memory.New(), slog.New(slog.DiscardHandler), cache.Config{})
	b := NewResolverBuilder(c)
	if _, err := b.Build(resolver.Target{URL: url.URL{Scheme: Scheme, Path: "/"}}, &recordingCC{}, resolver.BuildOptions{}); err == nil {
		t.Fatal("Build accepted a target without a service name")
	}
	if b.Scheme() != "registry" {
		t.Fatalf("Scheme() = %q", b.Scheme())
	}
}
