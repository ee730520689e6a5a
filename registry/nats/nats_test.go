package nats_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeapi/gateway/internal/testwait"
	"github.com/edgeapi/gateway/natsserver"
	"github.com/edgeapi/gateway/registry"
	natsreg "github.com/edgeapi/gateway/registry/nats"
)

// startServer runs an embedded server on a random port over dir until the test ends.
func startServer(t *testing.T, dir string) *natsserver.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s, err := natsserver.Start(ctx, natsserver.Config{Port: natsserver.RandomPort, StoreDir: dir}, nil)
	if err != nil {
		t.Fatalf("natsserver.Start: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// connect opens a client connection that gives up at once when the server goes away.
func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(0))
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func newRegistry(t *testing.T, nc *nats.Conn, cfg natsreg.Config) *natsreg.Registry {
	t.Helper()
	r, err := natsreg.New(context.Background(), nc, cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// setup is a server, one connection and a registry with the given TTL.
func setup(t *testing.T, ttl time.Duration) (*natsserver.Server, *natsreg.Registry) {
	t.Helper()
	s := startServer(t, t.TempDir())
	return s, newRegistry(t, connect(t, s.ClientURL()), natsreg.Config{TTL: ttl})
}

func watch(t *testing.T, r registry.Registry) <-chan registry.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := r.Watch(ctx)
	if err != nil {
		cancel()
		t.Fatalf("Watch: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		for range ch { // the channel closes once the watch goroutine is done
		}
	})
	return ch
}

// nextEvent returns the next event, failing after d.
func nextEvent(t *testing.T, ch <-chan registry.Event, d time.Duration) registry.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return ev
	case <-time.After(d):
		t.Fatalf("no event within %v", d)
	}
	panic("unreachable")
}

func nodeIDs(s *registry.Service) []string {
	var ids []string
	for _, n := range s.Nodes {
		ids = append(ids, n.ID)
	}
	return ids
}

func userService(nodes ...registry.Node) *registry.Service {
	return &registry.Service{
		Name:     "go.micro.api.user",
		Version:  "1.2.0",
		Metadata: map[string]string{"team": "accounts"},
		Endpoints: []registry.Endpoint{
			{Name: "User.Get", Metadata: map[string]string{"handler": "rpc", "method": "GET", "path": "/user/{id}"}},
			{Name: "User.Create"},
		},
		Nodes: nodes,
	}
}

var (
	nodeA = registry.Node{ID: "user-a", Address: "127.0.0.1:9001", Metadata: map[string]string{"zone": "a"}}
	nodeB = registry.Node{ID: "user-b", Address: "127.0.0.1:9002"}
)

func TestRegisterGetList(t *testing.T) {
	t.Parallel()
	_, r := setup(t, 0)
	ctx := context.Background()

	if _, err := r.GetService(ctx, "go.micro.api.user"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("GetService before Register: err = %v, want ErrNotFound", err)
	}
	if list, err := r.ListServices(ctx); err != nil || len(list) != 0 {
		t.Fatalf("ListServices on an empty bucket = %v, %v", list, err)
	}

	// Node B registered first: nodes still come back sorted by ID.
	if err := r.Register(ctx, userService(nodeB, nodeA)); err != nil {
		t.Fatal(err)
	}
	// A service whose name is a prefix of the other's must not show up in its lookup.
	if err := r.Register(ctx, &registry.Service{Name: "go.micro", Nodes: []registry.Node{{Address: "127.0.0.1:7000"}}}); err != nil {
		t.Fatal(err)
	}

	got, err := r.GetService(ctx, "go.micro.api.user")
	if err != nil {
		t.Fatal(err)
	}
	want := userService(nodeA, nodeB)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("GetService =\n%+v\nwant\n%+v", got, want)
	}

	list, err := r.ListServices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "go.micro" || list[1].Name != "go.micro.api.user" {
		t.Fatalf("ListServices = %+v", list)
	}
	if ids := nodeIDs(list[0]); !reflect.DeepEqual(ids, []string{"127.0.0.1:7000"}) {
		t.Fatalf("node without ID got ID %v, want its address", ids)
	}
	if !reflect.DeepEqual(list[1], want) {
		t.Fatalf("ListServices[1] = %+v", list[1])
	}
}

func TestRegisterValidation(t *testing.T) {
	t.Parallel()
	_, r := setup(t, 0)
	ctx := context.Background()
	if err := r.Register(ctx, &registry.Service{}); err == nil {
		t.Error("Register without name succeeded")
	}
	if err := r.Register(ctx, &registry.Service{Name: "x", Nodes: []registry.Node{{}}}); err == nil {
		t.Error("Register of a node without ID and address succeeded")
	}
	// A service without nodes stores nothing.
	if err := r.Register(ctx, &registry.Service{Name: "empty"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.GetService(ctx, "empty"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("service registered without nodes: err = %v, want ErrNotFound", err)
	}
	// Deregistering what is not there is fine.
	if err := r.Deregister(ctx, userService(nodeA)); err != nil {
		t.Fatal(err)
	}
}

func TestLatestRegistrationWins(t *testing.T) {
	t.Parallel()
	_, r := setup(t, 0)
	ctx := context.Background()
	if err := r.Register(ctx, userService(nodeA, nodeB)); err != nil {
		t.Fatal(err)
	}
	v2 := userService(nodeB)
	v2.Version = "2.0.0"
	v2.Endpoints = []registry.Endpoint{{Name: "User.Delete"}}
	if err := r.Register(ctx, v2); err != nil {
		t.Fatal(err)
	}
	got, err := r.GetService(ctx, v2.Name)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != "2.0.0" || len(got.Endpoints) != 1 || len(got.Nodes) != 2 {
		t.Fatalf("after a newer registration of one node: %+v", got)
	}
}

func TestWatchNodesComeAndGo(t *testing.T) {
	t.Parallel()
	_, r := setup(t, 0)
	ctx := context.Background()
	events := watch(t, r)

	start := time.Now()
	if err := r.Register(ctx, userService(nodeA)); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, events, 5*time.Second)
	t.Logf("Register -> watch event: %v", time.Since(start))
	if ev.Type != registry.EventUpdate || !reflect.DeepEqual(ev.Service, userService(nodeA)) {
		t.Fatalf("event after first node = %+v", ev)
	}

	if err := r.Register(ctx, userService(nodeB)); err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, events, 5*time.Second)
	if ev.Type != registry.EventUpdate || !reflect.DeepEqual(nodeIDs(ev.Service), []string{"user-a", "user-b"}) {
		t.Fatalf("event after second node = %+v", ev)
	}

	// A heartbeat that changes nothing sends nothing: the next event is the deregistration.
	if err := r.Register(ctx, userService(nodeA, nodeB)); err != nil {
		t.Fatal(err)
	}
	if err := r.Deregister(ctx, userService(nodeA)); err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, events, 5*time.Second)
	if ev.Type != registry.EventUpdate || !reflect.DeepEqual(nodeIDs(ev.Service), []string{"user-b"}) {
		t.Fatalf("event after deregistering one node = %+v", ev)
	}
	got, err := r.GetService(ctx, "go.micro.api.user")
	if err != nil || !reflect.DeepEqual(nodeIDs(got), []string{"user-b"}) {
		t.Fatalf("GetService after deregistering one node = %+v, %v", got, err)
	}

	if err := r.Deregister(ctx, userService(nodeB)); err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, events, 5*time.Second)
	if ev.Type != registry.EventDelete || ev.Name != "go.micro.api.user" || ev.Service != nil {
		t.Fatalf("event after deregistering the last node = %+v", ev)
	}
	if _, err := r.GetService(ctx, "go.micro.api.user"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("GetService after deregistering every node: err = %v", err)
	}
}

func TestWatchStartsFromCurrentState(t *testing.T) {
	t.Parallel()
	_, r := setup(t, 0)
	ctx := context.Background()
	if err := r.Register(ctx, userService(nodeA, nodeB)); err != nil {
		t.Fatal(err)
	}
	events := watch(t, r)
	// The existing state is not replayed; the first event is the change, with the whole service.
	if err := r.Deregister(ctx, userService(nodeA)); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, events, 5*time.Second)
	if ev.Type != registry.EventUpdate || !reflect.DeepEqual(ev.Service, userService(nodeB)) {
		t.Fatalf("first event = %+v", ev)
	}
}

// expiryTest registers a node once, then waits for it to expire and reports the delay.
func expiryTest(t *testing.T, r *natsreg.Registry, ttl time.Duration) {
	ctx := context.Background()
	events := watch(t, r)
	start := time.Now()
	if err := r.Register(ctx, userService(nodeA)); err != nil {
		t.Fatal(err)
	}
	written := time.Now()
	ev := nextEvent(t, events, 5*time.Second)
	t.Logf("Register -> watch event: %v", time.Since(start))
	if ev.Type != registry.EventUpdate {
		t.Fatalf("first event = %+v", ev)
	}
	ev = nextEvent(t, events, ttl+5*time.Second)
	t.Logf("last write -> expiry event: %v (TTL %v)", time.Since(written), ttl)
	if ev.Type != registry.EventDelete || ev.Name != "go.micro.api.user" {
		t.Fatalf("expiry event = %+v", ev)
	}
	testwait.Until(t, 5*time.Second, "GetService to forget the expired node", func() bool {
		_, err := r.GetService(ctx, "go.micro.api.user")
		return errors.Is(err, registry.ErrNotFound)
	})
}

func TestTTLExpiry(t *testing.T) {
	t.Parallel()
	_, r := setup(t, time.Second)
	expiryTest(t, r, time.Second)
}

func TestTTLExpiryWithoutMarkers(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	r, err := natsreg.NewWithoutMarkers(context.Background(), connect(t, s.ClientURL()),
		natsreg.Config{Bucket: "no_markers", TTL: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	expiryTest(t, r, time.Second)
}

func TestHeartbeatKeepsNodeAlive(t *testing.T) {
	t.Parallel()
	// Heartbeats every TTL/8 or so: only a test process starved for most of a TTL flaps.
	const ttl = 2 * time.Second
	_, r := setup(t, ttl)
	ctx := context.Background()
	events := watch(t, r)

	// One node heartbeats for 2 TTLs, the other registers once and expires meanwhile.
	if err := r.Register(ctx, userService(nodeA, nodeB)); err != nil {
		t.Fatal(err)
	}
	// One Put per node, so one event per node.
	for _, want := range [][]string{{"user-a"}, {"user-a", "user-b"}} {
		if ev := nextEvent(t, events, 5*time.Second); ev.Type != registry.EventUpdate ||
			!reflect.DeepEqual(nodeIDs(ev.Service), want) {
			t.Fatalf("event = %+v, want update with nodes %v", ev, want)
		}
	}
	var lastBeat time.Time
	var updates []registry.Event
	end := time.Now().Add(2 * ttl)
	for time.Now().Before(end) {
		if err := r.Register(ctx, userService(nodeA)); err != nil {
			t.Fatal(err)
		}
		lastBeat = time.Now()
		if _, err := r.GetService(ctx, "go.micro.api.user"); err != nil {
			t.Fatalf("GetService while heartbeating: %v", err)
		}
		select {
		case ev := <-events:
			updates = append(updates, ev)
		case <-time.After(ttl / 8):
		}
	}
	// Heartbeats change nothing; the only event is node B expiring.
	if len(updates) != 1 || updates[0].Type != registry.EventUpdate ||
		!reflect.DeepEqual(nodeIDs(updates[0].Service), []string{"user-a"}) {
		t.Fatalf("events while node A heartbeats = %+v, want one update without node B", updates)
	}
	got, err := r.GetService(ctx, "go.micro.api.user")
	if err != nil || !reflect.DeepEqual(nodeIDs(got), []string{"user-a"}) {
		t.Fatalf("GetService after 2 TTLs of heartbeats = %+v, %v", got, err)
	}

	ev := nextEvent(t, events, ttl+5*time.Second)
	t.Logf("last heartbeat -> expiry event: %v (TTL %v)", time.Since(lastBeat), ttl)
	if ev.Type != registry.EventDelete {
		t.Fatalf("event after heartbeats stopped = %+v", ev)
	}
}

func TestRestartKeepsRegistrations(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	s := startServer(t, dir)
	r := newRegistry(t, connect(t, s.ClientURL()), natsreg.Config{})
	if err := r.Register(ctx, userService(nodeA, nodeB)); err != nil {
		t.Fatal(err)
	}
	events := watch(t, r)

	s.Shutdown()
	// The watch ends with the connection, so its consumer lists again.
	select {
	case ev, ok := <-events:
		if ok {
			t.Fatalf("event while the server stops: %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch channel still open after the server stopped")
	}
	if _, err := r.GetService(ctx, "go.micro.api.user"); err == nil {
		t.Fatal("GetService succeeded without a server")
	}
	if _, err := r.Watch(ctx); err == nil {
		t.Fatal("Watch succeeded without a server")
	}

	s = startServer(t, dir)
	r = newRegistry(t, connect(t, s.ClientURL()), natsreg.Config{})
	got, err := r.GetService(ctx, "go.micro.api.user")
	if err != nil {
		t.Fatalf("GetService after restart: %v", err)
	}
	if !reflect.DeepEqual(got, userService(nodeA, nodeB)) {
		t.Fatalf("GetService after restart = %+v", got)
	}
}

func TestRestartDropsEntriesExpiredWhileDown(t *testing.T) {
	t.Parallel()
	const ttl = time.Second
	dir := t.TempDir()
	ctx := context.Background()
	s := startServer(t, dir)
	r := newRegistry(t, connect(t, s.ClientURL()), natsreg.Config{TTL: ttl})
	if err := r.Register(ctx, userService(nodeA)); err != nil {
		t.Fatal(err)
	}
	written := time.Now()
	s.Shutdown()
	time.Sleep(ttl + ttl/2) // the server is down: nothing to poll

	s = startServer(t, dir)
	r = newRegistry(t, connect(t, s.ClientURL()), natsreg.Config{TTL: ttl})
	testwait.Until(t, 5*time.Second, "the entry that expired while the server was down to go", func() bool {
		_, err := r.GetService(ctx, "go.micro.api.user")
		return errors.Is(err, registry.ErrNotFound)
	})
	t.Logf("last write -> gone after restart: %v (TTL %v, server down %v)", time.Since(written), ttl, ttl+ttl/2)
}

// TestSeparateConnections is the external-cluster setup: the registering service and the
// gateway each have their own client connection by URL.
func TestSeparateConnections(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	service := newRegistry(t, connect(t, s.ClientURL()), natsreg.Config{TTL: 5 * time.Second})
	gateway := newRegistry(t, connect(t, s.ClientURL()), natsreg.Config{TTL: 5 * time.Second})
	ctx := context.Background()
	events := watch(t, gateway)

	start := time.Now()
	if err := service.Register(ctx, userService(nodeA)); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, events, 5*time.Second)
	t.Logf("Register on one connection -> watch event on another: %v", time.Since(start))
	if ev.Type != registry.EventUpdate || !reflect.DeepEqual(ev.Service, userService(nodeA)) {
		t.Fatalf("event = %+v", ev)
	}
	if _, err := gateway.GetService(ctx, "go.micro.api.user"); err != nil {
		t.Fatal(err)
	}
	if err := service.Deregister(ctx, userService(nodeA)); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, events, 5*time.Second); ev.Type != registry.EventDelete {
		t.Fatalf("event = %+v", ev)
	}
}

func TestForeignEntriesIgnored(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	nc := connect(t, s.ClientURL())
	r := newRegistry(t, nc, natsreg.Config{})
	ctx := context.Background()
	events := watch(t, r)

	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(ctx, natsreg.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	for key, value := range map[string]string{
		"other.key":                     "{}",
		natsreg.KeyPrefix + "x.y.z":     "{}",
		natsreg.NodeKey("broken", "n1"): "not json",
	} {
		if _, err := kv.PutString(ctx, key, value); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Register(ctx, userService(nodeA)); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, events, 5*time.Second); ev.Name != "go.micro.api.user" {
		t.Fatalf("first event = %+v, want the registered service only", ev)
	}
	list, err := r.ListServices(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "go.micro.api.user" {
		t.Fatalf("ListServices = %+v, %v", list, err)
	}
}

func TestWatchEndsWithContext(t *testing.T) {
	t.Parallel()
	_, r := setup(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := r.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("event after cancel")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch channel not closed after cancel")
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	nc := connect(t, s.ClientURL())
	for _, tc := range []struct {
		name string
		cfg  natsreg.Config
	}{
		{"ttl below minimum", natsreg.Config{TTL: 500 * time.Millisecond}},
		{"replicas", natsreg.Config{Replicas: 6}},
		{"negative timeout", natsreg.Config{Timeout: -1}},
		{"bucket name", natsreg.Config{Bucket: "a.b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := natsreg.New(context.Background(), nc, tc.cfg, nil); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
	if _, err := natsreg.New(context.Background(), nil, natsreg.Config{}, nil); err == nil {
		t.Fatal("New accepted a nil connection")
	}
}

// TestWatchSeesAChangeRightAfterItReturns: with many entries to load, a change made as soon as
// Watch returned still arrives as an event. nats.go delivers the initial values after WatchAll
// returned and counts a change that lands meanwhile among them; Watch must have loaded them
// before it returns, or the change is taken for initial state and never sent.
func TestWatchSeesAChangeRightAfterItReturns(t *testing.T) {
	t.Parallel()
	_, r := setup(t, 0)
	ctx := context.Background()
	for i := range 300 {
		svc := &registry.Service{Name: fmt.Sprintf("go.micro.api.bulk%03d", i), Nodes: []registry.Node{{ID: "n", Address: "127.0.0.1:1"}}}
		if err := r.Register(ctx, svc); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 20 {
		events := watch(t, r)
		node := registry.Node{ID: fmt.Sprintf("late-%d", round), Address: "127.0.0.1:9100"}
		if err := r.Register(ctx, userService(node)); err != nil {
			t.Fatal(err)
		}
		ev := nextEvent(t, events, 5*time.Second)
		if ev.Name != "go.micro.api.user" || len(ev.Service.Nodes) == 0 {
			t.Fatalf("round %d: first event = %+v, want the user service with the new node", round, ev)
		}
		if err := r.Deregister(ctx, userService(node)); err != nil {
			t.Fatal(err)
		}
	}
}
