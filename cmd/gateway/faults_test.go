package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/edgeapi/gateway/internal/testsvc"
	"github.com/edgeapi/gateway/internal/testwait"
	"github.com/edgeapi/gateway/natsserver"
)

// The fault tests break real backends, the gateway itself and NATS under load through the real
// gateway, and report what clients saw in lines starting with "FAULT ". They assert on counts
// (what may fail, what must not), never on timing; load loops are bounded in time and count.

// faultResult is one request of a load loop.
type faultResult struct {
	issued time.Time
	ended  time.Time
	code   int // 0: transport error
	body   string
	err    error
}

func (r faultResult) failed() bool { return r.err != nil || r.code >= 500 }

func (r faultResult) String() string {
	if r.err != nil {
		return r.err.Error()
	}
	return fmt.Sprintf("%d %s", r.code, strings.TrimSpace(r.body))
}

// faultLoad runs workers goroutines, each posting body to path in a loop until stop is closed,
// max requests were sent in all, or d passed. Each request is recorded with the time it was
// issued. before, if set, runs before each request; false ends that worker.
func faultLoad(client *http.Client, url, body string, workers, max int, d time.Duration, stop <-chan struct{}, before func() bool) []faultResult {
	var (
		mu   sync.Mutex
		out  []faultResult
		sent atomic.Int64
		wg   sync.WaitGroup
	)
	deadline := time.Now().Add(d)
	for range workers {
		wg.Go(func() {
			for sent.Add(1) <= int64(max) && time.Now().Before(deadline) {
				select {
				case <-stop:
					return
				default:
				}
				if before != nil && !before() {
					return
				}
				r := faultResult{issued: time.Now()}
				res, err := client.Post(url, "application/json", strings.NewReader(body))
				if err != nil {
					r.err = err
				} else {
					b, _ := io.ReadAll(res.Body)
					_ = res.Body.Close()
					r.code, r.body = res.StatusCode, string(b)
				}
				r.ended = time.Now()
				mu.Lock()
				out = append(out, r)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

// TestFaultBackendKilled: one of three backends is killed while four clients send requests.
// Only requests in flight on it may fail; once the connection's failure is known (a short settle
// window), calls that would go to it never leave and are retried on another node, and its
// breaker opens: no request fails. With retries on and a method its descriptor declares
// idempotent, the requests in flight at the kill are retried on a survivor too: none fails.
func TestFaultBackendKilled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		retries bool
	}{
		{name: "retries off"},
		{name: "idempotent, retries on", retries: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			faultBackendKilled(t, tc.retries)
		})
	}
}

func faultBackendKilled(t *testing.T, retries bool) {
	nodes := []*testsvc.Server{testsvc.Start(t, "n0"), testsvc.Start(t, "n1"), testsvc.Start(t, "n2")}
	extra := "selector:\n  breaker:\n    consecutive_failures: 3\n    open_timeout: 30s\n"
	label := "retries off"
	if retries {
		extra += "retry:\n  attempts: 2\nrpc:\n  services:\n" + idempotentDescriptors(t, echoService)
		label = "retries on, idempotent method"
	}
	g := startGateway(t, gatewayYAML(extra, svc(echoService, nodes[0].Addr, nodes[1].Addr, nodes[2].Addr)))
	for range 3 {
		wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{}`)) // descriptors loaded, every connection up
	}

	stop := make(chan struct{})
	done := make(chan []faultResult, 1)
	go func() {
		done <- faultLoad(g.client, g.url+"/echoservice/Echo/Unary", `{"name":"load"}`, 4, 20000, 10*time.Second, stop, nil)
	}()
	// Kill once the load has run a while (every node has calls).
	testwait.Until(t, 10*time.Second, "load on every node", func() bool {
		return nodes[0].Calls() > 50 && nodes[1].Calls() > 50 && nodes[2].Calls() > 50
	})
	victimCalls := nodes[1].Calls()
	killed := time.Now()
	nodes[1].Kill()
	killDone := time.Now()
	const settle = 250 * time.Millisecond
	// Run on after the kill: at least a second, and at least 500 calls on the survivors.
	survivors := nodes[0].Calls() + nodes[2].Calls()
	testwait.Until(t, 20*time.Second, "load after the kill", func() bool {
		return time.Since(killDone) > time.Second && nodes[0].Calls()+nodes[2].Calls()-survivors > 500
	})
	close(stop)
	results := <-done

	// A failure is "before" when it ended before the kill began, "in flight" when it was sent
	// before the kill ended and ended after it began, "window" when sent within the settle
	// window, and "after" when sent later.
	var before, inflight, window, after, ok int
	var failures []string
	for _, r := range results {
		if !r.failed() {
			ok++
			continue
		}
		switch {
		case r.ended.Before(killed):
			before++
		case r.issued.Before(killDone):
			inflight++
		case r.issued.Before(killDone.Add(settle)):
			window++
		default:
			after++
		}
		if len(failures) < 5 {
			failures = append(failures, r.String())
		}
	}
	states := map[string]string{}
	for _, st := range g.gw.sel.States(echoService) {
		states[st.Node.ID] = st.Breaker
	}
	t.Logf("FAULT backend killed (1 of 3, 4 clients, %s): %d requests, %d ok; failed: %d before the kill, %d in flight at the kill, %d sent in the %s after it, %d sent later; the victim had served %d calls; breakers %v; sample failures %q",
		label, len(results), ok, before, inflight, window, settle, after, victimCalls, states, failures)
	if retries && inflight+window != 0 {
		t.Errorf("%d requests failed around the kill although they could be retried", inflight+window)
	}
	if before != 0 {
		t.Errorf("%d requests failed before the kill", before)
	}
	if after != 0 {
		t.Errorf("%d requests failed after the settle window (%s after the kill)", after, settle)
	}
	if s := states["node1"]; s != "open" {
		t.Errorf("the killed node's breaker is %q, want open", s)
	}
	for _, id := range []string{"node0", "node2"} {
		if s := states[id]; s != "closed" {
			t.Errorf("live %s's breaker is %q", id, s)
		}
	}
}

// startHungServer serves gRPC on loopback where every call (reflection included) hangs until
// the caller gives up: a node that accepts connections and never answers.
func startHungServer(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	s := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
		calls.Add(1)
		<-ss.Context().Done()
		return status.FromContextError(ss.Context().Err()).Err()
	}))
	serveGRPC(t, s, lis)
	return lis.Addr().String()
}

// TestFaultHungBackend: a backend that never answers costs each request the route's timeout
// (504), and after consecutive timeouts its breaker opens: the only node -> 503 "circuit
// breaker" without waiting; one of two nodes -> the other node serves everything.
func TestFaultHungBackend(t *testing.T) {
	t.Parallel()
	breaker := "selector:\n  breaker:\n    consecutive_failures: 3\n    open_timeout: 30s\n"

	t.Run("only node", func(t *testing.T) {
		t.Parallel()
		srv := testsvc.Start(t, "n1")
		g := startGateway(t, gatewayYAML(breaker+fmt.Sprintf(`routes:
  - path: /hung
    service: %s
    endpoint: Echo.Slow
    timeout: 200ms
`, echoService), svc(echoService, srv.Addr)))
		wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{}`))
		var timeouts int
		var took []time.Duration
		for i := 0; ; i++ {
			if i > 10 {
				t.Fatalf("breaker still closed after %d timeouts (%s)", timeouts, g.breakerState(t, echoService))
			}
			start := time.Now()
			r := g.post(t, "/hung", `{"millis":60000}`)
			if r.code == http.StatusGatewayTimeout {
				wantError(t, r, http.StatusGatewayTimeout, echoService)
				timeouts++
				took = append(took, time.Since(start).Round(time.Millisecond))
				continue
			}
			wantError(t, r, http.StatusServiceUnavailable, echoService, "circuit breaker")
			break
		}
		start := time.Now()
		wantError(t, g.post(t, "/hung", `{"millis":60000}`), http.StatusServiceUnavailable, echoService, "circuit breaker")
		open := time.Since(start).Round(time.Millisecond)
		testwait.Until(t, 5*time.Second, "the backend to see every deadline", func() bool { return srv.SlowCancels() == int64(timeouts) })
		t.Logf("FAULT hung backend, only node: %d x 504 (took %v, route timeout 200ms), then 503 circuit breaker (took %v); backend saw %d cancellations; breaker %s",
			timeouts, took, open, srv.SlowCancels(), g.breakerState(t, echoService))
		if timeouts != 3 {
			t.Errorf("%d timeouts before the breaker opened, want consecutive_failures = 3", timeouts)
		}
		if s := g.breakerState(t, echoService); s != "open" {
			t.Errorf("breaker %s, want open", s)
		}
	})

	t.Run("one of two nodes", func(t *testing.T) {
		t.Parallel()
		srv := testsvc.Start(t, "good")
		hung := startHungServer(t)
		files := testsvc.WriteDescriptors(t)
		g := startGateway(t, gatewayYAML(breaker+fmt.Sprintf(`rpc:
  services:
    %s:
      descriptors: protoset
      protoset: %q
routes:
  - path: /unary
    service: %[1]s
    endpoint: Echo.Unary
    timeout: 200ms
`, echoService, files.V1Protoset), svc(echoService, hung, srv.Addr)))
		const n = 30
		codes := map[int]int{}
		firstOK := -1
		var last []int
		for i := range n {
			r := g.post(t, "/unary", `{}`)
			codes[r.code]++
			switch r.code {
			case http.StatusOK:
				if got := wantOK(t, r); got["node"] != "good" {
					t.Errorf("served by %v", got["node"])
				}
			case http.StatusGatewayTimeout:
				wantError(t, r, http.StatusGatewayTimeout, echoService)
				last = append(last, i)
			default:
				t.Errorf("request %d: %s", i, r)
			}
			if firstOK < 0 && r.code == http.StatusOK {
				firstOK = i
			}
		}
		var hungState string
		for _, st := range g.gw.sel.States(echoService) {
			if st.Node.Address == hung {
				hungState = st.Breaker
			}
		}
		t.Logf("FAULT hung backend, one of two nodes: %d requests: %d x 200, %d x 504 (at requests %v); hung node's breaker %s",
			n, codes[http.StatusOK], codes[http.StatusGatewayTimeout], last, hungState)
		if codes[http.StatusGatewayTimeout] != 3 {
			t.Errorf("%d timeouts, want consecutive_failures = 3, then none", codes[http.StatusGatewayTimeout])
		}
		if codes[http.StatusOK] != n-3 {
			t.Errorf("%d answers from the good node, want %d", codes[http.StatusOK], n-3)
		}
		if hungState != "open" {
			t.Errorf("hung node's breaker %q, want open", hungState)
		}
	})
}

// TestFaultSIGTERM: SIGTERM (serve's context cancelled) under steady load, with a drain delay.
// Clients stop sending once readiness fails, as a load balancer would; no request sent before
// then fails.
func TestFaultSIGTERM(t *testing.T) {
	t.Parallel()
	srv := testsvc.Start(t, "n1")
	g := startGateway(t, gatewayYAML("server:\n  drain_delay: 300ms\n", svc(echoService, srv.Addr)))
	wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{}`))

	// The load balancer: a health checker on its own connections.
	var notReadyAt atomic.Pointer[time.Time]
	notReady := make(chan struct{})
	probeErr := make(chan error, 1)
	checker := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(notReady)
		for {
			res, err := checker.Get(g.url + "/health/ready")
			if err != nil {
				probeErr <- err
				now := time.Now()
				notReadyAt.Store(&now)
				return
			}
			_ = res.Body.Close()
			if res.StatusCode != http.StatusOK {
				now := time.Now()
				notReadyAt.Store(&now)
				return
			}
			time.Sleep(10 * time.Millisecond) // the checker's interval
		}
	})
	stopped := make(chan error, 1)
	var loadResults []faultResult
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		// "notReady" ends the load: the balancer stops sending.
		loadResults = faultLoad(g.client, g.url+"/echoservice/Echo/Unary", `{"name":"steady"}`, 4, 50000, 15*time.Second, notReady, nil)
	}()
	testwait.Until(t, 10*time.Second, "steady load", func() bool { return srv.Calls() > 200 })
	term := time.Now()
	go func() { stopped <- g.stop() }()
	<-loadDone
	wg.Wait()
	select {
	case err := <-probeErr:
		t.Errorf("the health checker never saw readiness fail before the gateway went away: %v", err)
	default:
	}
	var err error
	select {
	case err = <-stopped:
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not return")
	}
	if err != nil {
		t.Errorf("serve returned %v", err)
	}
	stoppedAfter := time.Since(term)

	at := *notReadyAt.Load()
	var ok, failed, late int
	var failures []string
	for _, r := range loadResults {
		switch {
		case !r.failed():
			ok++
		case r.issued.Before(at):
			failed++
			if len(failures) < 5 {
				failures = append(failures, r.String())
			}
		default:
			late++ // sent after the balancer knew; not the gateway's fault
		}
	}
	t.Logf("FAULT SIGTERM under load: %d requests, %d ok, %d failed (sent before readiness failed), %d failed after; readiness failed %s after SIGTERM, serve returned %s after it (drain delay 300ms); sample failures %q",
		len(loadResults), ok, failed, late, at.Sub(term).Round(time.Millisecond), stoppedAfter.Round(time.Millisecond), failures)
	if failed != 0 {
		t.Errorf("%d requests sent before readiness failed were lost", failed)
	}
}

// TestFaultNATSRestart: the NATS server behind the event handler is restarted (same port, same
// store) while clients publish. Every event answered 202 is in the stream afterwards; events
// answered 503 may be missing.
func TestFaultNATSRestart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	ns, err := natsserver.Start(ctx, natsserver.Config{Port: natsserver.RandomPort, StoreDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	url := ns.ClientURL()
	port, err := strconv.Atoi(url[strings.LastIndexByte(url, ':')+1:])
	if err != nil {
		t.Fatal(err)
	}
	srv := testsvc.Start(t, "n1")
	g := startGateway(t, gatewayYAML(fmt.Sprintf(`nats:
  url: %s
events:
  ack_timeout: 1s
routes:
  - path: /events/*
    handler: event
    strip_prefix: /events
`, url), svc(echoService, srv.Addr)))

	var (
		mu       sync.Mutex
		acked    = map[string]bool{}
		refused  = map[string]bool{}
		other    = map[string]int{}
		accepted atomic.Int64
		seq      atomic.Int64
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := 0; i < 5000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("ev-%d-%d", w, seq.Add(1))
				req, _ := http.NewRequest(http.MethodPost, g.url+"/events/orders/created", strings.NewReader(`{"id":"`+id+`"}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Ce-Id", id)
				res, err := g.client.Do(req)
				code := 0
				if err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					_ = res.Body.Close()
					code = res.StatusCode
				}
				mu.Lock()
				switch code {
				case http.StatusAccepted:
					acked[id] = true
					accepted.Add(1)
				case http.StatusServiceUnavailable:
					refused[id] = true
				default:
					other[fmt.Sprint(code, err)]++
				}
				mu.Unlock()
				if code != http.StatusAccepted {
					time.Sleep(5 * time.Millisecond) // a client backing off
				}
			}
		})
	}
	testwait.Until(t, 10*time.Second, "events before the restart", func() bool { return accepted.Load() > 100 })
	ns.Shutdown()
	testwait.Until(t, 10*time.Second, "refusals while NATS is down", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(refused) > 0
	})
	ns2, err := natsserver.Start(ctx, natsserver.Config{Port: port, StoreDir: dir}, nil)
	if err != nil {
		close(stop)
		wg.Wait()
		t.Fatalf("restarting NATS on port %d: %v", port, err)
	}
	t.Cleanup(ns2.Shutdown)
	atRestart := accepted.Load()
	testwait.Until(t, 20*time.Second, "events after the restart", func() bool { return accepted.Load() > atRestart+100 })
	close(stop)
	wg.Wait()

	// Read the whole stream back.
	nc, err := nats.Connect(ns2.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, "GATEWAY_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.OrderedConsumer(ctx, "GATEWAY_EVENTS", jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for range info.State.Msgs {
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("reading the stream after %d of %d events: %v", len(stored), info.State.Msgs, err)
		}
		id := msg.Headers().Get("ce-id")
		var data struct{ ID string }
		if err := json.Unmarshal(msg.Data(), &data); err != nil || data.ID != id {
			t.Errorf("event %s carries data %q", id, msg.Data())
		}
		stored[id] = true
	}

	var lost []string
	for id := range acked {
		if !stored[id] {
			lost = append(lost, id)
		}
	}
	refusedStored := 0
	for id := range refused {
		if stored[id] {
			refusedStored++
		}
	}
	t.Logf("FAULT NATS restarted: %d events answered 202, %d answered 503 (%d of those stored anyway), other answers %v; stream holds %d; acknowledged events lost: %d",
		len(acked), len(refused), refusedStored, other, len(stored), len(lost))
	if len(lost) > 0 {
		t.Errorf("%d acknowledged events are not in the stream, e.g. %v", len(lost), lost[:min(5, len(lost))])
	}
	if len(other) > 0 {
		t.Errorf("answers other than 202 and 503: %v", other)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Error("the test ran out of time")
	}
}
