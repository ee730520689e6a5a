package loadgen

import (
	"context"
	"strconv"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"
)

// JetStream publishes a fixed payload and waits for the stream's acknowledgement, like the
// gateway's event handler does. With IDs set every message carries a unique message id, which
// JetStream holds for its duplicate window, as the gateway does for a client's Ce-Id; without,
// none, as the gateway does for an event it minted the id of.
type JetStream struct {
	JS      jetstream.JetStream
	Subject string
	Data    []byte
	IDs     string // prefix of the message ids, unique per run; "" for none
	seq     atomic.Int64
}

// Dial implements Dialer; every "connection" shares the one NATS connection, as in the gateway.
func (j *JetStream) Dial(context.Context) (Conn, error) { return jsConn{j}, nil }

type jsConn struct{ j *JetStream }

func (c jsConn) Do(ctx context.Context) error {
	if c.j.IDs == "" {
		_, err := c.j.JS.Publish(ctx, c.j.Subject, c.j.Data)
		return err
	}
	id := c.j.IDs + strconv.FormatInt(c.j.seq.Add(1), 10)
	_, err := c.j.JS.Publish(ctx, c.j.Subject, c.j.Data, jetstream.WithMsgID(id))
	return err
}

func (jsConn) Close() error { return nil }
