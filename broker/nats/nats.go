// Package nats publishes the gateway's events to NATS JetStream.
//
// Contract: New makes sure a stream captures the event subjects (creating it when missing, file
// storage, a duplicate window so a client retrying with the same event id stores it once).
// Publish returns only after JetStream acknowledged the message as stored; any failure is
// broker.ErrUnavailable wrapped with the cause, and the event must not be reported as published.
// That includes an acknowledgement that did not come in time: the event may have been stored
// all the same, and its id makes the client's retry a duplicate instead of a second event.
package nats

import (
	"bytes"
	"context"
	"encoding/json"
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

// JetStream answers "no responders" while no stream takes the subject, also for a moment while
// a clustered stream elects a leader; like the JetStream client, retry that a few times.
const (
	noStreamRetries   = 2
	noStreamRetryWait = 250 * time.Millisecond
)

// Publisher implements broker.Publisher over JetStream.
//
// It publishes with a reply subject of its own and matches the acknowledgements itself instead
// of calling jetstream.PublishMsg: that goes through the client's generic request mux (a fresh
// channel per request, a context per call, options as closures) and decodes every ack with
// encoding/json, about 20 allocations per event on the gateway's hottest path.
type Publisher struct {
	nc      *nats.Conn
	cfg     Config
	log     *slog.Logger
	acks    *replyMux
	ackHead []byte // see parseAck
	timers  timerPool
}

var _ broker.Publisher = (*Publisher)(nil)

// New returns a publisher on nc and ensures the stream exists. Its subscription for
// acknowledgements ends with Close or when nc is closed.
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
	acks, err := newReplyMux(nc)
	if err != nil {
		return nil, fmt.Errorf("events: subscribing to acknowledgements: %w", err)
	}
	name, _ := json.Marshal(cfg.Stream)
	head := append(append([]byte(`{"stream":`), name...), `,"seq":`...)
	return &Publisher{nc: nc, cfg: cfg, log: log, acks: acks, ackHead: head}, nil
}

// Close ends the subscription for acknowledgements; publishes still waiting fail when their
// time is up. Closing the connection has the same effect.
func (p *Publisher) Close() error {
	return p.acks.close()
}

// Publish implements broker.Publisher. Without a deadline on ctx, Config.AckTimeout bounds it.
func (p *Publisher) Publish(ctx context.Context, m *broker.Message) (broker.Ack, error) {
	var within time.Duration
	if _, ok := ctx.Deadline(); !ok {
		within = p.cfg.AckTimeout
	}
	return p.publish(ctx, m, within)
}

// PublishWithin is Publish bounded by d as well as by ctx, for callers that would otherwise
// derive a context per event only to set a deadline (a timer, a registration with the parent
// and a channel each time). d <= 0 means Publish.
func (p *Publisher) PublishWithin(ctx context.Context, m *broker.Message, d time.Duration) (broker.Ack, error) {
	if d <= 0 {
		return p.Publish(ctx, m)
	}
	return p.publish(ctx, m, d)
}

func (p *Publisher) publish(ctx context.Context, m *broker.Message, within time.Duration) (broker.Ack, error) {
	if err := ctx.Err(); err != nil {
		return broker.Ack{}, fmt.Errorf("%w: %w", broker.ErrUnavailable, err)
	}
	if !p.nc.IsConnected() {
		// While reconnecting, the client would buffer the message and send it after the
		// reconnect, possibly long after the caller was told it failed: a stored event nobody
		// claimed. Refuse instead; the caller retries with the same id.
		return broker.Ack{}, fmt.Errorf("%w: not connected to NATS (%s)", broker.ErrUnavailable, p.nc.Status())
	}
	// JetStream's own headers go into the caller's map, which broker.Publisher allows; one
	// backing array holds both values, capped so that an append by anyone cannot reach the other.
	if m.Header == nil {
		m.Header = make(map[string][]string, 2)
	}
	vals := [...]string{p.cfg.Stream, m.ID}
	own := vals[:]
	m.Header[jetstream.ExpectedStreamHeader] = own[0:1:1]
	if m.ID != "" {
		m.Header[jetstream.MsgIDHeader] = own[1:2:2]
	}
	msg := nats.Msg{Subject: m.Subject, Header: nats.Header(m.Header), Data: m.Data}

	var expired <-chan time.Time
	if within > 0 {
		t := p.timers.get(within)
		defer p.timers.put(t)
		expired = t.C
	}
	for attempt := 0; ; attempt++ {
		reply, err := p.acks.request(ctx, &msg, expired)
		switch {
		case errors.Is(err, errExpired):
			return broker.Ack{}, fmt.Errorf("%w: no acknowledgement within %v: %w", broker.ErrUnavailable, within, context.DeadlineExceeded)
		case err != nil:
			return broker.Ack{}, fmt.Errorf("%w: %w", broker.ErrUnavailable, err)
		case !noResponders(reply):
			return p.parseAck(reply.Data)
		case attempt == noStreamRetries:
			return broker.Ack{}, fmt.Errorf("%w: %w", broker.ErrUnavailable, jetstream.ErrNoStreamResponse)
		}
		// Nothing took the message, so nothing was stored: sending it again is safe.
		retry := time.NewTimer(noStreamRetryWait)
		select {
		case <-retry.C:
		case <-ctx.Done():
			retry.Stop()
			return broker.Ack{}, fmt.Errorf("%w: %w", broker.ErrUnavailable, ctx.Err())
		case <-expired:
			retry.Stop()
			return broker.Ack{}, fmt.Errorf("%w: %w", broker.ErrUnavailable, jetstream.ErrNoStreamResponse)
		}
	}
}

// noResponders: the server's answer when no subscriber (here: no stream) took the message.
func noResponders(m *nats.Msg) bool {
	return len(m.Data) == 0 && m.Header.Get("Status") == "503"
}

// parseAck reads JetStream's answer. The server writes a successful ack from a template,
// `{"stream":"<name>","seq":<n>}` with `,"duplicate": true` before the brace for a duplicate;
// that form is read directly, without allocating, and anything else (an error, a JetStream
// domain, another layout) goes through encoding/json.
func (p *Publisher) parseAck(data []byte) (broker.Ack, error) {
	if rest, ok := bytes.CutPrefix(data, p.ackHead); ok {
		n := 0
		var seq uint64
		for n < len(rest) && n < 19 && rest[n] >= '0' && rest[n] <= '9' {
			seq = seq*10 + uint64(rest[n]-'0')
			n++
		}
		if n > 0 {
			switch string(rest[n:]) {
			case "}":
				return broker.Ack{Stream: p.cfg.Stream, Sequence: seq}, nil
			case `,"duplicate": true}`, `,"duplicate":true}`:
				return broker.Ack{Stream: p.cfg.Stream, Sequence: seq, Duplicate: true}, nil
			}
		}
	}
	var ack struct {
		Error     *jetstream.APIError `json:"error"`
		Stream    string              `json:"stream"`
		Sequence  uint64              `json:"seq"`
		Duplicate bool                `json:"duplicate"`
	}
	if err := json.Unmarshal(data, &ack); err != nil {
		return broker.Ack{}, fmt.Errorf("%w: %w", broker.ErrUnavailable, jetstream.ErrInvalidJSAck)
	}
	if ack.Error != nil {
		return broker.Ack{}, fmt.Errorf("%w: nats: %w", broker.ErrUnavailable, ack.Error)
	}
	if ack.Stream == "" {
		return broker.Ack{}, fmt.Errorf("%w: %w", broker.ErrUnavailable, jetstream.ErrInvalidJSAck)
	}
	return broker.Ack{Stream: ack.Stream, Sequence: ack.Sequence, Duplicate: ack.Duplicate}, nil
}
