package memory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/edgeapi/gateway/registry"
)

// waitFor is how long a test waits for something that should happen at once.
const waitFor = 5 * time.Second

func svc(name string, ids ...string) *registry.Service {
	s := &registry.Service{Name: name}
	for _, id := range ids {
		s.Nodes = append(s.Nodes, registry.Node{ID: id, Address: id + ":1"})
	}
	return s
}

func nodeIDs(s *registry.Service) []string {
	if s == nil {
		return nil
	}
	ids := make([]string, 0, len(s.Nodes))
	for _, n := range s.Nodes {
		ids = append(ids, n.ID)
	}
	return ids
}

// recv returns the next event, or ok=false when the channel is closed. It fails the test when
// nothing arrives in time.
func recv(t *testing.T, ch <-chan registry.Event) (registry.Event, bool) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		return ev, ok
	case <-time.After(waitFor):
		t.Fatal("no event and channel not closed")
		return registry.Event{}, false
	}
}

// waitClosed drains ch until it is closed, failing after the deadline; it returns how many
// events were still queued.
func waitClosed(t *testing.T, ch <-chan registry.Event) int {
	t.Helper()
	deadline := time.After(waitFor)
	n := 0
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return n
			}
			n++
		case <-deadline:
			t.Fatalf("watch channel not closed after %d events", n)
		}
	}
}

func TestRegisterDeregister(t *testing.T) {
	type step struct {
		op   string // register, deregister
		svc  *registry.Service
		want []string // node IDs of "foo" afterwards; nil means not found
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"register one node", []step{
			{"register", svc("foo", "a"), []string{"a"}},
		}},
		{"nodes merge and sort by id", []step{
			{"register", svc("foo", "c"), []string{"c"}},
			{"register", svc("foo", "a"), []string{"a", "c"}},
			{"register", svc("foo", "b", "a"), []string{"a", "b", "c"}},
		}},
		{"deregister one of several", []step{
			{"register", svc("foo", "a", "b", "c"), []string{"a", "b", "c"}},
			{"deregister", svc("foo", "b"), []string{"a", "c"}},
		}},
		{"deregister last node deletes the service", []step{
			{"register", svc("foo", "a", "b"), []string{"a", "b"}},
			{"deregister", svc("foo", "a"), []string{"b"}},
			{"deregister", svc("foo", "b"), nil},
		}},
		{"deregister all at once", []step{
			{"register", svc("foo", "a", "b"), []string{"a", "b"}},
			{"deregister", svc("foo", "a", "b"), nil},
		}},
		{"deregister unknown node changes nothing", []step{
			{"register", svc("foo", "a"), []string{"a"}},
			{"deregister", svc("foo", "zz"), []string{"a"}},
		}},
		{"deregister unknown service", []step{
			{"deregister", svc("foo", "a"), nil},
		}},
		{"re-register after delete", []step{
			{"register", svc("foo", "a"), []string{"a"}},
			{"deregister", svc("foo", "a"), nil},
			{"register", svc("foo", "b"), []string{"b"}},
		}},
		{"duplicate ids in one call collapse", []step{
			{"register", svc("foo", "a", "a"), []string{"a"}},
		}},
		{"new service without nodes is not stored", []step{
			{"register", svc("foo"), nil},
		}},
		{"known service without nodes keeps its nodes", []step{
			{"register", svc("foo", "a"), []string{"a"}},
			{"register", svc("foo"), []string{"a"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			m := New()
			for i, st := range tt.steps {
				var err error
				switch st.op {
				case "register":
					err = m.Register(ctx, st.svc)
				case "deregister":
					err = m.Deregister(ctx, st.svc)
				}
				if err != nil {
					t.Fatalf("step %d %s: %v", i, st.op, err)
				}
				got, err := m.GetService(ctx, "foo")
				if st.want == nil {
					if !errors.Is(err, registry.ErrNotFound) {
						t.Fatalf("step %d: GetService = %v, %v; want ErrNotFound", i, nodeIDs(got), err)
					}
					list, _ := m.ListServices(ctx)
					if len(list) != 0 {
						t.Fatalf("step %d: ListServices has %d services, want 0", i, len(list))
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: GetService: %v", i, err)
				}
				if ids := nodeIDs(got); !slices.Equal(ids, st.want) {
					t.Fatalf("step %d: nodes = %v, want %v", i, ids, st.want)
				}
			}
		})
	}
}

func TestRegisterReplacesKnownNodeAndServiceFields(t *testing.T) {
	ctx := context.Background()
	m := New()
	first := &registry.Service{
		Name: "foo", Version: "1", Metadata: map[string]string{"k": "1"},
		Endpoints: []registry.Endpoint{{Name: "Foo.Old"}},
		Nodes:     []registry.Node{{ID: "a", Address: "10.0.0.1:1"}, {ID: "b", Address: "10.0.0.2:1"}},
	}
	second := &registry.Service{
		Name: "foo", Version: "2", Metadata: map[string]string{"k": "2"},
		Endpoints: []registry.Endpoint{{Name: "Foo.New"}},
		Nodes:     []registry.Node{{ID: "a", Address: "10.0.0.9:1", Metadata: map[string]string{"zone": "x"}}},
	}
	for _, s := range []*registry.Service{first, second} {
		if err := m.Register(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	got, err := m.GetService(ctx, "foo")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != "2" || got.Metadata["k"] != "2" || len(got.Endpoints) != 1 || got.Endpoints[0].Name != "Foo.New" {
		t.Errorf("service fields not replaced: %+v", got)
	}
	want := []registry.Node{
		{ID: "a", Address: "10.0.0.9:1", Metadata: map[string]string{"zone": "x"}},
		{ID: "b", Address: "10.0.0.2:1"},
	}
	if len(got.Nodes) != len(want) {
		t.Fatalf("nodes = %+v, want %+v", got.Nodes, want)
	}
	for i := range want {
		if got.Nodes[i].ID != want[i].ID || got.Nodes[i].Address != want[i].Address ||
			got.Nodes[i].Metadata["zone"] != want[i].Metadata["zone"] {
			t.Errorf("node %d = %+v, want %+v", i, got.Nodes[i], want[i])
		}
	}
}

func TestRegisterNodeIDDefaultsToAddress(t *testing.T) {
	ctx := context.Background()
	m := New()
	s := &registry.Service{Name: "foo", Nodes: []registry.Node{{Address: "10.0.0.1:80"}, {Address: "10.0.0.2:80"}}}
	if err := m.Register(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, _ := m.GetService(ctx, "foo")
	if ids := nodeIDs(got); !slices.Equal(ids, []string{"10.0.0.1:80", "10.0.0.2:80"}) {
		t.Fatalf("node IDs = %v, want the addresses", ids)
	}
	if s.Nodes[0].ID != "" {
		t.Error("Register changed the caller's value")
	}
	// Deregister by address alone finds the node.
	if err := m.Deregister(ctx, &registry.Service{Name: "foo", Nodes: []registry.Node{{Address: "10.0.0.1:80"}}}); err != nil {
		t.Fatal(err)
	}
	got, _ = m.GetService(ctx, "foo")
	if ids := nodeIDs(got); !slices.Equal(ids, []string{"10.0.0.2:80"}) {
		t.Fatalf("after deregister node IDs = %v", ids)
	}
}

func TestRegisterInvalid(t *testing.T) {
	ctx := context.Background()
	m := New()
	tests := []struct {
		name string
		svc  *registry.Service
	}{
		{"nil", nil},
		{"empty name", &registry.Service{Nodes: []registry.Node{{ID: "a"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := m.Register(ctx, tt.svc); err == nil {
				t.Error("Register: want an error")
			}
			if err := m.Deregister(ctx, tt.svc); err == nil {
				t.Error("Deregister: want an error")
			}
		})
	}
}

func TestGetServiceUnknown(t *testing.T) {
	m := New()
	if err := m.Register(context.Background(), svc("known", "a")); err != nil {
		t.Fatal(err)
	}
	_, err := m.GetService(context.Background(), "unknown")
	if !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

func TestListServicesSorted(t *testing.T) {
	ctx := context.Background()
	m := New()
	for _, name := range []string{"c", "a", "b"} {
		if err := m.Register(ctx, svc(name, "n")); err != nil {
			t.Fatal(err)
		}
	}
	list, err := m.ListServices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range list {
		names = append(names, s.Name)
	}
	if !slices.Equal(names, []string{"a", "b", "c"}) {
		t.Fatalf("names = %v", names)
	}
}

// Values handed out are never mutated afterwards, and the caller's value is copied.
func TestValuesAreNotShared(t *testing.T) {
	ctx := context.Background()
	m := New()
	in := svc("foo", "a")
	in.Metadata = map[string]string{"k": "v"}
	if err := m.Register(ctx, in); err != nil {
		t.Fatal(err)
	}
	in.Metadata["k"] = "changed"
	in.Nodes[0].Address = "changed"

	before, _ := m.GetService(ctx, "foo")
	if before.Metadata["k"] != "v" || before.Nodes[0].Address != "a:1" {
		t.Fatalf("registry shares the caller's value: %+v", before)
	}
	if err := m.Register(ctx, svc("foo", "b")); err != nil {
		t.Fatal(err)
	}
	if err := m.Deregister(ctx, svc("foo", "a")); err != nil {
		t.Fatal(err)
	}
	if ids := nodeIDs(before); !slices.Equal(ids, []string{"a"}) {
		t.Fatalf("a value handed out was mutated: nodes %v", ids)
	}
}

func TestWatchOrderedEvents(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := New()
	ch, err := m.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ops := []struct {
		register bool
		svc      *registry.Service
	}{
		{true, svc("foo", "a")},
		{true, svc("bar", "x")},
		{true, svc("foo", "b")},
		{false, svc("foo", "a")},
		{false, svc("foo", "nope")}, // no change, no event
		{false, svc("bar", "x")},
		{false, svc("foo", "b")},
	}
	for _, op := range ops {
		if op.register {
			err = m.Register(ctx, op.svc)
		} else {
			err = m.Deregister(ctx, op.svc)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	want := []struct {
		typ   registry.EventType
		name  string
		nodes []string
	}{
		{registry.EventUpdate, "foo", []string{"a"}},
		{registry.EventUpdate, "bar", []string{"x"}},
		{registry.EventUpdate, "foo", []string{"a", "b"}},
		{registry.EventUpdate, "foo", []string{"b"}},
		{registry.EventDelete, "bar", nil},
		{registry.EventDelete, "foo", nil},
	}
	for i, w := range want {
		ev, ok := recv(t, ch)
		if !ok {
			t.Fatalf("event %d: channel closed", i)
		}
		if ev.Type != w.typ || ev.Name != w.name {
			t.Fatalf("event %d = %s %s, want %s %s", i, ev.Type, ev.Name, w.typ, w.name)
		}
		if w.typ == registry.EventDelete {
			if ev.Service != nil {
				t.Errorf("event %d: delete carries a service", i)
			}
			continue
		}
		if ev.Service == nil || ev.Service.Name != w.name || !slices.Equal(nodeIDs(ev.Service), w.nodes) {
			t.Fatalf("event %d: service %+v, want nodes %v", i, ev.Service, w.nodes)
		}
	}
	select {
	case ev := <-ch:
		t.Fatalf("unexpected extra event %s %s", ev.Type, ev.Name)
	default:
	}
}

func TestWatchOverflowClosesOnlyTheSlowWatcher(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := New()
	slow, err := m.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fast, err := m.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range watchBuffer + 1 {
		if err := m.Register(ctx, svc(fmt.Sprintf("s%03d", i), "a")); err != nil {
			t.Fatal(err)
		}
		// The fast watcher keeps up.
		ev, ok := recv(t, fast)
		if !ok || ev.Name != fmt.Sprintf("s%03d", i) {
			t.Fatalf("fast watcher: event %d = %v %v", i, ev.Name, ok)
		}
	}
	if n := waitClosed(t, slow); n != watchBuffer {
		t.Fatalf("slow watcher got %d events before close, want %d", n, watchBuffer)
	}
	// The fast watcher still works.
	if err := m.Register(ctx, svc("after", "a")); err != nil {
		t.Fatal(err)
	}
	if ev, ok := recv(t, fast); !ok || ev.Name != "after" {
		t.Fatalf("fast watcher after overflow: %v %v", ev.Name, ok)
	}
	// Cancelling after the overflow close must not close the channel twice.
	cancel()
	waitClosed(t, fast)
}

func TestWatchClosesOnCancel(t *testing.T) {
	tests := []struct {
		name         string
		cancelBefore bool
	}{
		{"cancel while watching", false},
		{"already cancelled", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New()
			ctx, cancel := context.WithCancel(context.Background())
			if tt.cancelBefore {
				cancel()
			}
			ch, err := m.Watch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			cancel()
			waitClosed(t, ch)
			// Writers do not notice the gone watcher.
			if err := m.Register(context.Background(), svc("foo", "a")); err != nil {
				t.Fatal(err)
			}
			m.mu.Lock()
			n := len(m.watchers)
			m.mu.Unlock()
			if n != 0 {
				t.Fatalf("%d watchers left registered", n)
			}
		})
	}
}

func TestConcurrentRegisterWatch(t *testing.T) {
	const (
		writers = 8
		rounds  = 200
	)
	ctx := context.Background()
	m := New()
	var wg sync.WaitGroup
	stop := make(chan struct{})

	// Watchers come and go while writers write; each checks its events are well formed.
	errs := make(chan error, 64)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				wctx, cancel := context.WithCancel(ctx)
				ch, err := m.Watch(wctx)
				if err != nil {
					errs <- err
					cancel()
					return
				}
			recvLoop:
				for range 10 + w {
					select {
					case ev, ok := <-ch:
						if !ok {
							break recvLoop
						}
						if ev.Type == registry.EventUpdate && (ev.Service == nil || ev.Service.Name != ev.Name) {
							errs <- fmt.Errorf("malformed event %+v", ev)
						}
					case <-stop:
						break recvLoop
					}
				}
				cancel()
				for range ch { // drain until closed
				}
			}
		}()
	}
	var writersWG sync.WaitGroup
	for w := range writers {
		writersWG.Add(1)
		go func() {
			defer writersWG.Done()
			name := fmt.Sprintf("svc%d", w%3)
			node := fmt.Sprintf("n%d", w)
			for i := range rounds {
				s := svc(name, node)
				var err error
				if i%2 == 0 {
					err = m.Register(ctx, s)
				} else {
					err = m.Deregister(ctx, s)
				}
				if err != nil {
					errs <- err
					return
				}
				if _, err := m.ListServices(ctx); err != nil {
					errs <- err
				}
				_, _ = m.GetService(ctx, name)
			}
		}()
	}
	writersWG.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every writer ended with a deregister, so nothing is left.
	if list, _ := m.ListServices(ctx); len(list) != 0 {
		t.Fatalf("%d services left, want none", len(list))
	}
}
