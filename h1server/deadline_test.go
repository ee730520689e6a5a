package h1server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/edgeapi/gateway/h1server"
)

// The connection's goroutine leaves a bodyless request's idle or header deadline on the socket
// (see conn.rdl). These tests hold it to the promise that nothing a handler does sees it.

const tight = 50 * time.Millisecond

func tightTimeouts(s *h1server.Server) { s.ReadHeaderTimeout, s.IdleTimeout = tight, tight }

// TestHijackedConnectionHasNoDeadline: a WebSocket upgrade is a bodyless GET; the connection
// a handler hijacks must not carry that request's read deadline.
func TestHijackedConnectionHasNoDeadline(t *testing.T) {
	got := make(chan string, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			got <- "hijack: " + err.Error()
			return
		}
		defer nc.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
		_ = brw.Flush()
		line, err := brw.ReadString('\n')
		if err != nil {
			got <- "read: " + err.Error()
			return
		}
		got <- line
	})
	_, addr := serveH1(t, h, tightTimeouts)
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
	if a := c.mustRead(http.MethodGet); a.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", a.StatusCode)
	}
	// Well past both timeouts and the idle slack: the hijacker's read must still be waiting.
	time.Sleep(8 * tight)
	c.send("hello\n")
	if line := <-got; line != "hello\n" {
		t.Errorf("the hijacker got %q, want the line sent after the timeouts", line)
	}
}

// TestSlowBodylessHandlerKeepsItsClient: a handler that runs past the timeouts is neither
// cancelled (the watch for a departing client reads without the request's deadline) nor cut
// off, and the connection carries the next request.
func TestSlowBodylessHandlerKeepsItsClient(t *testing.T) {
	cause := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-r.Context().Done():
			case <-time.After(8 * tight):
			}
			cause <- context.Cause(r.Context())
		}
		_, _ = w.Write([]byte(r.URL.Path))
	})
	_, addr := serveH1(t, h, tightTimeouts)
	c := dial(t, addr)
	c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	if a := c.mustRead(http.MethodGet); a.body != "/slow" {
		t.Fatalf("answer %d %q", a.StatusCode, a.body)
	}
	if err := <-cause; err != nil {
		t.Errorf("the slow handler's context ended: %v", err)
	}
	c.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
	if a := c.mustRead(http.MethodGet); a.body != "/next" {
		t.Errorf("next answer %d %q", a.StatusCode, a.body)
	}
}

// TestBusyConnectionStillIdlesOut: the idle deadline moves lazily on a busy connection, but
// once requests stop the connection is closed after at least IdleTimeout.
func TestBusyConnectionStillIdlesOut(t *testing.T) {
	_, addr := serveH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), tightTimeouts)
	c := dial(t, addr)
	for range 20 {
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		c.mustRead(http.MethodGet)
	}
	last := time.Now()
	if err := c.eof(); err != nil {
		t.Fatalf("not closed: %v", err)
	}
	if d := time.Since(last); d < tight-10*time.Millisecond {
		t.Errorf("closed %v after the last answer, want at least %v", d, tight)
	}
}

// TestHeadInPiecesAfterBusyRequests: a head that does not arrive whole is still bounded by
// ReadHeaderTimeout, also on a connection whose earlier heads arrived whole.
func TestHeadInPiecesAfterBusyRequests(t *testing.T) {
	_, addr := serveH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), func(s *h1server.Server) {
		s.ReadHeaderTimeout, s.IdleTimeout = tight, 4*waitFor // only the header timeout closes within the client's wait
	})
	c := dial(t, addr)
	for range 5 {
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		c.mustRead(http.MethodGet)
	}
	c.send("GET / HTTP/1.1\r\nHost:")
	if err := c.eof(); err != nil {
		t.Fatalf("not closed: the header timeout did not bound the head: %v", err)
	}
}
