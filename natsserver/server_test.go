package natsserver_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeapi/gateway/internal/testwait"
	"github.com/edgeapi/gateway/natsserver"
)

func start(t *testing.T, dir string, log *slog.Logger) *natsserver.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s, err := natsserver.Start(ctx, natsserver.Config{Port: natsserver.RandomPort, StoreDir: dir}, log)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return s
}

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(0))
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	return nc
}

func TestStartServesJetStreamOnLoopback(t *testing.T) {
	s := start(t, t.TempDir(), nil)
	defer s.Shutdown()

	url := s.ClientURL()
	if !strings.HasPrefix(url, "nats://127.0.0.1:") || strings.HasSuffix(url, ":-1") {
		t.Fatalf("ClientURL = %q, want nats://127.0.0.1:<chosen port>", url)
	}
	nc := connect(t, url)
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "probe"})
	if err != nil {
		t.Fatalf("JetStream KV: %v", err)
	}
	if _, err := kv.PutString(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
}

// A client in the same process connects without a socket, sees what socket clients publish,
// and is closed with the server.
func TestInProcessClient(t *testing.T) {
	s := start(t, t.TempDir(), nil)
	defer s.Shutdown()
	inproc, err := nats.Connect("", nats.InProcessServer(s), nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer inproc.Close()
	if addr := inproc.ConnectedAddr(); strings.HasPrefix(addr, "127.0.0.1:") {
		t.Errorf("in-process client connected over TCP to %s", addr)
	}
	sub, err := inproc.SubscribeSync("probe.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := inproc.Flush(); err != nil {
		t.Fatal(err)
	}
	tcp := connect(t, s.ClientURL())
	defer tcp.Close()
	if err := tcp.Publish("probe.x", []byte("over the socket")); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil || string(m.Data) != "over the socket" {
		t.Fatalf("in-process subscriber got %v, %v", m, err)
	}
	closed := make(chan struct{})
	inproc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	s.Shutdown()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the in-process client was not closed by Shutdown")
	}
}

func TestRestartKeepsJetStreamData(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	s := start(t, dir, nil)
	nc := connect(t, s.ClientURL())
	js, _ := jetstream.New(nc)
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "persist"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.PutString(ctx, "k", "kept"); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	s.Shutdown()

	s = start(t, dir, nil)
	defer s.Shutdown()
	nc = connect(t, s.ClientURL())
	defer nc.Close()
	js, _ = jetstream.New(nc)
	kv, err = js.KeyValue(ctx, "persist")
	if err != nil {
		t.Fatalf("bucket after restart: %v", err)
	}
	e, err := kv.Get(ctx, "k")
	if err != nil {
		t.Fatalf("key after restart: %v", err)
	}
	if string(e.Value()) != "kept" {
		t.Fatalf("value after restart = %q", e.Value())
	}
}

func TestShutdownTwiceAndNoGoroutinesLeft(t *testing.T) {
	before := runtime.NumGoroutine()
	s := start(t, t.TempDir(), nil)
	nc := connect(t, s.ClientURL())
	nc.Close()

	var wg sync.WaitGroup
	for range 2 {
		wg.Go(s.Shutdown)
	}
	wg.Wait()
	s.Shutdown()

	testwait.Until(t, 5*time.Second, "server goroutines to end", func() bool {
		return runtime.NumGoroutine() <= before
	})
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(s.ClientURL(), "nats://"), time.Second); err == nil {
		t.Fatal("server still accepts connections after Shutdown")
	}
}

// syncBuffer is a bytes.Buffer safe for the server's logging goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestPortInUseFailsFastWithReason(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	start := time.Now()
	s, err := natsserver.Start(context.Background(), natsserver.Config{Port: port, StoreDir: t.TempDir()}, log)
	if err == nil {
		s.Shutdown()
		t.Fatal("Start on a busy port succeeded")
	}
	t.Logf("Start on a busy port failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Errorf("error %q does not name the port", err)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "component=nats-server") {
		t.Errorf("server error not logged through slog:\n%s", logs.String())
	}
}

func TestStartHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, err := natsserver.Start(ctx, natsserver.Config{Port: natsserver.RandomPort, StoreDir: t.TempDir()}, nil)
	if err == nil {
		s.Shutdown()
		t.Fatal("Start with a cancelled ctx succeeded")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  natsserver.Config
	}{
		{"port too large", natsserver.Config{Port: 70000}},
		{"port negative", natsserver.Config{Port: -2}},
		{"max memory negative", natsserver.Config{Port: -1, MaxMemory: -1}},
		{"max store negative", natsserver.Config{Port: -1, MaxStore: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.StoreDir = t.TempDir()
			s, err := natsserver.Start(context.Background(), tc.cfg, nil)
			if err == nil {
				s.Shutdown()
				t.Fatal("Start accepted an invalid config")
			}
		})
	}
}
