package nats

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeapi/gateway/broker"
	"github.com/edgeapi/gateway/natsserver"
)

// TestAnAckThatDoesNotComeIsAFailure: without an acknowledgement the publish fails with
// ErrUnavailable, whichever bound ends the wait, and the publisher forgets the publish (no
// entry left behind, the next publishes are acknowledged as usual).
func TestAnAckThatDoesNotComeIsAFailure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := natsserver.Start(ctx, natsserver.Config{Port: natsserver.RandomPort, StoreDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	p, err := New(ctx, nc, Config{Subjects: []string{"go.micro.api.>"}, AckTimeout: 100 * time.Millisecond}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// A subscriber that never answers: no stream takes its subject, and because it exists the
	// server does not answer "no responders" either. No acknowledgement ever comes.
	silent, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(silent.Close)
	if _, err := silent.SubscribeSync("elsewhere.>"); err != nil {
		t.Fatal(err)
	}
	if err := silent.Flush(); err != nil {
		t.Fatal(err)
	}
	msg := func() *broker.Message { return &broker.Message{Subject: "elsewhere.x", Data: []byte("x"), ID: "x"} }
	cases := []struct {
		name    string
		publish func() (broker.Ack, error)
		want    error
	}{
		{"the publisher's AckTimeout", func() (broker.Ack, error) { return p.Publish(context.Background(), msg()) }, context.DeadlineExceeded},
		{"PublishWithin's bound", func() (broker.Ack, error) { return p.PublishWithin(context.Background(), msg(), 50*time.Millisecond) }, context.DeadlineExceeded},
		{"the context's deadline", func() (broker.Ack, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			return p.Publish(ctx, msg())
		}, context.DeadlineExceeded},
		{"the context cancelled while waiting", func() (broker.Ack, error) {
			ctx, cancel := context.WithCancel(context.Background())
			defer time.AfterFunc(50*time.Millisecond, cancel).Stop()
			return p.PublishWithin(ctx, msg(), time.Minute)
		}, context.Canceled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ack, err := tc.publish()
			if !errors.Is(err, broker.ErrUnavailable) || !errors.Is(err, tc.want) {
				t.Fatalf("ack %+v, error %v; want ErrUnavailable and %v", ack, err, tc.want)
			}
		})
	}
	p.acks.mu.Lock()
	left := len(p.acks.waiting)
	p.acks.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d publishes still waited for after they failed", left)
	}
	for i := range 3 {
		ack, err := p.PublishWithin(context.Background(), &broker.Message{Subject: "go.micro.api.a", Data: []byte("a")}, time.Second)
		if err != nil || ack.Sequence != uint64(i+1) {
			t.Fatalf("publish %d after the failures: %+v, %v", i, ack, err)
		}
	}
	// No subscriber at all: JetStream's "no responders", retried, then reported.
	if _, err := p.PublishWithin(context.Background(), &broker.Message{Subject: "nobody.x", Data: []byte("x")}, 5*time.Second); !errors.Is(err, broker.ErrUnavailable) || !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Fatalf("publish nobody takes: %v, want ErrUnavailable and ErrNoStreamResponse", err)
	}
}
