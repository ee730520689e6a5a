// Package broker defines how the gateway hands events to a message broker. An event is claimed
// published only once the broker acknowledged it as stored: Publish returns nil only then.
//
// Implementations live in subpackages: nats (JetStream, the default, on the embedded or an
// external NATS server).
package broker

import (
	"context"
	"errors"
)

// ErrUnavailable wraps every failure to get an acknowledgement (broker down, no ack in time);
// the event must be treated as not published.
var ErrUnavailable = errors.New("broker unavailable")

// Message is one event as the broker carries it.
type Message struct {
	// Subject is where it is published, e.g. "go.micro.api.user".
	Subject string
	// Header carries the event's attributes (CloudEvents ce-* headers, content-type...).
	Header map[string][]string
	// Data is the payload as the client sent it.
	Data []byte
	// ID deduplicates: the broker stores a message once per ID within its duplicate window.
	ID string
}

// Ack is the broker's receipt.
type Ack struct {
	Stream    string `json:"stream"`
	Sequence  uint64 `json:"sequence"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// Publisher publishes with acknowledgement. Publish may add the broker's own headers (its
// deduplication id, the stream it expects) to msg.Header, creating it when nil, and never
// changes or removes the caller's: callers build a message per publish, and copying every
// header map only to keep it pristine cost an allocation of ~1 KB per event.
type Publisher interface {
	Publish(ctx context.Context, msg *Message) (Ack, error)
}
