package h1client

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
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

// The bound of RoundTripBy is set lazily and left on the connection after a body read whole
// with its headers (see conn.dl): the next tests hold it to never cutting an exchange short,
// never letting one run past a shorter bound, and never failing a pooled connection.

// boundServer answers each request on a connection after the delay its X-Delay header names,
// or not at all once the test ends.
func boundServer(t *testing.T) *boundSrv {
	stop := make(chan struct{})
	b := &boundSrv{}
	b.rawServer = newRawServer(t, func(_ int64, c net.Conn, br *bufio.Reader) {
		for {
			req := readRequest(br)
			if req == nil {
				return
			}
			b.requests.Add(1)
			if d, err := time.ParseDuration(req.Header.Get("X-Delay")); err == nil && d > 0 {
				select {
				case <-time.After(d):
				case <-stop:
					return
				}
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	t.Cleanup(func() { close(stop) }) // before the server's cleanup, which waits for handlers
	return b
}

// boundSrv is boundServer's server, counting the requests it read.
type boundSrv struct {
	*rawServer
	requests atomic.Int64
}

func delayed(t *testing.T, tr *Transport, url string, delay, bound time.Duration) error {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("X-Delay", delay.String())
	resp, err := tr.RoundTripBy(req, time.Now().Add(bound))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "ok" {
		t.Fatalf("body %q, %v", b, err)
	}
	return nil
}

// TestLaterBoundIsNotCutShort: an exchange bounded later than the one before on the same
// connection gets its whole bound, not what is left of the earlier one.
func TestLaterBoundIsNotCutShort(t *testing.T) {
	srv := boundServer(t)
	tr := newTransport(t, Config{})
	if err := delayed(t, tr, srv.url(), 0, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := delayed(t, tr, srv.url(), 300*time.Millisecond, 3*time.Second); err != nil {
		t.Fatalf("an answer within its own bound failed: %v", err)
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// TestShorterBoundAfterALongerOne: a shorter bound after a long one on the same connection
// is kept, not the long one left in place.
func TestShorterBoundAfterALongerOne(t *testing.T) {
	srv := boundServer(t)
	tr := newTransport(t, Config{})
	if err := delayed(t, tr, srv.url(), 0, time.Minute); err != nil {
		t.Fatal(err)
	}
	err := delayed(t, tr, srv.url(), 30*time.Second, 100*time.Millisecond)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("error %v, want the short bound's os.ErrDeadlineExceeded", err)
	}
}

// TestPassedBoundDoesNotFailTheNextLook: a connection back in the pool with its last bound
// passed is still looked at (a request that cannot be sent twice), found alive and reused.
func TestPassedBoundDoesNotFailTheNextLook(t *testing.T) {
	srv := boundServer(t)
	tr := newTransport(t, Config{})
	if err := delayed(t, tr, srv.url(), 0, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond) // past the bound and its slack: the point of the test
	req, _ := http.NewRequest(http.MethodPost, srv.url(), hiddenLength{strings.NewReader("once")})
	req.ContentLength = 4
	if resp, body := do(t, tr, req); resp.StatusCode != http.StatusOK || body != "ok" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1 (the pooled one reused)", n)
	}
}

// The context reaches a connection lazily (conn.watch): the next two tests hold it to
// cancellation before and early in an exchange.

// TestCancelledBeforeTheExchangeSendsNothing: a context done before RoundTrip fails it with the
// context's cause, and the node never sees the request.
func TestCancelledBeforeTheExchangeSendsNothing(t *testing.T) {
	srv := boundServer(t)
	tr := newTransport(t, Config{})
	if err := delayed(t, tr, srv.url(), 0, time.Minute); err != nil { // a pooled connection
		t.Fatal(err)
	}
	cause := errors.New("client left")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.url(), nil)
	resp, err := tr.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("a cancelled request succeeded")
	}
	if err != cause {
		t.Errorf("error %v, want the context's cause", err)
	}
	if n := srv.requests.Load(); n != 1 {
		t.Errorf("the node saw %d requests, want only the first", n)
	}
}

// TestCancelBeforeTheWatchRegisters: a context cancelled a moment after the exchange began,
// sooner than the watch registers it, still ends an exchange the node never answers.
func TestCancelBeforeTheWatchRegisters(t *testing.T) {
	srv := boundServer(t)
	tr := newTransport(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.url(), nil)
	req.Header.Set("X-Delay", "1h")
	time.AfterFunc(time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() {
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the cancelled exchange still waits for the node")
	}
}
