package connguard_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/edgeapi/gateway/connguard"
)

// capped listens on loopback with the cap n and accepts on its own goroutine into the returned
// channel until the listener closes.
func capped(t *testing.T, n int) (net.Listener, <-chan net.Conn) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := connguard.Listener(inner, connguard.Config{MaxConns: n})
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return ln, accepted
}

func dialTo(t *testing.T, ln net.Listener) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func next(t *testing.T, accepted <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c := <-accepted:
		t.Cleanup(func() { _ = c.Close() })
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted")
		return nil
	}
}

// none checks that nothing more is accepted for a while: a slow machine can only make it pass.
func none(t *testing.T, accepted <-chan net.Conn, why string) {
	t.Helper()
	select {
	case <-accepted:
		t.Fatalf("a connection was accepted %s", why)
	case <-time.After(150 * time.Millisecond):
	}
}

// TestMaxConnsHoldsTheNextConnection: at the cap, the next connection waits in the backlog
// until an accepted one closes; closing one twice frees one slot.
func TestMaxConnsHoldsTheNextConnection(t *testing.T) {
	ln, accepted := capped(t, 2)
	dialTo(t, ln)
	dialTo(t, ln)
	first := next(t, accepted)
	next(t, accepted)
	dialTo(t, ln)
	dialTo(t, ln)
	none(t, accepted, "past the cap of 2")
	_ = first.Close()
	_ = first.Close()
	next(t, accepted)
	none(t, accepted, "after one close, however often it was closed")
}

// TestCloseEndsAWaitingAccept: Close of the listener returns an Accept waiting for a slot.
func TestCloseEndsAWaitingAccept(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := connguard.Listener(inner, connguard.Config{MaxConns: 1})
	dialTo(t, ln)
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		done <- err
	}()
	none(t, nil, "") // give the Accept time to wait for the slot
	_ = ln.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept returned %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still waits after Close")
	}
}

// TestZeroConfigIsTheListener: no bound and no cap: nothing to wrap.
func TestZeroConfigIsTheListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := connguard.Listener(ln, connguard.Config{}); got != ln {
		t.Errorf("Listener(ln, Config{}) = %T, want ln itself", got)
	}
}
