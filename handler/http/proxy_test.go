package httphandler_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	httphandler "github.com/edgeapi/gateway/handler/http"
	"github.com/edgeapi/gateway/router"
	"github.com/edgeapi/gateway/selector"
	"github.com/edgeapi/gateway/trust"
)

var chatRoute = router.Route{Path: "/chat/*", Handler: "http", Service: "svc", StripPrefix: "/chat"}

func TestProxiesMethodsPathsQueriesAndBodies(t *testing.T) {
	addr := backend(t, echoHandler())
	gw := newGateway(t, httphandler.Config{}, selector.Config{}, []router.Route{chatRoute},
		map[string][]string{"svc": {addr}, "go.micro.api.orders": {addr}})

	big := make([]byte, 1<<20+17)
	_, _ = rand.Read(big)
	cases := []struct {
		name, method, path string
		body               []byte
		wantPath, wantQ    string
	}{
		{"GET after strip_prefix keeps query", http.MethodGet, "/chat/rooms/42?limit=10&q=a%20b", nil, "/rooms/42", "limit=10&q=a%20b"},
		{"GET prefix only", http.MethodGet, "/chat/", nil, "/", ""},
		{"POST JSON body", http.MethodPost, "/chat/messages?x=1", []byte(`{"text":"hello"}`), "/messages", "x=1"},
		{"POST binary 1MiB body", http.MethodPost, "/chat/upload", big, "/upload", ""},
		{"PUT empty body", http.MethodPut, "/chat/rooms/1", []byte{}, "/rooms/1", ""},
		{"DELETE", http.MethodDelete, "/chat/rooms/1?hard=true", nil, "/rooms/1", "hard=true"},
		{"default handler, path resolver, whole path forwarded", http.MethodGet, "/orders/7/items?page=2", nil, "/orders/7/items", "page=2"},
		{"default handler POST", http.MethodPost, "/orders", []byte("a=1&b=2"), "/orders", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != nil {
				body = bytes.NewReader(tc.body)
			}
			req, err := http.NewRequest(tc.method, gw.URL+tc.path, body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got := decodeEcho(t, resp)
			if got.Method != tc.method || got.Path != tc.wantPath || got.Query != tc.wantQ {
				t.Errorf("backend saw %s %s ?%s, want %s %s ?%s", got.Method, got.Path, got.Query, tc.method, tc.wantPath, tc.wantQ)
			}
			if !bytes.Equal(got.Body, tc.body) && !(len(got.Body) == 0 && len(tc.body) == 0) {
				t.Errorf("backend got %d body bytes, want %d identical ones", len(got.Body), len(tc.body))
			}
			if got.Header.Get("X-Request-Id") == "" {
				t.Error("the request id did not reach the backend")
			}
		})
	}
}

func TestUnknownServiceIs404JSON(t *testing.T) {
	gw := newGateway(t, httphandler.Config{}, selector.Config{}, nil, nil)
	resp, err := http.Get(gw.URL + "/nosuch/thing")
	if err != nil {
		t.Fatal(err)
	}
	e := wantJSONError(t, resp, http.StatusNotFound)
	if !strings.Contains(e.Detail, "go.micro.api.nosuch") {
		t.Errorf("detail %q does not name the service", e.Detail)
	}
}

func TestXForwardedFor(t *testing.T) {
	addr := backend(t, echoHandler())
	trusted, err := trust.Parse([]string{"127.0.0.1/8"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		proxies trust.Proxies
		sent    string // X-Forwarded-For from the client; "" for none
		want    string
	}{
		{"untrusted peer, spoofed header overwritten", trust.Proxies{}, "203.0.113.7", "127.0.0.1"},
		{"untrusted peer, no header", trust.Proxies{}, "", "127.0.0.1"},
		{"trusted peer, header appended to", trusted, "203.0.113.7, 10.0.0.2", "203.0.113.7, 10.0.0.2, 127.0.0.1"},
		{"trusted peer, no header", trusted, "", "127.0.0.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gw := newGateway(t, httphandler.Config{TrustedProxies: tc.proxies}, selector.Config{}, []router.Route{chatRoute}, map[string][]string{"svc": {addr}})
			req, _ := http.NewRequest(http.MethodGet, gw.URL+"/chat/who", nil)
			if tc.sent != "" {
				req.Header.Set("X-Forwarded-For", tc.sent)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got := decodeEcho(t, resp)
			if v := strings.Join(got.Header.Values("X-Forwarded-For"), ", "); v != tc.want {
				t.Errorf("X-Forwarded-For %q, want %q", v, tc.want)
			}
			if got.Header.Get("X-Forwarded-Proto") != "http" || got.Header.Get("X-Forwarded-Host") == "" {
				t.Errorf("X-Forwarded-Proto/Host missing: %v", got.Header)
			}
		})
	}
}

func TestRetryOnAnotherNodeDoesNotRepeatForwardedFor(t *testing.T) {
	addr := backend(t, echoHandler())
	trusted, _ := trust.Parse([]string{"127.0.0.1/8"})
	gw := newGateway(t, httphandler.Config{TrustedProxies: trusted}, selector.Config{},
		[]router.Route{chatRoute}, map[string][]string{"svc": {deadAddress(t), addr}})
	// Round robin starts on the dead node, so the first request is retried.
	req, _ := http.NewRequest(http.MethodGet, gw.URL+"/chat/who", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeEcho(t, resp)
	if v := strings.Join(got.Header.Values("X-Forwarded-For"), ", "); v != "203.0.113.7, 127.0.0.1" {
		t.Errorf("X-Forwarded-For after a retry %q, want %q", v, "203.0.113.7, 127.0.0.1")
	}
}

func TestHopByHopHeadersNeverReachTheBackend(t *testing.T) {
	addr := backend(t, echoHandler())
	gw := newGateway(t, httphandler.Config{}, selector.Config{}, []router.Route{chatRoute}, map[string][]string{"svc": {addr}})
	req, _ := http.NewRequest(http.MethodGet, gw.URL+"/chat/h", nil)
	req.Header.Set("Connection", "keep-alive, X-Secret-Hop")
	req.Header.Set("Keep-Alive", "timeout=5, max=100")
	req.Header.Set("Te", "deflate")
	req.Header.Set("Proxy-Connection", "keep-alive")
	req.Header.Set("X-Secret-Hop", "must not cross")
	req.Header.Set("X-End-To-End", "crosses")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeEcho(t, resp)
	for _, h := range []string{"Keep-Alive", "Te", "Proxy-Connection", "X-Secret-Hop"} {
		if v, ok := got.Header[h]; ok {
			t.Errorf("hop-by-hop header %s reached the backend: %q", h, v)
		}
	}
	// Go's transport may add its own "Connection: close"/keep-alive; the client's value must not pass.
	if v := got.Header.Get("Connection"); strings.Contains(strings.ToLower(v), "x-secret-hop") {
		t.Errorf("the client's Connection header reached the backend: %q", v)
	}
	if got.Header.Get("X-End-To-End") != "crosses" {
		t.Errorf("end-to-end header lost: %v", got.Header)
	}
}

func TestBackendStatusesPassThroughAndDoNotTripTheBreaker(t *testing.T) {
	addr := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, "no such thing")
		case "/boom":
			w.Header().Set("X-Backend", "yes")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"error":"boom"}`)
		default:
			_, _ = io.WriteString(w, "ok")
		}
	}))
	// One failure would open the breaker if statuses counted.
	gw := newGateway(t, httphandler.Config{}, selector.Config{Breaker: selector.BreakerConfig{ConsecutiveFailures: 1, OpenTimeout: time.Hour}},
		[]router.Route{chatRoute}, map[string][]string{"svc": {addr}})
	for i := range 10 {
		for _, tc := range []struct {
			path string
			code int
			body string
		}{{"/chat/missing", 404, "no such thing"}, {"/chat/boom", 500, `{"error":"boom"}`}} {
			resp, err := http.Get(gw.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tc.code || string(body) != tc.body {
				t.Fatalf("round %d %s: %d %q, want %d %q", i, tc.path, resp.StatusCode, body, tc.code, tc.body)
			}
			if tc.code == 500 && resp.Header.Get("X-Backend") != "yes" {
				t.Fatalf("backend headers lost: %v", resp.Header)
			}
		}
	}
	for _, st := range gw.Sel.States("svc") {
		if st.Breaker != "closed" || st.InFlight != 0 {
			t.Errorf("node %s: breaker %s, in flight %d; want closed, 0", st.Node.ID, st.Breaker, st.InFlight)
		}
	}
	resp, err := http.Get(gw.URL + "/chat/ok")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after backend errors: %d, want 200", resp.StatusCode)
	}
}

func TestDeadNodeGETIsRetriedOnTheLiveOne(t *testing.T) {
	var hits atomic.Int64
	addr := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, "live")
	}))
	for _, strategy := range []selector.Strategy{selector.RoundRobin, selector.Random, selector.LeastOutstanding} {
		t.Run(string(strategy), func(t *testing.T) {
			hits.Store(0)
			gw := newGateway(t, httphandler.Config{}, selector.Config{Strategy: strategy},
				[]router.Route{chatRoute}, map[string][]string{"svc": {deadAddress(t), addr}})
			const n = 40
			for i := range n {
				resp, err := http.Get(gw.URL + "/chat/x")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK || string(body) != "live" {
					t.Fatalf("request %d: %d %q, want 200 live", i, resp.StatusCode, body)
				}
			}
			if hits.Load() != n {
				t.Errorf("live node served %d requests, want %d", hits.Load(), n)
			}
			for _, st := range gw.Sel.States("svc") {
				t.Logf("%s: node %s breaker %s", strategy, st.Node.Address, st.Breaker)
				if st.InFlight != 0 {
					t.Errorf("node %s: %d in flight after all requests ended", st.Node.ID, st.InFlight)
				}
			}
		})
	}
}

func TestPOSTWithBodyToDeadOnlyServiceIs502(t *testing.T) {
	gw := newGateway(t, httphandler.Config{}, selector.Config{}, []router.Route{chatRoute}, map[string][]string{"svc": {deadAddress(t)}})
	resp, err := http.Post(gw.URL+"/chat/orders", "application/json", strings.NewReader(`{"item":"book"}`))
	if err != nil {
		t.Fatal(err)
	}
	e := wantJSONError(t, resp, http.StatusBadGateway)
	if e.ID != "svc" {
		t.Errorf("error id %q, want the service", e.ID)
	}
	// A GET to the same dead-only service has no other node to retry on: 502 too.
	resp, err = http.Get(gw.URL + "/chat/orders")
	if err != nil {
		t.Fatal(err)
	}
	wantJSONError(t, resp, http.StatusBadGateway)
}

func TestSlowBackendBeyondRouteTimeoutIs504(t *testing.T) {
	eachTransport(t, testSlowBackendBeyondRouteTimeoutIs504)
}

func testSlowBackendBeyondRouteTimeoutIs504(t *testing.T, tr http.RoundTripper) {
	backendCancelled := make(chan struct{})
	addr := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			close(backendCancelled)
		case <-time.After(waitFor):
			// Never reached when the gateway gives up as it should.
		}
	}))
	route := chatRoute
	route.Timeout = 150 * time.Millisecond
	gw := newGateway(t, httphandler.Config{Transport: tr}, selector.Config{}, []router.Route{route}, map[string][]string{"svc": {addr}})
	start := time.Now()
	resp, err := http.Get(gw.URL + "/chat/slow")
	if err != nil {
		t.Fatal(err)
	}
	wantJSONError(t, resp, http.StatusGatewayTimeout)
	t.Logf("504 after %v (route timeout %v)", time.Since(start), route.Timeout)
	select {
	case <-backendCancelled:
	case <-time.After(waitFor):
		t.Fatal("the backend request was not cancelled after the timeout")
	}
}

func TestServerSentEventsArriveIncrementally(t *testing.T) {
	next := make(chan struct{})
	addr := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		fl := w.(http.Flusher)
		_, _ = io.WriteString(w, "id: 1\ndata: first\n\n")
		fl.Flush()
		select {
		case <-next: // the client has read the first event through the gateway
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "id: 2\ndata: second\n\n")
		fl.Flush()
	}))
	route := chatRoute
	route.Timeout = time.Second // a stream that started is not cut by the response timeout
	gw := newGateway(t, httphandler.Config{}, selector.Config{}, []router.Route{route}, map[string][]string{"svc": {addr}})

	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, gw.URL+"/chat/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	readEvent := func() string {
		var ev strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("reading event: %v (so far %q)", err, ev.String())
			}
			if line == "\n" {
				return ev.String()
			}
			ev.WriteString(line)
		}
	}
	if ev := readEvent(); ev != "id: 1\ndata: first\n" {
		t.Fatalf("first event %q", ev)
	}
	close(next)
	if ev := readEvent(); ev != "id: 2\ndata: second\n" {
		t.Fatalf("second event %q", ev)
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Fatalf("after the stream: %q, %v", rest, err)
	}
}

func TestClientDisconnectCancelsTheBackendRequest(t *testing.T) {
	started := make(chan struct{})
	cancelled := make(chan struct{})
	addr := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A server notices a closed connection once it has read the request body.
		_, _ = io.Copy(io.Discard, r.Body)
		close(started)
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(waitFor):
		}
	}))
	gw := newGateway(t, httphandler.Config{}, selector.Config{}, []router.Route{chatRoute}, map[string][]string{"svc": {addr}})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gw.URL+"/chat/long", strings.NewReader("payload"))
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
		}
		errc <- err
	}()
	select {
	case <-started:
	case <-time.After(waitFor):
		t.Fatal("the request never reached the backend")
	}
	cancel()
	select {
	case <-cancelled:
	case <-time.After(waitFor):
		t.Fatal("the backend did not see the client go away")
	}
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("client error %v, want context.Canceled", err)
	}
	// A client going away says nothing about the node: its breaker stays closed, nothing in flight.
	deadline := time.Now().Add(waitFor)
	for {
		st := gw.Sel.States("svc")
		if len(st) == 1 && st[0].InFlight == 0 {
			if st[0].Breaker != "closed" {
				t.Errorf("breaker %s after a client cancel", st[0].Breaker)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node still has requests in flight: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestManyConcurrentRequests(t *testing.T) {
	addr := backend(t, echoHandler())
	gw := newGateway(t, httphandler.Config{}, selector.Config{}, []router.Route{chatRoute}, map[string][]string{"svc": {addr, addr}})
	const workers, each = 8, 25
	errc := make(chan error, workers)
	start := time.Now()
	for w := range workers {
		go func() {
			for i := range each {
				body := fmt.Sprintf("w%d-%d", w, i)
				resp, err := http.Post(gw.URL+"/chat/c", "text/plain", strings.NewReader(body))
				if err != nil {
					errc <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != 200 || !strings.Contains(string(b), "\"body\"") {
					errc <- fmt.Errorf("%s: %d %s", body, resp.StatusCode, b)
					return
				}
			}
			errc <- nil
		}()
	}
	for range workers {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d proxied POSTs in %v", workers*each, time.Since(start))
}

func TestResponseTimeoutCountsAgainstTheNode(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	addr := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	route := chatRoute
	route.Timeout = 100 * time.Millisecond
	gw := newGateway(t, httphandler.Config{}, selector.Config{Breaker: selector.BreakerConfig{ConsecutiveFailures: 1, OpenTimeout: time.Hour}},
		[]router.Route{route}, map[string][]string{"svc": {addr}})
	resp, err := http.Get(gw.URL + "/chat/slow")
	if err != nil {
		t.Fatal(err)
	}
	wantJSONError(t, resp, http.StatusGatewayTimeout)
	// The node did not answer in time: its breaker opened, so the next request is refused at once.
	resp, err = http.Get(gw.URL + "/chat/slow")
	if err != nil {
		t.Fatal(err)
	}
	wantJSONError(t, resp, http.StatusServiceUnavailable)
	if st := gw.Sel.States("svc"); len(st) != 1 || st[0].Breaker != "open" {
		t.Fatalf("node states %+v, want the breaker open", st)
	}
}
