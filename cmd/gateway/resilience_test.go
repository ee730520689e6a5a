package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeapi/gateway/internal/testsvc"
	"github.com/edgeapi/gateway/internal/testwait"
)

// breakerState reports the breaker of the service's only (or first) node.
func (g *testGateway) breakerState(t testing.TB, service string) string {
	t.Helper()
	states := g.gw.sel.States(service)
	if len(states) == 0 {
		t.Fatalf("selector knows no node of %s", service)
	}
	return states[0].Breaker
}

// TestBreaker: a stopped node's breaker opens after consecutive failures (then the gateway
// answers 503 without trying it), goes half-open after open_timeout, and closes again once
// a node serves on that address again.
func TestBreaker(t *testing.T) {
	t.Parallel()
	srv := testsvc.Start(t, "first")
	addr := srv.Addr
	g := startGateway(t, gatewayYAML("selector:\n  breaker:\n    consecutive_failures: 3\n    open_timeout: 200ms\n", svc(echoService, addr)))
	wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{}`)) // descriptors are loaded now
	srv.Kill()

	// Each failed call counts once against the node; the first ones are relayed as 502 (or 503
	// when the call raced the connection's close), then the breaker answers.
	failures := 0
	for {
		r := g.post(t, "/echoservice/Echo/Unary", `{}`)
		if r.code == http.StatusServiceUnavailable && strings.Contains(string(r.body), "circuit breaker") {
			wantError(t, r, http.StatusServiceUnavailable, echoService, "circuit breaker")
			break
		}
		if r.code != http.StatusBadGateway && r.code != http.StatusServiceUnavailable {
			t.Fatalf("call to a stopped node: %s", r)
		}
		wantError(t, r, r.code, echoService)
		if failures++; failures > 3 {
			t.Fatalf("breaker still closed after %d failures (state %s)", failures, g.breakerState(t, echoService))
		}
	}
	if failures != 3 {
		t.Errorf("breaker opened after %d failures, want 3", failures)
	}
	if s := g.breakerState(t, echoService); s != "open" {
		t.Fatalf("breaker %s, want open", s)
	}
	testwait.Until(t, 5*time.Second, "half-open", func() bool { return g.breakerState(t, echoService) == "half-open" })

	again := testsvc.Start(t, "again", testsvc.WithAddress(addr))
	// The gateway's connection may still be backing off from the refused dials; a trial that
	// fails re-opens the breaker for another open_timeout, so poll.
	var last reply
	testwait.Until(t, 20*time.Second, "a call to the restarted node", func() bool {
		last = g.post(t, "/echoservice/Echo/Unary", `{}`)
		return last.code == http.StatusOK
	})
	if got := wantOK(t, last); got["node"] != again.Name {
		t.Errorf("served by %v, want %s", got["node"], again.Name)
	}
	if s := g.breakerState(t, echoService); s != "closed" {
		t.Errorf("breaker %s after a successful trial, want closed", s)
	}
	for range 5 {
		wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{}`))
	}
}

// TestRetryOnDeadNode: with one live node and one address nothing listens on, every request
// succeeds: a call to the dead node never left, so it is retried on the other, and descriptor
// fetches fail over the same way.
func TestRetryOnDeadNode(t *testing.T) {
	srv := testsvc.Start(t, "live")
	dead := testsvc.UnusedAddr(t)
	files := testsvc.WriteDescriptors(t)
	protoset := fmt.Sprintf("rpc:\n  services:\n    %s:\n      descriptors: protoset\n      protoset: %q\n", echoService, files.V1Protoset)
	for _, tc := range []struct {
		name, rpc string
		addrs     []string
	}{
		{"reflection, dead node first", "", []string{dead, srv.Addr}},
		{"reflection, dead node second", "", []string{srv.Addr, dead}},
		{"protoset, dead node first", protoset, []string{dead, srv.Addr}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateway(t, gatewayYAML(tc.rpc, svc(echoService, tc.addrs...)))
			before := srv.Calls()
			for i := range 20 {
				got := wantOK(t, g.post(t, "/echoservice/Echo/Unary", fmt.Sprintf(`{"count":%d}`, i)))
				if got["node"] != "live" {
					t.Fatalf("served by %v", got["node"])
				}
			}
			if n := srv.Calls() - before; n != 20 {
				t.Errorf("live node saw %d calls for 20 requests", n)
			}
		})
	}
}

// tryPost is post for goroutines other than the test's: it reports instead of failing.
func (g *testGateway) tryPost(path, body string) (int, string, error) {
	res, err := g.client.Post(g.url+path, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

// TestConcurrentFirstCalls: 50 requests racing into a fresh gateway all succeed, and the
// backend is asked for its descriptors once.
func TestConcurrentFirstCalls(t *testing.T) {
	srv := testsvc.Start(t, "n1")
	g := startGateway(t, gatewayYAML("", svc(echoService, srv.Addr)))
	const n = 50
	start := make(chan struct{})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			code, body, err := g.tryPost("/echoservice/Echo/Unary", fmt.Sprintf(`{"count":%d}`, i))
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("request %d: %d %s", i, code, body)
			}
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := srv.Reflections(); got != 1 {
		t.Errorf("%d reflection streams for %d concurrent first calls, want 1", got, n)
	}
}

// TestTimeouts: Timeout and Grpc-Timeout set the backend's deadline, bounded by the route's
// maximum; an expired deadline is a 504 and cancels the backend call. Deadlines the client chose
// shorter than the route's do not count against the node's breaker.
func TestTimeouts(t *testing.T) {
	t.Parallel()
	srv := testsvc.Start(t, "n1")
	extra := `rpc:
  timeout: 15s
  max_timeout: 60s
selector:
  breaker:
    consecutive_failures: 2
routes:
  - path: /bounded
    service: go.micro.api.echoservice
    endpoint: Echo.Unary
    timeout: 500ms
    max_timeout: 1s
  - path: /bounded-slow
    service: go.micro.api.echoservice
    endpoint: Echo.Slow
    timeout: 500ms
    max_timeout: 1s
`
	g := startGateway(t, gatewayYAML(extra, svc(echoService, srv.Addr)))

	for _, tc := range []struct {
		name     string
		path     string
		hdr      []string
		min, max int64 // the backend's remaining time on arrival, in ms
	}{
		{"default", "/echoservice/Echo/Unary", nil, 7500, 15000},
		{"Timeout duration", "/echoservice/Echo/Unary", []string{"Timeout", "2s"}, 1000, 2000},
		{"Timeout seconds", "/echoservice/Echo/Unary", []string{"Timeout", "3"}, 1500, 3000},
		{"Grpc-Timeout", "/echoservice/Echo/Unary", []string{"Grpc-Timeout", "1500m"}, 750, 1500},
		{"Grpc-Timeout wins", "/echoservice/Echo/Unary", []string{"Grpc-Timeout", "1S", "Timeout", "5s"}, 500, 1000},
		{"bounded by rpc.max_timeout", "/echoservice/Echo/Unary", []string{"Timeout", "10m"}, 30000, 60000},
		{"route default", "/bounded", nil, 250, 500},
		{"bounded by the route max", "/bounded", []string{"Timeout", "10s"}, 500, 1000},
		{"Grpc-Timeout bounded by the route max", "/bounded", []string{"Grpc-Timeout", "1H"}, 500, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := wantOK(t, g.post(t, tc.path, `{}`, tc.hdr...))
			var ms int64
			if _, err := fmt.Sscan(fmt.Sprint(got["deadlineMillis"]), &ms); err != nil {
				t.Fatalf("deadlineMillis %v: %v", got["deadlineMillis"], err)
			}
			if ms < tc.min || ms > tc.max {
				t.Errorf("backend saw %dms left, want within [%d, %d]", ms, tc.min, tc.max)
			}
		})
	}

	t.Run("expired deadlines", func(t *testing.T) {
		for _, tc := range []struct {
			name, path string
			hdr        []string
		}{
			{"Timeout", "/echoservice/Echo/Slow", []string{"Timeout", "100ms"}},
			{"Grpc-Timeout", "/echoservice/Echo/Slow", []string{"Grpc-Timeout", "100m"}},
			{"route max beats a longer Timeout", "/bounded-slow", []string{"Timeout", "30s"}},
		} {
			cancels := srv.SlowCancels()
			start := time.Now()
			wantError(t, g.post(t, tc.path, `{"millis":5000}`, tc.hdr...), http.StatusGatewayTimeout, echoService)
			if d := time.Since(start); d > 4*time.Second {
				t.Errorf("%s: the 504 took %s for a 5s call", tc.name, d)
			}
			testwait.Until(t, 5*time.Second, tc.name+": the backend seeing the deadline", func() bool { return srv.SlowCancels() > cancels })
		}
		// Two client-chosen short deadlines (consecutive_failures is 2) left the breaker alone;
		// the route's own deadline ran out once, which counts, but one failure does not trip it.
		if s := g.breakerState(t, echoService); s != "closed" {
			t.Errorf("breaker %s after timeouts", s)
		}
		for range 3 {
			wantError(t, g.post(t, "/echoservice/Echo/Slow", `{"millis":5000}`, "Timeout", "20ms"), http.StatusGatewayTimeout, echoService)
		}
		if s := g.breakerState(t, echoService); s != "closed" {
			t.Errorf("client-chosen deadlines opened the breaker (%s)", s)
		}
		wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{}`))
	})
}

// TestClientDisconnect: a client that goes away mid-call cancels the backend call, and the
// node's breaker does not count it.
func TestClientDisconnect(t *testing.T) {
	srv := testsvc.Start(t, "n1")
	g := startGateway(t, gatewayYAML("selector:\n  breaker:\n    consecutive_failures: 1\n", svc(echoService, srv.Addr)))
	wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{}`))
	for range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.url+"/echoservice/Echo/Slow", strings.NewReader(`{"millis":10000}`))
			req.Header.Set("Content-Type", "application/json")
			res, err := g.client.Do(req)
			if err == nil {
				_ = res.Body.Close()
			}
			done <- err
		}()
		select {
		case <-srv.SlowStarted():
		case <-time.After(5 * time.Second):
			t.Fatal("the Slow call never reached the backend")
		}
		cancel()
		select {
		case <-srv.SlowCancelled():
		case <-time.After(5 * time.Second):
			t.Fatal("the backend never saw the cancellation")
		}
		if err := <-done; err == nil {
			t.Error("the cancelled client request succeeded")
		}
	}
	if s := g.breakerState(t, echoService); s != "closed" {
		t.Errorf("client cancellations opened the breaker (%s)", s)
	}
	wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{}`))
}

// TestGracefulShutdown: cancelling serve's context lets an in-flight call finish with 200, then
// serve returns nil and the port is closed.
func TestGracefulShutdown(t *testing.T) {
	srv := testsvc.Start(t, "n1")
	g := startGateway(t, gatewayYAML("", svc(echoService, srv.Addr)))
	wantOK(t, g.post(t, "/echoservice/Echo/Unary", `{}`))

	type result struct {
		code int
		body string
		err  error
	}
	inflight := make(chan result, 1)
	go func() {
		code, body, err := g.tryPost("/echoservice/Echo/Slow", `{"millis":300}`)
		inflight <- result{code, body, err}
	}()
	select {
	case <-srv.SlowStarted():
	case <-time.After(5 * time.Second):
		t.Fatal("the Slow call never reached the backend")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- g.stop() }()

	r := <-inflight
	if r.err != nil || r.code != http.StatusOK || !strings.Contains(r.body, `"sleptMillis":"3`) {
		t.Errorf("in-flight call during shutdown: %d %s %v", r.code, r.body, r.err)
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("serve returned %v, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not return")
	}
	if _, err := http.Get(g.url + "/health/live"); err == nil {
		t.Error("the gateway still accepts connections after shutdown")
	}
	if n := srv.SlowCancels(); n != 0 {
		t.Errorf("shutdown cancelled %d backend calls", n)
	}
}
