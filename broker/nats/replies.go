package nats

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// timerPool reuses the timers bounding publishes: with Go >= 1.23 timer semantics a stopped
// timer delivers nothing stale after Reset, so reuse is safe and spares two allocations per
// event.
type timerPool struct{ pool sync.Pool }

func (p *timerPool) get(d time.Duration) *time.Timer {
	if t, ok := p.pool.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

func (p *timerPool) put(t *time.Timer) {
	if !t.Stop() {
		// A no-op with Go >= 1.23 timers; with the old ones (GODEBUG asynctimerchan=1) it
		// removes a stale expiry that would fail the next publish at once.
		select {
		case <-t.C:
		default:
		}
	}
	p.pool.Put(t)
}

// errExpired: the publish's own time ran out before its acknowledgement came.
var errExpired = errors.New("no acknowledgement in time")

// replyMux matches acknowledgements to the publishes waiting for them: one wildcard
// subscription, and a reply subject per publish that is never used again, so that a late or
// second answer (another subscriber of the event subjects may reply too) cannot be taken for
// the acknowledgement of a later event.
type replyMux struct {
	prefix string // "<inbox>."; a publish's reply subject is the prefix and its number
	sub    *nats.Subscription
	nc     *nats.Conn

	waits sync.Pool // *ackWait

	mu      sync.Mutex
	next    uint64
	waiting map[uint64]*ackWait
}

// ackWait is one publish waiting; reply has room for the one answer, so delivering never blocks.
type ackWait struct {
	reply chan *nats.Msg
}

func newReplyMux(nc *nats.Conn) (*replyMux, error) {
	r := &replyMux{prefix: nc.NewInbox() + ".", nc: nc, waiting: make(map[uint64]*ackWait)}
	r.waits.New = func() any { return &ackWait{reply: make(chan *nats.Msg, 1)} }
	sub, err := nc.Subscribe(r.prefix+"*", r.deliver)
	if err != nil {
		return nil, err
	}
	r.sub = sub
	return r, nil
}

func (r *replyMux) close() error {
	return r.sub.Unsubscribe()
}

// request publishes msg with a new reply subject and waits for the answer, ctx or expired.
func (r *replyMux) request(ctx context.Context, msg *nats.Msg, expired <-chan time.Time) (*nats.Msg, error) {
	w := r.waits.Get().(*ackWait)
	r.mu.Lock()
	r.next++
	id := r.next
	r.waiting[id] = w
	r.mu.Unlock()

	var buf [96]byte
	msg.Reply = string(strconv.AppendUint(append(buf[:0], r.prefix...), id, 10))
	if err := r.nc.PublishMsg(msg); err != nil {
		r.forget(id, w)
		return nil, err
	}
	select {
	case m := <-w.reply:
		r.waits.Put(w)
		return m, nil
	case <-ctx.Done():
		r.forget(id, w)
		return nil, ctx.Err()
	case <-expired:
		r.forget(id, w)
		return nil, errExpired
	}
}

// forget stops waiting for id. Its ackWait is reused only if no answer can still be put in it.
func (r *replyMux) forget(id uint64, w *ackWait) {
	r.mu.Lock()
	_, ok := r.waiting[id]
	delete(r.waiting, id)
	r.mu.Unlock()
	if ok {
		r.waits.Put(w)
	}
}

// deliver runs on the subscription's goroutine; it hands the answer over and returns, leaving
// the decoding to the publisher's goroutine.
func (r *replyMux) deliver(m *nats.Msg) {
	if len(m.Subject) <= len(r.prefix) {
		return
	}
	id, err := strconv.ParseUint(m.Subject[len(r.prefix):], 10, 64)
	if err != nil {
		return
	}
	r.mu.Lock()
	w := r.waiting[id]
	delete(r.waiting, id)
	r.mu.Unlock()
	if w != nil {
		w.reply <- m
	}
}
