// Package eventsub reads the gateway's events back from JetStream: the subscriber of the
// examples. It is importable so that tests can run it in-process; examples/subscriber wraps it
// in a program that prints to stdout.
//
// Contract:
//   - Run creates the durable pull consumer Config.Durable on Config.Stream, or binds to it
//     (updating its filter), filtered to "<namespace>.>" or, with a topic, "<namespace>.<topic>".
//     A new consumer starts at the first stored event; an existing one resumes after the last
//     event it acknowledged.
//   - While the stream does not exist yet (no gateway with an event route has started), Run
//     logs once and tries again every Config.Retry until ctx is done.
//   - Each event becomes one line on the writer (see Line), and is acknowledged only after the
//     line was written; a failed write negatively acknowledges it (JetStream redelivers) and
//     ends Run with the error.
//   - Run returns nil when ctx is done, and another error when the consumer fails for good.
package eventsub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of Config.
const (
	DefaultStream  = "GATEWAY_EVENTS"
	DefaultDurable = "subscriber"
	DefaultRetry   = 2 * time.Second
)

// Config says what to read. Zero values mean the documented defaults.
type Config struct {
	// Stream is the JetStream stream holding the events; default GATEWAY_EVENTS.
	Stream string
	// Namespace is the gateway's namespace, the first part of every event subject; may be empty.
	Namespace string
	// Topic, if set, reads only the events of that topic (subject "<namespace>.<topic>").
	Topic string
	// Durable names the consumer, so a restarted subscriber resumes where it left off; default
	// "subscriber", with "-<topic>" appended when Topic is set.
	Durable string
	// Retry is the wait between attempts while the stream does not exist; default 2s.
	Retry time.Duration
}

// Filter is the subject filter of the consumer cfg describes.
func (cfg Config) Filter() string {
	last := ">"
	if cfg.Topic != "" {
		last = cfg.Topic
	}
	if cfg.Namespace == "" {
		return last
	}
	return cfg.Namespace + "." + last
}

func (cfg Config) withDefaults() (Config, error) {
	if cfg.Stream == "" {
		cfg.Stream = DefaultStream
	}
	if cfg.Topic != "" && !validName(cfg.Topic) {
		return cfg, fmt.Errorf("topic %q: use letters, digits, '-' and '_' (a topic is one path segment of the event URL)", cfg.Topic)
	}
	if cfg.Durable == "" {
		cfg.Durable = DefaultDurable
		if cfg.Topic != "" {
			cfg.Durable += "-" + cfg.Topic
		}
	} else if !validName(cfg.Durable) {
		return cfg, fmt.Errorf("durable %q: use letters, digits, '-' and '_'", cfg.Durable)
	}
	if cfg.Retry <= 0 {
		cfg.Retry = DefaultRetry
	}
	return cfg, nil
}

// Run reads events until ctx is done, writing one line per event to out.
func Run(ctx context.Context, js jetstream.JetStream, cfg Config, out io.Writer, log *slog.Logger) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	cons, err := consumer(ctx, js, cfg, log)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	log.Info("reading events", "stream", cfg.Stream, "consumer", cfg.Durable, "filter", cfg.Filter())

	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("consumer %s: %w", cfg.Durable, err)
	}
	defer it.Stop()
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				log.Info("stopped", "consumer", cfg.Durable)
				return nil
			}
			return fmt.Errorf("consumer %s: %w", cfg.Durable, err)
		}
		if _, err := io.WriteString(out, Line(msg.Subject(), msg.Headers(), msg.Data())+"\n"); err != nil {
			_ = msg.Nak()
			return fmt.Errorf("writing an event: %w", err)
		}
		if err := msg.Ack(); err != nil {
			// Not fatal: JetStream redelivers the event after the ack wait, so it prints again.
			log.Warn("ack failed", "subject", msg.Subject(), "error", err)
		}
	}
}

// consumer creates or binds the durable consumer, waiting for the stream to exist.
func consumer(ctx context.Context, js jetstream.JetStream, cfg Config, log *slog.Logger) (jetstream.Consumer, error) {
	waiting := false
	for {
		cons, err := js.CreateOrUpdateConsumer(ctx, cfg.Stream, jetstream.ConsumerConfig{
			Durable:       cfg.Durable,
			Description:   "examples/subscriber",
			FilterSubject: cfg.Filter(),
			AckPolicy:     jetstream.AckExplicitPolicy,
			DeliverPolicy: jetstream.DeliverAllPolicy,
		})
		if err == nil {
			return cons, nil
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("consumer %s on stream %s: %w", cfg.Durable, cfg.Stream, err)
		}
		if !waiting {
			waiting = true
			log.Info("the events stream does not exist yet; waiting for a gateway with an event route to create it",
				"stream", cfg.Stream, "retry", cfg.Retry)
		}
		t := time.NewTimer(cfg.Retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// Line formats one event: its subject, then the CloudEvents attributes and the data,
//
//	go.micro.api.user id=<ce-id> type=<ce-type> source=<ce-source> time=<ce-time> content-type=<content-type> data=<data>
//
// An absent attribute prints as "-". Data that is JSON prints compacted; other UTF-8 text
// prints as is unless it holds control characters; anything else prints Go-quoted. Header
// names are matched without regard to case.
func Line(subject string, h nats.Header, data []byte) string {
	var b strings.Builder
	b.WriteString(subject)
	for _, a := range []struct{ label, header string }{
		{"id", "ce-id"}, {"type", "ce-type"}, {"source", "ce-source"}, {"time", "ce-time"},
		{"content-type", "content-type"},
	} {
		v := header(h, a.header)
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(&b, " %s=%s", a.label, oneLine(v))
	}
	b.WriteString(" data=")
	b.WriteString(formatData(data))
	return b.String()
}

// header returns the first value of name, matched exactly first and then ignoring case (nats
// headers are case-sensitive; the gateway writes lower-case names).
func header(h nats.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	for k, vs := range h {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

func formatData(data []byte) string {
	if json.Valid(data) {
		var c bytes.Buffer
		if err := json.Compact(&c, data); err == nil {
			return c.String()
		}
	}
	return oneLine(string(data))
}

// oneLine returns s if it is printable UTF-8 on one line, and s Go-quoted otherwise.
func oneLine(s string) string {
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		return strconv.Quote(s)
	}
	return s
}

// validName: a topic or consumer name, [A-Za-z0-9_-]{1,128} like the gateway's topic segments.
func validName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
