package h1server_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeapi/gateway/h1server"
)

// watchDelay is a little more than the server waits before it watches for a departing client.
const watchDelay = 60 * time.Millisecond

// TestContextCancelledWhenClientLeaves: a client that closes its connection while a slow
// handler runs cancels the request's context, once the body has been read.
func TestContextCancelledWhenClientLeaves(t *testing.T) {
	for _, tc := range []struct{ name, raw string }{
		{"no body", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"body read", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"},
		{"chunked body read", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"},
		{"http/1.0", "GET / HTTP/1.0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			started := make(chan struct{}, 1)
			cancelled := make(chan bool, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				started <- struct{}{}
				select {
				case <-r.Context().Done():
					cancelled <- true
				case <-time.After(waitFor):
					cancelled <- false
				}
			})
			for _, s := range servers(t, h) {
				c := dial(t, s.addr)
				c.send(tc.raw)
				<-started
				_ = c.nc.Close()
				if !<-cancelled {
					t.Errorf("%s: the context was not cancelled when the client left", s.name)
				}
			}
		})
	}
}

// TestContextNotCancelledByPipelining: a client that sends its next request while a slow
// handler runs is not taken for one that left, and the next request is read whole.
func TestContextNotCancelledByPipelining(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first string
		// together: the next request goes with the first, before the watch starts.
		together bool
	}{
		{name: "after the watch started", first: "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"},
		{name: "after a body", first: "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab"},
		{name: "after a chunked body", first: "POST /slow HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n"},
		{name: "with the first", first: "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", together: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ready := make(chan struct{}, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				if r.URL.Path == "/slow" {
					time.Sleep(watchDelay) // the server now watches the connection
					ready <- struct{}{}
					time.Sleep(watchDelay) // and has seen the next request begin
					if err := r.Context().Err(); err != nil {
						http.Error(w, "cancelled: "+context.Cause(r.Context()).Error(), http.StatusInternalServerError)
						return
					}
				}
				_, _ = io.WriteString(w, r.Method+" "+r.RequestURI)
			})
			next := "PUT /next?q=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
			for _, s := range servers(t, h) {
				c := dial(t, s.addr)
				if tc.together {
					c.send(tc.first + next)
					<-ready
				} else {
					c.send(tc.first)
					<-ready
					c.send(next)
				}
				for _, want := range []string{"/slow", "PUT /next?q=1"} {
					a := c.mustRead(http.MethodGet)
					if a.StatusCode != http.StatusOK || !strings.HasSuffix(a.body, want) {
						t.Errorf("%s: %d %q, want 200 %q", s.name, a.StatusCode, a.body, want)
					}
				}
				if c.closed() {
					t.Errorf("%s: closed", s.name)
				}
			}
		})
	}
}

// TestHandlerPanics: a panic costs its connection, without an answer, and is logged unless it
// is http.ErrAbortHandler; the server serves on.
func TestHandlerPanics(t *testing.T) {
	for _, tc := range []struct {
		name   string
		raw    string
		panic  any
		flush  bool // the handler flushes part of an answer first
		logged bool
	}{
		{name: "panic", raw: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", panic: "boom", logged: true},
		{name: "abort", raw: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", panic: http.ErrAbortHandler},
		{name: "abort after a flush", raw: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", panic: http.ErrAbortHandler, flush: true},
		{name: "panic with a body left", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde", panic: "boom", logged: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs logBuffer
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/ok" {
					_, _ = io.WriteString(w, "ok")
					return
				}
				if tc.flush {
					_, _ = io.WriteString(w, "partial")
					_ = http.NewResponseController(w).Flush()
				}
				panic(tc.panic)
			})
			_, addr := serveH1(t, h, func(s *h1server.Server) { s.Log = logs.logger() })
			c := dial(t, addr)
			c.send(tc.raw + "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
			a, err := c.read(http.MethodGet)
			switch {
			case tc.flush && (err != nil || a.bodyErr == nil):
				t.Errorf("flushed answer: %v, body error %v; want a head and a truncated body", err, a.bodyErr)
			case !tc.flush && err == nil:
				t.Errorf("an answer (%d %q) to a request whose handler panicked", a.StatusCode, a.body)
			}
			if err := c.eof(); err != nil {
				t.Errorf("the connection stayed open: %v", err)
			}
			other := dial(t, addr)
			other.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
			if a := other.mustRead(http.MethodGet); a.body != "ok" {
				t.Errorf("the next connection got %d %q", a.StatusCode, a.body)
			}
			if got := strings.Contains(logs.String(), "panic serving request"); got != tc.logged {
				t.Errorf("logged %v, want %v: %s", got, tc.logged, logs.String())
			}
		})
	}
}

// TestRejectPanics: a panicking Reject hook costs the connection, not the process.
func TestRejectPanics(t *testing.T) {
	var logs logBuffer
	_, addr := serveH1(t, report, func(s *h1server.Server) {
		s.Log = logs.logger()
		s.Reject = func(w http.ResponseWriter, status int, err error) { panic("reject") }
	})
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
	if err := c.eof(); err != nil {
		t.Fatal(err)
	}
	other := dial(t, addr)
	other.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if a := other.mustRead(http.MethodGet); a.StatusCode != http.StatusOK {
		t.Errorf("status %d after a panicking Reject", a.StatusCode)
	}
	if !strings.Contains(logs.String(), "panic") {
		t.Errorf("the panic was not logged: %s", logs.String())
	}
}

// TestUnreadBody: what a handler leaves of a small body is read to keep the connection; a
// large rest, or a body the client waits to send, closes it.
func TestUnreadBody(t *testing.T) {
	big := strings.Repeat("x", 300<<10)
	for _, tc := range []struct {
		name string
		raw  string
		open bool
	}{
		{"small", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n" + strings.Repeat("x", 1024), true},
		{"small chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" + strings.Repeat("x", 1024) + "\r\n0\r\n\r\n", true},
		{"large", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(big)) + "\r\n\r\n" + big, false},
		{"large chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(big, 8<<10) + "0\r\n\r\n", false},
		{"expecting continue", "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
			for _, s := range servers(t, h) {
				c := dial(t, s.addr)
				go func() { _, _ = io.WriteString(c.nc, tc.raw) }() // blocks once the server stops reading
				a := c.mustRead(http.MethodPost)
				if a.StatusCode != http.StatusOK {
					t.Errorf("%s: a %d answer, want a 100 never (the body was not read) and 200", s.name, a.StatusCode)
				}
				if a.Close == tc.open {
					t.Errorf("%s: Connection: close %v, want %v", s.name, a.Close, !tc.open)
				}
				if s.name == "h1server" && c.closed() == tc.open {
					t.Errorf("%s: closed %v, want %v", s.name, !tc.open, tc.open)
				}
			}
		})
	}
}

// chunk encodes s in chunks of n bytes.
func chunk(s string, n int) string {
	var b strings.Builder
	for len(s) > 0 {
		k := min(n, len(s))
		b.WriteString(strconv.FormatInt(int64(k), 16) + "\r\n" + s[:k] + "\r\n")
		s = s[k:]
	}
	return b.String()
}

// TestUnreadBodyOfAStalledClient: a client that stops sending a body the handler left unread
// does not hold the connection, nor Shutdown, beyond the read timeout.
func TestUnreadBodyOfAStalledClient(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	srv, addr := serveH1(t, h, func(s *h1server.Server) { s.ReadHeaderTimeout = 100 * time.Millisecond })
	c := dial(t, addr)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b")
	if a := c.mustRead(http.MethodPost); a.body != "ok" {
		t.Fatalf("%d %q", a.StatusCode, a.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := c.eof(); err != nil {
		t.Errorf("the connection stayed open: %v", err)
	}
}

// TestChunkOverhead: a chunked body of tiny chunks with long extensions is refused before the
// server has read much more framing than data.
func TestChunkOverhead(t *testing.T) {
	body := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.Copy(io.Discard, r.Body)
		body <- err
	})
	for _, s := range servers(t, h) {
		c := dial(t, s.addr)
		ext := ";" + strings.Repeat("e", 1000)
		go func() {
			_, _ = io.WriteString(c.nc, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"+
				strings.Repeat("1"+ext+"\r\nx\r\n", 100)+"0\r\n\r\n")
		}()
		if err := <-body; err == nil {
			t.Errorf("%s: 100 KB of extensions for 100 bytes read without an error", s.name)
		}
	}
}

// TestTimeouts: ReadHeaderTimeout bounds a request's head from its first byte, IdleTimeout the
// wait for a request; either closes the connection without an answer.
func TestTimeouts(t *testing.T) {
	const short = 100 * time.Millisecond
	for _, tc := range []struct {
		name      string
		header    time.Duration
		idle      time.Duration
		before    string // a whole request answered first
		raw       string // then these bytes, and nothing more
		atLeast   time.Duration
		answering bool // the raw bytes get an answer before the close
	}{
		{name: "slow request line", header: short, raw: "GET / HT", atLeast: short},
		{name: "slow headers", header: short, raw: "GET / HTTP/1.1\r\nHost: x\r\nX-A:", atLeast: short},
		{name: "never used", header: waitFor, idle: short, atLeast: short},
		{name: "idle after a request", header: waitFor, idle: short, before: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", atLeast: short},
		{name: "idle takes the header timeout", header: short, before: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", atLeast: short},
		{name: "header timeout restarts with each request", header: 3 * short, idle: waitFor,
			before: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", raw: "GET / HTTP/1.1\r\n", atLeast: 3 * short},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := serveH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), func(s *h1server.Server) {
				s.ReadHeaderTimeout, s.IdleTimeout = tc.header, tc.idle
			})
			c := dial(t, addr)
			if tc.before != "" {
				c.send(tc.before)
				c.mustRead(http.MethodGet)
			}
			start := time.Now()
			c.send(tc.raw)
			if err := c.eof(); err != nil {
				t.Fatalf("not closed: %v", err)
			}
			if d := time.Since(start); d < tc.atLeast-10*time.Millisecond {
				t.Errorf("closed after %v, want at least %v", d, tc.atLeast)
			}
		})
	}
}

// TestNoTimeoutsNoClose: without timeouts a connection waits for its requests, and a
// handler's deadline ends with its request.
func TestNoTimeoutsNoClose(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now()); err != nil {
			panic(err)
		}
		if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			panic(err)
		}
		_, _ = io.WriteString(w, r.URL.Path)
	})
	for _, s := range []namedAddr{{"net/http", serveStd(t, h)}, {"h1server", func() string {
		_, addr := serveH1(t, h, func(s *h1server.Server) { s.ReadHeaderTimeout = 0 })
		return addr
	}()}} {
		c := dial(t, s.addr)
		for _, path := range []string{"/1", "/2"} {
			c.send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")
			if a := c.mustRead(http.MethodGet); a.body != path {
				t.Errorf("%s: %d %q, want %s", s.name, a.StatusCode, a.body, path)
			}
		}
	}
}

// TestMaxHeaderBytes bounds a request's head, and a chunked body's trailers.
func TestMaxHeaderBytes(t *testing.T) {
	const limit = 1 << 10
	_, addr := serveH1(t, report, func(s *h1server.Server) { s.MaxHeaderBytes = limit })
	head := func(size int) string {
		h := "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: "
		return h + strings.Repeat("p", size-len(h)-4) + "\r\n\r\n"
	}
	for _, tc := range []struct {
		name   string
		raw    string
		status int
	}{
		{"at the limit", head(limit), 200},
		{"over the limit", head(limit + 1), 431},
		{"trailers over the limit", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: " +
			strings.Repeat("t", limit) + "\r\n\r\n", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			c.send(tc.raw)
			if a := c.mustRead(http.MethodGet); a.StatusCode != tc.status {
				t.Errorf("status %d, want %d", a.StatusCode, tc.status)
			}
		})
	}
	t.Run("default", func(t *testing.T) {
		_, addr := serveH1(t, report)
		c := dial(t, addr)
		c.send(strings.Replace(head(512<<10), "GET", "HEAD", 1))
		if a := c.mustRead(http.MethodHead); a.StatusCode != 200 {
			t.Errorf("status %d for a 512 KiB head, want 200", a.StatusCode)
		}
	})
}

// TestShutdownClosesIdleConnections at once: never used and between requests.
func TestShutdownClosesIdleConnections(t *testing.T) {
	srv, addr := serveH1(t, report)
	fresh := dial(t, addr)
	used := dial(t, addr)
	used.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	used.mustRead(http.MethodGet)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	// The listener takes the fresh connection before it is counted: wait for the server to
	// hold it, which an answer on a third connection, accepted after it, shows.
	third := dial(t, addr)
	third.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	third.mustRead(http.MethodGet)
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	for _, c := range []*client{fresh, used, third} {
		if err := c.eof(); err != nil {
			t.Errorf("a connection stayed open: %v", err)
		}
	}
	if nc, err := net.DialTimeout("tcp", addr, waitFor); err == nil {
		_ = nc.SetDeadline(time.Now().Add(waitFor))
		if _, err := nc.Read(make([]byte, 1)); isTimeout(err) {
			t.Error("a connection after Shutdown was served")
		}
		_ = nc.Close()
	}
}

// TestShutdownWaitsForRequests in flight, which are answered with Connection: close.
func TestShutdownWaitsForRequests(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	srv, addr := serveH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "done")
	}))
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	a := c.mustRead(http.MethodGet)
	if a.body != "done" || !a.Close {
		t.Errorf("%d %q close %v, want done and Connection: close", a.StatusCode, a.body, a.Close)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(waitFor):
		t.Fatal("Shutdown did not return after the request ended")
	}
	if err := c.eof(); err != nil {
		t.Error(err)
	}
}

// TestShutdownGivesUpWithItsContext, leaving the rest to Close.
func TestShutdownGivesUpWithItsContext(t *testing.T) {
	started := make(chan struct{})
	cancelled := make(chan error, 1)
	srv, addr := serveH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
		cancelled <- context.Cause(r.Context())
	}))
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want context.DeadlineExceeded", err)
	}
	_ = srv.Close()
	if err := <-cancelled; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("the request's context ended with %v, want http.ErrServerClosed", err)
	}
	if err := c.eof(); err != nil {
		t.Error(err)
	}
}

// TestServeAfterShutdown: Serve returns http.ErrServerClosed, and closes the listener.
func TestServeAfterShutdown(t *testing.T) {
	srv := &h1server.Server{Handler: report}
	for _, stop := range []func() error{func() error { return srv.Shutdown(context.Background()) }, srv.Close} {
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v, want http.ErrServerClosed", err)
		}
		if _, err := ln.Accept(); err == nil {
			t.Error("the listener is open")
		}
	}
}

// TestServeReturnsOnShutdown, from every listener.
func TestServeReturnsOnShutdown(t *testing.T) {
	srv := &h1server.Server{Handler: report}
	served := make(chan error, 2)
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { served <- srv.Serve(ln) }()
	}
	// Serve may not have taken its listener yet: Shutdown must still stop it.
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case err := <-served:
			if !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(waitFor):
			t.Fatal("Serve did not return")
		}
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Errorf("a second Shutdown: %v", err)
	}
}

// TestCloseCancelsRequests in flight, with http.ErrServerClosed as the cause.
func TestCloseCancelsRequests(t *testing.T) {
	var running atomic.Int32
	cancelled := make(chan error, 2)
	srv, addr := serveH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		running.Add(1)
		<-r.Context().Done()
		cancelled <- context.Cause(r.Context())
	}))
	conns := []*client{dial(t, addr), dial(t, addr)}
	for _, c := range conns {
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	eventually(t, "both handlers to run", func() bool { return running.Load() == 2 })
	_ = srv.Close()
	for range 2 {
		if err := <-cancelled; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("cause %v, want http.ErrServerClosed", err)
		}
	}
	for _, c := range conns {
		if err := c.eof(); err != nil {
			t.Error(err)
		}
	}
}

// TestRequestContext holds what net/http's server puts there, and the request the rest.
func TestRequestContext(t *testing.T) {
	got := make(chan string, 1)
	_, addr := serveH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var problems []string
		if s, _ := r.Context().Value(http.ServerContextKey).(*h1server.Server); s == nil {
			problems = append(problems, "no server")
		}
		if a, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr); a == nil || !strings.HasPrefix(a.String(), "127.0.0.1:") {
			problems = append(problems, "local address "+addrString(a))
		}
		if !strings.HasPrefix(r.RemoteAddr, "127.0.0.1:") {
			problems = append(problems, "remote address "+r.RemoteAddr)
		}
		got <- strings.Join(problems, ", ")
	}))
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.mustRead(http.MethodGet)
	if p := <-got; p != "" {
		t.Error(p)
	}
}

func addrString(a net.Addr) string {
	if a == nil {
		return "<nil>"
	}
	return a.String()
}
