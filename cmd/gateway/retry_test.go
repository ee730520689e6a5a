package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/edgeapi/gateway/internal/testsvc"
	"github.com/edgeapi/gateway/internal/testwait"
)

// The retry tests drive per-route retries, the retry budget and bounded outlier ejection
// through the real gateway. Which node a request reaches first is the selector's choice, so
// requests are sent one at a time and each is classified by the node counters it moved (first
// on the failing node or not); every class has exactly one allowed outcome. Nothing asserts on
// timing except generous bounds ("well before the route timeout").

// fakeMode is how a fakeNode answers every call.
type fakeMode int

const (
	// fakeUnavailable fails every call with Unavailable after reading its request: a node
	// that saw the call and is unhealthy (overloaded, draining).
	fakeUnavailable fakeMode = iota
	// fakeHold holds every call until Release (or until the call ends), then answers an empty
	// message; after Release it answers at once.
	fakeHold
)

// fakeUnavailableMsg is the message of a fakeUnavailable node's status.
const fakeUnavailableMsg = "fake node is unavailable"

// fakeNode is a gRPC node for any method (an unknown-service handler, no reflection) whose
// behaviour is its mode, and which counts what it saw.
type fakeNode struct {
	addr    string
	calls   atomic.Int64 // calls received
	holding atomic.Int64 // calls being held now
	release chan struct{}
	once    sync.Once
}

func startFakeNode(t *testing.T, mode fakeMode) *fakeNode {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeNode{addr: lis.Addr().String(), release: make(chan struct{})}
	s := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
		f.calls.Add(1)
		if err := ss.RecvMsg(&emptypb.Empty{}); err != nil {
			return err
		}
		if mode == fakeUnavailable {
			return status.Error(codes.Unavailable, fakeUnavailableMsg)
		}
		f.holding.Add(1)
		defer f.holding.Add(-1)
		select {
		case <-f.release:
			return ss.SendMsg(&emptypb.Empty{})
		case <-ss.Context().Done():
			return status.FromContextError(ss.Context().Err()).Err()
		}
	}))
	serveGRPC(t, s, lis)
	t.Cleanup(f.Release) // runs first: held calls end before the server stops
	return f
}

// Release ends every held call with an answer, and makes later calls answer at once.
func (f *fakeNode) Release() { f.once.Do(func() { close(f.release) }) }

// idempotentDescriptors writes testsvc.v1's echo.proto with Unary and Slow declared idempotent
// (the backend does not care: descriptors are the gateway's view of a service) and returns
// the rpc.services YAML entry of a service that compiles it at start-up.
func idempotentDescriptors(t *testing.T, service string) string {
	t.Helper()
	files := testsvc.WriteDescriptors(t)
	src, err := os.ReadFile(filepath.Join(files.ImportPath, files.V1Proto))
	if err != nil {
		t.Fatal(err)
	}
	proto := string(src)
	for _, m := range []string{"rpc Unary(EchoRequest) returns (EchoResponse)", "rpc Slow(SlowRequest) returns (SlowResponse)"} {
		if !strings.Contains(proto, m+";") {
			t.Fatalf("testsvc's echo.proto no longer declares %q", m)
		}
		proto = strings.Replace(proto, m+";", m+" {\n    option idempotency_level = IDEMPOTENT;\n  }", 1)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, files.V1Proto)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(proto), 0o600); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("    %s:\n      descriptors: proto\n      proto_files: [%q]\n      import_paths: [%q]\n", service, files.V1Proto, dir)
}

// protosetDescriptors is the rpc.services YAML entry of a service described by testsvc.v1's
// protoset as it is: no method declares an idempotency level.
func protosetDescriptors(t *testing.T, service string) string {
	t.Helper()
	files := testsvc.WriteDescriptors(t)
	return fmt.Sprintf("    %s:\n      descriptors: protoset\n      protoset: %q\n", service, files.V1Protoset)
}

// TestRetryRPC: node A answers every call with Unavailable, node B (testsvc) serves. A request
// whose first try reached A is retried on B only when the route has retry.attempts 2 and the
// method is idempotent by its descriptor; otherwise the client gets A's error and B never sees
// the call. Requests that reach B first are served by B alone.
func TestRetryRPC(t *testing.T) {
	t.Parallel()
	a := startFakeNode(t, fakeUnavailable)
	b := testsvc.Start(t, "b")
	const idem, plain = "retry.idem", "retry.plain"
	g := startGateway(t, gatewayYAML(`selector:
  breaker:
    consecutive_failures: 1000
rpc:
  services:
`+idempotentDescriptors(t, idem)+protosetDescriptors(t, plain)+`routes:
  - path: /idempotent/retry
    service: retry.idem
    endpoint: Echo.Unary
    retry: {attempts: 2}
  - path: /idempotent/default
    service: retry.idem
    endpoint: Echo.Unary
  - path: /plain/retry
    service: retry.plain
    endpoint: Echo.Unary
    retry: {attempts: 2}
`, svc(idem, a.addr, b.Addr), svc(plain, a.addr, b.Addr)))

	for _, tc := range []struct {
		name, path, service string
		retried             bool // a request that failed on A is answered by B
	}{
		{"idempotent method, attempts 2", "/idempotent/retry", idem, true},
		{"idempotent method, retries off (default)", "/idempotent/default", idem, false},
		{"non-idempotent method, attempts 2", "/plain/retry", plain, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var onA, onB int
			for i := 0; onA < 2; i++ {
				if i == 20 {
					t.Fatalf("only %d of %d requests reached node A first", onA, i)
				}
				a0, b0 := a.calls.Load(), b.Calls()
				r := g.post(t, tc.path, fmt.Sprintf(`{"name":"r%d"}`, i))
				da, db := a.calls.Load()-a0, b.Calls()-b0
				switch {
				case da == 0 && db == 1: // B first: served, nothing to retry
					onB++
					if got := wantOK(t, r); got["node"] != "b" {
						t.Fatalf("request %d served by %v", i, got["node"])
					}
				case da == 1 && tc.retried:
					onA++
					if got := wantOK(t, r); got["node"] != "b" {
						t.Fatalf("request %d: retried answer from %v", i, got["node"])
					}
					if db != 1 {
						t.Fatalf("request %d failed on A and B saw it %d times, want once", i, db)
					}
				case da == 1:
					onA++
					wantError(t, r, http.StatusServiceUnavailable, tc.service, fakeUnavailableMsg)
					if db != 0 {
						t.Fatalf("request %d failed on A and was repeated on B (%d calls): %s", i, db, r)
					}
				default:
					t.Fatalf("request %d moved A by %d and B by %d calls: %s", i, da, db, r)
				}
			}
			t.Logf("%d requests reached A first, %d reached B first", onA, onB)
		})
	}
}

// TestRetryRPCPerTryTimeout: one node holds every call, the other serves. With
// per_try_timeout 100ms and attempts 2 on an idempotent method, a request stuck on the held
// node is cut after its try and answered by the other node, well before the route's 5s timeout;
// the held node sees its call cancelled.
func TestRetryRPCPerTryTimeout(t *testing.T) {
	t.Parallel()
	hung := startFakeNode(t, fakeHold)
	b := testsvc.Start(t, "b")
	g := startGateway(t, gatewayYAML(`selector:
  breaker:
    consecutive_failures: 1000
rpc:
  services:
`+idempotentDescriptors(t, "retry.idem")+`routes:
  - path: /pertry
    service: retry.idem
    endpoint: Echo.Unary
    timeout: 5s
    retry: {attempts: 2, per_try_timeout: 100ms}
`, svc("retry.idem", hung.addr, b.Addr)))

	for i := 0; hung.calls.Load() < 2; i++ {
		if i == 10 {
			t.Fatalf("only %d of %d requests reached the hung node", hung.calls.Load(), i)
		}
		start := time.Now()
		r := g.post(t, "/pertry", `{}`)
		took := time.Since(start)
		if got := wantOK(t, r); got["node"] != "b" {
			t.Fatalf("request %d served by %v", i, got["node"])
		}
		if took > 3*time.Second {
			t.Errorf("request %d took %s; the route timeout is 5s and each try is bounded by 100ms", i, took)
		}
	}
	// The per-try timeout cancelled the held calls: none is left on the node.
	testwait.Until(t, 5*time.Second, "the hung node's calls to be cancelled", func() bool { return hung.holding.Load() == 0 })
}

// TestRetryBudget: node A fails every call with Unavailable, node B holds every call until
// released. The route allows 2 attempts under a budget of 1% of the requests in flight with a
// floor of 1 (min_retries): with fewer than 100 requests in flight, one retry at a time.
// Requests are sent one by one and left in flight: the first that fails on A is retried (and
// stays held on B, keeping its budget token); every later one that fails on A gets A's error.
// Once the held requests are answered the token is back and a request failing on A is retried
// again.
func TestRetryBudget(t *testing.T) {
	t.Parallel()
	a := startFakeNode(t, fakeUnavailable)
	b := startFakeNode(t, fakeHold)
	const service = "retry.budget"
	g := startGateway(t, gatewayYAML(`selector:
  breaker:
    consecutive_failures: 1000
rpc:
  services:
`+idempotentDescriptors(t, service)+`routes:
  - path: /budget
    service: retry.budget
    endpoint: Echo.Unary
    timeout: 15s
    retry: {attempts: 2, budget_percent: 1, min_retries: 1}
`, svc(service, a.addr, b.addr)))
	t.Cleanup(b.Release) // before the gateway stops: it waits for requests in flight

	type result struct {
		code int
		body string
		err  error
	}
	var (
		held    []chan result // requests in flight, held on B
		retried int           // of those, how many failed on A first
		refused int           // requests that failed on A and got A's error
		direct  int           // requests held on B at their first try
	)
	for i := 0; refused < 3; i++ {
		if i == 30 {
			t.Fatalf("after %d requests: %d held on B at once, %d retried, %d refused", i, direct, retried, refused)
		}
		a0, h0 := a.calls.Load(), b.holding.Load()
		done := make(chan result, 1)
		go func() {
			code, body, err := g.tryPost("/budget", `{}`)
			done <- result{code, body, err}
		}()
		// The request settles when it is held on B or answered.
		var r result
		answered := false
		testwait.Until(t, 5*time.Second, fmt.Sprintf("request %d held or answered", i), func() bool {
			select {
			case r = <-done:
				answered = true
				return true
			default:
				return b.holding.Load() > h0
			}
		})
		fromA := a.calls.Load() - a0
		switch {
		case answered:
			if r.err != nil || r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, fakeUnavailableMsg) {
				t.Fatalf("request %d answered %d %s (%v); only a request refused a retry may be answered while B holds", i, r.code, r.body, r.err)
			}
			if fromA != 1 {
				t.Fatalf("request %d answered after %d calls on A", i, fromA)
			}
			if retried != 1 {
				t.Fatalf("request %d was refused a retry while %d retries were in flight (budget: 1)", i, retried)
			}
			refused++
		case fromA == 1:
			if retried != 0 {
				t.Fatalf("request %d was retried while %d retries were in flight (budget: 1)", i, retried)
			}
			retried++
			held = append(held, done)
		case fromA == 0:
			direct++
			held = append(held, done)
		default:
			t.Fatalf("request %d made %d calls on A", i, fromA)
		}
	}
	if got := b.holding.Load(); got != int64(len(held)) {
		t.Errorf("B holds %d calls, want %d", got, len(held))
	}
	t.Logf("budget: %d requests held on B (%d of them retries), %d refused a retry", len(held), retried, refused)

	b.Release()
	for i, done := range held {
		r := <-done
		if r.err != nil || r.code != http.StatusOK {
			t.Errorf("held request %d: %d %s (%v)", i, r.code, r.body, r.err)
		}
	}
	// Nothing is in flight: the token is back, and a request failing on A is retried again.
	for i := 0; ; i++ {
		if i == 10 {
			t.Fatalf("no request reached A first in %d tries", i)
		}
		a0 := a.calls.Load()
		code, body, err := g.tryPost("/budget", `{}`)
		if err != nil || code != http.StatusOK {
			t.Fatalf("after the release: %d %s (%v)", code, body, err)
		}
		if a.calls.Load() > a0 {
			break
		}
	}

	// Operators see both outcomes in /metrics.
	res, err := g.client.Get(g.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	for _, want := range []string{
		fmt.Sprintf(`gateway_retries_total{outcome="over_budget",service=%q} %d`, service, refused),
		fmt.Sprintf(`gateway_retries_total{outcome="retried",service=%q} 2`, service),
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestRetryHTTP: the http handler in front of two HTTP backends, one of which reads each
// request and closes the connection without answering (the request was sent, the node
// failed). With attempts 2, GET and PUT are retried on the other backend (the PUT's body
// replayed intact), POST is not (502, the other backend never sees it); without a retry block
// nothing that reached the failing backend is retried. A node nothing listens on is moved off
// even with retries off: the request never left.
func TestRetryHTTP(t *testing.T) {
	t.Parallel()
	type seen struct{ method, body string }
	var (
		mu       sync.Mutex
		badSeen  []seen
		goodSeen []seen
	)
	record := func(list *[]seen, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		*list = append(*list, seen{r.Method, string(b)})
		mu.Unlock()
	}
	counts := func() (bad, good int) {
		mu.Lock()
		defer mu.Unlock()
		return len(badSeen), len(goodSeen)
	}
	lastGood := func() seen {
		mu.Lock()
		defer mu.Unlock()
		return goodSeen[len(goodSeen)-1]
	}
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(&badSeen, r) // the whole request arrived
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_ = conn.Close()
	}))
	t.Cleanup(bad.Close)
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(&goodSeen, r)
		w.Header().Set("X-Node", "good")
		_, _ = io.WriteString(w, "good "+r.Method)
	}))
	t.Cleanup(good.Close)
	dead := testsvc.UnusedAddr(t)
	g := startGateway(t, gatewayYAML(`selector:
  breaker:
    consecutive_failures: 1000
routes:
  - path: /retry/*
    handler: http
    service: retry.web
    strip_prefix: /retry
    retry: {attempts: 2}
  - path: /default/*
    handler: http
    service: retry.web
    strip_prefix: /default
  - path: /dead/*
    handler: http
    service: retry.dead
    strip_prefix: /dead
`, svc("retry.web", bad.Listener.Addr().String(), good.Listener.Addr().String()),
		svc("retry.dead", dead, good.Listener.Addr().String())))

	send := func(method, path, body string) reply {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, g.url+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		return g.do(t, req)
	}

	for _, tc := range []struct {
		name, method, path, body string
		retried                  bool // a request that failed on the bad backend is answered by the good one
	}{
		{"GET, attempts 2", http.MethodGet, "/retry/item", "", true},
		{"PUT with a body, attempts 2", http.MethodPut, "/retry/item", `{"name":"replayed","n":42}`, true},
		{"DELETE, attempts 2", http.MethodDelete, "/retry/item", "", true},
		{"POST, attempts 2", http.MethodPost, "/retry/item", `{"name":"once"}`, false},
		{"GET, retries off (default)", http.MethodGet, "/default/item", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var onBad int
			for i := 0; onBad < 2; i++ {
				if i == 20 {
					t.Fatalf("only %d of %d requests reached the failing backend first", onBad, i)
				}
				bad0, good0 := counts()
				r := send(tc.method, tc.path, tc.body)
				bad1, good1 := counts()
				dbad, dgood := bad1-bad0, good1-good0
				switch {
				case dbad == 0 && dgood == 1: // the good backend first
					if r.code != http.StatusOK || r.header.Get("X-Node") != "good" {
						t.Fatalf("request %d: %s", i, r)
					}
				case dbad == 1 && tc.retried:
					onBad++
					if r.code != http.StatusOK || r.header.Get("X-Node") != "good" {
						t.Fatalf("request %d failed on the bad backend and was not retried: %s", i, r)
					}
					if dgood != 1 {
						t.Fatalf("request %d: the good backend saw it %d times, want once", i, dgood)
					}
					if got := lastGood(); got.method != tc.method || got.body != tc.body {
						t.Fatalf("request %d replayed as %s %q, want %s %q", i, got.method, got.body, tc.method, tc.body)
					}
				case dbad == 1:
					onBad++
					wantError(t, r, http.StatusBadGateway, "retry.web")
					if dgood != 0 {
						t.Fatalf("request %d failed on the bad backend and was repeated on the good one (%d times)", i, dgood)
					}
				default:
					t.Fatalf("request %d reached the bad backend %d times and the good one %d times: %s", i, dbad, dgood, r)
				}
			}
		})
	}

	t.Run("a broken connection counts against the node", func(t *testing.T) {
		g := startGateway(t, gatewayYAML(`selector:
  breaker:
    consecutive_failures: 2
    open_timeout: 60s
routes:
  - path: /only/*
    handler: http
    service: retry.only
    strip_prefix: /only
`, svc("retry.only", bad.Listener.Addr().String())))
		for i := range 2 {
			r := g.call(t, http.MethodGet, "/only/item", "")
			wantError(t, r, http.StatusBadGateway, "retry.only", "closed the connection")
			if i == 0 && g.breakerState(t, "retry.only") != "closed" {
				t.Fatalf("breaker %s after one failure", g.breakerState(t, "retry.only"))
			}
		}
		bad0, _ := counts()
		wantError(t, g.call(t, http.MethodGet, "/only/item", ""), http.StatusServiceUnavailable, "retry.only", "circuit breaker")
		if bad1, _ := counts(); bad1 != bad0 {
			t.Errorf("the open node saw %d more requests", bad1-bad0)
		}
	})

	t.Run("connect failure, retries off", func(t *testing.T) {
		for _, method := range []string{http.MethodGet, http.MethodDelete, http.MethodPost} {
			for i := range 6 {
				_, good0 := counts()
				r := send(method, "/dead/item", "")
				if r.code != http.StatusOK || r.header.Get("X-Node") != "good" {
					t.Fatalf("%s %d: %s", method, i, r)
				}
				if _, good1 := counts(); good1-good0 != 1 {
					t.Fatalf("%s %d: the live backend saw it %d times", method, i, good1-good0)
				}
			}
		}
	})
}

// TestRetryHTTPPerTryTimeout: a backend that never answers a GET is left after the per-try
// timeout (100ms) and the other backend answers, well before the route's 5s timeout.
func TestRetryHTTPPerTryTimeout(t *testing.T) {
	t.Parallel()
	var hungCalls atomic.Int64
	hung := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		hungCalls.Add(1)
		<-r.Context().Done()
	}))
	t.Cleanup(hung.Close)
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "good")
	}))
	t.Cleanup(good.Close)
	g := startGateway(t, gatewayYAML(`selector:
  breaker:
    consecutive_failures: 1000
routes:
  - path: /pertry/*
    handler: http
    service: retry.web
    strip_prefix: /pertry
    timeout: 5s
    retry: {attempts: 2, per_try_timeout: 100ms}
`, svc("retry.web", hung.Listener.Addr().String(), good.Listener.Addr().String())))
	for i := 0; hungCalls.Load() < 2; i++ {
		if i == 10 {
			t.Fatalf("only %d of %d requests reached the hung backend", hungCalls.Load(), i)
		}
		start := time.Now()
		r := g.call(t, http.MethodGet, "/pertry/x", "")
		took := time.Since(start)
		if r.code != http.StatusOK || string(r.body) != "good" {
			t.Fatalf("request %d: %s", i, r)
		}
		if took > 3*time.Second {
			t.Errorf("request %d took %s; the route timeout is 5s and each try is bounded by 100ms", i, took)
		}
	}
}

// TestEject: three nodes of which two fail every call (consecutive_failures 1). With
// max_ejection_percent 50 at most one node of three may be ejected: once both failing nodes'
// breakers are open the pool is in panic and they take traffic again (their errors reach
// clients) instead of being skipped; no request is refused with "circuit breaker open on
// every node". With 100 (bounded to all but one node) both stay ejected and the healthy node
// serves everything. A single node with an open breaker answers 503 at once.
func TestEject(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		percent int
		panic   bool
	}{
		{"max_ejection_percent 50: panic", 50, true},
		{"max_ejection_percent 100: two of three ejected", 100, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f1, f2 := startFakeNode(t, fakeUnavailable), startFakeNode(t, fakeUnavailable)
			ok := testsvc.Start(t, "ok")
			const service = "eject.svc"
			g := startGateway(t, gatewayYAML(fmt.Sprintf(`selector:
  breaker:
    consecutive_failures: 1
    open_timeout: 60s
    max_ejection_percent: %d
rpc:
  services:
%sroutes:
  - path: /eject
    service: eject.svc
    endpoint: Echo.Unary
`, tc.percent, protosetDescriptors(t, service)), svc(service, f1.addr, f2.addr, ok.Addr)))
			open := func() int {
				n := 0
				for _, st := range g.gw.sel.States(service) {
					if st.Breaker == "open" {
						n++
					}
				}
				return n
			}
			// Trip both failing nodes' breakers: one failure each.
			for i := 0; open() < 2; i++ {
				if i == 20 {
					t.Fatalf("%d breakers open after %d requests", open(), i)
				}
				if r := g.post(t, "/eject", `{}`); r.code != http.StatusOK {
					wantError(t, r, http.StatusServiceUnavailable, service, fakeUnavailableMsg)
				}
			}
			for _, st := range g.gw.sel.States(service) {
				if want := st.Node.Address != ok.Addr; (st.Breaker == "open") != want {
					t.Fatalf("node %s breaker %s", st.Node.Address, st.Breaker)
				}
			}

			c1, c2, cok := f1.calls.Load(), f2.calls.Load(), ok.Calls()
			const n = 30
			codes := map[int]int{}
			for range n {
				r := g.post(t, "/eject", `{}`)
				codes[r.code]++
				switch r.code {
				case http.StatusOK:
					if got := wantOK(t, r); got["node"] != "ok" {
						t.Fatalf("served by %v", got["node"])
					}
				default:
					// Only an open node's own answer may fail a request, never the breaker.
					wantError(t, r, http.StatusServiceUnavailable, service, fakeUnavailableMsg)
				}
			}
			d1, d2, dok := f1.calls.Load()-c1, f2.calls.Load()-c2, ok.Calls()-cok
			t.Logf("%d requests with two breakers open: answers %v; calls: failing nodes %d and %d, healthy node %d", n, codes, d1, d2, dok)
			if d1+d2+dok != n {
				t.Errorf("%d calls for %d requests", d1+d2+dok, n)
			}
			if tc.panic {
				if d1 == 0 || d2 == 0 {
					t.Errorf("in panic the open nodes took %d and %d calls, want some each", d1, d2)
				}
				if dok == 0 {
					t.Error("the healthy node took no calls")
				}
				if codes[http.StatusServiceUnavailable] != int(d1+d2) {
					t.Errorf("%d errors, want one per call on an open node (%d)", codes[http.StatusServiceUnavailable], d1+d2)
				}
			} else if d1 != 0 || d2 != 0 || codes[http.StatusOK] != n {
				t.Errorf("ejected nodes took %d and %d calls; answers %v", d1, d2, codes)
			}
			// Panic picks do not feed the open breakers: they stay open.
			if got := open(); got != 2 {
				t.Errorf("%d breakers open after the load, want 2", got)
			}
		})
	}

	t.Run("single node", func(t *testing.T) {
		t.Parallel()
		f := startFakeNode(t, fakeUnavailable)
		const service = "eject.single"
		g := startGateway(t, gatewayYAML(`selector:
  breaker:
    consecutive_failures: 1
    open_timeout: 60s
    max_ejection_percent: 50
rpc:
  services:
`+protosetDescriptors(t, service)+`routes:
  - path: /single
    service: eject.single
    endpoint: Echo.Unary
`, svc(service, f.addr)))
		wantError(t, g.post(t, "/single", `{}`), http.StatusServiceUnavailable, service, fakeUnavailableMsg)
		if s := g.breakerState(t, service); s != "open" {
			t.Fatalf("breaker %s after a failure, want open", s)
		}
		for range 3 {
			wantError(t, g.post(t, "/single", `{}`), http.StatusServiceUnavailable, service, "circuit breaker open on every node")
		}
		if n := f.calls.Load(); n != 1 {
			t.Errorf("the node saw %d calls, want 1 (the breaker answers once open)", n)
		}
	})
}
