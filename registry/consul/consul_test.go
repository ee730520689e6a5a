package consul_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/edgeapi/gateway/internal/testconsul"
	"github.com/edgeapi/gateway/internal/testwait"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/registry/consul"
)

const deadline = 20 * time.Second

func newRegistry(t *testing.T, agent *testconsul.Agent, cfg consul.Config) *consul.Registry {
	t.Helper()
	cfg.Address = agent.Addr()
	if cfg.MaxBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = 50*time.Millisecond, 500*time.Millisecond
	}
	if cfg.WaitTime == 0 {
		cfg.WaitTime = 10 * time.Second
	}
	r, err := consul.New(cfg, slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// tWriter sends log lines to t.Log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func service(name string, nodes ...string) *registry.Service {
	s := &registry.Service{
		Name:     name,
		Version:  "1.0.0",
		Metadata: map[string]string{"owner": "team-a"},
		Endpoints: []registry.Endpoint{
			{Name: "Greeter.Hello", Metadata: map[string]string{"handler": "rpc", "method": "POST", "path": "/hello"}},
		},
	}
	for i, id := range nodes {
		s.Nodes = append(s.Nodes, registry.Node{
			ID:       id,
			Address:  fmt.Sprintf("127.0.0.1:%d", 9000+i),
			Metadata: map[string]string{"zone": "z1"},
		})
	}
	return s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// nextEvent returns the first event on ch about name that satisfies ok.
func nextEvent(t *testing.T, ch <-chan registry.Event, name string, ok func(registry.Event) bool) registry.Event {
	t.Helper()
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	for {
		select {
		case ev, open := <-ch:
			if !open {
				t.Fatalf("watch channel closed while waiting for %s", name)
			}
			if ev.Name == name && ok(ev) {
				return ev
			}
		case <-timer.C:
			t.Fatalf("no matching event for %s within %s", name, deadline)
		}
	}
}

func nodeIDs(s *registry.Service) []string {
	if s == nil {
		return nil
	}
	ids := make([]string, len(s.Nodes))
	for i, n := range s.Nodes {
		ids[i] = n.ID
	}
	return ids
}

func hasNodes(ids ...string) func(registry.Event) bool {
	return func(ev registry.Event) bool {
		return ev.Type == registry.EventUpdate && reflect.DeepEqual(nodeIDs(ev.Service), ids)
	}
}

func isDelete(ev registry.Event) bool { return ev.Type == registry.EventDelete }

// TestConsul runs against one shared agent; subtests use distinct service names.
func TestConsul(t *testing.T) {
	agent := testconsul.Start(t)

	t.Run("register and get", func(t *testing.T) {
		t.Parallel()
		r := newRegistry(t, agent, consul.Config{})
		ctx := ctxT(t)
		want := service("get-svc", "get-1")
		if err := r.Register(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := r.GetService(ctx, "get-svc")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetService:\n got %+v\nwant %+v", got, want)
		}
		// Register again is the heartbeat: same result.
		if err := r.Register(ctx, want); err != nil {
			t.Fatal(err)
		}
		if got, err := r.GetService(ctx, "get-svc"); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("after heartbeat: %+v, %v", got, err)
		}
	})

	t.Run("unknown service", func(t *testing.T) {
		t.Parallel()
		r := newRegistry(t, agent, consul.Config{})
		_, err := r.GetService(ctxT(t), "no-such-svc")
		if !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})

	t.Run("deregister", func(t *testing.T) {
		t.Parallel()
		r := newRegistry(t, agent, consul.Config{})
		ctx := ctxT(t)
		svc := service("dereg-svc", "dereg-1", "dereg-2")
		if err := r.Register(ctx, svc); err != nil {
			t.Fatal(err)
		}
		one := service("dereg-svc", "dereg-1")
		if err := r.Deregister(ctx, one); err != nil {
			t.Fatal(err)
		}
		got, err := r.GetService(ctx, "dereg-svc")
		if err != nil || !reflect.DeepEqual(nodeIDs(got), []string{"dereg-2"}) {
			t.Fatalf("after deregistering one node: %v, %v", nodeIDs(got), err)
		}
		if err := r.Deregister(ctx, svc); err != nil { // dereg-1 is already gone: not an error
			t.Fatal(err)
		}
		if _, err := r.GetService(ctx, "dereg-svc"); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("after deregister: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("three nodes listed", func(t *testing.T) {
		t.Parallel()
		r := newRegistry(t, agent, consul.Config{})
		ctx := ctxT(t)
		want := service("list-svc", "list-c", "list-a", "list-b")
		if err := r.Register(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := r.GetService(ctx, "list-svc")
		if err != nil || !reflect.DeepEqual(nodeIDs(got), []string{"list-a", "list-b", "list-c"}) {
			t.Fatalf("GetService: %v, %v", nodeIDs(got), err)
		}
		all, err := r.ListServices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var found *registry.Service
		for _, s := range all {
			if s.Name == "consul" {
				t.Errorf("ListServices returned consul's own service")
			}
			if s.Name == "list-svc" {
				found = s
			}
		}
		if found == nil || !reflect.DeepEqual(found, got) {
			t.Fatalf("ListServices: list-svc = %+v, want %+v", found, got)
		}
	})

	t.Run("failing check leaves", func(t *testing.T) {
		t.Parallel()
		r := newRegistry(t, agent, consul.Config{})
		ctx := ctxT(t)
		if err := r.Register(ctx, service("fail-svc", "fail-1", "fail-2")); err != nil {
			t.Fatal(err)
		}
		if err := agent.Client().Agent().FailTTL(consul.CheckID("fail-1"), "test"); err != nil {
			t.Fatal(err)
		}
		got, err := r.GetService(ctx, "fail-svc")
		if err != nil || !reflect.DeepEqual(nodeIDs(got), []string{"fail-2"}) {
			t.Fatalf("GetService after FailTTL: %v, %v", nodeIDs(got), err)
		}
		// The next heartbeat brings it back.
		if err := r.Register(ctx, service("fail-svc", "fail-1")); err != nil {
			t.Fatal(err)
		}
		got, err = r.GetService(ctx, "fail-svc")
		if err != nil || !reflect.DeepEqual(nodeIDs(got), []string{"fail-1", "fail-2"}) {
			t.Fatalf("GetService after heartbeat: %v, %v", nodeIDs(got), err)
		}
	})

	t.Run("ttl expiry", func(t *testing.T) {
		t.Parallel()
		r := newRegistry(t, agent, consul.Config{TTL: time.Second})
		ctx := ctxT(t)
		if err := r.Register(ctx, service("ttl-svc", "ttl-1")); err != nil {
			t.Fatal(err)
		}
		if _, err := r.GetService(ctx, "ttl-svc"); err != nil {
			t.Fatal(err)
		}
		registered := time.Now()
		testwait.Until(t, deadline, "ttl-svc to expire", func() bool {
			_, err := r.GetService(ctx, "ttl-svc")
			return errors.Is(err, registry.ErrNotFound)
		})
		t.Logf("TTL 1s without heartbeat: gone from GetService %s after registering", time.Since(registered).Round(time.Millisecond))
	})

	t.Run("200 endpoints round trip", func(t *testing.T) {
		t.Parallel()
		r := newRegistry(t, agent, consul.Config{})
		ctx := ctxT(t)
		want := &registry.Service{
			Name:     "big-svc",
			Version:  "2.3.4",
			Metadata: map[string]string{"owner": "orders", "docs.url": "https://example.invalid/a?b=c"},
			Nodes: []registry.Node{{ID: "big-1", Address: "[::1]:8443",
				Metadata: map[string]string{"zone": "z", "ep_0": "clash", "k.v": "dotted"}}},
		}
		for i := range 200 {
			want.Endpoints = append(want.Endpoints, registry.Endpoint{
				Name: fmt.Sprintf("Orders.Method%03d", i),
				Metadata: map[string]string{
					"handler": []string{"rpc", "api", "http", "web", "event"}[i%5],
					"method":  []string{"GET", "POST", "PUT", "DELETE"}[i%4],
					"path":    fmt.Sprintf("/orders/v%d/items/{id}/action%d", i%3, i),
				},
			})
		}
		if err := r.Register(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := r.GetService(ctx, "big-svc")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, want)
		}
		raw, _, err := agent.Client().Agent().Service("big-1", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("200 endpoints stored in %d meta keys (ep_n=%s)", len(raw.Meta), raw.Meta["ep_n"])
	})

	t.Run("too much metadata is refused", func(t *testing.T) {
		t.Parallel()
		r := newRegistry(t, agent, consul.Config{})
		svc := service("toomuch-svc", "toomuch-1")
		for i := range 70 {
			svc.Nodes[0].Metadata[fmt.Sprintf("k%d", i)] = "v"
		}
		if err := r.Register(ctxT(t), svc); !errors.Is(err, consul.ErrMetaLimit) {
			t.Fatalf("err = %v, want ErrMetaLimit", err)
		}
	})

	t.Run("instance registered by another tool", func(t *testing.T) {
		t.Parallel()
		r := newRegistry(t, agent, consul.Config{})
		err := agent.Client().Agent().ServiceRegister(&api.AgentServiceRegistration{
			ID: "foreign-1", Name: "foreign-svc", Address: "127.0.0.2", Port: 80, Meta: map[string]string{"a": "b"},
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.GetService(ctxT(t), "foreign-svc")
		if err != nil {
			t.Fatal(err)
		}
		want := &registry.Service{Name: "foreign-svc", Nodes: []registry.Node{
			{ID: "foreign-1", Address: "127.0.0.2:80", Metadata: map[string]string{"a": "b"}}}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})

	t.Run("tag filter", func(t *testing.T) {
		t.Parallel()
		tagged := newRegistry(t, agent, consul.Config{TagFilter: []string{"gw-tag-test"}})
		plain := newRegistry(t, agent, consul.Config{})
		ctx := ctxT(t)
		if err := plain.Register(ctx, service("tag-untagged", "tag-u1")); err != nil {
			t.Fatal(err)
		}
		if err := tagged.Register(ctx, service("tag-tagged", "tag-t1")); err != nil {
			t.Fatal(err)
		}
		if _, err := tagged.GetService(ctx, "tag-untagged"); !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("filtered registry sees an untagged service: %v", err)
		}
		all, err := tagged.ListServices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range all {
			if s.Name != "tag-tagged" {
				t.Errorf("filtered ListServices returned %q", s.Name)
			}
		}
		if _, err := plain.GetService(ctx, "tag-tagged"); err != nil {
			t.Errorf("unfiltered registry: %v", err)
		}
	})

	t.Run("watch", func(t *testing.T) {
		t.Parallel()
		r := newRegistry(t, agent, consul.Config{})
		ctx := ctxT(t)
		wctx, stop := context.WithCancel(ctx)
		ch, err := r.Watch(wctx)
		if err != nil {
			t.Fatal(err)
		}

		start := time.Now()
		if err := r.Register(ctx, service("watch-svc", "watch-1")); err != nil {
			t.Fatal(err)
		}
		ev := nextEvent(t, ch, "watch-svc", hasNodes("watch-1"))
		t.Logf("propagation: Register -> Update (new service): %s", time.Since(start).Round(time.Millisecond))
		if want := service("watch-svc", "watch-1"); !reflect.DeepEqual(ev.Service, want) {
			t.Errorf("event carries %+v, want %+v", ev.Service, want)
		}

		start = time.Now()
		if err := r.Register(ctx, service("watch-svc", "watch-2")); err != nil {
			t.Fatal(err)
		}
		nextEvent(t, ch, "watch-svc", hasNodes("watch-1", "watch-2"))
		t.Logf("propagation: Register -> Update (second node): %s", time.Since(start).Round(time.Millisecond))

		start = time.Now()
		if err := agent.Client().Agent().FailTTL(consul.CheckID("watch-1"), "down"); err != nil {
			t.Fatal(err)
		}
		nextEvent(t, ch, "watch-svc", hasNodes("watch-2"))
		t.Logf("propagation: FailTTL -> Update without the node: %s", time.Since(start).Round(time.Millisecond))

		start = time.Now()
		if err := agent.Client().Agent().FailTTL(consul.CheckID("watch-2"), "down"); err != nil {
			t.Fatal(err)
		}
		nextEvent(t, ch, "watch-svc", isDelete)
		t.Logf("propagation: FailTTL of last node -> Delete: %s", time.Since(start).Round(time.Millisecond))

		if err := r.Register(ctx, service("watch-svc", "watch-1")); err != nil {
			t.Fatal(err)
		}
		nextEvent(t, ch, "watch-svc", hasNodes("watch-1"))
		start = time.Now()
		if err := r.Deregister(ctx, service("watch-svc", "watch-1", "watch-2")); err != nil {
			t.Fatal(err)
		}
		ev = nextEvent(t, ch, "watch-svc", func(registry.Event) bool { return true })
		if ev.Type != registry.EventDelete || ev.Service != nil {
			t.Fatalf("after deregister: %v %+v, want a delete", ev.Type, ev.Service)
		}
		t.Logf("propagation: Deregister -> Delete: %s", time.Since(start).Round(time.Millisecond))

		stop()
		timer := time.NewTimer(deadline)
		defer timer.Stop()
		for {
			select {
			case _, open := <-ch:
				if !open {
					return
				}
			case <-timer.C:
				t.Fatal("watch channel not closed after cancel")
			}
		}
	})
}

// TestConsulRestart stops Consul under a running watch and starts it again, within the watch's
// outage grace: the watch rides the outage out and delivers changes again afterwards.
func TestConsulRestart(t *testing.T) {
	agent := testconsul.Start(t)
	r := newRegistry(t, agent, consul.Config{OutageGrace: time.Hour})
	ctx := ctxT(t)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	ch, err := r.Watch(wctx)
	if err != nil {
		t.Fatal(err)
	}
	svc := service("restart-svc", "restart-1")
	if err := r.Register(ctx, svc); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, ch, "restart-svc", hasNodes("restart-1"))

	agent.Stop()
	if _, err := r.GetService(ctx, "restart-svc"); err == nil || errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("GetService with consul down: err = %v, want a transport error", err)
	} else {
		t.Logf("GetService with consul down: %v", err)
	}
	if _, err := r.Watch(ctx); err == nil {
		t.Fatal("a new Watch with consul down should fail")
	}
	// The running watch keeps retrying within its grace: its channel stays open and quiet
	// through several backoff rounds.
	quiet := time.NewTimer(2 * time.Second)
	select {
	case ev, open := <-ch:
		if !open {
			t.Fatal("watch channel closed while consul was down")
		}
		t.Fatalf("unexpected event while consul was down: %+v", ev)
	case <-quiet.C:
	}

	agent.Restart()
	restarted := time.Now()
	// The dev agent lost its state; the service's next heartbeat registers it again. Whether the
	// watch reports that depends on whether it looked before the heartbeat (delete, then update)
	// or after (nothing changed for the consumer, so no event). A new node is a change either way.
	var regErr error // the last failed Register, logged if the wait times out
	defer func() {
		if regErr != nil {
			t.Logf("last Register: %v", regErr)
		}
	}()
	testwait.Until(t, deadline, "heartbeat after restart", func() bool {
		regErr = r.Register(ctx, svc)
		return regErr == nil
	})
	both := service("restart-svc", "restart-1", "restart-2")
	if err := r.Register(ctx, both); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, ch, "restart-svc", hasNodes("restart-1", "restart-2"))
	t.Logf("after restart: change delivered %s after consul was ready", time.Since(restarted).Round(time.Millisecond))
	if got, err := r.GetService(ctx, "restart-svc"); err != nil || !reflect.DeepEqual(got, both) {
		t.Fatalf("GetService after restart: %+v, %v", got, err)
	}
	start := time.Now()
	if err := r.Register(ctx, service("restart-new", "restart-new-1")); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, ch, "restart-new", hasNodes("restart-new-1"))
	t.Logf("after restart: Register -> Update (new service): %s", time.Since(start).Round(time.Millisecond))

	stop()
	for range ch { // closed once the watch's goroutines have returned
	}
}

// TestConsulOutageEndsWatch: when Consul stays unreachable for longer than the outage grace the
// watch closes its channel (so the consumer can report the outage), sending nothing before; a new
// Watch fails while Consul is down and works again once it is back.
func TestConsulOutageEndsWatch(t *testing.T) {
	for _, tc := range []struct {
		name  string
		grace time.Duration
	}{{"default grace", 0}, {"short grace", 300 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			agent := testconsul.Start(t)
			r := newRegistry(t, agent, consul.Config{OutageGrace: tc.grace})
			ctx := ctxT(t)
			ch, err := r.Watch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Register(ctx, service("outage-svc", "outage-1")); err != nil {
				t.Fatal(err)
			}
			nextEvent(t, ch, "outage-svc", hasNodes("outage-1"))

			agent.Stop()
			stopped := time.Now()
			timer := time.NewTimer(deadline)
			defer timer.Stop()
		drain:
			for {
				select {
				case ev, open := <-ch:
					if !open {
						break drain
					}
					t.Fatalf("event while consul was down: %+v", ev)
				case <-timer.C:
					t.Fatalf("watch channel still open %s after consul stopped", deadline)
				}
			}
			t.Logf("watch ended %s after consul stopped", time.Since(stopped).Round(time.Millisecond))
			if _, err := r.Watch(ctx); err == nil {
				t.Fatal("a new Watch with consul down should fail")
			}

			agent.Restart()
			ch, err = r.Watch(ctx)
			if err != nil {
				t.Fatalf("Watch after restart: %v", err)
			}
			if err := r.Register(ctx, service("outage-svc", "outage-2")); err != nil {
				t.Fatal(err)
			}
			// The restarted dev agent lost outage-1; only the new node is there.
			nextEvent(t, ch, "outage-svc", hasNodes("outage-2"))
		})
	}
}

func TestConfigOutageGrace(t *testing.T) {
	for _, grace := range []time.Duration{0, -1, time.Second} {
		if _, err := consul.New(consul.Config{OutageGrace: grace}, nil); err != nil {
			t.Errorf("OutageGrace %v: %v", grace, err)
		}
	}
}
