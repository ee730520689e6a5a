package httphandler_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeapi/gateway/apierror"
	httphandler "github.com/edgeapi/gateway/handler/http"
	"github.com/edgeapi/gateway/retry"
	"github.com/edgeapi/gateway/router"
	"github.com/edgeapi/gateway/selector"
	"github.com/edgeapi/gateway/trust"
)

func TestForwardedHeaders(t *testing.T) {
	addr := backend(t, echoHandler())
	trusted, _ := trust.Parse([]string{"127.0.0.1/8"})
	cases := []struct {
		name      string
		proxies   trust.Proxies
		sent      http.Header
		wantHost  string // "" means the request's own Host
		wantProto string
	}{
		{"untrusted peer: everything overwritten", trust.Proxies{},
			http.Header{"X-Forwarded-Host": {"evil.example"}, "X-Forwarded-Proto": {"https"}, "Forwarded": {"for=1.2.3.4"}}, "", "http"},
		{"trusted peer: its host and proto kept", trusted,
			http.Header{"X-Forwarded-Host": {"api.example.com"}, "X-Forwarded-Proto": {"https"}, "Forwarded": {"for=1.2.3.4"}}, "api.example.com", "https"},
		{"trusted peer without them: ours", trusted, http.Header{}, "", "http"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gw := newGateway(t, httphandler.Config{TrustedProxies: tc.proxies}, selector.Config{}, []router.Route{chatRoute}, map[string][]string{"svc": {addr}})
			req, _ := http.NewRequest(http.MethodGet, gw.URL+"/chat/x", nil)
			for k, v := range tc.sent {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got := decodeEcho(t, resp)
			wantHost := tc.wantHost
			if wantHost == "" {
				wantHost = strings.TrimPrefix(gw.URL, "http://")
			}
			if v := got.Header.Values("X-Forwarded-Host"); len(v) != 1 || v[0] != wantHost {
				t.Errorf("X-Forwarded-Host %q, want %q", v, wantHost)
			}
			if v := got.Header.Values("X-Forwarded-Proto"); len(v) != 1 || v[0] != tc.wantProto {
				t.Errorf("X-Forwarded-Proto %q, want %q", v, tc.wantProto)
			}
			if v, ok := got.Header["Forwarded"]; ok {
				t.Errorf("the client's Forwarded header crossed: %q", v)
			}
			if got.Host != strings.TrimPrefix(gw.URL, "http://") {
				t.Errorf("Host %q, want the client's %q", got.Host, gw.URL)
			}
		})
	}
}

func TestRequestHeaderRules(t *testing.T) {
	addr := backend(t, echoHandler())
	gw := newGateway(t, httphandler.Config{}, selector.Config{}, []router.Route{chatRoute}, map[string][]string{"svc": {addr}})
	cases := []struct {
		name   string
		set    http.Header
		header string
		want   []string // nil: absent
	}{
		{"TE trailers kept alone", http.Header{"Te": {"trailers, deflate"}}, "Te", []string{"trailers"}},
		{"TE without trailers dropped", http.Header{"Te": {"gzip"}}, "Te", nil},
		{"no User-Agent: none added", http.Header{"User-Agent": {""}}, "User-Agent", nil},
		{"User-Agent kept", http.Header{"User-Agent": {"curl/8"}}, "User-Agent", []string{"curl/8"}},
		{"Proxy-Authorization dropped", http.Header{"Proxy-Authorization": {"Basic eDp5"}}, "Proxy-Authorization", nil},
		{"multi-valued header kept in order", http.Header{"X-Multi": {"a", "b"}}, "X-Multi", []string{"a", "b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, gw.URL+"/chat/h", nil)
			for k, v := range tc.set {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got := decodeEcho(t, resp).Header[tc.header]
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || (got == nil) != (tc.want == nil) {
				t.Errorf("%s %q, want %q", tc.header, got, tc.want)
			}
		})
	}
}

func TestQueryWithSemicolonIsReencoded(t *testing.T) {
	addr := backend(t, echoHandler())
	gw := newGateway(t, httphandler.Config{}, selector.Config{}, []router.Route{chatRoute}, map[string][]string{"svc": {addr}})
	resp, err := http.Get(gw.URL + "/chat/q?a=1;b=2&c=3")
	if err != nil {
		t.Fatal(err)
	}
	// Go's parser drops the pair holding ';', so a backend cannot read "b" where the gateway
	// (or a filter in front of it) saw something else.
	if got := decodeEcho(t, resp).Query; got != "c=3" {
		t.Errorf("query %q, want %q", got, "c=3")
	}
}

func TestResponseHeadersAndTrailers(t *testing.T) {
	addr := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Connection", "X-Hop")
		h.Set("X-Hop", "must not cross")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("X-Kept", "yes")
		h.Set("Trailer", "X-Checksum")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "body")
		h.Set("X-Checksum", "abc")
		h.Set(http.TrailerPrefix+"X-Late", "undeclared")
	}))
	gw := newGateway(t, httphandler.Config{}, selector.Config{}, []router.Route{chatRoute}, map[string][]string{"svc": {addr}})
	resp, err := http.Get(gw.URL + "/chat/t")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || string(body) != "body" {
		t.Fatalf("body %q, %v", body, err)
	}
	for _, k := range []string{"X-Hop", "Keep-Alive"} {
		if v, ok := resp.Header[k]; ok {
			t.Errorf("hop-by-hop response header %s crossed: %q", k, v)
		}
	}
	if resp.Header.Get("X-Kept") != "yes" {
		t.Errorf("end-to-end response header lost: %v", resp.Header)
	}
	if got := resp.Trailer.Get("X-Checksum"); got != "abc" {
		t.Errorf("trailer X-Checksum %q, want abc (trailers %v)", got, resp.Trailer)
	}
	if got := resp.Trailer.Get("X-Late"); got != "undeclared" {
		t.Errorf("undeclared trailer X-Late %q, want it passed (trailers %v)", got, resp.Trailer)
	}
}

func TestRequestTrailersReachTheBackend(t *testing.T) {
	got := make(chan string, 1)
	addr := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got <- r.Trailer.Get("X-Sum")
	}))
	gw := newGateway(t, httphandler.Config{}, selector.Config{}, []router.Route{chatRoute}, map[string][]string{"svc": {addr}})
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, gw.URL+"/chat/up", pr)
	req.Trailer = http.Header{"X-Sum": nil}
	go func() {
		_, _ = io.WriteString(pw, "some data")
		req.Trailer.Set("X-Sum", "42")
		_ = pw.Close()
	}()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	select {
	case v := <-got:
		if v != "42" {
			t.Errorf("backend saw trailer X-Sum %q, want 42", v)
		}
	case <-time.After(waitFor):
		t.Fatal("the backend never answered")
	}
}

func TestEarlyHintsArriveBeforeTheAnswer(t *testing.T) {
	eachTransport(t, testEarlyHintsArriveBeforeTheAnswer)
}

func testEarlyHintsArriveBeforeTheAnswer(t *testing.T, tr http.RoundTripper) {
	addr := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "page")
	}))
	gw := newGateway(t, httphandler.Config{Transport: tr}, selector.Config{}, []router.Route{chatRoute}, map[string][]string{"svc": {addr}})
	var hints []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		if code == http.StatusEarlyHints {
			hints = append(hints, h.Get("Link"))
		}
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, gw.URL+"/chat/page", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "page" {
		t.Fatalf("%d %q, want 200 page", resp.StatusCode, body)
	}
	if len(hints) != 1 || !strings.Contains(hints[0], "style.css") {
		t.Errorf("103 Link headers %q, want the node's one", hints)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("the middleware's response headers were lost after the 103: %v", resp.Header)
	}
}

// TestStreamOutlivesTheResponseTimeout: the response timeout covers waiting for the headers;
// a body that takes longer is not cut.
func TestStreamOutlivesTheResponseTimeout(t *testing.T) {
	addr := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for i := range 3 {
			time.Sleep(100 * time.Millisecond)
			_, _ = io.WriteString(w, strings.Repeat("x", i+1))
			w.(http.Flusher).Flush()
		}
	}))
	route := chatRoute
	route.Timeout = 150 * time.Millisecond
	gw := newGateway(t, httphandler.Config{}, selector.Config{}, []router.Route{route}, map[string][]string{"svc": {addr}})
	resp, err := http.Get(gw.URL + "/chat/slowbody")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || string(body) != "xxxxxx" || resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %q %v, want the whole body", resp.StatusCode, body, err)
	}
}

// TestChunkedAnswerIsFlushedAsItArrives: a body of unknown length (not an event stream) reaches
// the client piece by piece, not when the node has finished.
func TestChunkedAnswerIsFlushedAsItArrives(t *testing.T) {
	next := make(chan struct{})
	addr := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		_, _ = io.WriteString(w, "{\"n\":1}\n")
		w.(http.Flusher).Flush()
		select {
		case <-next:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "{\"n\":2}\n")
	}))
	gw := newGateway(t, httphandler.Config{}, selector.Config{}, []router.Route{chatRoute}, map[string][]string{"svc": {addr}})
	resp, err := http.Get(gw.URL + "/chat/nd")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || line != "{\"n\":1}\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	close(next)
	if line, err := br.ReadString('\n'); err != nil || line != "{\"n\":2}\n" {
		t.Fatalf("second line %q, %v", line, err)
	}
}

// TestNodeDyingMidBodyAbortsTheAnswer: the client must not take a cut body for a whole one.
func TestNodeDyingMidBodyAbortsTheAnswer(t *testing.T) {
	addr := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, strings.Repeat("a", 100))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}))
	gw := newGateway(t, httphandler.Config{}, selector.Config{}, []router.Route{chatRoute}, map[string][]string{"svc": {addr}})
	resp, err := http.Get(gw.URL + "/chat/cl")
	if err != nil {
		return // aborted before the (buffered) headers went out: as good
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err == nil {
		t.Errorf("read %d bytes and a clean end, want an error", len(body))
	}
}

// TestPerTryTimeoutMovesToAnotherNode: with retries on, a GET whose node sends no headers within
// the per-try timeout is tried on the next node; the slow node hears about it.
func TestPerTryTimeoutMovesToAnotherNode(t *testing.T) {
	eachTransport(t, testPerTryTimeoutMovesToAnotherNode)
}

func testPerTryTimeoutMovesToAnotherNode(t *testing.T, tr http.RoundTripper) {
	release := make(chan struct{})
	slow := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // a server notices a closed connection once the body is read
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	fast := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, "fast:"+string(b))
	}))
	t.Cleanup(func() { close(release) }) // runs before the backends' Close waits for their handlers
	pol := retry.New(2, 500*time.Millisecond, 0, 0)
	gw := newGateway(t, httphandler.Config{Retry: pol, Transport: tr}, selector.Config{Breaker: selector.BreakerConfig{ConsecutiveFailures: 1, OpenTimeout: time.Hour}},
		[]router.Route{chatRoute}, map[string][]string{"svc": {slow, fast}})
	// Round robin starts on the slow node.
	req, _ := http.NewRequest(http.MethodPut, gw.URL+"/chat/p", strings.NewReader("payload"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "fast:payload" {
		t.Fatalf("%d %q, want 200 fast:payload (the body replayed)", resp.StatusCode, body)
	}
	for _, st := range gw.Sel.States("svc") {
		want := "closed"
		if st.Node.Address == slow {
			want = "open"
		}
		if st.Breaker != want || st.InFlight != 0 {
			t.Errorf("node %s: breaker %s, in flight %d; want %s, 0", st.Node.Address, st.Breaker, st.InFlight, want)
		}
	}
	if req, ret := pol.Budget.InFlight(); req != 0 || ret != 0 {
		t.Errorf("budget after the request: %d requests, %d retries in flight", req, ret)
	}
}

// TestPOSTIsNotRetriedAfterItWasSent: a POST that reached a node which then failed is answered
// with the failure, even with retries on.
func TestPOSTIsNotRetriedAfterItWasSent(t *testing.T) {
	var hits atomic.Int64
	closer := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	}))
	live := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(100) }))
	gw := newGateway(t, httphandler.Config{Retry: retry.New(3, 0, 0, 0)}, selector.Config{},
		[]router.Route{chatRoute}, map[string][]string{"svc": {closer, live}})
	resp, err := http.Post(gw.URL+"/chat/order", "text/plain", strings.NewReader("once"))
	if err != nil {
		t.Fatal(err)
	}
	wantJSONError(t, resp, http.StatusBadGateway)
	if hits.Load() != 1 {
		t.Errorf("hits %d, want the POST sent once", hits.Load())
	}
}

func TestUpgradeIsProxied(t *testing.T) {
	// A node speaking a toy protocol after "Upgrade: echo": it answers each line upper-cased.
	addr := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "upgrade required", http.StatusUpgradeRequired)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		_ = brw.Flush()
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			_, _ = brw.WriteString(strings.ToUpper(line))
			_ = brw.Flush()
		}
	}))
	gw := newGateway(t, httphandler.Config{}, selector.Config{}, []router.Route{chatRoute}, map[string][]string{"svc": {addr}})
	conn, err := net.Dial("tcp", strings.TrimPrefix(gw.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(waitFor))
	// The first line rides in the same packet as the request: the server has buffered it.
	_, _ = io.WriteString(conn, "GET /chat/up HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nhello\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "echo" {
		t.Fatalf("%d, Upgrade %q; want 101 echo", resp.StatusCode, resp.Header.Get("Upgrade"))
	}
	for _, msg := range []string{"hello\n", "again\n"} {
		if msg != "hello\n" {
			_, _ = io.WriteString(conn, msg)
		}
		got, err := br.ReadString('\n')
		if err != nil || got != strings.ToUpper(msg) {
			t.Fatalf("echo %q, %v; want %q", got, err, strings.ToUpper(msg))
		}
	}
	// A plain request to the same node is answered as usual.
	r2, err := http.Get(gw.URL + "/chat/up")
	if err != nil {
		t.Fatal(err)
	}
	_ = r2.Body.Close()
	if r2.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("plain request: %d, want 426", r2.StatusCode)
	}
}

func TestUpgradeToAnotherProtocolIsRefused(t *testing.T) {
	addr := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: other\r\n\r\n")
		_ = brw.Flush()
	}))
	gw := newGateway(t, httphandler.Config{}, selector.Config{}, []router.Route{chatRoute}, map[string][]string{"svc": {addr}})
	req, _ := http.NewRequest(http.MethodGet, gw.URL+"/chat/up", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	e := wantJSONError(t, resp, http.StatusBadGateway)
	if !strings.Contains(e.Detail, "other") {
		t.Errorf("detail %q does not name the protocol", e.Detail)
	}
}

func TestHTTPSNode(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "tls:"+r.URL.Path)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	tlsCfg := srv.Client().Transport.(*http.Transport).TLSClientConfig
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		want int
	}{{"trusted certificate", tlsCfg, http.StatusOK}, {"untrusted certificate", nil, http.StatusBadGateway}} {
		t.Run(tc.name, func(t *testing.T) {
			gw := newGateway(t, httphandler.Config{TLS: tc.cfg, TLSAll: true}, selector.Config{}, []router.Route{chatRoute},
				map[string][]string{"svc": {srv.Listener.Addr().String()}})
			resp, err := http.Get(gw.URL + "/chat/secure")
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != http.StatusOK {
				wantJSONError(t, resp, tc.want)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tc.want || string(body) != "tls:/secure" {
				t.Fatalf("%d %q", resp.StatusCode, body)
			}
		})
	}
}

// TestClientGoneIs499: a request whose client left before the node answered is written off as
// 499, and the node's breaker does not count it.
func TestClientGoneIs499(t *testing.T) {
	addr := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	sel, err := selector.New(selector.Config{Breaker: selector.BreakerConfig{ConsecutiveFailures: 1, OpenTimeout: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	sel.Update(serviceTable(map[string][]string{"svc": {addr}}))
	h := httphandler.New(sel, slog.New(slog.DiscardHandler), httphandler.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/x", nil)
	time.AfterFunc(50*time.Millisecond, cancel)
	rec := httptest.NewRecorder()
	h.Forward(rec, req, "svc", "/x")
	if rec.Code != apierror.StatusClientClosedRequest {
		t.Errorf("status %d, want 499; body %s", rec.Code, rec.Body)
	}
	if st := sel.States("svc"); st[0].Breaker != "closed" || st[0].InFlight != 0 {
		t.Errorf("node state %+v after a client left", st[0])
	}
}

// TestCompressionIsEndToEnd: the gateway neither asks the node for gzip on the client's behalf
// nor inflates a compressed answer; Accept-Encoding and the encoded body cross as they are.
func TestCompressionIsEndToEnd(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = io.WriteString(zw, "compressed by the node")
	_ = zw.Close()
	gzipped := buf.Bytes()
	addr := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") == "" {
			_, _ = io.WriteString(w, "identity")
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(gzipped)
	}))
	gw := newGateway(t, httphandler.Config{}, selector.Config{}, []router.Route{chatRoute}, map[string][]string{"svc": {addr}})
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	t.Cleanup(client.CloseIdleConnections)
	for _, tc := range []struct {
		name, accept, wantEncoding string
		want                       []byte
	}{
		{"client asks for nothing", "", "", []byte("identity")},
		{"client asks for gzip", "gzip", "gzip", gzipped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, gw.URL+"/chat/z", nil)
			if tc.accept != "" {
				req.Header.Set("Accept-Encoding", tc.accept)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if string(body) != string(tc.want) || resp.Header.Get("Content-Encoding") != tc.wantEncoding {
				t.Errorf("body %q, Content-Encoding %q; want %q, %q", body, resp.Header.Get("Content-Encoding"), tc.want, tc.wantEncoding)
			}
		})
	}
}

// TestMalformedAnswerIs502: a node whose answer is not HTTP is a bad gateway, not the
// gateway's own 500.
func TestMalformedAnswerIs502(t *testing.T) {
	garbled := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_, _ = brw.WriteString("HTTP/1.1 two hundred OK\r\n\r\n")
			_ = brw.Flush()
			_ = conn.Close()
		}
	}))
	gw := newGateway(t, httphandler.Config{}, selector.Config{}, []router.Route{chatRoute}, map[string][]string{"svc": {garbled}})
	resp, err := http.Get(gw.URL + "/chat/order")
	if err != nil {
		t.Fatal(err)
	}
	e := wantJSONError(t, resp, http.StatusBadGateway)
	if !strings.Contains(e.Detail, "not valid HTTP/1.1") {
		t.Errorf("detail %q, want it to say the answer is not HTTP", e.Detail)
	}
}
