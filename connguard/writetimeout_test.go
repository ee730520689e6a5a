package connguard_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/edgeapi/gateway/connguard"
	"github.com/edgeapi/gateway/internal/testwait"
)

// The tests run real loopback TCP with fixed socket buffers on both ends, so that a client
// that does not read fills them after about a MiB instead of the tens of MiB Linux allows.
// Not smaller: with buffers near loopback's 64 KiB segment size the window opens only on the
// sender's persist timer, and a client reading along would seem stalled for whole RTOs.
const sockBuf = 256 << 10

// fixedBuffers fixes the send buffer of every connection it accepts, before the guard wraps
// it.
type fixedBuffers struct{ net.Listener }

func (l fixedBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(sockBuf)
	}
	return c, err
}

// pair returns the server side of a loopback connection accepted through Listener(_, d), and
// its client side; both are closed when the test ends.
func pair(t *testing.T, d time.Duration) (srv net.Conn, cli *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	gl := connguard.Listener(fixedBuffers{ln}, connguard.Config{WriteTimeout: d})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cli = c.(*net.TCPConn)
	t.Cleanup(func() { _ = cli.Close() })
	if err := cli.SetReadBuffer(sockBuf); err != nil {
		t.Fatal(err)
	}
	srv, err = gl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv, cli
}

// result is what a Write returned.
type result struct {
	n   int
	err error
}

// goWrite writes p on c on a goroutine of its own and returns where its result arrives.
func goWrite(c net.Conn, p []byte) <-chan result {
	done := make(chan result, 1)
	go func() {
		n, err := c.Write(p)
		done <- result{n, err}
	}()
	return done
}

// wait returns the write's result, failing the test if it has not come within 10s: a write
// the guard should have cut is still blocked.
func wait(t *testing.T, done <-chan result) result {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the write still blocks after 10s")
		return result{}
	}
}

// wantTimeout fails unless r is a write cut short by a write deadline.
func wantTimeout(t *testing.T, r result, size int) {
	t.Helper()
	if !errors.Is(r.err, os.ErrDeadlineExceeded) {
		t.Fatalf("write of %d bytes: n=%d err=%v, want os.ErrDeadlineExceeded", size, r.n, r.err)
	}
	if r.n >= size {
		t.Fatalf("write of %d bytes wrote %d and still failed", size, r.n)
	}
}

// bigSize is more than the socket buffers of both ends hold.
const bigSize = 8 << 20

// goWriteBig writes bigSize bytes on c as goWrite does.
func goWriteBig(c net.Conn) <-chan result { return goWrite(c, make([]byte, bigSize)) }

func TestListenerWithoutTimeoutIsTheListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, d := range []time.Duration{0, -time.Second} {
		if got := connguard.Listener(ln, connguard.Config{WriteTimeout: d}); got != ln {
			t.Errorf("Listener(ln, %s) = %T, want ln itself", d, got)
		}
	}
}

func TestClientThatNeverReadsTimesOut(t *testing.T) {
	srv, _ := pair(t, 200*time.Millisecond)
	wantTimeout(t, wait(t, goWriteBig(srv)), bigSize)
}

// TestSlowReaderGetsEverything: a client that reads little but steadily takes many times d
// to get a large answer and gets all of it, since each 64 KiB piece arms the deadline anew.
func TestSlowReaderGetsEverything(t *testing.T) {
	const d = time.Second
	srv, cli := pair(t, d)
	start := time.Now()
	done := make(chan result, 1)
	go func() {
		r := <-goWriteBig(srv)
		if r.err != nil {
			_ = srv.Close() // the reader below then fails at once
		}
		done <- r
	}()

	// The reading pace, not a synchronisation: 32 KiB every 10 ms, so a 64 KiB piece finds
	// room in about 20 ms, far within d/2 even on a loaded machine; the whole takes about
	// 2.5 s, more than twice d.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	buf := make([]byte, 32<<10)
	got := 0
	if err := cli.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for got < bigSize {
		<-tick.C
		n, err := io.ReadFull(cli, buf[:min(len(buf), bigSize-got)])
		got += n
		if err != nil {
			r := wait(t, done)
			t.Fatalf("read %d of %d bytes: %v; the write: %d bytes, %v", got, bigSize, err, r.n, r.err)
		}
	}
	if r := wait(t, done); r.err != nil || r.n != bigSize {
		t.Fatalf("Write = %d, %v; want %d, nil", r.n, r.err, bigSize)
	}
	if took := time.Since(start); took <= d {
		t.Fatalf("the answer took %s, not more than d=%s: the test proves nothing", took, d)
	}
}

// TestIdleLongerThanTimeout: a connection that sat idle past its armed deadline (a keep-alive
// connection between requests) writes again without a timeout.
func TestIdleLongerThanTimeout(t *testing.T) {
	const d = 100 * time.Millisecond
	srv, cli := pair(t, d)
	echo := func(msg string) {
		t.Helper()
		if _, err := srv.Write([]byte(msg)); err != nil {
			t.Fatalf("write %q: %v", msg, err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(cli, got); err != nil || string(got) != msg {
			t.Fatalf("read %q, %v; want %q", got, err, msg)
		}
	}
	echo("first")
	armed := time.Now()
	testwait.Until(t, 10*time.Second, "the first write's deadline to pass", func() bool { return time.Since(armed) > 2*d })
	echo("after a long idle")
}

func TestExplicitWriteDeadline(t *testing.T) {
	const d = 200 * time.Millisecond

	for _, tc := range []struct {
		name string
		set  func(net.Conn, time.Time) error
		read bool // set bounds reads too
	}{
		{"SetWriteDeadline", net.Conn.SetWriteDeadline, false},
		{"SetDeadline", net.Conn.SetDeadline, true},
	} {
		t.Run(tc.name+": a past one fails writes, the zero time hands back to the guard", func(t *testing.T) {
			srv, cli := pair(t, d)
			if err := tc.set(srv, time.Now().Add(-time.Second)); err != nil {
				t.Fatal(err)
			}
			// The guard would arm d from now: the caller's deadline must stay.
			if _, err := srv.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("write after a past deadline: %v, want os.ErrDeadlineExceeded", err)
			}
			if tc.read {
				if _, err := srv.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("read after a past deadline: %v, want os.ErrDeadlineExceeded", err)
				}
			}
			if err := tc.set(srv, time.Time{}); err != nil {
				t.Fatal(err)
			}
			if tc.read {
				if _, err := cli.Write([]byte("z")); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(srv, make([]byte, 1)); err != nil {
					t.Fatalf("read after clearing the deadline: %v", err)
				}
			}
			if _, err := srv.Write([]byte("y")); err != nil {
				t.Fatalf("write after clearing the deadline: %v", err)
			}
			b := make([]byte, 1)
			if _, err := io.ReadFull(cli, b); err != nil || string(b) != "y" {
				t.Fatalf("read %q, %v; want y", b, err)
			}
			// Guarded again: a client that stops reading is cut off.
			wantTimeout(t, wait(t, goWriteBig(srv)), bigSize)
		})
	}

	t.Run("a far one outlives d", func(t *testing.T) {
		srv, _ := pair(t, d)
		if err := srv.SetWriteDeadline(time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		done := goWriteBig(srv)
		testwait.Until(t, 10*time.Second, "3d to pass", func() bool { return time.Since(start) > 3*d })
		select {
		case r := <-done:
			t.Fatalf("a write under a deadline an hour away ended after about 3d: %d, %v", r.n, r.err)
		default:
		}
		// The caller's new deadline reaches the blocked write.
		if err := srv.SetWriteDeadline(time.Now()); err != nil {
			t.Fatal(err)
		}
		wantTimeout(t, wait(t, done), bigSize)
	})
}

// TestConcurrentWritesAndDeadlines is for the race detector: writers that set and clear the
// write deadline between their writes share a connection, so one's deadline changes run
// alongside another's writes and re-arms, and every byte arrives. (d is long: the client reads
// all along, and a loaded machine must not turn that into a timeout.)
func TestConcurrentWritesAndDeadlines(t *testing.T) {
	srv, cli := pair(t, 2*time.Second)
	const writers, writes, size = 4, 50, 2000
	var want int64 = writers * writes * size
	got := make(chan int64, 1)
	go func() {
		_ = cli.SetReadDeadline(time.Now().Add(time.Minute))
		n, _ := io.CopyN(io.Discard, cli, want)
		got <- n
	}()
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			p := bytes.Repeat([]byte("w"), size)
			for i := range writes {
				switch i % 3 {
				case 1:
					_ = srv.SetWriteDeadline(time.Now().Add(time.Minute))
				case 2:
					_ = srv.SetWriteDeadline(time.Time{})
				}
				if _, err := srv.Write(p); err != nil {
					t.Errorf("write: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := <-got; n != want {
		t.Fatalf("client read %d bytes, want %d", n, want)
	}
}

func TestCloseWriteReachesTheTCPConn(t *testing.T) {
	srv, cli := pair(t, time.Second)
	cw, ok := srv.(interface{ CloseWrite() error })
	if !ok {
		t.Fatalf("%T over a *net.TCPConn lacks CloseWrite", srv)
	}
	if _, err := srv.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	_ = cli.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(cli); err != nil || string(b) != "bye" {
		t.Fatalf("client read %q, %v; want bye then EOF", b, err)
	}
	// Half closed: the client's side still reaches the server.
	if _, err := cli.Write([]byte("ok")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 2)
	if _, err := io.ReadFull(srv, b); err != nil || string(b) != "ok" {
		t.Fatalf("server read %q, %v; want ok", b, err)
	}
}

// pipeListener accepts one side of a net.Pipe, which cannot half-close.
type pipeListener struct {
	net.Listener
	c net.Conn
}

func (l pipeListener) Accept() (net.Conn, error) { return l.c, nil }

func TestNoCloseWriteWithoutOne(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c, err := connguard.Listener(pipeListener{c: a}, connguard.Config{WriteTimeout: time.Second}).Accept()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(interface{ CloseWrite() error }); ok {
		t.Fatalf("%T over a net.Pipe offers CloseWrite", c)
	}
}
