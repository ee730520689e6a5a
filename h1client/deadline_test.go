package h1client

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRoundTripByBoundsTheWaitForHeaders: a node that never answers fails the call at the
// deadline, with the connection closed and the request not sent again.
func TestRoundTripByBoundsTheWaitForHeaders(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := newRawServer(t, func(_ int64, _ net.Conn, br *bufio.Reader) {
		if readRequest(br) != nil {
			<-release // never answers while the test runs
		}
	})
	tr := newTransport(t, Config{})
	req, _ := http.NewRequest(http.MethodGet, srv.url(), nil)
	start := time.Now()
	resp, err := tr.RoundTripBy(req, start.Add(100*time.Millisecond))
	if err == nil {
		resp.Body.Close()
		t.Fatal("no error from a node that never answers")
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("error %v, want one wrapping os.ErrDeadlineExceeded", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 3*time.Second {
		t.Errorf("returned after %v, want about 100ms", d)
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1 (no resend)", n)
	}
	if c := tr.popIdle(connKey{"http", srv.ln.Addr().String()}); c != nil {
		t.Error("the timed-out connection went back to the pool")
	}
}

// TestRoundTripByLeavesTheBodyUnbounded: the deadline ends with the headers. A body that
// arrives after it is read whole, and the connection, back in the pool, carries no deadline
// into the next exchange.
func TestRoundTripByLeavesTheBodyUnbounded(t *testing.T) {
	srv := newRawServer(t, func(_ int64, c net.Conn, br *bufio.Reader) {
		for i := 0; ; i++ {
			if readRequest(br) == nil {
				return
			}
			if i == 0 {
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst")
				time.Sleep(200 * time.Millisecond) // past the deadline
				_, _ = io.WriteString(c, "-half")
				continue
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")
		}
	})
	tr := newTransport(t, Config{})
	req, _ := http.NewRequest(http.MethodGet, srv.url(), nil)
	resp, err := tr.RoundTripBy(req, time.Now().Add(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != "first-half" {
		t.Fatalf("body %q, %v; want the whole body read past the deadline", body, err)
	}
	// The deadline has passed: a connection that kept it would fail at once.
	if resp, body := get(t, tr, srv.url()); resp.StatusCode != http.StatusOK || body != "second" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1 (the first one reused)", n)
	}
}

// TestRoundTripByDeadlineInThePast fails before anything is sent on a fresh connection.
func TestRoundTripByDeadlineInThePast(t *testing.T) {
	srv := newRawServer(t, func(_ int64, c net.Conn, br *bufio.Reader) {
		if readRequest(br) != nil {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	tr := newTransport(t, Config{})
	req, _ := http.NewRequest(http.MethodPost, srv.url(), strings.NewReader("x"))
	resp, err := tr.RoundTripBy(req, time.Now().Add(-time.Second))
	if err == nil {
		resp.Body.Close()
		t.Fatal("a call past its deadline succeeded")
	}
}
