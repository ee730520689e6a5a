package nats

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeapi/gateway/registry"
)

const (
	// watchBuffer is how many events may wait for a slow consumer before the watch goroutine
	// waits too (and, behind it, nats.go's own 256-entry buffer).
	watchBuffer = 64
	// sweepGrace is added to the TTL before the sweeper drops a node, so that a heartbeat that
	// is merely late on the wire (or a little clock skew to a remote server) does not flap it.
	sweepGrace = 250 * time.Millisecond
)

// Watch implements registry.Registry. The returned channel is closed when ctx is done, when
// the connection drops or when the KV watcher ends; see the package comment.
func (r *Registry) Watch(ctx context.Context) (<-chan registry.Event, error) {
	wctx, cancel := context.WithCancel(ctx)
	status := r.nc.StatusChanged(nats.RECONNECTING, nats.DISCONNECTED, nats.CLOSED)
	fail := func(err error) (<-chan registry.Event, error) {
		cancel()
		r.nc.RemoveStatusListener(status)
		return nil, fmt.Errorf("watch: %w", err)
	}
	if !r.nc.IsConnected() {
		return fail(fmt.Errorf("%w (connection %v)", nats.ErrDisconnected, r.nc.Status()))
	}
	// The watcher lives as long as wctx, which also bounds its setup request; the timer
	// bounds the setup and then each wait for an entry of the current state.
	timer := time.AfterFunc(r.cfg.Timeout, cancel)
	w, err := r.kv.WatchAll(wctx)
	if err != nil {
		timer.Stop()
		return fail(err)
	}
	// Load the state as it is now before returning. nats.go ends the initial values after as
	// many entries as were pending at its first one, so a change made while they are still
	// being delivered is counted among them; had Watch returned first, a change its caller
	// made right after would be taken for initial state and never sent as an event.
	st := watchState{services: make(map[string]*serviceState)}
load:
	for !st.loaded {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				break load
			}
			r.apply(&st, e)
			// The bound is on silence, not on the whole load: a large bucket keeps it coming.
			timer.Reset(r.cfg.Timeout)
		case <-wctx.Done():
			break load
		}
	}
	if !timer.Stop() || !st.loaded {
		stopWatcher(cancel, w)
		return fail(fmt.Errorf("loading the registry's current state: no entry for %v", r.cfg.Timeout))
	}
	out := make(chan registry.Event, watchBuffer)
	go r.follow(wctx, cancel, w, status, out, st)
	return out, nil
}

// follow is the watch goroutine: it owns w, status and out, and gives them all up when it
// returns (ctx done, connection lost, watcher closed).
func (r *Registry) follow(ctx context.Context, cancel context.CancelFunc, w jetstream.KeyWatcher,
	status chan nats.Status, out chan<- registry.Event, st watchState) {
	defer close(out)
	defer func() {
		stopWatcher(cancel, w)
		r.nc.RemoveStatusListener(status)
	}()

	var sweep <-chan time.Time
	if r.sweep {
		t := time.NewTicker(max(r.cfg.TTL/5, 100*time.Millisecond))
		defer t.Stop()
		sweep = t.C
	}
	send := func(evs []registry.Event) bool {
		for _, ev := range evs {
			select {
			case out <- ev:
			case <-ctx.Done():
				return false
			}
		}
		return true
	}
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-status:
			r.log.Warn("NATS connection lost, registry watch ends", "status", s.String())
			return
		case e, ok := <-w.Updates():
			if !ok {
				r.log.Warn("registry KV watcher closed, registry watch ends")
				return
			}
			if !send(r.apply(&st, e)) {
				return
			}
		case now := <-sweep:
			if !send(st.expire(now, r.cfg.TTL+sweepGrace)) {
				return
			}
		}
	}
}

// watchState is what the watch goroutine knows of the bucket.
type watchState struct {
	services map[string]*serviceState
	// loaded is set once the initial values are in (the watcher's nil entry); changes before
	// it are part of the state the consumer lists itself and send no events.
	loaded bool
}

type serviceState struct {
	nodes map[string]nodeEntry
	// sent is the service as the consumer knows it (loaded or last sent); nil when unknown.
	sent *registry.Service
}

// apply records one watcher entry and returns the events it causes.
func (r *Registry) apply(st *watchState, e jetstream.KeyValueEntry) []registry.Event {
	if e == nil {
		st.loaded = true
		for name, s := range st.services {
			if s.sent = assemble(name, s.nodes); s.sent == nil {
				delete(st.services, name)
			}
		}
		return nil
	}
	name, id, ok := parseKey(e.Key())
	if !ok {
		return nil
	}
	s := st.services[name]
	if e.Operation() == jetstream.KeyValuePut {
		_, n, _, err := decode(e)
		if err != nil {
			r.log.Warn("ignoring unreadable registry entry", "service", name, "node", id, "error", err)
			return nil
		}
		if s == nil {
			s = &serviceState{nodes: make(map[string]nodeEntry)}
			st.services[name] = s
		}
		s.nodes[id] = n
	} else {
		// Delete (Deregister), Purge, or the server's marker for an entry that expired.
		if s == nil {
			return nil
		}
		if _, known := s.nodes[id]; !known {
			return nil
		}
		delete(s.nodes, id)
	}
	return st.changed(name)
}

// expire drops the nodes whose last write is older than ttl (sweeper mode only).
func (st *watchState) expire(now time.Time, ttl time.Duration) []registry.Event {
	var evs []registry.Event
	for name, s := range st.services {
		before := len(s.nodes)
		for id, n := range s.nodes {
			if now.Sub(n.created) > ttl {
				delete(s.nodes, id)
			}
		}
		if len(s.nodes) != before {
			evs = append(evs, st.changed(name)...)
		}
	}
	return evs
}

// changed returns the event for service name after its nodes changed: nothing before the
// initial state is loaded or when the whole service is as the consumer knows it.
func (st *watchState) changed(name string) []registry.Event {
	s := st.services[name]
	if !st.loaded {
		return nil
	}
	cur := assemble(name, s.nodes)
	if cur == nil {
		delete(st.services, name)
		if s.sent == nil {
			return nil
		}
		return []registry.Event{{Type: registry.EventDelete, Name: name}}
	}
	if s.sent != nil && reflect.DeepEqual(cur, s.sent) {
		return nil
	}
	s.sent = cur
	return []registry.Event{{Type: registry.EventUpdate, Name: name, Service: cur}}
}
