package h1client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

func get(t testing.TB, tr http.RoundTripper, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, tr, req)
}

func do(t testing.TB, tr http.RoundTripper, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	return resp, string(b)
}

func TestKeepAliveReusesOneConnection(t *testing.T) {
	srv := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello "+r.URL.RequestURI())
	}))
	tr := newTransport(t, Config{})
	for i := range 20 {
		_, body := get(t, tr, fmt.Sprintf("%s/p/%d?q=%d", srv.URL, i, i))
		if want := fmt.Sprintf("hello /p/%d?q=%d", i, i); body != want {
			t.Fatalf("body %q, want %q", body, want)
		}
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("%d connections for 20 sequential requests, want 1", n)
	}
	if n := tr.idleCount("http", srv.Listener.Addr().String()); n != 1 {
		t.Errorf("%d idle connections, want 1", n)
	}
}

func TestRequestOnTheWire(t *testing.T) {
	got := make(chan string, 8)
	srv := newRawServer(t, func(_ int64, c net.Conn, br *bufio.Reader) {
		for {
			var head strings.Builder
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				head.WriteString(line)
				if line == "\r\n" {
					break
				}
			}
			got <- head.String()
			if _, err := io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n"); err != nil {
				return
			}
		}
	})
	tr := newTransport(t, Config{})
	tests := []struct {
		name    string
		req     func() *http.Request
		want    []string
		notWant []string
	}{
		{"GET: no length, no agent, raw query as given", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, srv.url()+"/a%2Fb/c?x=1&y=%41+b", nil)
			r.Host = "front.example"
			r.Header["User-Agent"] = []string{""}
			r.Header["X-Bad"] = []string{"a\r\nInjected: yes", "ok"}
			return r
		}, []string{"GET /a%2Fb/c?x=1&y=%41+b HTTP/1.1\r\n", "Host: front.example\r\n", "X-Bad: ok\r\n"},
			[]string{"User-Agent", "Content-Length", "Injected", "Accept-Encoding", "Transfer-Encoding"}},
		{"POST without a body says Content-Length: 0", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, srv.url()+"/p", nil)
			return r
		}, []string{"POST /p HTTP/1.1\r\n", "Content-Length: 0\r\n"}, []string{"Transfer-Encoding"}},
		{"DELETE without a body says nothing", func() *http.Request {
			r, _ := http.NewRequest(http.MethodDelete, srv.url()+"/d", nil)
			return r
		}, []string{"DELETE /d HTTP/1.1\r\n"}, []string{"Content-Length", "Transfer-Encoding"}},
		{"a User-Agent passes, Close asks to close", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, srv.url()+"/", nil)
			r.Header.Set("User-Agent", "client/1")
			r.Close = true
			return r
		}, []string{"User-Agent: client/1\r\n", "Connection: close\r\n", "Host: " + srv.ln.Addr().String() + "\r\n"}, nil},
		{"a known length", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPut, srv.url()+"/k", strings.NewReader("12345"))
			return r
		}, []string{"PUT /k HTTP/1.1\r\n", "Content-Length: 5\r\n"}, []string{"Transfer-Encoding"}},
		{"an empty GET body of unknown length is not sent", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, srv.url()+"/e", io.NopCloser(strings.NewReader("")))
			r.ContentLength = -1
			return r
		}, []string{"GET /e HTTP/1.1\r\n"}, []string{"Transfer-Encoding", "Content-Length"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := do(t, tr, tc.req())
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("status %d", resp.StatusCode)
			}
			var head string
			select {
			case head = <-got:
			case <-time.After(waitFor):
				t.Fatal("no request")
			}
			for _, w := range tc.want {
				if !strings.Contains(head, w) {
					t.Errorf("request lacks %q:\n%s", w, head)
				}
			}
			for _, nw := range tc.notWant {
				if strings.Contains(head, nw) {
					t.Errorf("request has %q:\n%s", nw, head)
				}
			}
		})
	}
}

// hiddenLength hides a reader's length: the body goes out chunked.
type hiddenLength struct{ r io.Reader }

func (h hiddenLength) Read(p []byte) (int, error) { return h.r.Read(p) }
func (h hiddenLength) Close() error               { return nil }

func TestChunkedRequestAndResponse(t *testing.T) {
	srv := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) == 0 || r.TransferEncoding[0] != "chunked" {
			http.Error(w, fmt.Sprintf("transfer encoding %v", r.TransferEncoding), http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(r.Body)
		for i := 0; i < len(b); i += 1000 {
			_, _ = w.Write(b[i:min(i+1000, len(b))])
			w.(http.Flusher).Flush()
		}
	}))
	tr := newTransport(t, Config{})
	payload := strings.Repeat("0123456789", 10_000)
	for range 3 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/echo", hiddenLength{strings.NewReader(payload)})
		req.ContentLength = -1
		resp, body := do(t, tr, req)
		if resp.StatusCode != http.StatusOK || body != payload {
			t.Fatalf("status %d, %d bytes back of %d: %.80q", resp.StatusCode, len(body), len(payload), body)
		}
		if resp.ContentLength != -1 || len(resp.TransferEncoding) == 0 {
			t.Errorf("answer not chunked: length %d, %v", resp.ContentLength, resp.TransferEncoding)
		}
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1 (chunked bodies both ways keep the connection)", n)
	}
}

// trailerBody fills in its request's trailer when it reaches its end, as a proxied body does.
type trailerBody struct {
	r   io.Reader
	req *http.Request
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.req.Trailer.Set("X-Checksum", "abc123")
	}
	return n, err
}
func (b *trailerBody) Close() error { return nil }

func TestTrailersBothWays(t *testing.T) {
	srv := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "X-Result")
		_, _ = fmt.Fprintf(w, "%s|%s", b, r.Trailer.Get("X-Checksum"))
		w.Header().Set("X-Result", "done")
	}))
	tr := newTransport(t, Config{})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/t", nil)
	req.Body = &trailerBody{r: strings.NewReader("data"), req: req}
	req.ContentLength = -1
	req.Trailer = http.Header{"X-Checksum": nil}
	resp, body := do(t, tr, req)
	if body != "data|abc123" {
		t.Errorf("body %q: the request trailer did not arrive", body)
	}
	if got := resp.Trailer.Get("X-Result"); got != "done" {
		t.Errorf("response trailer %q, want done", got)
	}
}

func TestInformationalAnswersGoToTheTrace(t *testing.T) {
	srv := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		_, _ = io.WriteString(w, "final")
	}))
	tr := newTransport(t, Config{})
	var got []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		got = append(got, fmt.Sprintf("%d %s", code, h.Get("Link")))
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, srv.URL, nil)
	resp, body := do(t, tr, req)
	if resp.StatusCode != http.StatusOK || body != "final" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if len(got) != 1 || got[0] != "103 </style.css>; rel=preload" {
		t.Errorf("trace saw %q", got)
	}
}

func TestTooMany1xxAnswers(t *testing.T) {
	srv := newRawServer(t, func(_ int64, c net.Conn, br *bufio.Reader) {
		if readRequest(br) == nil {
			return
		}
		_, _ = io.WriteString(c, strings.Repeat("HTTP/1.1 102 Processing\r\n\r\n", 10)+"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	})
	tr := newTransport(t, Config{})
	req, _ := http.NewRequest(http.MethodGet, srv.url(), nil)
	if resp, err := tr.RoundTrip(req); err == nil {
		_ = resp.Body.Close()
		t.Fatal("no error after 10 informational answers")
	}
}

func TestUpgradeCarriesBytesBothWays(t *testing.T) {
	srv := newRawServer(t, func(_ int64, c net.Conn, br *bufio.Reader) {
		req := readRequest(br)
		if req == nil || req.Header.Get("Upgrade") != "echo" {
			return
		}
		// The first bytes of the new protocol travel with the 101.
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nhello\n")
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, strings.ToUpper(line))
		}
	})
	tr := newTransport(t, Config{})
	req, _ := http.NewRequest(http.MethodGet, srv.url()+"/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	rw, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		t.Fatalf("101 body %T is not an io.ReadWriteCloser", resp.Body)
	}
	defer rw.Close()
	br := bufio.NewReader(rw)
	if line, err := br.ReadString('\n'); err != nil || line != "hello\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	for _, msg := range []string{"ping\n", "two words\n"} {
		if _, err := io.WriteString(rw, msg); err != nil {
			t.Fatal(err)
		}
		if line, err := br.ReadString('\n'); err != nil || line != strings.ToUpper(msg) {
			t.Fatalf("echo %q, %v", line, err)
		}
	}
	if n := tr.idleCount("http", srv.ln.Addr().String()); n != 0 {
		t.Errorf("%d idle connections: the upgraded one must not be pooled", n)
	}
}

func TestAnswersWithoutBodyReleaseAtOnce(t *testing.T) {
	srv := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Header().Set("Content-Length", "1000")
		}
	}))
	tr := newTransport(t, Config{})
	addr := srv.Listener.Addr().String()
	for _, tc := range []struct{ method, path string }{{http.MethodHead, "/"}, {http.MethodGet, "/204"}, {http.MethodGet, "/304"}} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Body != http.NoBody {
			t.Errorf("%s %s: body %T, want http.NoBody", tc.method, tc.path, resp.Body)
		}
		// Pooled before the body is even looked at.
		if n := tr.idleCount("http", addr); n != 1 {
			t.Errorf("%s %s: %d idle connections before Close, want 1", tc.method, tc.path, n)
		}
		_ = resp.Body.Close()
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func TestConnectionCloseFromEitherSide(t *testing.T) {
	srv := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bye" {
			w.Header().Set("Connection", "close")
		}
		_, _ = io.WriteString(w, "ok")
	}))
	tr := newTransport(t, Config{})
	addr := srv.Listener.Addr().String()

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	req.Close = true
	if resp, body := do(t, tr, req); resp.StatusCode != http.StatusOK || body != "ok" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if n := tr.idleCount("http", addr); n != 0 {
		t.Errorf("request asked to close: %d idle", n)
	}
	if resp, _ := get(t, tr, srv.URL+"/bye"); !resp.Close {
		t.Error("answer's Connection: close not seen")
	}
	if n := tr.idleCount("http", addr); n != 0 {
		t.Errorf("answer asked to close: %d idle", n)
	}
	get(t, tr, srv.URL+"/")
	if n := srv.conns.Load(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
}

// staleServer answers the first request on its first connection and then closes that
// connection when the next request arrives on it, without answering: the race of a server's
// idle timeout with a client's reuse. Later connections answer normally.
func staleServer(t *testing.T, hits *int64, mu *sync.Mutex) *rawServer {
	return newRawServer(t, func(n int64, c net.Conn, br *bufio.Reader) {
		for i := 0; ; i++ {
			req := readRequest(br)
			if req == nil {
				return
			}
			mu.Lock()
			*hits++
			mu.Unlock()
			if n == 1 && i == 1 {
				return // closes
			}
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
				return
			}
		}
	})
}

func TestStaleConnectionIsRetriedForGET(t *testing.T) {
	var hits int64
	var mu sync.Mutex
	srv := staleServer(t, &hits, &mu)
	tr := newTransport(t, Config{})
	get(t, tr, srv.url())
	if resp, body := get(t, tr, srv.url()); resp.StatusCode != http.StatusOK || body != "ok" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (the retry on a fresh one)", n)
	}
	// A body with GetBody is replayed too.
	req, _ := http.NewRequest(http.MethodPut, srv.url(), strings.NewReader("x"))
	req.Header.Set("Idempotency-Key", "k1")
	do(t, tr, req)
}

func TestStaleConnectionIsNotRetriedForPOST(t *testing.T) {
	var hits int64
	var mu sync.Mutex
	srv := staleServer(t, &hits, &mu)
	tr := newTransport(t, Config{})
	get(t, tr, srv.url())
	req, _ := http.NewRequest(http.MethodPost, srv.url(), hiddenLength{strings.NewReader("once")})
	req.ContentLength = 4
	resp, err := tr.RoundTrip(req)
	if err == nil {
		_ = resp.Body.Close()
		t.Fatal("a POST on a connection closed without an answer succeeded")
	}
	if !errors.Is(err, io.EOF) {
		t.Errorf("error %v, want one wrapping io.EOF", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if hits != 2 {
		t.Errorf("server saw %d requests, want 2 (the POST once)", hits)
	}
}

// TestIdleCloseIsSeenBeforeReuse: a connection the server closed while it was idle is not used
// again, so even a POST that cannot be replayed goes out on a fresh one.
func TestIdleCloseIsSeenBeforeReuse(t *testing.T) {
	srv := newRawServer(t, func(_ int64, c net.Conn, br *bufio.Reader) {
		if readRequest(br) == nil {
			return
		}
		// Keep-alive answer, then the server's idle timeout ends the connection.
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	tr := newTransport(t, Config{})
	get(t, tr, srv.url())
	eventually(t, "the server's close", func() bool {
		c := tr.popIdle(connKey{"http", srv.ln.Addr().String()})
		if c == nil {
			return true
		}
		defer tr.put(c)
		return !c.alive(true)
	})
	req, _ := http.NewRequest(http.MethodPost, srv.url(), hiddenLength{strings.NewReader("once")})
	req.ContentLength = 4
	if resp, body := do(t, tr, req); resp.StatusCode != http.StatusOK || body != "ok" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}

// TestStrayAnswerOnAnIdleConnection: a server whose idle timeout ran out writes "408 Request
// Timeout" and closes. A GET sent on that connection after it was idle for a while must not
// take the 408 for its answer; one sent within trustIdle skips the look, and the server has
// not timed out yet.
func TestStrayAnswerOnAnIdleConnection(t *testing.T) {
	srv := newRawServer(t, func(n int64, c net.Conn, br *bufio.Reader) {
		if readRequest(br) == nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		if n == 1 {
			time.Sleep(20 * time.Millisecond) // the server's idle timeout
			_, _ = io.WriteString(c, "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		}
	})
	tr := newTransport(t, Config{})
	tr.trustIdle = 50 * time.Millisecond
	get(t, tr, srv.url())
	time.Sleep(2 * tr.trustIdle)
	if resp, body := get(t, tr, srv.url()); resp.StatusCode != http.StatusOK || body != "ok" {
		t.Fatalf("%d %q, want the 200 of a fresh connection", resp.StatusCode, body)
	}
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestCancelWhileWaitingForHeaders(t *testing.T) {
	release := make(chan struct{})
	srv := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // a server notices a closed connection once the body is read
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release) })
	tr := newTransport(t, Config{})
	cause := errors.New("per-try timeout")
	for _, tc := range []struct {
		name string
		body io.Reader
	}{{"no body", nil}, {"small body", strings.NewReader("abc")}, {"streamed body", hiddenLength{strings.NewReader(strings.Repeat("z", 100_000))}}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, tc.body)
			if _, ok := tc.body.(hiddenLength); ok {
				req.ContentLength = -1
			}
			time.AfterFunc(50*time.Millisecond, func() { cancel(cause) })
			start := time.Now()
			resp, err := tr.RoundTrip(req)
			if err == nil {
				_ = resp.Body.Close()
				t.Fatal("no error")
			}
			if err != cause {
				t.Errorf("error %v, want the context's cause", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("returned after %v", d)
			}
		})
	}
	// Each cancelled exchange closed its connection: the server sees all of them go.
	eventually(t, "the server to see the connections closed", func() bool { return srv.closed.Load() == 3 })
}

func TestCancelWhileReadingTheBody(t *testing.T) {
	release := make(chan struct{})
	srv := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first part")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release) })
	tr := newTransport(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 100)
	n, err := resp.Body.Read(buf)
	if err != nil || !strings.HasPrefix("first part", string(buf[:n])) {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err = io.ReadAll(resp.Body)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("read returned after %v", d)
	}
}

// TestCancelAfterReleaseDoesNotTouchTheConnection: once the body reached its end, the
// connection serves another request; cancelling the first one's context must not abort it.
func TestCancelAfterReleaseDoesNotTouchTheConnection(t *testing.T) {
	release := make(chan struct{})
	srv := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	}))
	tr := newTransport(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/fast", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "ok" {
		t.Fatalf("%q, %v", b, err)
	}
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/slow", nil)
		resp, err := tr.RoundTrip(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			_ = resp.Body.Close()
		}
		errc <- err
	}()
	eventually(t, "the second request to take the connection", func() bool {
		return tr.idleCount("http", srv.Listener.Addr().String()) == 0
	})
	cancel()
	_ = resp.Body.Close()
	close(release)
	if err := <-errc; err != nil {
		t.Errorf("second request: %v", err)
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func TestCloseBeforeTheEndDiscardsTheConnection(t *testing.T) {
	srv := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 100_000))
	}))
	tr := newTransport(t, Config{})
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = resp.Body.Read(make([]byte, 10))
	_ = resp.Body.Close()
	if _, err := resp.Body.Read(make([]byte, 10)); err == nil {
		t.Error("read after Close succeeded")
	}
	if n := tr.idleCount("http", srv.Listener.Addr().String()); n != 0 {
		t.Errorf("%d idle after a Close before the end", n)
	}
	get(t, tr, srv.URL)
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestLargeUploadAnsweredEarly(t *testing.T) {
	srv := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge) // the body is never read
	}))
	tr := newTransport(t, Config{})
	for _, known := range []bool{true, false} {
		var body io.Reader = bytes.NewReader(make([]byte, 1<<20))
		if !known {
			body = hiddenLength{body}
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/upload", body)
		if !known {
			req.ContentLength = -1
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Errorf("known length %v: %v", known, err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("known length %v: status %d", known, resp.StatusCode)
			}
		}()
		select {
		case <-done:
		case <-time.After(waitFor):
			t.Fatal("deadlock: the early answer never came back")
		}
	}
}

func TestLargeUploadIsEchoedAndTheConnectionKept(t *testing.T) {
	srv := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		_, _ = fmt.Fprint(w, n)
	}))
	tr := newTransport(t, Config{})
	for range 3 {
		req, _ := http.NewRequest(http.MethodPut, srv.URL, bytes.NewReader(make([]byte, 1<<20)))
		if _, body := do(t, tr, req); body != "1048576" {
			t.Fatalf("server read %s bytes", body)
		}
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func TestBodyShorterThanItsLengthFails(t *testing.T) {
	srv := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	tr := newTransport(t, Config{})
	for _, n := range []int64{10, 100_000} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, hiddenLength{strings.NewReader("short")})
		req.ContentLength = n
		resp, err := tr.RoundTrip(req)
		if err == nil {
			_ = resp.Body.Close()
			t.Errorf("length %d: no error", n)
		}
	}
}

// failingBody fails after some bytes, as a client's upload over the body limit does.
type failingBody struct{ n int }

var errBodyLimit = errors.New("body limit")

func (b *failingBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, errBodyLimit
	}
	n := min(len(p), b.n)
	b.n -= n
	return n, nil
}
func (b *failingBody) Close() error { return nil }

func TestBodyReadErrorIsReturned(t *testing.T) {
	srv := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	tr := newTransport(t, Config{})
	for _, length := range []int64{1000, 200_000, -1} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, &failingBody{n: 500})
		req.ContentLength = length
		resp, err := tr.RoundTrip(req)
		if err == nil {
			_ = resp.Body.Close()
		}
		if !errors.Is(err, errBodyLimit) {
			t.Errorf("length %d: error %v, want the body's", length, err)
		}
	}
}

func TestHTTPS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "tls %v", r.TLS != nil)
	}))
	var conns int
	var mu sync.Mutex
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	tr := newTransport(t, Config{TLS: &tls.Config{RootCAs: roots}})
	for range 3 {
		if _, body := get(t, tr, srv.URL); body != "tls true" {
			t.Fatalf("body %q", body)
		}
	}
	mu.Lock()
	if conns != 1 {
		t.Errorf("%d connections, want 1", conns)
	}
	mu.Unlock()

	untrusting := newTransport(t, Config{})
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	_, err := untrusting.RoundTrip(req)
	var cert *tls.CertificateVerificationError
	if !errors.As(err, &cert) {
		t.Errorf("untrusted certificate: error %v (%T), want a *tls.CertificateVerificationError", err, err)
	}

	plain := newCounted(t, http.NotFoundHandler())
	req, _ = http.NewRequest(http.MethodGet, "https://"+plain.Listener.Addr().String(), nil)
	_, err = tr.RoundTrip(req)
	var rec tls.RecordHeaderError
	if !errors.As(err, &rec) {
		t.Errorf("plain server over https: error %v (%T), want a tls.RecordHeaderError", err, err)
	}
}

func TestDialRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	tr := newTransport(t, Config{})
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	_, err = tr.RoundTrip(req)
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Errorf("error %v (%T), want a *net.OpError with Op dial", err, err)
	}
}

func TestIdleConnectionsTimeOut(t *testing.T) {
	srv := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tr := newTransport(t, Config{IdleConnTimeout: 100 * time.Millisecond})
	get(t, tr, srv.URL)
	get(t, tr, srv.URL)
	eventually(t, "the idle connection to be closed", func() bool {
		return srv.closed.Load() == 1 && tr.idleCount("http", srv.Listener.Addr().String()) == 0
	})
	get(t, tr, srv.URL)
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestAtMostMaxIdleConnsPerHostStayIdle(t *testing.T) {
	var wg sync.WaitGroup
	gate := make(chan struct{})
	wg.Add(5)
	srv := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Done()
		<-gate
	}))
	tr := newTransport(t, Config{MaxIdleConnsPerHost: 2})
	var clients sync.WaitGroup
	for range 5 {
		clients.Add(1)
		go func() {
			defer clients.Done()
			req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}()
	}
	wg.Wait() // five connections at once
	close(gate)
	clients.Wait()
	if n := tr.idleCount("http", srv.Listener.Addr().String()); n != 2 {
		t.Errorf("%d idle, want 2", n)
	}
	tr.CloseIdleConnections()
	if n := tr.idleCount("http", srv.Listener.Addr().String()); n != 0 {
		t.Errorf("%d idle after CloseIdleConnections", n)
	}
	eventually(t, "the server to see every connection closed", func() bool { return srv.closed.Load() == 5 })
}

func TestConcurrentRequests(t *testing.T) {
	srv := newCounted(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = fmt.Fprintf(w, "%s:%s", r.URL.Query().Get("i"), b)
	}))
	tr := newTransport(t, Config{MaxIdleConnsPerHost: 3})
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				id := fmt.Sprintf("%d-%d", g, i)
				var body io.Reader
				if i%3 == 1 {
					body = strings.NewReader(id)
				}
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/?i="+id, body)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Error(err)
					return
				}
				b, err := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				want := id + ":"
				if body != nil {
					want += id
				}
				if err != nil || string(b) != want {
					t.Errorf("got %q, %v; want %q", b, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := tr.idleCount("http", srv.Listener.Addr().String()); n > 3 {
		t.Errorf("%d idle, want at most 3", n)
	}
}

func TestUnsupportedRequests(t *testing.T) {
	tr := newTransport(t, Config{})
	for _, tc := range []struct {
		name string
		req  func() *http.Request
	}{
		{"scheme", func() *http.Request { r, _ := http.NewRequest(http.MethodGet, "ftp://h/", nil); return r }},
		{"no host", func() *http.Request { r, _ := http.NewRequest(http.MethodGet, "http:///x", nil); return r }},
		{"bad method", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/", nil)
			r.Method = "G T"
			return r
		}},
		{"bad host", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/", nil)
			r.Host = "a\r\nb"
			return r
		}},
	} {
		if resp, err := tr.RoundTrip(tc.req()); err == nil {
			_ = resp.Body.Close()
			t.Errorf("%s: no error", tc.name)
		}
	}
}

// TestMalformedAnswerIsTheServers: an answer that is not HTTP/1.1 comes back as a
// *ProtocolError, a net.Error, so the proxy answers 502 and counts it against the node.
func TestMalformedAnswerIsTheServers(t *testing.T) {
	for name, answer := range map[string]string{
		"garbled status line": "HTTP/1.1 two hundred OK\r\n\r\n",
		"not http":            "SSH-2.0-OpenSSH_9.6\r\n",
		"bad content length":  "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
		"endless 1xx":         strings.Repeat("HTTP/1.1 103 Early Hints\r\n\r\n", 10),
	} {
		t.Run(name, func(t *testing.T) {
			srv := newRawServer(t, func(_ int64, c net.Conn, br *bufio.Reader) {
				if readRequest(br) != nil {
					_, _ = io.WriteString(c, answer)
				}
			})
			tr := newTransport(t, Config{})
			req, _ := http.NewRequest(http.MethodGet, srv.url()+"/", nil)
			resp, err := tr.RoundTrip(req)
			if err == nil {
				_ = resp.Body.Close()
				t.Fatalf("status %d, want an error", resp.StatusCode)
			}
			var pe *ProtocolError
			var ne net.Error
			if !errors.As(err, &pe) || !errors.As(err, &ne) {
				t.Fatalf("error %T %v, want a *ProtocolError that is a net.Error", err, err)
			}
		})
	}
}
