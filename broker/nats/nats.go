// Package nats publishes the gateway's events to NATS JetStream.
//
// Contract: New makes sure a stream captures the event subjects (creating it when missing, file
// storage, a duplicate window so a client retrying with the same event id stores it once).
// Publish returns only after JetStream acknowledged the message as stored; any failure is
// broker.ErrUnavailable wrapped with the cause, and the event must not be reported as published.
package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeapi/gateway/broker"
)

// Config tunes the publisher; zero values mean the documented defaults.
type Config struct {
	// Stream is the JetStream stream name; default "GATEWAY_EVENTS".
	Stream string
	// Subjects the stream captures, e.g. ["go.micro.api.>"]; required.
	Subjects []string
	// Duplicates is the deduplication window for event ids; default 2m.
	Duplicates time.Duration
	// MaxAge drops events older than this; 0 keeps them until limits apply.
	MaxAge time.Duration
	// AckTimeout bounds one publish when the caller's context has no deadline; default 5s.
	AckTimeout time.Duration
}

// Publisher implements broker.Publisher over JetStream.
type Publisher struct {
	js  jetstream.JetStream
	cfg Config
	log *slog.Logger
}

var _ broker.Publisher = (*Publisher)(nil)

// New returns a publisher on nc and ensures the stream exists.
func New(ctx context.Context, nc *nats.Conn, cfg Config, log *slog.Logger) (*Publisher, error) {
	if len(cfg.Subjects) == 0 {
		return nil, errors.New("events: no subjects for the stream")
	}
	if cfg.Stream == "" {
		cfg.Stream = "GATEWAY_EVENTS"
	}
	if cfg.Duplicates <= 0 {
		cfg.Duplicates = 2 * time.Minute
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 5 * time.Second
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       cfg.Stream,
		Subjects:   cfg.Subjects,
		Storage:    jetstream.FileStorage,
		Duplicates: cfg.Duplicates,
		MaxAge:     cfg.MaxAge,
	})
	if err != nil {
		return nil, fmt.Errorf("events stream %s: %w", cfg.Stream, err)
	}
	return &Publisher{js: js, cfg: cfg, log: log}, nil
}

// Publish implements broker.Publisher.
func (p *Publisher) Publish(ctx context.Context, m *broker.Message) (broker.Ack, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.cfg.AckTimeout)
		defer cancel()
	}
	nc := p.js.Conn()
	if !nc.IsConnected() {
		// While reconnecting, the client would buffer the message and send it after the
		// reconnect, possibly long after the caller was told it failed: a stored event nobody
		// claimed. Refuse instead; the caller retries with the same id.
		return broker.Ack{}, fmt.Errorf("%w: not connected to NATS (%s)", broker.ErrUnavailable, nc.Status())
	}
	// The JetStream client writes its own headers (Nats-Msg-Id, Nats-Expected-Stream) into the
	// message's header map, which broker.Publisher allows.
	msg := &nats.Msg{Subject: m.Subject, Header: nats.Header(m.Header), Data: m.Data}
	opts := []jetstream.PublishOpt{jetstream.WithExpectStream(p.cfg.Stream)}
	if m.ID != "" {
		opts = append(opts, jetstream.WithMsgID(m.ID))
	}
	ack, err := p.js.PublishMsg(ctx, msg, opts...)
	if err != nil {
		return broker.Ack{}, fmt.Errorf("%w: %w", broker.ErrUnavailable, err)
	}
	return broker.Ack{Stream: ack.Stream, Sequence: ack.Sequence, Duplicate: ack.Duplicate}, nil
}
