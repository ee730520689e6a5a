package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/nats-io/nats.go"

	"github.com/edgeapi/gateway/internal/testconsul"
	"github.com/edgeapi/gateway/internal/testsvc"
	"github.com/edgeapi/gateway/internal/testwait"
	"github.com/edgeapi/gateway/natsserver"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/registry/consul"
	natsreg "github.com/edgeapi/gateway/registry/nats"
	"github.com/edgeapi/gateway/service"
)

// The discovery tests run the real gateway against a real registry: an embedded NATS server
// (JetStream KV) or a Consul dev agent. Backends are real gRPC servers (internal/testsvc) that
// register themselves the way services do (service.Announce, or Register calls of their own), and
// every check is an HTTP request through the gateway. Conditions are polled with a deadline;
// nothing asserts on timing. TestDiscoveryPropagation logs what it measures as MEASURE lines.

const (
	// discoveryTTL is the node TTL of both registries: short, so expiry tests stay quick.
	discoveryTTL = 2 * time.Second
	// discoveryHeartbeat re-registers well within the TTL.
	discoveryHeartbeat = 500 * time.Millisecond
	// discoveryWait bounds every wait for a registry change to show in routing.
	discoveryWait = 20 * time.Second
)

// discovery is one registry for the gateway under test, and the registrar its backends use.
type discovery struct {
	kind string // nats or consul
	yaml string // the gateway's config
	reg  registry.Registrar
	log  *slog.Logger

	// nats: the server the gateway and the backends connect to, restartable in place.
	natsSrv  *natsserver.Server
	natsPort int
	storeDir string
	// consul: the agent.
	agent *testconsul.Agent
}

// forEachRegistry runs fn as parallel subtests "nats" and "consul", each with its own registry.
// The consul subtest is skipped when no consul binary can be had (and CI is unset).
func forEachRegistry(t *testing.T, fn func(t *testing.T, d *discovery)) {
	for _, kind := range []string{"nats", "consul"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			fn(t, newDiscovery(t, kind))
		})
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("GATEWAY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newDiscovery(t *testing.T, kind string) *discovery {
	t.Helper()
	d := &discovery{kind: kind, log: testLogger()}
	server := "server:\n  address: 127.0.0.1:0\n  shutdown_timeout: 10s\n"
	switch kind {
	case "nats":
		d.storeDir = t.TempDir()
		d.startNATS(t, natsserver.RandomPort)
		t.Cleanup(func() { d.natsSrv.Shutdown() }) // whichever server runs at the end
		u, err := url.Parse(d.natsSrv.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		if d.natsPort, err = strconv.Atoi(u.Port()); err != nil {
			t.Fatal(err)
		}
		// The backends' own connection, as a service process would have; it reconnects
		// quickly after a server restart.
		nc, err := nats.Connect(d.natsSrv.ClientURL(), nats.Name("discovery-backends"),
			nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		ctx, cancel := context.WithTimeout(context.Background(), discoveryWait)
		defer cancel()
		reg, err := natsreg.New(ctx, nc, natsreg.Config{TTL: discoveryTTL}, d.log)
		if err != nil {
			t.Fatal(err)
		}
		d.reg = reg
		d.yaml = server + fmt.Sprintf("registry:\n  type: nats\n  nats: {ttl: %s}\nnats:\n  url: %q\n",
			discoveryTTL, d.natsSrv.ClientURL())
	case "consul":
		d.agent = testconsul.Start(t)
		d.reg = d.consulRegistry(t, discoveryTTL)
		d.yaml = server + fmt.Sprintf("registry:\n  type: consul\n  consul: {address: %q, ttl: %s}\n",
			d.agent.Addr(), discoveryTTL)
	default:
		t.Fatalf("unknown registry %q", kind)
	}
	return d
}

// consulRegistry is a registrar on the test's agent whose nodes' checks have the given TTL.
func (d *discovery) consulRegistry(t *testing.T, ttl time.Duration) *consul.Registry {
	t.Helper()
	r, err := consul.New(consul.Config{Address: d.agent.Addr(), TTL: ttl}, d.log)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// startNATS starts the NATS server on port (RandomPort the first time) over the test's store.
func (d *discovery) startNATS(t *testing.T, port int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), discoveryWait)
	defer cancel()
	srv, err := natsserver.Start(ctx, natsserver.Config{Port: port, StoreDir: d.storeDir}, d.log)
	if err != nil {
		t.Fatal(err)
	}
	d.natsSrv = srv
}

// stopRegistry takes the registry down: the NATS server shuts down, the Consul agent exits.
func (d *discovery) stopRegistry(t *testing.T) {
	t.Helper()
	if d.kind == "nats" {
		d.natsSrv.Shutdown()
		return
	}
	d.agent.Stop()
}

// startRegistry brings it back on the same address: NATS over the same store directory (its
// unexpired keys survive), Consul empty (a dev agent keeps no state).
func (d *discovery) startRegistry(t *testing.T) {
	t.Helper()
	if d.kind == "nats" {
		d.startNATS(t, d.natsPort)
		return
	}
	d.agent.Restart()
}

// echoNode is one test node: a gRPC echo server on loopback and the one-node service it
// registers as. Its node ID is its name, which its answers carry in "node".
type echoNode struct {
	srv *testsvc.Server
	svc *registry.Service
}

// startEchoNode serves a node named name of service go.micro.api.<short> (reached at
// /<short>/Echo/Unary). It does not register.
func startEchoNode(t *testing.T, short, name string) *echoNode {
	t.Helper()
	srv := testsvc.Start(t, name)
	return &echoNode{srv: srv, svc: &registry.Service{
		Name:  "go.micro.api." + short,
		Nodes: []registry.Node{{ID: name, Address: srv.Addr}},
	}}
}

// announce keeps b registered with service.Announce until the returned stop (or the end of the
// test), which deregisters it and waits for that.
func (d *discovery) announce(t *testing.T, b *echoNode) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		service.Announce(ctx, d.reg, b.svc, discoveryHeartbeat, d.log)
	}()
	stop = sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	return stop
}

// heartbeat registers svc with reg every discoveryHeartbeat until the returned stop, which
// does not deregister: the node goes silent, as a killed process does, and reg's TTL must take
// it out.
func heartbeat(t *testing.T, reg registry.Registrar, svc *registry.Service) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(discoveryHeartbeat)
		defer tick.Stop()
		for {
			rctx, rcancel := context.WithTimeout(ctx, discoveryHeartbeat)
			_ = reg.Register(rctx, svc) // a failed beat is retried at the next tick
			rcancel()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	stop = sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	return stop
}

func register(t *testing.T, reg registry.Registrar, svc *registry.Service) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), discoveryWait)
	defer cancel()
	if err := reg.Register(ctx, svc); err != nil {
		t.Fatalf("register %s: %v", svc.Name, err)
	}
}

// echo calls Echo.Unary of go.micro.api.<short> through the gateway. Any answer but a 200 must
// be the gateway's "no such service" (404) or "no live node" (503) error; the node that answered
// is returned ("" for an error).
func echo(t *testing.T, g *testGateway, short string) (string, reply) {
	t.Helper()
	return echoMode(t, g, short, false)
}

// echoChanging is echo while a registry change is on its way: it also lets through (and logs)
// the 499 of the known connection-closing race (see closingRace).
func echoChanging(t *testing.T, g *testGateway, short string) (string, reply) {
	t.Helper()
	return echoMode(t, g, short, true)
}

func echoMode(t *testing.T, g *testGateway, short string, changing bool) (string, reply) {
	t.Helper()
	r := g.post(t, "/"+short+"/Echo/Unary", `{}`)
	if r.code == http.StatusOK {
		node, _ := wantOK(t, r)["node"].(string)
		return node, r
	}
	if changing && closingRace(r) {
		t.Logf("KNOWN ISSUE (connpool.Retain closes connections under in-flight calls): %s", r)
		return "", r
	}
	if r.code != http.StatusNotFound && r.code != http.StatusServiceUnavailable {
		t.Fatalf("/%s/Echo/Unary: want 200, 404 or 503, got %s", short, r)
	}
	wantError(t, r, r.code, "go.micro.api."+short)
	return "", r
}

// closingRace reports the answer to a request that was in flight to a node when a registry
// change removed the node's address: the gateway's onRegistryChange calls connpool.Retain, which
// closes that address's connection at once, the call fails with codes.Canceled ("grpc: the
// client connection is closing"), and the gateway answers 499 Client Closed Request although
// the client closed nothing. It is a gateway bug (reported); these tests tolerate it only
// while they wait for a change, never in their steady-state checks.
func closingRace(r reply) bool {
	return r.code == 499 && strings.Contains(string(r.body), "client connection is closing")
}

// waitServedBy polls until a request to short is answered by node.
func waitServedBy(t *testing.T, g *testGateway, short, node string) {
	t.Helper()
	testwait.Until(t, discoveryWait, short+" served by "+node, func() bool {
		got, _ := echoChanging(t, g, short)
		return got == node
	})
}

// waitOnly polls until two consecutive requests to short are answered by node. With round robin
// and this test the only client, two nodes cannot both be in the table then: the other left.
func waitOnly(t *testing.T, g *testGateway, short, node string) {
	t.Helper()
	testwait.Until(t, discoveryWait, "only "+node+" serving "+short, func() bool {
		a, _ := echoChanging(t, g, short)
		b, _ := echoChanging(t, g, short)
		return a == node && b == node
	})
}

// wantOnly sends n requests and fails unless node answered every one.
func wantOnly(t *testing.T, g *testGateway, short, node string, n int) {
	t.Helper()
	for i := range n {
		if got, r := echo(t, g, short); got != node {
			t.Fatalf("request %d: want an answer from %s, got %s (%s)", i, node, got, r)
		}
	}
}

// readiness returns /health/ready's status and detail.
func readiness(t *testing.T, g *testGateway) (int, string) {
	t.Helper()
	r := g.call(t, http.MethodGet, "/health/ready", "")
	detail, _ := r.json(t)["detail"].(string)
	return r.code, detail
}

// TestDiscoveryRegisterDeregister: an unknown service is a 404; once a node registers (with
// heartbeats, through service.Announce) requests reach it; once it deregisters they get the JSON
// error again.
func TestDiscoveryRegisterDeregister(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, d *discovery) {
		g := startGateway(t, d.yaml)
		wantError(t, g.post(t, "/disco/Echo/Unary", `{}`), http.StatusNotFound, "go.micro.api.disco", "go.micro.api.disco")

		b := startEchoNode(t, "disco", "n1")
		stop := d.announce(t, b)
		waitServedBy(t, g, "disco", "n1")
		wantOnly(t, g, "disco", "n1", 5)

		stop() // deregisters
		var last reply
		testwait.Until(t, discoveryWait, "the deregistered node to leave routing", func() bool {
			_, last = echoChanging(t, g, "disco")
			return last.code == http.StatusNotFound || last.code == http.StatusServiceUnavailable
		})
		wantError(t, last, last.code, "go.micro.api.disco", "go.micro.api.disco")
		// It stays out: the server still runs, nothing routes to it.
		for range 5 {
			if node, r := echo(t, g, "disco"); node != "" {
				t.Fatalf("deregistered node answered: %s", r)
			}
		}
	})
}

// TestDiscoveryTTLExpiry: a node that stops heartbeating without deregistering (its process
// hung or was killed) leaves selection when its TTL runs out, while a heartbeating node of the
// same service stays.
func TestDiscoveryTTLExpiry(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, d *discovery) {
		g := startGateway(t, d.yaml)
		d.announce(t, startEchoNode(t, "ttl", "alive"))
		silent := startEchoNode(t, "ttl", "silent")
		stopBeating := heartbeat(t, d.reg, silent.svc)

		// Both serve...
		waitServedBy(t, g, "ttl", "silent")
		waitServedBy(t, g, "ttl", "alive")
		// ...until the silent node's last registration runs out. Its server still runs: were it
		// still selected, it would answer.
		stopBeating()
		waitOnly(t, g, "ttl", "alive")
		wantOnly(t, g, "ttl", "alive", 20)
	})
}

// TestDiscoveryRoundRobin: three nodes share the load evenly: 300 requests, 100 each.
func TestDiscoveryRoundRobin(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, d *discovery) {
		g := startGateway(t, d.yaml)
		names := []string{"rr-a", "rr-b", "rr-c"}
		for _, name := range names {
			d.announce(t, startEchoNode(t, "rr", name))
		}
		seen := map[string]bool{}
		testwait.Until(t, discoveryWait, "all three nodes serving", func() bool {
			node, _ := echoChanging(t, g, "rr")
			seen[node] = true
			return seen["rr-a"] && seen["rr-b"] && seen["rr-c"]
		})
		counts := map[string]int{}
		for i := range 300 {
			node, r := echo(t, g, "rr")
			if node == "" {
				t.Fatalf("request %d: %s", i, r)
			}
			counts[node]++
		}
		for _, name := range names {
			if counts[name] != 100 {
				t.Errorf("node %s served %d of 300, want 100 (all: %v)", name, counts[name], counts)
			}
		}
	})
}

// TestDiscoveryFailedHealthCheck: a node whose health check fails leaves selection while its
// process still runs, and comes back when the check passes again. Consul: the node's TTL check is
// failed through Consul's API (the node's own TTL is an hour, so only the failed check can take
// it out). NATS has no checks beyond the heartbeat: the node stops heartbeating, then resumes.
func TestDiscoveryFailedHealthCheck(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, d *discovery) {
		g := startGateway(t, d.yaml)
		d.announce(t, startEchoNode(t, "health", "healthy"))
		sick := startEchoNode(t, "health", "sick")

		var fail, heal func()
		switch d.kind {
		case "consul":
			reg := d.consulRegistry(t, time.Hour)
			register(t, reg, sick.svc)
			agent := d.agent.Client().Agent()
			check := consul.CheckID("sick")
			fail = func() {
				if err := agent.UpdateTTL(check, "test: failing", api.HealthCritical); err != nil {
					t.Fatalf("failing the check: %v", err)
				}
			}
			heal = func() {
				if err := agent.UpdateTTL(check, "test: passing again", api.HealthPassing); err != nil {
					t.Fatalf("passing the check: %v", err)
				}
			}
		case "nats":
			stop := heartbeat(t, d.reg, sick.svc)
			fail = stop
			heal = func() { heartbeat(t, d.reg, sick.svc) }
		}

		waitServedBy(t, g, "health", "sick")
		waitServedBy(t, g, "health", "healthy")
		fail()
		waitOnly(t, g, "health", "healthy")
		wantOnly(t, g, "health", "healthy", 20)

		heal()
		waitServedBy(t, g, "health", "sick")
	})
}

// TestDiscoveryRegistryOutage: with the registry down the gateway keeps routing from its last
// view (no request fails) and reports itself degraded but ready; once the registry is back on
// the same address, changes flow again: a newly registered node is routed and readiness is
// plain "ready".
func TestDiscoveryRegistryOutage(t *testing.T) {
	forEachRegistry(t, func(t *testing.T, d *discovery) {
		g := startGateway(t, d.yaml)
		d.announce(t, startEchoNode(t, "outage", "before"))
		waitServedBy(t, g, "outage", "before")
		if code, detail := readiness(t, g); code != http.StatusOK || detail != "ready" {
			t.Fatalf("readiness before the outage: %d %q", code, detail)
		}

		d.stopRegistry(t)
		stopped := time.Now()
		var sent, failed int
		var firstFailure reply
		call := func() {
			sent++
			if node, r := echo(t, g, "outage"); node != "before" {
				if failed++; failed == 1 {
					firstFailure = r
				}
			}
		}
		var detail string
		testwait.Until(t, discoveryWait, "readiness to report the outage", func() bool {
			call()
			var code int
			code, detail = readiness(t, g)
			if code != http.StatusOK {
				t.Fatalf("readiness during the outage: %d %q, want 200 (degraded is still ready)", code, detail)
			}
			return strings.Contains(detail, "degraded")
		})
		degraded := time.Since(stopped)
		t.Logf("readiness while %s is down: %q", d.kind, detail)
		for range 200 {
			call()
		}
		if failed != 0 {
			t.Errorf("%d of %d requests failed while %s was down; first: %s", failed, sent, d.kind, firstFailure)
		}
		if code, detail := readiness(t, g); code != http.StatusOK || !strings.Contains(detail, "degraded") {
			t.Errorf("readiness after the requests: %d %q, want degraded", code, detail)
		}

		d.startRegistry(t)
		restarted := time.Now()
		d.announce(t, startEchoNode(t, "outage", "after"))
		waitServedBy(t, g, "outage", "after")
		routed := time.Since(restarted)
		testwait.Until(t, discoveryWait, "readiness back to ready", func() bool {
			code, detail := readiness(t, g)
			return code == http.StatusOK && detail == "ready"
		})
		// The node from before the outage heartbeats its way back (a restarted Consul dev agent
		// comes back empty; NATS keeps its key unless it expired meanwhile).
		waitServedBy(t, g, "outage", "before")
		t.Logf("MEASURE registry=%s outage: %d requests while down, %d failed; stop->degraded=%s restart->new-node-routed=%s",
			d.kind, sent, failed, degraded.Round(time.Millisecond), routed.Round(time.Millisecond))
	})
}

// TestDiscoveryPropagation measures, for each registry, how long a registration takes to be
// routed and how long a dead node stays routed, over discoverySamples samples each, and logs
// p50/p99 as MEASURE lines. It asserts that every change arrives, never how fast.
//
//   - register->routed: from the Register call of a node of a new service to the first 200 for
//     it through the gateway (polled every millisecond; this includes the gateway's first dial
//     and descriptor reflection).
//   - death(ttl)->removed: the node heartbeats until the gateway routes it, then stops without
//     deregistering; from its last successful heartbeat to the service leaving the selector's
//     table (polled every millisecond; a request confirms the 404 afterwards). It includes the
//     TTL (2s) and, for NATS, the server's expiry check interval.
//   - death(failed-check)->removed (Consul): from the FailTTL call to the service leaving the
//     table.
//
// The death samples run concurrently (one per service), so a batch takes one TTL.
func TestDiscoveryPropagation(t *testing.T) {
	const samples = 20
	for _, kind := range []string{"nats", "consul"} {
		// Not parallel: the figures should not include the other registry's load.
		t.Run(kind, func(t *testing.T) {
			d := newDiscovery(t, kind)
			g := startGateway(t, d.yaml)
			srv := testsvc.Start(t, "m")
			svcOf := func(short string) *registry.Service {
				return &registry.Service{Name: "go.micro.api." + short, Nodes: []registry.Node{{ID: short + "-node", Address: srv.Addr}}}
			}

			routed := make([]time.Duration, 0, samples)
			for i := range samples {
				short := fmt.Sprintf("reg%02d", i)
				svc := svcOf(short)
				start := time.Now()
				register(t, d.reg, svc)
				for {
					// The previous sample's deregistration may still close the shared address's
					// connection under this request.
					if node, _ := echoChanging(t, g, short); node == "m" {
						break
					}
					if time.Since(start) > discoveryWait {
						t.Fatalf("%s not routed within %s of its registration", short, discoveryWait)
					}
					time.Sleep(time.Millisecond)
				}
				routed = append(routed, time.Since(start))
				ctx, cancel := context.WithTimeout(context.Background(), discoveryWait)
				if err := d.reg.Deregister(ctx, svc); err != nil {
					t.Errorf("deregister %s: %v", short, err)
				}
				cancel()
			}
			logMeasure(t, kind, "register->routed", routed)

			logMeasure(t, kind, "death(ttl="+discoveryTTL.String()+")->removed",
				measureDeaths(t, d, g, samples, "ttl", svcOf, d.reg, nil))
			if kind == "consul" {
				longTTL := d.consulRegistry(t, time.Hour)
				agent := d.agent.Client().Agent()
				logMeasure(t, kind, "death(failed-check)->removed",
					measureDeaths(t, d, g, samples, "chk", svcOf, longTTL, func(svc *registry.Service) error {
						return agent.UpdateTTL(consul.CheckID(svc.Nodes[0].ID), "test: died", api.HealthCritical)
					}))
			}
		})
	}
}

// measureDeaths runs n concurrent samples: each registers a service of its own through reg
// (heartbeating until the gateway's selector has it), then dies: kill == nil stops the
// heartbeats (death is the last successful one), else kill is called (death is just before the
// call). It returns the times from death to the service leaving the selector's table, and checks
// through the gateway that every service is then answered with 404.
func measureDeaths(t *testing.T, d *discovery, g *testGateway, n int, prefix string,
	svcOf func(string) *registry.Service, reg registry.Registrar, kill func(*registry.Service) error) []time.Duration {
	t.Helper()
	out := make([]time.Duration, n)
	var wg sync.WaitGroup
	for i := range n {
		short := fmt.Sprintf("%s%02d", prefix, i)
		svc := svcOf(short)
		present := func() bool { _, ok := g.gw.sel.Lookup(svc.Name); return ok }
		wg.Go(func() {
			var died time.Time
			for deadline := time.Now().Add(discoveryWait); ; {
				ctx, cancel := context.WithTimeout(context.Background(), discoveryHeartbeat)
				err := reg.Register(ctx, svc)
				cancel()
				if err == nil {
					died = time.Now()
					if poll(discoveryHeartbeat, present) {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Errorf("%s: not routed within %s (last register: %v)", short, discoveryWait, err)
					return
				}
			}
			if kill != nil {
				died = time.Now()
				if err := kill(svc); err != nil {
					t.Errorf("%s: kill: %v", short, err)
					return
				}
			}
			if !poll(discoveryWait, func() bool { return !present() }) {
				t.Errorf("%s: still routed %s after its death", short, discoveryWait)
				return
			}
			out[i] = time.Since(died)
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for i := range n {
		short := fmt.Sprintf("%s%02d", prefix, i)
		_, r := echo(t, g, short)
		wantError(t, r, http.StatusNotFound, "go.micro.api."+short)
	}
	return out
}

// poll checks cond every millisecond until it holds (true) or d has passed (false). It is for
// measuring, where testwait.Until's 5ms would blur the figures.
func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// logMeasure logs one greppable summary line: MEASURE registry=<kind> <what> n= p50= p99= min= max=.
// Percentiles are nearest-rank: with 20 samples p99 is the largest.
func logMeasure(t *testing.T, kind, what string, ds []time.Duration) {
	t.Helper()
	s := slices.Clone(ds)
	slices.Sort(s)
	pct := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[max(i, 0)].Round(100 * time.Microsecond)
	}
	t.Logf("MEASURE registry=%s %s n=%d p50=%s p99=%s min=%s max=%s", kind, what, len(s),
		pct(0.50), pct(0.99), s[0].Round(100*time.Microsecond), s[len(s)-1].Round(100*time.Microsecond))
}
