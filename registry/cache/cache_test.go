package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeapi/gateway/internal/testwait"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/registry/memory"
)

const waitFor = 5 * time.Second

var testConfig = Config{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}

// start runs c until the test ends; the cleanup cancels Run and waits for it to return nil.
func start(t *testing.T, c *Cache) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(waitFor):
			t.Error("Run did not return after cancel")
		}
	})
}

func waitSynced(t *testing.T, c *Cache) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := c.WaitSynced(ctx); err != nil {
		t.Fatalf("WaitSynced: %v", err)
	}
}

func svc(name string, ids ...string) *registry.Service {
	s := &registry.Service{Name: name}
	for _, id := range ids {
		s.Nodes = append(s.Nodes, registry.Node{ID: id, Address: id + ":1"})
	}
	return s
}

// state renders a snapshot as "name=id,id name=id" for comparisons.
func state(s *Snapshot) string {
	var parts []string
	for _, svc := range s.Sorted() {
		var ids []string
		for _, n := range svc.Nodes {
			ids = append(ids, n.ID)
		}
		parts = append(parts, svc.Name+"="+strings.Join(ids, ","))
	}
	return strings.Join(parts, " ")
}

// flaky wraps a memory registry and can be switched between working and failing. Switching to
// failing also ends the watches in progress, as a dropped connection would.
type flaky struct {
	inner *memory.Registry

	mu       sync.Mutex
	listErr  error // ListServices fails with it when set
	watchErr error // Watch fails with it when set
	cancels  []context.CancelFunc
	listGate chan struct{} // when set, ListServices waits for it to close
	lists    atomic.Int64  // ListServices calls
	failures atomic.Int64  // calls that failed
}

var _ registry.Registry = (*flaky)(nil)

func newFlaky() *flaky { return &flaky{inner: memory.New()} }

func (f *flaky) set(listErr, watchErr error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listErr, f.watchErr = listErr, watchErr
	if listErr != nil || watchErr != nil {
		for _, cancel := range f.cancels {
			cancel()
		}
		f.cancels = nil
	}
}

func (f *flaky) GetService(ctx context.Context, name string) (*registry.Service, error) {
	f.mu.Lock()
	err := f.listErr
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return f.inner.GetService(ctx, name)
}

func (f *flaky) ListServices(ctx context.Context) ([]*registry.Service, error) {
	f.lists.Add(1)
	f.mu.Lock()
	gate, err := f.listGate, f.listErr
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		f.failures.Add(1)
		return nil, err
	}
	return f.inner.ListServices(ctx)
}

func (f *flaky) Watch(ctx context.Context) (<-chan registry.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.watchErr != nil {
		f.failures.Add(1)
		return nil, f.watchErr
	}
	wctx, cancel := context.WithCancel(ctx)
	f.cancels = append(f.cancels, cancel)
	return f.inner.Watch(wctx)
}

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), s)
}

func TestRunListsThenFollowsWatch(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	if err := mem.Register(ctx, svc("a", "a1")); err != nil {
		t.Fatal(err)
	}
	c := New(mem, nil, testConfig)
	if v := c.Snapshot().Version; v != 0 {
		t.Fatalf("version before Run = %d, want 0", v)
	}

	var (
		mu       sync.Mutex
		seen     []*Snapshot
		mismatch int
	)
	c.OnChange(func(s *Snapshot) {
		mu.Lock()
		defer mu.Unlock()
		// Listeners run just before the swap: the snapshot still current is the one before s.
		if c.Snapshot().Version != s.Version-1 {
			mismatch++
		}
		seen = append(seen, s)
	})

	// Readers run throughout, for the race detector.
	stop := make(chan struct{})
	var readers sync.WaitGroup
	var wrong atomic.Bool
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if s, ok := c.Lookup("a"); ok && s.Name != "a" {
					wrong.Store(true)
				}
				_ = c.Snapshot().Sorted()
				time.Sleep(50 * time.Microsecond) // load, not synchronisation: leave CPU to Run
			}
		}()
	}
	defer func() {
		close(stop)
		readers.Wait()
		if wrong.Load() {
			t.Error("Lookup(a) returned another service")
		}
	}()

	start(t, c)
	waitSynced(t, c)
	if got := state(c.Snapshot()); got != "a=a1" {
		t.Fatalf("after first listing: %q", got)
	}

	steps := []struct {
		name string
		do   func() error
		want string
	}{
		{"new service", func() error { return mem.Register(ctx, svc("b", "b1")) }, "a=a1 b=b1"},
		{"new node", func() error { return mem.Register(ctx, svc("a", "a2")) }, "a=a1,a2 b=b1"},
		{"node leaves", func() error { return mem.Deregister(ctx, svc("a", "a1")) }, "a=a2 b=b1"},
		{"service leaves", func() error { return mem.Deregister(ctx, svc("b", "b1")) }, "a=a2"},
		{"last service leaves", func() error { return mem.Deregister(ctx, svc("a", "a2")) }, ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := st.do(); err != nil {
				t.Fatal(err)
			}
			testwait.Until(t, waitFor, fmt.Sprintf("state %q", st.want), func() bool { return state(c.Snapshot()) == st.want })
			if _, ok := c.Lookup("b"); ok != strings.Contains(st.want, "b=") {
				t.Errorf("Lookup(b) = %v in state %q", ok, st.want)
			}
		})
	}

	mu.Lock()
	defer mu.Unlock()
	if mismatch != 0 {
		t.Errorf("%d listener calls did not run just before their snapshot became current", mismatch)
	}
	if len(seen) < 1+len(steps) {
		t.Fatalf("listener saw %d snapshots, want at least %d", len(seen), 1+len(steps))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].Version <= seen[i-1].Version {
			t.Fatalf("versions not increasing: %d then %d", seen[i-1].Version, seen[i].Version)
		}
	}
	if seen[0].Version != 1 {
		t.Errorf("first version = %d, want 1", seen[0].Version)
	}
	if last := seen[len(seen)-1]; last != c.Snapshot() {
		t.Error("the listener's last snapshot is not the current one")
	}
}

func TestListenersRunInOrder(t *testing.T) {
	mem := memory.New()
	c := New(mem, nil, testConfig)
	var (
		mu    sync.Mutex
		calls []string
	)
	for _, name := range []string{"first", "second", "third"} {
		c.OnChange(func(s *Snapshot) {
			mu.Lock()
			calls = append(calls, fmt.Sprintf("%s@%d", name, s.Version))
			mu.Unlock()
		})
	}
	start(t, c)
	waitSynced(t, c)
	if err := mem.Register(context.Background(), svc("a", "a1")); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, waitFor, "a", func() bool { _, ok := c.Lookup("a"); return ok })
	mu.Lock()
	defer mu.Unlock()
	want := []string{"first@1", "second@1", "third@1", "first@2", "second@2", "third@2"}
	if !slices.Equal(calls, want) {
		t.Fatalf("calls = %v, want %v", calls, want)
	}
}

func TestLookupNeverBlocks(t *testing.T) {
	f := newFlaky()
	if err := f.inner.Register(context.Background(), svc("a", "a1")); err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	f.listGate = gate
	c := New(f, nil, testConfig)
	start(t, c)
	testwait.Until(t, waitFor, "Run to be inside ListServices", func() bool { return f.lists.Load() > 0 })

	// Run is stuck in the registry; readers are not.
	done := make(chan error, 1)
	go func() {
		for range 1000 {
			if _, ok := c.Lookup("a"); ok {
				done <- errors.New("found a before the first listing")
				return
			}
			if s := c.Snapshot(); s.Version != 0 || len(s.Services) != 0 {
				done <- errors.New("snapshot changed before the first listing")
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitFor):
		t.Fatal("Lookup/Snapshot blocked while the registry was stuck")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := c.WaitSynced(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitSynced before the first listing = %v, want DeadlineExceeded", err)
	}

	close(gate)
	waitSynced(t, c)
	if _, ok := c.Lookup("a"); !ok {
		t.Fatal("a not found after the first listing")
	}
	// WaitSynced keeps answering at once after the first sync.
	waitSynced(t, c)
}

var errDown = errors.New("registry down")

func TestStaleServesLastSnapshotAndRecovers(t *testing.T) {
	tests := []struct {
		name              string
		listErr, watchErr error
	}{
		{"list and watch fail", errDown, errDown},
		{"list fails", errDown, nil},
		{"watch fails", nil, errDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFlaky()
			if err := f.inner.Register(ctx, svc("a", "a1")); err != nil {
				t.Fatal(err)
			}
			logs := &logBuffer{}
			c := New(f, slog.New(slog.NewTextHandler(logs, nil)), testConfig)
			start(t, c)
			waitSynced(t, c)
			if stale, _, err := c.Stale(); stale || err != nil {
				t.Fatalf("Stale after sync = %v, %v", stale, err)
			}

			for outage := 1; outage <= 2; outage++ {
				before := time.Now()
				version := c.Snapshot().Version
				failures := f.failures.Load()
				f.set(tt.listErr, tt.watchErr)
				testwait.Until(t, waitFor, "Stale", func() bool { stale, _, _ := c.Stale(); return stale })
				// Let it retry a few times.
				testwait.Until(t, waitFor, "retries", func() bool { return f.failures.Load() >= failures+5 })

				stale, since, err := c.Stale()
				if !stale || !errors.Is(err, errDown) {
					t.Fatalf("outage %d: Stale = %v, %v; want true, errDown", outage, stale, err)
				}
				if since.Before(before) || since.After(time.Now()) {
					t.Errorf("outage %d: stale since %v, outage began %v", outage, since, before)
				}
				// The last good view keeps serving; changes made meanwhile are not seen.
				name := fmt.Sprintf("new%d", outage)
				if err := f.inner.Register(ctx, svc(name, "n1")); err != nil {
					t.Fatal(err)
				}
				if _, ok := c.Lookup("a"); !ok {
					t.Fatalf("outage %d: a no longer served", outage)
				}
				if _, ok := c.Lookup(name); ok {
					t.Fatalf("outage %d: %s seen while the registry is down", outage, name)
				}
				if v := c.Snapshot().Version; v != version {
					t.Errorf("outage %d: version moved from %d to %d while down", outage, version, v)
				}
				if n := logs.count("registry unreachable"); n != outage {
					t.Errorf("outage %d: %d warnings logged, want one per outage", outage, n)
				}

				f.set(nil, nil)
				testwait.Until(t, waitFor, "not stale", func() bool { stale, _, _ := c.Stale(); return !stale })
				if _, _, err := c.Stale(); err != nil {
					t.Errorf("Stale error after recovery = %v", err)
				}
				testwait.Until(t, waitFor, name+" after recovery", func() bool { _, ok := c.Lookup(name); return ok })
				// Changes flow again.
				if err := f.inner.Deregister(ctx, svc(name, "n1")); err != nil {
					t.Fatal(err)
				}
				testwait.Until(t, waitFor, name+" gone", func() bool { _, ok := c.Lookup(name); return !ok })
				if n := logs.count("registry reachable again"); n != outage {
					t.Errorf("outage %d: %d recovery logs, want %d", outage, n, outage)
				}
			}
		})
	}
}

func TestFailingFromStart(t *testing.T) {
	f := newFlaky()
	if err := f.inner.Register(context.Background(), svc("a", "a1")); err != nil {
		t.Fatal(err)
	}
	f.set(errDown, errDown)
	c := New(f, nil, testConfig)
	start(t, c)
	testwait.Until(t, waitFor, "Stale", func() bool { stale, _, _ := c.Stale(); return stale })
	if _, _, err := c.Stale(); !errors.Is(err, errDown) {
		t.Fatalf("Stale error = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := c.WaitSynced(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitSynced while down = %v", err)
	}
	if s := c.Snapshot(); s.Version != 0 || len(s.Services) != 0 {
		t.Fatalf("snapshot while never synced = %+v", s)
	}

	f.set(nil, nil)
	waitSynced(t, c)
	if stale, _, _ := c.Stale(); stale {
		t.Fatal("still stale after the first listing")
	}
	if _, ok := c.Lookup("a"); !ok {
		t.Fatal("a not found")
	}
}

// A cache that falls behind the memory registry's watch buffer lists again and loses nothing.
func TestRelistAfterWatchOverflow(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	c := New(mem, nil, testConfig)
	entered := make(chan struct{})
	gate := make(chan struct{})
	var once sync.Once
	c.OnChange(func(*Snapshot) {
		once.Do(func() {
			close(entered)
			<-gate // hold Run's goroutine while the registry changes a lot
		})
	})
	start(t, c)
	select {
	case <-entered:
	case <-time.After(waitFor):
		t.Fatal("first listing not published")
	}
	const n = 1000 // well beyond the memory registry's watch buffer
	for i := range n {
		if err := mem.Register(ctx, svc(fmt.Sprintf("s%04d", i), "n")); err != nil {
			t.Fatal(err)
		}
	}
	close(gate)
	testwait.Until(t, waitFor, "all services", func() bool { return len(c.Snapshot().Services) == n })
	if stale, _, _ := c.Stale(); stale {
		t.Error("a watch that ended without failing made the cache stale")
	}
}

func TestRunReturnsOnCancel(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *flaky)
		ready func(f *flaky) bool
	}{
		{
			name:  "watching",
			setup: func(*flaky) {},
			ready: func(f *flaky) bool { return f.lists.Load() > 0 },
		},
		{
			name:  "backing off",
			setup: func(f *flaky) { f.set(errDown, nil) },
			ready: func(f *flaky) bool { return f.failures.Load() > 0 },
		},
		{
			name:  "inside ListServices",
			setup: func(f *flaky) { f.listGate = make(chan struct{}) },
			ready: func(f *flaky) bool { return f.lists.Load() > 0 },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFlaky()
			tt.setup(f)
			// A long backoff: Run must not wait it out once ctx is done.
			c := New(f, nil, Config{MinBackoff: time.Hour, MaxBackoff: time.Hour})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			testwait.Until(t, waitFor, "Run to get going", func() bool { return tt.ready(f) })
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Run = %v, want nil", err)
				}
			case <-time.After(waitFor):
				t.Fatal("Run did not return after cancel")
			}
		})
	}
}

func TestApply(t *testing.T) {
	a1, b1 := svc("a", "a1"), svc("b", "b1")
	tests := []struct {
		name        string
		ev          registry.Event
		wantChanged bool
		want        []string // names afterwards
	}{
		{"update existing", registry.Event{Type: registry.EventUpdate, Name: "a", Service: svc("a", "a2")}, true, []string{"a"}},
		{"update new", registry.Event{Type: registry.EventUpdate, Name: "b", Service: b1}, true, []string{"a", "b"}},
		{"delete existing", registry.Event{Type: registry.EventDelete, Name: "a"}, true, nil},
		{"delete unknown", registry.Event{Type: registry.EventDelete, Name: "zz"}, false, []string{"a"}},
		{"update without nodes deletes", registry.Event{Type: registry.EventUpdate, Name: "a", Service: svc("a")}, true, nil},
		{"update without nodes, name only on the service", registry.Event{Type: registry.EventUpdate, Service: svc("a")}, true, nil},
		{"update without service deletes", registry.Event{Type: registry.EventUpdate, Name: "a"}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			services := map[string]*registry.Service{"a": a1}
			if changed := apply(services, tt.ev); changed != tt.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tt.wantChanged)
			}
			var names []string
			for name := range services {
				names = append(names, name)
			}
			slices.Sort(names)
			if !slices.Equal(names, tt.want) {
				t.Errorf("services = %v, want %v", names, tt.want)
			}
		})
	}
}

func TestSnapshotSorted(t *testing.T) {
	s := &Snapshot{Services: map[string]*registry.Service{"c": svc("c"), "a": svc("a"), "b": svc("b")}}
	var names []string
	for _, svc := range s.Sorted() {
		names = append(names, svc.Name)
	}
	if !slices.Equal(names, []string{"a", "b", "c"}) {
		t.Fatalf("Sorted = %v", names)
	}
	if got, ok := s.Lookup("b"); !ok || got.Name != "b" {
		t.Fatalf("Lookup(b) = %v, %v", got, ok)
	}
	if _, ok := s.Lookup("zz"); ok {
		t.Fatal("Lookup(zz) found something")
	}
}
