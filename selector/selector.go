// Package selector picks one node of a service for each request and keeps a circuit breaker per
// node.
//
// Contract:
//   - Select never blocks and does no I/O: it reads an immutable table rebuilt by Update (called
//     when the registry snapshot changes) and swapped atomically.
//   - Every successful Select must be followed by exactly one Pick.Done with the outcome. Done feeds
//     the node's breaker: only transport failures count against a node (see IsNodeFailure);
//     application errors (NotFound, InvalidArgument, ...) count as successes, and a request the
//     client cancelled is not counted at all.
//   - A node whose breaker is open is ejected: skipped. Ejection is bounded: once more than
//     MaxEjectionPercent of a service's nodes (at least one, never all of a pool of two or more)
//     are open, the service is in panic and open nodes take traffic again alongside the others,
//     so a fault that trips every breaker (a bad deploy, an overloaded pool) degrades into
//     errors from the nodes instead of a total outage. Their breakers do not hear those
//     outcomes; they half-open on their own clock. A single-node service whose node is open
//     answers ErrAllOpen.
//     An unknown service gives an error wrapping registry.ErrNotFound; a known service whose nodes
//     are all excluded by the caller gives ErrNoNodes.
//   - Breaker and in-flight state survive table rebuilds for nodes that stay, and go with the
//     node when it leaves.
//   - A healthy node costs its breaker nothing. With the default trip rule (consecutive
//     failures; no FailureRatio) a success on a closed breaker whose last counted outcome was a
//     success changes nothing the breaker decides on, so such a node is picked and released
//     without taking the breaker's lock: no clock read, no allocation, no cache miss on the
//     breaker's memory (at 10,000 services those misses were most of Select's cost). Failures
//     always reach the breaker, counted when they are reported; a success racing a failure may
//     go uncounted, which can only make the breaker trip sooner, never later.
package selector

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/edgeapi/gateway/registry"
)

var (
	// ErrNoNodes means the service exists but no usable node is left for this request.
	ErrNoNodes = errors.New("no live node")
	// ErrAllOpen means every node's circuit breaker is open.
	ErrAllOpen = errors.New("circuit breaker open on every node")
)

// Strategy names a node-picking policy.
type Strategy string

// The strategies.
const (
	RoundRobin       Strategy = "round_robin"
	Random           Strategy = "random"
	LeastOutstanding Strategy = "least_outstanding"
)

// BreakerConfig tunes the per-node breakers; zero values mean the documented defaults.
type BreakerConfig struct {
	ConsecutiveFailures uint32        // trips the breaker; default 5
	OpenTimeout         time.Duration // open -> half-open; default 10s
	HalfOpenRequests    uint32        // trial requests while half-open; default 1
	Interval            time.Duration // clears counts while closed; 0 never
	// FailureRatio, when > 0, also trips the breaker once at least MinRequests requests were
	// counted in the window and this share of them failed (e.g. 0.5). Catches a node that fails
	// often without ever failing ConsecutiveFailures times in a row.
	// It needs every attempt counted, so it turns off the quiet path (package comment): each
	// Select and Done then takes the node's breaker lock.
	FailureRatio float64
	// MinRequests is the smallest sample the ratio is judged on; default 20.
	MinRequests uint32
	// MaxEjectionPercent bounds the share of a service's nodes that open breakers may take out
	// of rotation (at least one node, at most all but one); default 50.
	MaxEjectionPercent int
	// Window makes Interval a rolling window made of buckets of this length (gobreaker's
	// BucketPeriod), so counts age out gradually instead of all at once; 0: fixed window.
	Window time.Duration
	// OnStateChange, if set, is told about every transition (for logs and metrics). It runs
	// with the node's breaker locked, inside Select, Pick.Done or States: it must not call back
	// into the Selector.
	OnStateChange func(service, node string, from, to gobreaker.State)
}

// Config tunes a Selector.
type Config struct {
	Strategy Strategy // default RoundRobin
	Breaker  BreakerConfig
}

// Selector is safe for concurrent use.
type Selector struct {
	cfg         Config
	readyToTrip func(gobreaker.Counts) bool // shared by every node's breaker
	table       atomic.Pointer[table]
	mu          sync.Mutex // serialises Update
}

type table struct {
	services map[string]*serviceState
}

type serviceState struct {
	svc   *registry.Service
	next  atomic.Uint64
	nodes []nodeState
}

// nodeState is one node in one table, held by value in its service's slice so that Select
// follows one pointer fewer per node: at 10,000 services the lookup is bound by cache misses,
// not by instructions.
type nodeState struct {
	node registry.Node
	live *nodeLive
}

// nodeLive is what a node keeps across table rebuilds: its breaker, its in-flight count and
// the breaker's open deadline, side by side so that Select touches one allocation of ours.
type nodeLive struct {
	// cb is held by value: gobreaker's two-step type is a pointer to the breaker, and keeping
	// the pointer itself saves a hop.
	cb       gobreaker.TwoStepCircuitBreaker[struct{}]
	inflight atomic.Int64
	// openUntil mirrors the breaker, in Unix nanoseconds: while now is before it the breaker
	// is open. It is set by the breaker's state-change hook, under the breaker's lock, so the
	// scans that only ask "is this node open?" (least outstanding, the panic check) need no
	// lock per node. A passed deadline means the breaker half-opens at its next Allow.
	openUntil atomic.Int64
	// quiet: the breaker is closed and its last counted outcome was a success, so picks skip
	// it (see the package comment). Kept false when the trip rule needs every request counted.
	quiet   atomic.Bool
	quietOK bool
}

// isOpen reports whether the node's breaker is open at now (Unix nanoseconds).
func (l *nodeLive) isOpen(now int64) bool { return now < l.openUntil.Load() }

// New returns a selector with an empty table.
func New(cfg Config) (*Selector, error) {
	switch cfg.Strategy {
	case "":
		cfg.Strategy = RoundRobin
	case RoundRobin, Random, LeastOutstanding:
	default:
		return nil, fmt.Errorf("selector: unknown strategy %q (want round_robin, random or least_outstanding)", cfg.Strategy)
	}
	b := &cfg.Breaker
	if b.ConsecutiveFailures == 0 {
		b.ConsecutiveFailures = 5
	}
	if b.OpenTimeout <= 0 {
		b.OpenTimeout = 10 * time.Second
	}
	if b.HalfOpenRequests == 0 {
		b.HalfOpenRequests = 1
	}
	if b.FailureRatio < 0 || b.FailureRatio > 1 {
		return nil, fmt.Errorf("selector: failure ratio %v must be between 0 and 1", b.FailureRatio)
	}
	if b.MinRequests == 0 {
		b.MinRequests = 20
	}
	if b.MaxEjectionPercent < 0 || b.MaxEjectionPercent > 100 {
		return nil, fmt.Errorf("selector: max ejection percent %d must be between 0 and 100", b.MaxEjectionPercent)
	}
	if b.MaxEjectionPercent == 0 {
		b.MaxEjectionPercent = 50
	}
	if b.Window > 0 && b.Interval <= 0 {
		return nil, errors.New("selector: a rolling window needs an interval (the window's total length)")
	}
	threshold, ratio, minReq := b.ConsecutiveFailures, b.FailureRatio, b.MinRequests
	s := &Selector{cfg: cfg, readyToTrip: func(c gobreaker.Counts) bool {
		if c.ConsecutiveFailures >= threshold {
			return true
		}
		return ratio > 0 && c.Requests >= minReq && float64(c.TotalFailures) >= ratio*float64(c.Requests)
	}}
	s.table.Store(&table{services: map[string]*serviceState{}})
	return s, nil
}

// Update rebuilds the table from services, keeping the state of nodes that stay (same ID and
// address). Updates are serialised; Select keeps reading the previous table meanwhile.
func (s *Selector) Update(services map[string]*registry.Service) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.table.Load()
	next := &table{services: make(map[string]*serviceState, len(services))}
	for name, svc := range services {
		prev := old.services[name]
		// A snapshot swap usually changes a few services; the others keep their state as is.
		// (Each serviceState is its own allocation so that keeping one does not keep a block
		// of stale ones alive.)
		if prev != nil && prev.svc == svc {
			next.services[name] = prev
			continue
		}
		st := &serviceState{svc: svc, nodes: make([]nodeState, 0, len(svc.Nodes))}
		if prev != nil {
			st.next.Store(prev.next.Load())
		}
		for _, n := range svc.Nodes {
			// The new value even for an unchanged node: the old one may keep the previous
			// snapshot's strings alive. Breaker and count stay with the node.
			ns := nodeState{node: n}
			if old := prev.find(n); old != nil {
				ns.live = old.live
			} else {
				ns.live = s.newNode(name, n)
			}
			st.nodes = append(st.nodes, ns)
		}
		next.services[name] = st
	}
	s.table.Store(next)
}

func (st *serviceState) find(n registry.Node) *nodeState {
	if st == nil {
		return nil
	}
	for i := range st.nodes {
		if ns := &st.nodes[i]; ns.node.ID == n.ID && ns.node.Address == n.Address {
			return ns
		}
	}
	return nil
}

func (s *Selector) newNode(service string, n registry.Node) *nodeLive {
	b := s.cfg.Breaker
	live := &nodeLive{quietOK: b.FailureRatio == 0}
	live.quiet.Store(live.quietOK)
	// Per-node closures only where they need the node: this runs for every node of every
	// service, and the table's size is dominated by the breakers.
	st := gobreaker.Settings{
		Name:         service + "/" + n.ID,
		MaxRequests:  b.HalfOpenRequests,
		Interval:     b.Interval,
		BucketPeriod: b.Window,
		Timeout:      b.OpenTimeout,
		ReadyToTrip:  s.readyToTrip,
		IsSuccessful: func(err error) bool { return !IsNodeFailure(err) },
		IsExcluded:   IsClientCancel,
	}
	fn, id, timeout := b.OnStateChange, n.ID, b.OpenTimeout
	st.OnStateChange = func(_ string, from, to gobreaker.State) {
		until := int64(0)
		if to == gobreaker.StateOpen {
			until = time.Now().Add(timeout).UnixNano()
		}
		live.openUntil.Store(until)
		// Closing starts a new generation with zeroed counts.
		live.quiet.Store(to == gobreaker.StateClosed && live.quietOK)
		if fn != nil {
			fn(service, id, from, to)
		}
	}
	live.cb = *gobreaker.NewTwoStepCircuitBreaker[struct{}](st)
	return live
}

// Pick is one selected node. Call Done exactly once with the outcome of the attempt.
type Pick struct {
	Node    registry.Node
	Service *registry.Service
	state   *nodeLive
	done    func(error)
}

// Done reports the attempt's outcome to the node's breaker and in-flight count.
func (p *Pick) Done(err error) {
	live := p.state
	if live == nil {
		return
	}
	p.state = nil
	live.inflight.Add(-1)
	success := err == nil || !IsNodeFailure(err)
	if p.done != nil {
		p.done(err)
		if err == nil || success && !IsClientCancel(err) {
			live.settle()
		}
		return
	}
	// A quiet pick: the breaker has not heard of this attempt.
	switch {
	case !success:
		live.quiet.Store(false)
		live.report(err)
	case live.quiet.Load() || IsClientCancel(err):
		// Nothing the breaker would change.
	default:
		// The node failed meanwhile: this success resets its run of failures, as it would
		// have had the breaker counted the attempt from its start.
		live.report(nil)
		live.settle()
	}
}

// report counts an outcome of an attempt the breaker was not told about when it began. Only
// a closed breaker hears it: one that opened since would have ignored the attempt (it began
// in an older generation), and it must not pass for a half-open trial.
func (l *nodeLive) report(err error) {
	if l.cb.State() != gobreaker.StateClosed {
		return
	}
	if done, aerr := l.cb.Allow(); aerr == nil {
		done(err)
	}
}

// settle makes the node quiet again after a counted success, if its breaker is still closed.
func (l *nodeLive) settle() {
	if l.quietOK && !l.quiet.Load() && l.cb.State() == gobreaker.StateClosed {
		l.quiet.Store(true)
	}
}

// Lookup returns the service as the selector currently sees it.
func (s *Selector) Lookup(service string) (*registry.Service, bool) {
	st, ok := s.table.Load().services[service]
	if !ok {
		return nil, false
	}
	return st.svc, true
}

// Select picks a node of service, skipping node IDs in exclude (nodes already tried).
func (s *Selector) Select(service string, exclude ...string) (Pick, error) {
	st, ok := s.table.Load().services[service]
	if !ok || len(st.nodes) == 0 {
		return Pick{}, fmt.Errorf("%q: %w", service, registry.ErrNotFound)
	}
	n := len(st.nodes)
	var start int
	switch s.cfg.Strategy {
	case Random:
		start = rand.IntN(n)
	case LeastOutstanding:
		start = st.leastOutstanding(exclude)
	default:
		start = st.rotate(n)
	}
	usable := false
	for i := range n {
		ns := &st.nodes[(start+i)%n]
		if excluded(ns.node.ID, exclude) {
			continue
		}
		usable = true
		live := ns.live
		if live.quiet.Load() {
			live.inflight.Add(1)
			return Pick{Node: ns.node, Service: st.svc, state: live}, nil
		}
		done, err := live.cb.Allow()
		if err != nil {
			if errors.Is(err, gobreaker.ErrOpenState) && n > 1 && st.panicking(s.cfg.Breaker.MaxEjectionPercent) {
				live.inflight.Add(1)
				return Pick{Node: ns.node, Service: st.svc, state: live, done: ignoreOutcome}, nil
			}
			continue
		}
		live.inflight.Add(1)
		return Pick{Node: ns.node, Service: st.svc, state: live, done: done}, nil
	}
	if !usable {
		return Pick{}, fmt.Errorf("%q: %w", service, ErrNoNodes)
	}
	return Pick{}, fmt.Errorf("%q: %w", service, ErrAllOpen)
}

// panicking reports whether more of the service's nodes are open than ejection may take out.
// Select asks only after meeting an open node.
func (st *serviceState) panicking(maxPercent int) bool {
	n := len(st.nodes)
	limit := min(max(1, n*maxPercent/100), n-1)
	now := time.Now().UnixNano()
	open := 0
	for i := range st.nodes {
		if st.nodes[i].live.isOpen(now) {
			open++
		}
	}
	return open > limit
}

// ignoreOutcome is a panic pick's Done: the node's breaker is open and must not hear it.
func ignoreOutcome(error) {}

// leastOutstanding returns the index of the usable node with the fewest requests in flight,
// starting the scan at a rotating offset so ties spread.
func (st *serviceState) leastOutstanding(exclude []string) int {
	n := len(st.nodes)
	off := st.rotate(n)
	now := time.Now().UnixNano()
	best, bestN := off, int64(-1)
	for i := range n {
		idx := (off + i) % n
		ns := &st.nodes[idx]
		if excluded(ns.node.ID, exclude) || ns.live.isOpen(now) {
			continue
		}
		if v := ns.live.inflight.Load(); bestN < 0 || v < bestN {
			best, bestN = idx, v
		}
	}
	return best
}

// rotate returns the next round-robin offset in [0, n).
func (st *serviceState) rotate(n int) int {
	return int((st.next.Add(1) - 1) % uint64(n))
}

func excluded(id string, exclude []string) bool {
	for _, e := range exclude {
		if e == id {
			return true
		}
	}
	return false
}

// NodeState is a read-only report of one node, for health pages and metrics.
type NodeState struct {
	Service  string
	Node     registry.Node
	Breaker  string // closed, half-open, open
	InFlight int64
}

// States reports every node of service (or of all services when service is "").
func (s *Selector) States(service string) []NodeState {
	var out []NodeState
	for name, st := range s.table.Load().services {
		if service != "" && name != service {
			continue
		}
		for _, ns := range st.nodes {
			out = append(out, NodeState{Service: name, Node: ns.node, Breaker: ns.live.cb.State().String(), InFlight: ns.live.inflight.Load()})
		}
	}
	return out
}
