package h2grpc

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeapi/gateway/internal/testcert"
	"github.com/edgeapi/gateway/internal/testwait"
	"golang.org/x/net/http2"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func TestEcho(t *testing.T) {
	var gotMethod atomic.Value
	srv := startServer(t, nil, func(ctx context.Context, method string, in []byte, _ grpc.ServerStream) ([]byte, error) {
		gotMethod.Store(method)
		return append([]byte("re:"), in...), nil
	})
	c := newClient(t, srv.addr, Config{})
	for i := range 3 { // the second and third calls reuse the connection and the stream
		call := &Call{Method: "/pkg.Svc/Echo", Request: []byte("hello")}
		if err := c.Invoke(ctxTimeout(t, 5*time.Second), call); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if got := string(*call.Response); got != "re:hello" {
			t.Fatalf("answer %q", got)
		}
	}
	if gotMethod.Load() != "/pkg.Svc/Echo" {
		t.Fatalf("method %v", gotMethod.Load())
	}
	// An empty request and an empty answer are messages too.
	call := &Call{Method: "/pkg.Svc/Empty"}
	srv2 := startServer(t, nil, func(context.Context, string, []byte, grpc.ServerStream) ([]byte, error) { return nil, nil })
	if err := newClient(t, srv2.addr, Config{}).Invoke(ctxTimeout(t, 5*time.Second), call); err != nil {
		t.Fatal(err)
	}
	if call.Response == nil || len(*call.Response) != 0 {
		t.Fatalf("want an empty answer, got %v", call.Response)
	}
}

func TestStatusErrors(t *testing.T) {
	msg := "kaputt: Grüße 100% 世界\n"
	srv := startServer(t, nil, func(ctx context.Context, method string, in []byte, _ grpc.ServerStream) ([]byte, error) {
		switch method {
		case "/s/Details":
			st, err := status.New(codes.FailedPrecondition, msg).WithDetails(&errdetails.ErrorInfo{Reason: "R", Domain: "d"})
			if err != nil {
				return nil, err
			}
			return nil, st.Err()
		case "/s/Plain":
			return nil, status.Error(codes.NotFound, msg)
		}
		return nil, errNoAnswer
	})
	c := newClient(t, srv.addr, Config{})
	ctx := ctxTimeout(t, 5*time.Second)

	err := c.Invoke(ctx, &Call{Method: "/s/Details"})
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.FailedPrecondition || st.Message() != msg {
		t.Fatalf("got %v", err)
	}
	if len(st.Details()) != 1 || st.Details()[0].(*errdetails.ErrorInfo).Reason != "R" {
		t.Fatalf("details %v", st.Details())
	}
	if NeverSent(err) {
		t.Fatal("an answer from the server is not unsent")
	}
	err = c.Invoke(ctx, &Call{Method: "/s/Plain"})
	if st := status.Convert(err); st.Code() != codes.NotFound || st.Message() != msg {
		t.Fatalf("got %v", err)
	}
	// OK without a message breaks the unary contract.
	if err := c.Invoke(ctx, &Call{Method: "/s/None"}); status.Code(err) != codes.Internal {
		t.Fatalf("got %v", err)
	}
}

func TestMetadata(t *testing.T) {
	bin := string([]byte{0, 1, 2, 0xff, 'x'})
	srv := startServer(t, nil, func(ctx context.Context, _ string, in []byte, ss grpc.ServerStream) ([]byte, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		if got := md.Get("tenant"); len(got) != 2 || got[0] != "a" || got[1] != "b" {
			return nil, status.Errorf(codes.InvalidArgument, "tenant %q", got)
		}
		if got := md.Get("trace-bin"); len(got) != 1 || got[0] != bin {
			return nil, status.Errorf(codes.InvalidArgument, "trace-bin %q", got)
		}
		for _, k := range []string{"grpc-status", "connection", "bad key"} {
			if len(md.Get(k)) > 0 {
				return nil, status.Errorf(codes.InvalidArgument, "%s crossed", k)
			}
		}
		if ua := md.Get("user-agent"); len(ua) == 0 || !strings.Contains(ua[0], "edgeapi-gateway") {
			return nil, status.Errorf(codes.InvalidArgument, "user-agent %q", ua)
		}
		_ = ss.SetHeader(metadata.Pairs("h-one", "1", "h-bin", bin))
		ss.SetTrailer(metadata.Pairs("t-one", "2", "t-bin", bin))
		return in, nil
	})
	c := newClient(t, srv.addr, Config{})
	call := &Call{Method: "/s/M", Request: []byte("x"), Metadata: []Field{
		{"tenant", "a"}, {"Tenant", "b"}, {"trace-bin", bin}, {"grpc-status", "3"}, {"connection", "close"}, {"bad key", "v"},
	}}
	if err := c.Invoke(ctxTimeout(t, 5*time.Second), call); err != nil {
		t.Fatal(err)
	}
	want := func(fs []Field, k, v string) {
		t.Helper()
		for _, f := range fs {
			if f.Name == k && f.Value == v {
				return
			}
		}
		t.Fatalf("%s=%q missing from %q", k, v, fs)
	}
	want(call.Header, "h-one", "1")
	want(call.Header, "h-bin", bin)
	want(call.Trailer, "t-one", "2")
	want(call.Trailer, "t-bin", bin)
	for _, f := range append(call.Header, call.Trailer...) {
		if reservedKey(f.Name) {
			t.Fatalf("reserved %q returned as metadata", f.Name)
		}
	}
	// Trailers-only answers carry metadata too.
	srv2 := startServer(t, nil, func(ctx context.Context, _ string, _ []byte, ss grpc.ServerStream) ([]byte, error) {
		ss.SetTrailer(metadata.Pairs("why", "because"))
		return nil, status.Error(codes.Aborted, "no")
	})
	call = &Call{Method: "/s/M"}
	if err := newClient(t, srv2.addr, Config{}).Invoke(ctxTimeout(t, 5*time.Second), call); status.Code(err) != codes.Aborted {
		t.Fatal(err)
	}
	want(call.Trailer, "why", "because")
}

func TestDeadline(t *testing.T) {
	seen := make(chan time.Duration, 1)
	srv := startServer(t, nil, func(ctx context.Context, _ string, _ []byte, _ grpc.ServerStream) ([]byte, error) {
		dl, ok := ctx.Deadline()
		if !ok {
			seen <- -1
		} else {
			seen <- time.Until(dl)
		}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	c := newClient(t, srv.addr, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := c.Invoke(ctx, &Call{Method: "/s/Slow"})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("got %v", err)
	}
	if d := <-seen; d <= 0 || d > 300*time.Millisecond {
		t.Fatalf("server saw deadline in %v", d)
	}
}

func TestCancel(t *testing.T) {
	cancelled := make(chan struct{})
	started := make(chan struct{})
	var once sync.Once
	srv := startServer(t, nil, func(ctx context.Context, _ string, _ []byte, _ grpc.ServerStream) ([]byte, error) {
		first := false
		once.Do(func() { first = true; close(started) })
		<-ctx.Done()
		if first {
			close(cancelled)
		}
		return nil, ctx.Err()
	})
	c := newClient(t, srv.addr, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	err := c.Invoke(ctx, &Call{Method: "/s/Slow"})
	if status.Code(err) != codes.Canceled {
		t.Fatalf("got %v", err)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the server never saw the cancellation")
	}
	// The connection goes on serving.
	if err := c.Invoke(ctxTimeout(t, time.Second), &Call{Method: "/s/Slow"}); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("second call: %v", err)
	}
}

func TestLargeMessages(t *testing.T) {
	srv := startServer(t, nil, func(_ context.Context, _ string, in []byte, _ grpc.ServerStream) ([]byte, error) {
		out := bytes.Repeat([]byte{'r'}, 4<<20)
		copy(out, in[:64])
		return out, nil
	}, grpc.MaxRecvMsgSize(8<<20))
	c := newClient(t, srv.addr, Config{})
	req := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			call := &Call{Method: "/s/Big", Request: req}
			if err := c.Invoke(ctxTimeout(t, 20*time.Second), call); err != nil {
				t.Error(err)
				return
			}
			got := *call.Response
			if len(got) != 4<<20 || !bytes.Equal(got[:64], req[:64]) || got[len(got)-1] != 'r' {
				t.Errorf("answer of %d bytes", len(got))
			}
		}()
	}
	wg.Wait()
}

func TestMaxMessageBytes(t *testing.T) {
	srv := startServer(t, nil, func(context.Context, string, []byte, grpc.ServerStream) ([]byte, error) {
		return make([]byte, 2048), nil
	})
	c := newClient(t, srv.addr, Config{MaxMessageBytes: 1024})
	err := c.Invoke(ctxTimeout(t, 5*time.Second), &Call{Method: "/s/M"})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("got %v", err)
	}
	// The connection survives a reset stream.
	c2 := newClient(t, srv.addr, Config{MaxMessageBytes: 4096})
	if err := c2.Invoke(ctxTimeout(t, 5*time.Second), &Call{Method: "/s/M"}); err != nil {
		t.Fatal(err)
	}
}

func TestMaxConcurrentStreams(t *testing.T) {
	var running, peak atomic.Int32
	srv := startServer(t, nil, func(_ context.Context, _ string, in []byte, _ grpc.ServerStream) ([]byte, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
		return in, nil
	}, grpc.MaxConcurrentStreams(1))
	c := newClient(t, srv.addr, Config{})
	// Let the server's SETTINGS arrive, so the limit is known before the burst.
	if err := c.Invoke(ctxTimeout(t, 5*time.Second), &Call{Method: "/s/M", Request: []byte("warm")}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			call := &Call{Method: "/s/M", Request: []byte{byte(i)}}
			if err := c.Invoke(ctxTimeout(t, 10*time.Second), call); err != nil {
				t.Error(err)
			} else if (*call.Response)[0] != byte(i) {
				t.Error("answer of another call")
			}
		}()
	}
	wg.Wait()
	if peak.Load() != 1 {
		t.Fatalf("%d calls ran at once", peak.Load())
	}
}

func TestGracefulStop(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(3)
	srv := startServer(t, lis, func(_ context.Context, method string, in []byte, _ grpc.ServerStream) ([]byte, error) {
		if method == "/s/Hold" {
			started.Done()
			<-release
		}
		return in, nil
	})
	c := newClient(t, addr, Config{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			call := &Call{Method: "/s/Hold", Request: []byte("x")}
			if err := c.Invoke(ctxTimeout(t, 10*time.Second), call); err != nil {
				t.Errorf("in-flight call: %v", err)
			}
		}()
	}
	started.Wait()
	stopped := make(chan struct{})
	go func() { srv.srv.GracefulStop(); close(stopped) }()
	// The client hears GOAWAY: new calls no longer go to the draining connection.
	testwait.Until(t, 10*time.Second, "GOAWAY", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.cur == nil
	})
	close(release)
	wg.Wait()
	<-stopped
	<-srv.done

	// A new call while the node is down: refused before anything was sent.
	err = c.Invoke(ctxTimeout(t, 5*time.Second), &Call{Method: "/s/M", Request: []byte("y")})
	if status.Code(err) != codes.Unavailable || !NeverSent(err) {
		t.Fatalf("while down: %v (never sent %v)", err, NeverSent(err))
	}
	lis2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	startServer(t, lis2, echo)
	call := &Call{Method: "/s/M", Request: []byte("z")}
	if err := c.Invoke(ctxTimeout(t, 5*time.Second), call); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func TestServerKilledMidCall(t *testing.T) {
	started := make(chan struct{})
	srv := startServer(t, nil, func(ctx context.Context, _ string, _ []byte, _ grpc.ServerStream) ([]byte, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	// A proxy in between stands for the process: closing its sockets is the node dying.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			in, err := lis.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", srv.addr)
			if err != nil {
				_ = in.Close()
				return
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			go func() { _, _ = copyConn(out, in) }()
			go func() { _, _ = copyConn(in, out) }()
		}
	}()
	c := newClient(t, lis.Addr().String(), Config{})
	go func() {
		<-started
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	err = c.Invoke(ctxTimeout(t, 5*time.Second), &Call{Method: "/s/M"})
	if status.Code(err) != codes.Unavailable || NeverSent(err) {
		t.Fatalf("got %v (never sent %v)", err, NeverSent(err))
	}
}

func copyConn(dst, src net.Conn) (int64, error) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	var n int64
	for {
		k, err := src.Read(buf)
		if k > 0 {
			if _, werr := dst.Write(buf[:k]); werr != nil {
				return n, werr
			}
			n += int64(k)
		}
		if err != nil {
			return n, err
		}
	}
}

func TestDialRefused(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	c := newClient(t, addr, Config{})
	err = c.Invoke(ctxTimeout(t, 5*time.Second), &Call{Method: "/s/M"})
	if status.Code(err) != codes.Unavailable || !NeverSent(err) {
		t.Fatalf("got %v (never sent %v)", err, NeverSent(err))
	}
	// A cancelled context is the caller's, and nothing was sent either.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Invoke(ctx, &Call{Method: "/s/M"}); status.Code(err) != codes.Canceled {
		t.Fatalf("got %v", err)
	}
}

func TestTLS(t *testing.T) {
	cert, pool := testcert.SelfSigned(t)
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	srv := startServer(t, nil, echo, grpc.Creds(creds))
	c := newClient(t, srv.addr, Config{TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}})
	call := &Call{Method: "/s/M", Request: []byte("secret")}
	if err := c.Invoke(ctxTimeout(t, 5*time.Second), call); err != nil {
		t.Fatal(err)
	}
	if string(*call.Response) != "secret" {
		t.Fatalf("answer %q", *call.Response)
	}
	// An untrusted server is a dial failure: never sent.
	bad := newClient(t, srv.addr, Config{TLS: &tls.Config{MinVersion: tls.VersionTLS12}})
	err := bad.Invoke(ctxTimeout(t, 5*time.Second), &Call{Method: "/s/M"})
	if status.Code(err) != codes.Unavailable || !NeverSent(err) {
		t.Fatalf("untrusted: %v", err)
	}
}

func TestNonGRPCServer(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: http.NotFoundHandler(), Protocols: &protos, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(lis) }()
	t.Cleanup(func() { _ = hs.Close() })
	c := newClient(t, lis.Addr().String(), Config{})
	err = c.Invoke(ctxTimeout(t, 5*time.Second), &Call{Method: "/s/M", Request: []byte("x")})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("got %v", err)
	}
}

func TestManyConcurrentCalls(t *testing.T) {
	srv := startServer(t, nil, echo)
	c := newClient(t, srv.addr, Config{})
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			call := &Call{}
			for i := range 50 {
				call.Reset()
				call.Method = "/s/M"
				call.Request = []byte{byte(g), byte(i)}
				if err := c.Invoke(ctxTimeout(t, 10*time.Second), call); err != nil {
					t.Error(err)
					return
				}
				if !bytes.Equal(*call.Response, call.Request) {
					t.Errorf("call %d/%d got %v", g, i, *call.Response)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestClosedClient(t *testing.T) {
	started := make(chan struct{})
	srv := startServer(t, nil, func(ctx context.Context, _ string, _ []byte, _ grpc.ServerStream) ([]byte, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	c := New(srv.addr, Config{})
	go func() { <-started; c.Close() }()
	err := c.Invoke(ctxTimeout(t, 5*time.Second), &Call{Method: "/s/M"})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("in flight: %v", err)
	}
	err = c.Invoke(ctxTimeout(t, 5*time.Second), &Call{Method: "/s/M"})
	if status.Code(err) != codes.Unavailable || !NeverSent(err) {
		t.Fatalf("after close: %v", err)
	}
	c.Close()
}

func TestTimeoutEncoding(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "1n"}, {time.Nanosecond, "1n"}, {99999999, "99999999n"}, {100000000, "100000u"},
		{1500 * time.Millisecond, "1500000u"}, {time.Hour, "3600000m"}, {200 * time.Hour, "720000S"},
		{time.Duration(1<<63 - 1), "2562048H"},
	} {
		if got := string(appendTimeout(nil, tc.d)); got != tc.want {
			t.Errorf("%v: got %s, want %s", tc.d, got, tc.want)
		}
	}
	if got := decodeMessage("a%20b%zz%"); got != "a b%zz%" {
		t.Errorf("decodeMessage: %q", got)
	}
	var u *unsentError
	if errors.As(status.Error(codes.Unavailable, "x"), &u) {
		t.Error("plain status is not unsent")
	}
}

// TestServerStopsReading: a server that never reads fails the connection once a write has
// waited WriteTimeout, instead of holding every call on it.
func TestServerStopsReading(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		nc, err := lis.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		// The server's preface, then nothing more: no reads, no window updates beyond its
		// initial connection window's worth.
		_, _ = nc.Write(serverBytes(nil, nil, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30}))
		_, _ = nc.Write([]byte{0, 0, 4, 8, 0, 0, 0, 0, 0, 0x3f, 0xff, 0, 0}) // conn WINDOW_UPDATE +1 GiB
		time.Sleep(10 * time.Second)
	}()
	c := newClient(t, lis.Addr().String(), Config{WriteTimeout: 300 * time.Millisecond})
	start := time.Now()
	err = c.Invoke(ctxTimeout(t, 20*time.Second), &Call{Method: "/s/M", Request: make([]byte, 64<<20)})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("failed after %v", d)
	}
}
