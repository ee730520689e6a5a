package nats_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeapi/gateway/broker"
	brokernats "github.com/edgeapi/gateway/broker/nats"
	"github.com/edgeapi/gateway/internal/testwait"
	"github.com/edgeapi/gateway/natsserver"
)

const waitFor = 10 * time.Second

func startServer(t testing.TB, dir string, port int) *natsserver.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	s, err := natsserver.Start(ctx, natsserver.Config{Port: port, StoreDir: dir}, nil)
	if err != nil {
		t.Fatalf("natsserver.Start: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func connect(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func newPublisher(t testing.TB, nc *nats.Conn, cfg brokernats.Config) *brokernats.Publisher {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if cfg.Subjects == nil {
		cfg.Subjects = []string{"go.micro.api.>"}
	}
	p, err := brokernats.New(ctx, nc, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func port(t testing.TB, s *natsserver.Server) int {
	t.Helper()
	u := s.ClientURL()
	p, err := strconv.Atoi(u[strings.LastIndexByte(u, ':')+1:])
	if err != nil {
		t.Fatalf("port of %s: %v", u, err)
	}
	return p
}

func TestNewNeedsSubjectsAndCreatesTheStream(t *testing.T) {
	s := startServer(t, t.TempDir(), natsserver.RandomPort)
	nc := connect(t, s.ClientURL())
	if _, err := brokernats.New(context.Background(), nc, brokernats.Config{}, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("New without subjects succeeded")
	}
	newPublisher(t, nc, brokernats.Config{Stream: "EV", Duplicates: time.Minute, MaxAge: time.Hour})
	// A second publisher on the same stream (another gateway instance) is fine.
	newPublisher(t, nc, brokernats.Config{Stream: "EV", Duplicates: time.Minute, MaxAge: time.Hour})
	js, _ := jetstream.New(nc)
	st, err := js.Stream(context.Background(), "EV")
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	if cfg.Storage != jetstream.FileStorage || cfg.Duplicates != time.Minute || cfg.MaxAge != time.Hour ||
		len(cfg.Subjects) != 1 || cfg.Subjects[0] != "go.micro.api.>" {
		t.Fatalf("stream config %+v", cfg)
	}
}

func TestPublishAcksDeduplicatesAndKeepsTheCallersHeaders(t *testing.T) {
	s := startServer(t, t.TempDir(), natsserver.RandomPort)
	nc := connect(t, s.ClientURL())
	p := newPublisher(t, nc, brokernats.Config{})
	ctx := context.Background() // Publish applies AckTimeout itself

	hdr := map[string][]string{"ce-id": {"e-1"}, "content-type": {"text/plain"}}
	orig := maps.Clone(hdr)
	msg := &broker.Message{Subject: "go.micro.api.user", Header: hdr, Data: []byte("hello"), ID: "e-1"}
	ack, err := p.Publish(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	if ack.Stream != "GATEWAY_EVENTS" || ack.Sequence != 1 || ack.Duplicate {
		t.Fatalf("ack %+v", ack)
	}
	// The broker may add its own headers (broker.Publisher), never touch the caller's.
	for k, v := range orig {
		if strings.Join(msg.Header[k], ",") != strings.Join(v, ",") {
			t.Fatalf("Publish changed the caller's header %s: %v, want %v", k, msg.Header[k], v)
		}
	}
	for k := range msg.Header {
		if _, ok := orig[k]; !ok && !strings.HasPrefix(k, "Nats-") {
			t.Fatalf("Publish added a header %s that is not the broker's: %v", k, msg.Header)
		}
	}
	again, err := p.Publish(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate || again.Sequence != 1 {
		t.Fatalf("retry with the same id: ack %+v, want the duplicate of sequence 1", again)
	}
	// No header at all, no id: stored, not deduplicated.
	for i := range 2 {
		ack, err := p.Publish(ctx, &broker.Message{Subject: "go.micro.api.user", Data: []byte("x")})
		if err != nil {
			t.Fatalf("publish without header: %v", err)
		}
		if ack.Duplicate || ack.Sequence != uint64(2+i) {
			t.Fatalf("ack %+v", ack)
		}
	}
	js, _ := jetstream.New(nc)
	st, _ := js.Stream(ctx, "GATEWAY_EVENTS")
	m, err := st.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != "hello" || m.Header.Get("ce-id") != "e-1" || m.Header.Get("content-type") != "text/plain" {
		t.Fatalf("stored %q %v", m.Data, m.Header)
	}
}

func TestPublishOutsideTheStreamIsUnavailable(t *testing.T) {
	s := startServer(t, t.TempDir(), natsserver.RandomPort)
	nc := connect(t, s.ClientURL())
	p := newPublisher(t, nc, brokernats.Config{AckTimeout: time.Second})
	_, err := p.Publish(context.Background(), &broker.Message{Subject: "elsewhere.user", Data: []byte("x")})
	if !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("publish to a subject no stream captures: %v, want ErrUnavailable", err)
	}
}

func TestPublishWhileDisconnectedFailsAndIsNotStoredLater(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, natsserver.RandomPort)
	prt := port(t, s)
	nc := connect(t, s.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	p := newPublisher(t, nc, brokernats.Config{AckTimeout: 300 * time.Millisecond})
	ctx := context.Background()
	if _, err := p.Publish(ctx, &broker.Message{Subject: "go.micro.api.a", Data: []byte("before"), ID: "before"}); err != nil {
		t.Fatal(err)
	}

	s.Shutdown()
	testwait.Until(t, waitFor, "the client to notice the server is gone", func() bool { return !nc.IsConnected() })
	_, err := p.Publish(ctx, &broker.Message{Subject: "go.micro.api.a", Data: []byte("ghost"), ID: "ghost"})
	if !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("publish with the server down: %v, want ErrUnavailable", err)
	}

	// Same port and store: the client reconnects. Whatever it had buffered would now be sent;
	// the publish after the reconnect shows (by its sequence) whether the failed one was stored.
	startServer(t, dir, prt)
	testwait.Until(t, waitFor, "the client to reconnect", nc.IsConnected)
	var ack broker.Ack
	testwait.Until(t, waitFor, "the stream to take events again", func() bool {
		ack, err = p.Publish(ctx, &broker.Message{Subject: "go.micro.api.a", Data: []byte("after"), ID: "after"})
		return err == nil
	})
	if ack.Sequence != 2 {
		t.Fatalf("the event after the outage got sequence %d, want 2: the failed publish was stored after all", ack.Sequence)
	}
}

func TestConcurrentPublishers(t *testing.T) {
	s := startServer(t, t.TempDir(), natsserver.RandomPort)
	nc := connect(t, s.ClientURL())
	p := newPublisher(t, nc, brokernats.Config{})
	const workers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	seqs := sync.Map{}
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				ack, err := p.Publish(context.Background(), &broker.Message{Subject: "go.micro.api.c", Header: map[string][]string{"ce-id": {id}}, Data: []byte(id), ID: id})
				if err != nil {
					errs <- err
					return
				}
				if _, dup := seqs.LoadOrStore(ack.Sequence, id); dup {
					errs <- fmt.Errorf("sequence %d acknowledged twice", ack.Sequence)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n := 0
	seqs.Range(func(_, _ any) bool { n++; return true })
	if n != workers*each {
		t.Fatalf("%d distinct sequences, want %d", n, workers*each)
	}
}
