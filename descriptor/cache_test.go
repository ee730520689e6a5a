package descriptor

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/edgeapi/gateway/internal/testwait"
)

// fakeSource counts its loads; each load announces itself on entered (when set), then waits
// for release (when set) and answers with result.
type fakeSource struct {
	loads   atomic.Int32
	entered chan context.Context
	release chan struct{}
	result  func(n int32) (*Set, error)
}

func (f *fakeSource) Load(ctx context.Context, _ string) (*Set, error) {
	n := f.loads.Add(1)
	if f.entered != nil {
		f.entered <- ctx
	}
	if f.release != nil {
		select {
		case <-f.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.result == nil {
		return newEmptySet(), nil
	}
	return f.result(n)
}

func newEmptySet() *Set {
	s, err := NewSet(new(protoregistry.Files), nil)
	if err != nil {
		panic(err)
	}
	return s
}

func TestCacheConcurrentGetsShareOneLoad(t *testing.T) {
	src := &fakeSource{entered: make(chan context.Context, 50), release: make(chan struct{})}
	c := NewCache(nil, src)
	const n = 50
	var wg sync.WaitGroup
	sets := make([]*Set, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sets[i], errs[i] = c.Get(context.Background(), "svc")
		}()
	}
	<-src.entered // the one load is under way; the other callers join it or find its result
	close(src.release)
	wg.Wait()
	if got := src.loads.Load(); got != 1 {
		t.Fatalf("%d loads for %d concurrent Gets, want 1", got, n)
	}
	for i := range n {
		if errs[i] != nil || sets[i] == nil || sets[i] != sets[0] {
			t.Fatalf("Get %d = %p, %v; want the shared set %p", i, sets[i], errs[i], sets[0])
		}
	}
	if c.Loaded()["svc"] != sets[0] {
		t.Error("the loaded set is not cached")
	}
	if s, err := c.Get(context.Background(), "svc"); err != nil || s != sets[0] || src.loads.Load() != 1 {
		t.Errorf("a later Get loaded again (%d loads) or got another set", src.loads.Load())
	}
}

func TestCacheFailedLoadsAreNotCached(t *testing.T) {
	boom := errors.New("reflection failed")
	src := &fakeSource{result: func(n int32) (*Set, error) {
		if n == 1 {
			return nil, boom
		}
		return newEmptySet(), nil
	}}
	c := NewCache(nil, src)
	if _, err := c.Get(context.Background(), "svc"); !errors.Is(err, boom) {
		t.Fatalf("first Get = %v, want %v", err, boom)
	}
	if _, ok := c.Loaded()["svc"]; ok {
		t.Fatal("a failed load was cached")
	}
	if s, err := c.Get(context.Background(), "svc"); err != nil || s == nil {
		t.Fatalf("second Get = %v, %v", s, err)
	}
	if got := src.loads.Load(); got != 2 {
		t.Errorf("%d loads, want 2", got)
	}
}

func TestCacheInvalidate(t *testing.T) {
	src := &fakeSource{}
	c := NewCache(nil, src)
	ctx := context.Background()
	first, _ := c.Get(ctx, "svc")
	other, _ := c.Get(ctx, "other")
	c.Get(ctx, "svc")
	if got := src.loads.Load(); got != 2 {
		t.Fatalf("%d loads, want 2", got)
	}
	c.Invalidate("svc", "unknown")
	if _, ok := c.Loaded()["svc"]; ok {
		t.Error("svc still cached after Invalidate")
	}
	if c.Loaded()["other"] != other {
		t.Error("Invalidate(svc) dropped another service")
	}
	second, err := c.Get(ctx, "svc")
	if err != nil || second == first || src.loads.Load() != 3 {
		t.Errorf("Get after Invalidate = %p (was %p), %v, %d loads; want a fresh load", second, first, err, src.loads.Load())
	}
	c.Invalidate()
	if len(c.Loaded()) != 2 {
		t.Errorf("Invalidate() with no names changed the cache: %v", c.Loaded())
	}
}

func TestCacheStaticSurvivesInvalidate(t *testing.T) {
	static := newEmptySet()
	fallback := &fakeSource{}
	c := NewCache(map[string]Source{"fixed": Static{Set: static}}, fallback)
	ctx := context.Background()
	if s, err := c.Get(ctx, "fixed"); err != nil || s != static {
		t.Fatalf("Get(fixed) = %p, %v; want the static set", s, err)
	}
	c.Get(ctx, "reflected")
	c.Invalidate("fixed", "reflected")
	if c.Loaded()["fixed"] != static {
		t.Error("Invalidate dropped a static set")
	}
	if _, ok := c.Loaded()["reflected"]; ok {
		t.Error("Invalidate kept a reflected set")
	}
	if s, _ := c.Get(ctx, "fixed"); s != static || fallback.loads.Load() != 1 {
		t.Errorf("Get(fixed) after Invalidate = %p, fallback loads %d", s, fallback.loads.Load())
	}
}

func TestCacheInvalidateDuringLoad(t *testing.T) {
	src := &fakeSource{entered: make(chan context.Context, 2), release: make(chan struct{})}
	c := NewCache(nil, src)
	ctx := context.Background()

	type result struct {
		set *Set
		err error
	}
	stale := make(chan result, 1)
	go func() {
		s, err := c.Get(ctx, "svc")
		stale <- result{s, err}
	}()
	<-src.entered
	c.Invalidate("svc") // the nodes changed while the old ones were being asked

	// A Get after the invalidation does not join the load that started before it.
	fresh := make(chan result, 1)
	go func() {
		s, err := c.Get(ctx, "svc")
		fresh <- result{s, err}
	}()
	<-src.entered
	close(src.release)
	old, cur := <-stale, <-fresh
	if old.err != nil || cur.err != nil || old.set == cur.set {
		t.Fatalf("stale %p %v, fresh %p %v; want two different sets", old.set, old.err, cur.set, cur.err)
	}
	if got := src.loads.Load(); got != 2 {
		t.Errorf("%d loads, want 2", got)
	}
	if c.Loaded()["svc"] != cur.set {
		t.Error("the cache does not hold the load that started after the invalidation")
	}
}

func TestCacheInvalidatingAnotherServiceKeepsALoad(t *testing.T) {
	src := &fakeSource{entered: make(chan context.Context, 1), release: make(chan struct{})}
	c := NewCache(nil, src)
	done := make(chan *Set, 1)
	go func() {
		s, _ := c.Get(context.Background(), "svc")
		done <- s
	}()
	<-src.entered
	c.Invalidate("other")
	close(src.release)
	s := <-done
	if s == nil || c.Loaded()["svc"] != s {
		t.Error("a load was discarded because another service was invalidated")
	}
}

func TestCacheLoadOutlivesItsCaller(t *testing.T) {
	src := &fakeSource{entered: make(chan context.Context, 1), release: make(chan struct{})}
	c := NewCache(nil, src)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Get(ctx, "svc")
		errc <- err
	}()
	lctx := <-src.entered
	if dl, ok := lctx.Deadline(); !ok || time.Until(dl) > time.Minute {
		t.Errorf("load deadline %v, %v; want the first caller's", dl, ok)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Get after its caller left = %v, want context.Canceled", err)
	}
	if lctx.Err() != nil {
		t.Error("the caller going away cancelled the shared load")
	}
	close(src.release)
	testwait.Until(t, 5*time.Second, "the detached load to be stored", func() bool { return c.Loaded()["svc"] != nil })
	if got := src.loads.Load(); got != 1 {
		t.Errorf("%d loads, want 1", got)
	}
}

func TestCacheNoSource(t *testing.T) {
	c := NewCache(map[string]Source{"nil": Static{}}, nil)
	if _, err := c.Get(context.Background(), "svc"); err == nil {
		t.Error("Get without any source succeeded")
	}
	if _, err := c.Get(context.Background(), "nil"); err == nil {
		t.Error("Get from a source returning no set succeeded")
	}
	if len(c.Loaded()) != 0 {
		t.Errorf("Loaded() = %v", c.Loaded())
	}
}
