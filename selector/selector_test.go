package selector_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/edgeapi/gateway/internal/testwait"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/selector"
)

const waitFor = 5 * time.Second

var errUnavailable = status.Error(codes.Unavailable, "connection refused")

func service(name string, ids ...string) *registry.Service {
	s := &registry.Service{Name: name}
	for _, id := range ids {
		s.Nodes = append(s.Nodes, registry.Node{ID: id, Address: id + ":1"})
	}
	return s
}

func table(svcs ...*registry.Service) map[string]*registry.Service {
	m := make(map[string]*registry.Service, len(svcs))
	for _, s := range svcs {
		m[s.Name] = s
	}
	return m
}

func newSelector(t testing.TB, cfg selector.Config, svcs ...*registry.Service) *selector.Selector {
	t.Helper()
	s, err := selector.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Update(table(svcs...))
	return s
}

// nodeState returns the report of one node, failing if it is not in the table.
func nodeState(t *testing.T, s *selector.Selector, svc, node string) selector.NodeState {
	t.Helper()
	for _, st := range s.States(svc) {
		if st.Node.ID == node {
			return st
		}
	}
	t.Fatalf("node %s/%s not in the table", svc, node)
	return selector.NodeState{}
}

func breaker(t *testing.T, s *selector.Selector, svc, node string) string {
	t.Helper()
	return nodeState(t, s, svc, node).Breaker
}

// selectOn picks node of svc by excluding the other nodes.
func selectOn(t *testing.T, s *selector.Selector, svc, node string, all []string) selector.Pick {
	t.Helper()
	var others []string
	for _, id := range all {
		if id != node {
			others = append(others, id)
		}
	}
	p, err := s.Select(svc, others...)
	if err != nil {
		t.Fatalf("select %s/%s: %v", svc, node, err)
	}
	if p.Node.ID != node {
		t.Fatalf("selected %s, want %s", p.Node.ID, node)
	}
	return p
}

// finish reports err on node times times.
func finish(t *testing.T, s *selector.Selector, svc, node string, all []string, err error, times int) {
	t.Helper()
	for range times {
		p := selectOn(t, s, svc, node, all)
		p.Done(err)
	}
}

// transitions records breaker transitions as "node:from->to".
type transitions struct {
	mu  sync.Mutex
	got []string
}

func (r *transitions) record(_, node string, from, to gobreaker.State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, fmt.Sprintf("%s:%s->%s", node, from, to))
}

func (r *transitions) of(node string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, tr := range r.got {
		if strings.HasPrefix(tr, node+":") {
			out = append(out, strings.TrimPrefix(tr, node+":"))
		}
	}
	return out
}

func TestNewStrategy(t *testing.T) {
	tests := []struct {
		strategy selector.Strategy
		wantErr  bool
	}{
		{"", false},
		{selector.RoundRobin, false},
		{selector.Random, false},
		{selector.LeastOutstanding, false},
		{"fastest", true},
	}
	for _, tt := range tests {
		t.Run(string(tt.strategy), func(t *testing.T) {
			s, err := selector.New(selector.Config{Strategy: tt.strategy})
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "fastest") {
					t.Fatalf("err = %v, want one naming the strategy", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Select("anything"); !errors.Is(err, registry.ErrNotFound) {
				t.Fatalf("empty selector: err = %v", err)
			}
		})
	}
}

func TestRoundRobinEven(t *testing.T) {
	for _, strategy := range []selector.Strategy{"", selector.RoundRobin} {
		t.Run(string(strategy)+"/", func(t *testing.T) {
			s := newSelector(t, selector.Config{Strategy: strategy}, service("foo", "a", "b", "c"))
			counts := map[string]int{}
			for range 300 {
				p, err := s.Select("foo")
				if err != nil {
					t.Fatal(err)
				}
				counts[p.Node.ID]++
				p.Done(nil)
			}
			for _, id := range []string{"a", "b", "c"} {
				if counts[id] != 100 {
					t.Fatalf("counts = %v, want 100 each", counts)
				}
			}
		})
	}
}

func TestRandomTouchesAllNodes(t *testing.T) {
	s := newSelector(t, selector.Config{Strategy: selector.Random}, service("foo", "a", "b", "c", "d"))
	seen := map[string]int{}
	for i := 0; i < 10000 && len(seen) < 4; i++ {
		p, err := s.Select("foo")
		if err != nil {
			t.Fatal(err)
		}
		seen[p.Node.ID]++
		p.Done(nil)
	}
	if len(seen) != 4 {
		t.Fatalf("random picked only %v", seen)
	}
}

func TestLeastOutstanding(t *testing.T) {
	ids := []string{"a", "b", "c"}
	s := newSelector(t, selector.Config{Strategy: selector.LeastOutstanding}, service("foo", ids...))

	// Holding picks: each new pick goes to a node with nothing in flight.
	var held []selector.Pick
	seen := map[string]bool{}
	for range 3 {
		p, err := s.Select("foo")
		if err != nil {
			t.Fatal(err)
		}
		if seen[p.Node.ID] {
			t.Fatalf("picked %s again while another node had nothing in flight", p.Node.ID)
		}
		seen[p.Node.ID] = true
		held = append(held, p)
	}
	// Releasing one makes it the only least loaded node.
	freed := held[1].Node.ID
	held[1].Done(nil)
	p, err := s.Select("foo")
	if err != nil {
		t.Fatal(err)
	}
	if p.Node.ID != freed {
		t.Fatalf("picked %s, want %s (fewest in flight)", p.Node.ID, freed)
	}
	held[1] = p

	// A longer run: every pick goes to a node whose in-flight count is the minimum.
	inflight := map[string]int{}
	for _, h := range held {
		inflight[h.Node.ID]++
	}
	for i := range 200 {
		if i%3 == 2 && len(held) > 0 { // release the oldest now and then
			h := held[0]
			held = held[1:]
			inflight[h.Node.ID]--
			h.Done(nil)
			continue
		}
		min := inflight["a"]
		for _, id := range ids {
			min = minInt(min, inflight[id])
		}
		p, err := s.Select("foo")
		if err != nil {
			t.Fatal(err)
		}
		if inflight[p.Node.ID] != min {
			t.Fatalf("pick %d went to %s with %d in flight; in flight %v", i, p.Node.ID, inflight[p.Node.ID], inflight)
		}
		if got := nodeState(t, s, "foo", p.Node.ID).InFlight; got != int64(inflight[p.Node.ID]+1) {
			t.Fatalf("States in-flight of %s = %d, want %d", p.Node.ID, got, inflight[p.Node.ID]+1)
		}
		inflight[p.Node.ID]++
		held = append(held, p)
	}
	for _, h := range held {
		h.Done(nil)
	}
	for _, st := range s.States("foo") {
		if st.InFlight != 0 {
			t.Errorf("%s: %d in flight after every Done", st.Node.ID, st.InFlight)
		}
	}
}

func minInt(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// Least outstanding does not pick a node whose breaker is open even when it is least loaded,
// and picks it again for the half-open trial once the open timeout passed.
func TestLeastOutstandingSkipsOpen(t *testing.T) {
	ids := []string{"a", "b"}
	const openFor = 100 * time.Millisecond
	cfg := selector.Config{Strategy: selector.LeastOutstanding, Breaker: selector.BreakerConfig{OpenTimeout: openFor}}
	s := newSelector(t, cfg, service("foo", ids...))
	finish(t, s, "foo", "a", ids, errUnavailable, 5)
	held := selectOn(t, s, "foo", "b", ids)
	defer held.Done(nil)
	for range 10 {
		p, err := s.Select("foo")
		if err != nil {
			t.Fatal(err)
		}
		if p.Node.ID != "b" {
			t.Fatalf("picked %s with an open breaker", p.Node.ID)
		}
		p.Done(nil)
	}
	time.Sleep(openFor + 20*time.Millisecond)
	p, err := s.Select("foo")
	if err != nil {
		t.Fatal(err)
	}
	if p.Node.ID != "a" {
		t.Fatalf("picked %s, want a (least loaded, open timeout passed)", p.Node.ID)
	}
	if got := breaker(t, s, "foo", "a"); got != "half-open" {
		t.Errorf("a is %s during its trial, want half-open", got)
	}
	p.Done(nil)
	if got := breaker(t, s, "foo", "a"); got != "closed" {
		t.Errorf("a is %s after a good trial, want closed", got)
	}
}

func TestExclude(t *testing.T) {
	ids := []string{"a", "b", "c"}
	tests := []struct {
		name    string
		exclude []string
		wantErr error
	}{
		{"none", nil, nil},
		{"one", []string{"b"}, nil},
		{"two", []string{"a", "c"}, nil},
		{"unknown id", []string{"zz"}, nil},
		{"all", []string{"a", "b", "c"}, selector.ErrNoNodes},
		{"all and more", []string{"c", "zz", "b", "a"}, selector.ErrNoNodes},
	}
	for _, strategy := range []selector.Strategy{selector.RoundRobin, selector.Random, selector.LeastOutstanding} {
		for _, tt := range tests {
			t.Run(string(strategy)+"/"+tt.name, func(t *testing.T) {
				s := newSelector(t, selector.Config{Strategy: strategy}, service("foo", ids...))
				for range 30 {
					p, err := s.Select("foo", tt.exclude...)
					if tt.wantErr != nil {
						if !errors.Is(err, tt.wantErr) {
							t.Fatalf("err = %v, want %v", err, tt.wantErr)
						}
						if errors.Is(err, registry.ErrNotFound) || errors.Is(err, selector.ErrAllOpen) {
							t.Fatalf("err = %v also matches another sentinel", err)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					if slices.Contains(tt.exclude, p.Node.ID) {
						t.Fatalf("picked excluded node %s", p.Node.ID)
					}
					p.Done(nil)
				}
			})
		}
	}
}

func TestUnknownService(t *testing.T) {
	s := newSelector(t, selector.Config{}, service("foo", "a"), service("empty"))
	for _, name := range []string{"nope", "empty", ""} {
		t.Run(name+"/", func(t *testing.T) {
			_, err := s.Select(name)
			if !errors.Is(err, registry.ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) {
				t.Errorf("err %q does not name the service", err)
			}
		})
	}
	// A service that leaves the table is unknown again.
	s.Update(table(service("bar", "b")))
	if _, err := s.Select("foo"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("after removal: err = %v", err)
	}
}

func TestLookup(t *testing.T) {
	foo := service("foo", "a")
	s := newSelector(t, selector.Config{}, foo)
	if got, ok := s.Lookup("foo"); !ok || got != foo {
		t.Fatalf("Lookup(foo) = %v, %v", got, ok)
	}
	if _, ok := s.Lookup("nope"); ok {
		t.Fatal("Lookup(nope) found something")
	}
	p, err := s.Select("foo")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Done(nil)
	if p.Service != foo || p.Node.Address != "a:1" {
		t.Fatalf("pick = %+v", p)
	}
}

func TestBreakerLifecycle(t *testing.T) {
	ids := []string{"a", "b"}
	rec := &transitions{}
	cfg := selector.Config{Breaker: selector.BreakerConfig{
		OpenTimeout:   50 * time.Millisecond,
		OnStateChange: rec.record,
	}}
	s := newSelector(t, cfg, service("foo", ids...))

	// Four failures leave the breaker closed, the fifth opens it.
	finish(t, s, "foo", "a", ids, errUnavailable, 4)
	if got := breaker(t, s, "foo", "a"); got != "closed" {
		t.Fatalf("after 4 failures a is %s", got)
	}
	finish(t, s, "foo", "a", ids, errUnavailable, 1)
	if got := breaker(t, s, "foo", "a"); got != "open" {
		t.Fatalf("after 5 failures a is %s", got)
	}
	if got := rec.of("a"); !slices.Equal(got, []string{"closed->open"}) {
		t.Fatalf("transitions of a = %v", got)
	}

	// Selection skips the open node.
	for range 20 {
		p, err := s.Select("foo")
		if err != nil {
			t.Fatal(err)
		}
		if p.Node.ID != "b" {
			t.Fatalf("picked %s with an open breaker", p.Node.ID)
		}
		p.Done(nil)
	}
	// Only the open node left: ErrAllOpen, not ErrNoNodes.
	if _, err := s.Select("foo", "b"); !errors.Is(err, selector.ErrAllOpen) {
		t.Fatalf("only a, open: err = %v, want ErrAllOpen", err)
	}

	// Every node open: ejection is bounded, so the pool panics and both take traffic again;
	// what they answer meanwhile does not reach their breakers.
	finish(t, s, "foo", "b", ids, errUnavailable, 5)
	seen := map[string]int{}
	for range 10 {
		p, err := s.Select("foo")
		if err != nil {
			t.Fatalf("all open, panic mode: %v", err)
		}
		seen[p.Node.ID]++
		p.Done(errUnavailable)
	}
	if seen["a"] == 0 || seen["b"] == 0 {
		t.Fatalf("panic mode picked %v, want both nodes", seen)
	}
	if a, b := breaker(t, s, "foo", "a"), breaker(t, s, "foo", "b"); a != "open" || b != "open" {
		t.Fatalf("panic picks changed breakers: a %s, b %s", a, b)
	}

	// After the open timeout both go half-open and let one trial each through.
	testwait.Until(t, waitFor, "half-open", func() bool {
		return breaker(t, s, "foo", "a") == "half-open" && breaker(t, s, "foo", "b") == "half-open"
	})
	trialA := selectOn(t, s, "foo", "a", ids)
	if _, err := s.Select("foo", "b"); !errors.Is(err, selector.ErrAllOpen) {
		t.Fatalf("second request during a's trial: err = %v, want ErrAllOpen", err)
	}
	trialB := selectOn(t, s, "foo", "b", ids)
	if _, err := s.Select("foo"); !errors.Is(err, selector.ErrAllOpen) {
		t.Fatalf("both on trial: err = %v, want ErrAllOpen", err)
	}

	// Success closes a; failure sends b back to open.
	trialA.Done(nil)
	trialB.Done(errUnavailable)
	if got := breaker(t, s, "foo", "a"); got != "closed" {
		t.Fatalf("after a successful trial a is %s", got)
	}
	if got := breaker(t, s, "foo", "b"); got != "open" {
		t.Fatalf("after a failed trial b is %s", got)
	}
	if got, want := rec.of("a"), []string{"closed->open", "open->half-open", "half-open->closed"}; !slices.Equal(got, want) {
		t.Fatalf("transitions of a = %v, want %v", got, want)
	}
	if got, want := rec.of("b"), []string{"closed->open", "open->half-open", "half-open->open"}; !slices.Equal(got, want) {
		t.Fatalf("transitions of b = %v, want %v", got, want)
	}
	for range 5 {
		p, err := s.Select("foo")
		if err != nil {
			t.Fatal(err)
		}
		if p.Node.ID != "a" {
			t.Fatalf("picked %s", p.Node.ID)
		}
		p.Done(nil)
	}
}

func TestBreakerCountsOnlyNodeFailures(t *testing.T) {
	ids := []string{"a"}
	tests := []struct {
		name string
		err  error
	}{
		{"nil", nil},
		{"not found", status.Error(codes.NotFound, "no such order")},
		{"invalid argument", status.Error(codes.InvalidArgument, "bad id")},
		{"permission denied", status.Error(codes.PermissionDenied, "no")},
		{"internal", status.Error(codes.Internal, "bug")},
		{"plain error", errors.New("application said no")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSelector(t, selector.Config{}, service("foo", ids...))
			finish(t, s, "foo", "a", ids, tt.err, 50)
			if got := breaker(t, s, "foo", "a"); got != "closed" {
				t.Fatalf("after 50 application errors a is %s", got)
			}
			// It counts as a success: it resets the run of consecutive failures.
			finish(t, s, "foo", "a", ids, errUnavailable, 4)
			finish(t, s, "foo", "a", ids, tt.err, 1)
			finish(t, s, "foo", "a", ids, errUnavailable, 4)
			if got := breaker(t, s, "foo", "a"); got != "closed" {
				t.Fatalf("4 failures, %v, 4 failures: a is %s", tt.err, got)
			}
		})
	}
}

func TestBreakerIgnoresClientCancel(t *testing.T) {
	ids := []string{"a"}
	tests := []struct {
		name string
		err  error
	}{
		{"context.Canceled", context.Canceled},
		{"wrapped context.Canceled", fmt.Errorf("call: %w", context.Canceled)},
		{"grpc Canceled", status.Error(codes.Canceled, "client went away")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSelector(t, selector.Config{}, service("foo", ids...))
			finish(t, s, "foo", "a", ids, tt.err, 50)
			if got := breaker(t, s, "foo", "a"); got != "closed" {
				t.Fatalf("after cancellations a is %s", got)
			}
			// Not a success either: the run of failures goes on across cancellations.
			finish(t, s, "foo", "a", ids, errUnavailable, 4)
			finish(t, s, "foo", "a", ids, tt.err, 10)
			finish(t, s, "foo", "a", ids, errUnavailable, 1)
			if got := breaker(t, s, "foo", "a"); got != "open" {
				t.Fatalf("4 failures, 10 cancellations, 1 failure: a is %s, want open", got)
			}
		})
	}
}

// A cancelled trial in half-open does not use up the trial: the next request may try.
func TestCancelledTrialFreesHalfOpenSlot(t *testing.T) {
	ids := []string{"a"}
	s := newSelector(t, selector.Config{Breaker: selector.BreakerConfig{OpenTimeout: 20 * time.Millisecond}}, service("foo", ids...))
	finish(t, s, "foo", "a", ids, errUnavailable, 5)
	testwait.Until(t, waitFor, "half-open", func() bool { return breaker(t, s, "foo", "a") == "half-open" })
	trial := selectOn(t, s, "foo", "a", ids)
	if _, err := s.Select("foo"); !errors.Is(err, selector.ErrAllOpen) {
		t.Fatalf("during the trial: err = %v", err)
	}
	trial.Done(context.Canceled)
	if got := breaker(t, s, "foo", "a"); got != "half-open" {
		t.Fatalf("after a cancelled trial a is %s", got)
	}
	trial = selectOn(t, s, "foo", "a", ids)
	trial.Done(nil)
	if got := breaker(t, s, "foo", "a"); got != "closed" {
		t.Fatalf("after a successful trial a is %s", got)
	}
}

func TestBreakerConfig(t *testing.T) {
	ids := []string{"a"}
	cfg := selector.Config{Breaker: selector.BreakerConfig{ConsecutiveFailures: 2, HalfOpenRequests: 2, OpenTimeout: 20 * time.Millisecond}}
	s := newSelector(t, cfg, service("foo", ids...))
	finish(t, s, "foo", "a", ids, errUnavailable, 2)
	if got := breaker(t, s, "foo", "a"); got != "open" {
		t.Fatalf("after 2 failures with ConsecutiveFailures=2: %s", got)
	}
	testwait.Until(t, waitFor, "half-open", func() bool { return breaker(t, s, "foo", "a") == "half-open" })
	p1 := selectOn(t, s, "foo", "a", ids)
	p2 := selectOn(t, s, "foo", "a", ids)
	if _, err := s.Select("foo"); !errors.Is(err, selector.ErrAllOpen) {
		t.Fatalf("third request with HalfOpenRequests=2: err = %v", err)
	}
	p1.Done(nil)
	if got := breaker(t, s, "foo", "a"); got != "half-open" {
		t.Fatalf("after 1 of 2 trial successes: %s", got)
	}
	p2.Done(nil)
	if got := breaker(t, s, "foo", "a"); got != "closed" {
		t.Fatalf("after 2 of 2 trial successes: %s", got)
	}
}

func TestUpdateKeepsStateOfNodesThatStay(t *testing.T) {
	all := []string{"a", "b", "c"}
	s := newSelector(t, selector.Config{Strategy: selector.LeastOutstanding}, service("foo", all...), service("bar", "x"))
	finish(t, s, "foo", "a", all, errUnavailable, 5) // a open
	held := selectOn(t, s, "foo", "b", all)          // b has one in flight
	finish(t, s, "foo", "c", all, errUnavailable, 5) // c open

	// c leaves, b gets new metadata, d joins, bar leaves.
	next := service("foo", "a", "b", "d")
	next.Nodes[1].Metadata = map[string]string{"zone": "z2"}
	s.Update(table(next))

	if got := breaker(t, s, "foo", "a"); got != "open" {
		t.Errorf("a (stayed) is %s, want open", got)
	}
	if st := nodeState(t, s, "foo", "b"); st.InFlight != 1 || st.Node.Metadata["zone"] != "z2" {
		t.Errorf("b (stayed) = %+v, want 1 in flight and the new metadata", st)
	}
	if got := breaker(t, s, "foo", "d"); got != "closed" {
		t.Errorf("d (new) is %s", got)
	}
	if n := len(s.States("foo")); n != 3 {
		t.Errorf("foo has %d nodes, want 3", n)
	}
	if n := len(s.States("bar")); n != 0 {
		t.Errorf("bar still has %d nodes", n)
	}
	if n := len(s.States("")); n != 3 {
		t.Errorf("all services: %d nodes, want 3", n)
	}

	// The pick from before the update still reports to b's state.
	held.Done(nil)
	if st := nodeState(t, s, "foo", "b"); st.InFlight != 0 {
		t.Errorf("b in flight after Done = %d", st.InFlight)
	}
	// Picks of b hand out the new metadata.
	p := selectOn(t, s, "foo", "b", []string{"a", "b", "d"})
	if p.Node.Metadata["zone"] != "z2" {
		t.Errorf("pick of b has metadata %v", p.Node.Metadata)
	}
	p.Done(nil)

	// c comes back: its old state went with it.
	s.Update(table(service("foo", "a", "b", "c", "d")))
	if got := breaker(t, s, "foo", "c"); got != "closed" {
		t.Errorf("c (returned) is %s, want a fresh closed breaker", got)
	}
	if got := breaker(t, s, "foo", "a"); got != "open" {
		t.Errorf("a is %s after a second update", got)
	}

	// Same ID at a new address is a new node.
	moved := service("foo", "a", "b", "c", "d")
	moved.Nodes[0].Address = "elsewhere:1"
	s.Update(table(moved))
	if st := nodeState(t, s, "foo", "a"); st.Breaker != "closed" || st.Node.Address != "elsewhere:1" {
		t.Errorf("a at a new address = %+v, want a fresh closed breaker", st)
	}
}

// Round robin keeps its position across updates, so frequent snapshot swaps do not favour the
// first node, whether the service value is passed again or replaced by an equal one.
func TestRoundRobinAcrossUpdates(t *testing.T) {
	same := service("foo", "a", "b", "c")
	tests := []struct {
		name string
		next func() map[string]*registry.Service
	}{
		{"same value", func() map[string]*registry.Service { return table(same) }},
		{"new value", func() map[string]*registry.Service { return table(service("foo", "a", "b", "c")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSelector(t, selector.Config{}, same)
			finish(t, s, "foo", "a", []string{"a", "b", "c"}, errUnavailable, 4)
			counts := map[string]int{}
			for range 300 {
				s.Update(tt.next())
				p, err := s.Select("foo")
				if err != nil {
					t.Fatal(err)
				}
				counts[p.Node.ID]++
				p.Done(nil)
			}
			if counts["a"] != 100 || counts["b"] != 100 || counts["c"] != 100 {
				t.Fatalf("counts = %v, want 100 each", counts)
			}
			// The breaker counts survived: the run of 4 failures was broken by the successes
			// above, so 4 more failures leave a closed and 5 open it.
			finish(t, s, "foo", "a", []string{"a", "b", "c"}, errUnavailable, 4)
			s.Update(tt.next())
			if got := breaker(t, s, "foo", "a"); got != "closed" {
				t.Fatalf("a is %s after 4 failures", got)
			}
			finish(t, s, "foo", "a", []string{"a", "b", "c"}, errUnavailable, 1)
			s.Update(tt.next())
			if got := breaker(t, s, "foo", "a"); got != "open" {
				t.Fatalf("a is %s after 5 failures across updates", got)
			}
		})
	}
}

func TestPickDone(t *testing.T) {
	s := newSelector(t, selector.Config{}, service("foo", "a"))
	p, err := s.Select("foo")
	if err != nil {
		t.Fatal(err)
	}
	if st := nodeState(t, s, "foo", "a"); st.InFlight != 1 {
		t.Fatalf("in flight = %d, want 1", st.InFlight)
	}
	p.Done(nil)
	p.Done(errUnavailable) // a second Done is ignored
	if st := nodeState(t, s, "foo", "a"); st.InFlight != 0 {
		t.Fatalf("in flight after Done = %d, want 0", st.InFlight)
	}
	var zero selector.Pick
	zero.Done(errUnavailable) // must not panic
}

func TestConcurrentSelectAndUpdate(t *testing.T) {
	for _, strategy := range []selector.Strategy{selector.RoundRobin, selector.Random, selector.LeastOutstanding} {
		t.Run(string(strategy), func(t *testing.T) {
			s := newSelector(t, selector.Config{Strategy: strategy}, service("foo", "a", "b", "c"))
			stop := make(chan struct{})
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						p, err := s.Select("foo")
						if err != nil {
							if !errors.Is(err, registry.ErrNotFound) && !errors.Is(err, selector.ErrAllOpen) {
								errs <- err
								return
							}
							continue
						}
						if (i+w)%7 == 0 {
							p.Done(errUnavailable)
						} else {
							p.Done(nil)
						}
						_ = s.States("")
					}
				}()
			}
			variants := []map[string]*registry.Service{
				table(service("foo", "a", "b", "c")),
				table(service("foo", "a", "c", "d")),
				table(service("foo", "b")),
				table(),
			}
			var updaters sync.WaitGroup
			for u := range 2 {
				updaters.Add(1)
				go func() {
					defer updaters.Done()
					for i := range 300 {
						s.Update(variants[(i+u)%len(variants)])
					}
				}()
			}
			updaters.Wait()
			close(stop)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			s.Update(table(service("foo", "a", "b", "c")))
			for _, st := range s.States("foo") {
				if st.InFlight != 0 {
					t.Errorf("%s: %d in flight after every Done", st.Node.ID, st.InFlight)
				}
			}
		})
	}
}

// TestBreakerFailureRatio: a node that fails every other request never reaches five failures in
// a row, but the ratio trigger opens it once the sample is big enough; below the sample size it
// stays closed.
func TestBreakerFailureRatio(t *testing.T) {
	ids := []string{"a", "b"}
	cfg := selector.Config{Breaker: selector.BreakerConfig{FailureRatio: 0.5, MinRequests: 10, Interval: time.Minute, Window: 10 * time.Second}}
	s := newSelector(t, cfg, service("foo", ids...))
	for i := range 9 {
		var err error
		if i%2 == 0 {
			err = errUnavailable
		}
		finish(t, s, "foo", "a", ids, err, 1)
	}
	if got := breaker(t, s, "foo", "a"); got != "closed" {
		t.Fatalf("after 9 requests (5 failed) a is %s; the sample is below MinRequests", got)
	}
	// gobreaker judges on failures: the 10th request fails, 6 of 10 (and only 2 in a row).
	finish(t, s, "foo", "a", ids, errUnavailable, 1)
	if got := breaker(t, s, "foo", "a"); got != "open" {
		t.Fatalf("after 10 requests with 6 failed a is %s, want open", got)
	}
	if got := breaker(t, s, "foo", "b"); got != "closed" {
		t.Fatalf("b is %s", got)
	}

	for _, bad := range []selector.BreakerConfig{{FailureRatio: 1.5}, {FailureRatio: -0.1}, {Window: time.Second}} {
		if _, err := selector.New(selector.Config{Breaker: bad}); err == nil {
			t.Errorf("New accepted %+v", bad)
		}
	}
}

// TestBoundedEjection: open breakers take nodes out of rotation only up to MaxEjectionPercent
// of the pool; past it every node takes traffic again, and a pool is never ejected whole.
func TestBoundedEjection(t *testing.T) {
	picks := func(s *selector.Selector, n int) map[string]int {
		seen := map[string]int{}
		for range n {
			p, err := s.Select("foo")
			if err != nil {
				t.Fatalf("select: %v", err)
			}
			seen[p.Node.ID]++
			p.Done(nil)
		}
		return seen
	}
	for _, tc := range []struct {
		name    string
		percent int
		nodes   []string
		open    []string
		want    []string // nodes that must take traffic
		wantErr error
	}{
		{"one of four", 0, []string{"a", "b", "c", "d"}, []string{"a"}, []string{"b", "c", "d"}, nil},
		{"half of four", 0, []string{"a", "b", "c", "d"}, []string{"a", "b"}, []string{"c", "d"}, nil},
		{"three of four: panic", 0, []string{"a", "b", "c", "d"}, []string{"a", "b", "c"}, []string{"a", "b", "c", "d"}, nil},
		{"100 percent keeps one", 100, []string{"a", "b", "c"}, []string{"a", "b"}, []string{"c"}, nil},
		{"100 percent, all open: panic", 100, []string{"a", "b", "c"}, []string{"a", "b", "c"}, []string{"a", "b", "c"}, nil},
		{"single node open", 0, []string{"a"}, []string{"a"}, nil, selector.ErrAllOpen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSelector(t, selector.Config{Breaker: selector.BreakerConfig{
				ConsecutiveFailures: 1, OpenTimeout: time.Hour, MaxEjectionPercent: tc.percent,
			}}, service("foo", tc.nodes...))
			for _, id := range tc.open {
				finish(t, s, "foo", id, tc.nodes, errUnavailable, 1)
			}
			if tc.wantErr != nil {
				if _, err := s.Select("foo"); !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			seen := picks(s, 40)
			for _, id := range tc.want {
				if seen[id] == 0 {
					t.Errorf("%s took no traffic: %v", id, seen)
				}
			}
			if len(seen) != len(tc.want) {
				t.Errorf("traffic went to %v, want only %v", seen, tc.want)
			}
			for _, id := range tc.open {
				if got := breaker(t, s, "foo", id); got != "open" {
					t.Errorf("%s is %s after panic picks, want open", id, got)
				}
			}
		})
	}
	if _, err := selector.New(selector.Config{Breaker: selector.BreakerConfig{MaxEjectionPercent: 101}}); err == nil {
		t.Fatal("max ejection percent 101 accepted")
	}
}

// Picks of a healthy node skip its breaker (the quiet path); these tests hold the breaker to
// what it would decide had it counted every attempt from its start.

// wantBreaker fails the test unless node of service foo is in state want.
func wantBreaker(t *testing.T, s *selector.Selector, node, want, when string) {
	t.Helper()
	if got := breaker(t, s, "foo", node); got != want {
		t.Fatalf("%s is %s %s, want %s", node, got, when, want)
	}
}

// A success picked before a failure, reported after it, still ends the run of failures.
func TestQuietSuccessAfterAFailureResetsTheRun(t *testing.T) {
	ids := []string{"a"}
	s := newSelector(t, selector.Config{}, service("foo", ids...))
	early := selectOn(t, s, "foo", "a", ids)
	failed := selectOn(t, s, "foo", "a", ids)
	failed.Done(errUnavailable)
	early.Done(nil)
	finish(t, s, "foo", "a", ids, errUnavailable, 4) // 4 in a row: below the threshold of 5
	wantBreaker(t, s, "a", "closed", "after failure, success, 4 failures")
	finish(t, s, "foo", "a", ids, errUnavailable, 1)
	wantBreaker(t, s, "a", "open", "after 5 failures in a row")
}

// Failures of attempts all picked while the node was healthy are each counted.
func TestQuietPicksFailingTogetherTrip(t *testing.T) {
	ids := []string{"a"}
	s := newSelector(t, selector.Config{}, service("foo", ids...))
	var picks []selector.Pick
	for range 5 {
		picks = append(picks, selectOn(t, s, "foo", "a", ids))
	}
	for i := range picks {
		picks[i].Done(errUnavailable)
	}
	wantBreaker(t, s, "a", "open", "after 5 concurrent failures")
}

// An attempt picked before the breaker opened does not count once it opened: not while open,
// and not as the half-open trial.
func TestQuietPickFinishingAfterTheTripIsIgnored(t *testing.T) {
	ids := []string{"a"}
	const openFor = 50 * time.Millisecond
	s := newSelector(t, selector.Config{Breaker: selector.BreakerConfig{OpenTimeout: openFor}}, service("foo", ids...))
	before, beforeToo := selectOn(t, s, "foo", "a", ids), selectOn(t, s, "foo", "a", ids)
	finish(t, s, "foo", "a", ids, errUnavailable, 5)
	before.Done(nil)
	wantBreaker(t, s, "a", "open", "after a success begun before the trip")
	time.Sleep(openFor + 20*time.Millisecond)
	beforeToo.Done(nil)
	wantBreaker(t, s, "a", "half-open", "after a success begun before the trip came back in the half-open window")
	// The real trial closes it, and the node is quiet again: more successes keep it closed
	// and five failures open it once more.
	finish(t, s, "foo", "a", ids, nil, 3)
	wantBreaker(t, s, "a", "closed", "after a good trial")
	finish(t, s, "foo", "a", ids, errUnavailable, 5)
	wantBreaker(t, s, "a", "open", "after 5 failures once closed again")
}

// A cancelled attempt says nothing about the node, on the quiet path too.
func TestQuietPickCancelledIsNotCounted(t *testing.T) {
	ids := []string{"a"}
	s := newSelector(t, selector.Config{}, service("foo", ids...))
	finish(t, s, "foo", "a", ids, errUnavailable, 4)
	finish(t, s, "foo", "a", ids, context.Canceled, 3)
	finish(t, s, "foo", "a", ids, errUnavailable, 1)
	wantBreaker(t, s, "a", "open", "after 4 failures, 3 cancellations and 1 failure")
}
