package limit

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestNew(t *testing.T) {
	cases := []struct {
		name string
		max  int
		want int // 0: error
	}{
		{"default", 0, DefaultMax},
		{"explicit", 3, 3},
		{"negative", -1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := New(Config{Max: tc.max})
			if tc.want == 0 {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil || l.Max() != tc.want {
				t.Fatalf("New: %v, Max %d, want %d", err, l.Max(), tc.want)
			}
		})
	}
}

// blocking is a backend whose requests wait until released; entered reports each arrival.
type blocking struct {
	entered chan struct{}
	release chan struct{}
}

func newBlocking() *blocking {
	return &blocking{entered: make(chan struct{}), release: make(chan struct{})}
}

func (b *blocking) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.entered <- struct{}{}
	<-b.release
	w.WriteHeader(299)
}

// TestLimit: with Max requests blocked in the backend, the next is refused with 503 and
// Retry-After: 1, the counters say so, and a slot freed is a slot usable again.
func TestLimit(t *testing.T) {
	for _, max := range []int{1, 3} {
		t.Run(fmt.Sprintf("max=%d", max), func(t *testing.T) {
			l, err := New(Config{Max: max})
			if err != nil {
				t.Fatal(err)
			}
			be := newBlocking()
			h := l.Middleware(be)
			var wg sync.WaitGroup
			codes := make(chan int, max+1)
			serve := func() {
				wg.Go(func() {
					w := httptest.NewRecorder()
					h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
					codes <- w.Code
				})
			}
			defer wg.Wait()
			for range max {
				serve()
				<-be.entered
			}
			if n := l.InFlight(); n != int64(max) {
				t.Fatalf("InFlight %d, want %d", n, max)
			}

			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
			if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" {
				t.Fatalf("request past the limit: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
			}
			var e struct {
				ID     string `json:"id"`
				Code   int    `json:"code"`
				Detail string `json:"detail"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Code != 503 || e.ID != "gateway" ||
				!strings.Contains(e.Detail, "too many concurrent requests") {
				t.Errorf("body %s: %v", w.Body, err)
			}
			if l.Rejected() != 1 || l.InFlight() != int64(max) {
				t.Errorf("Rejected %d InFlight %d after the refusal", l.Rejected(), l.InFlight())
			}

			// Free one slot: the next request gets in.
			be.release <- struct{}{}
			if c := <-codes; c != 299 {
				t.Fatalf("released request: %d", c)
			}
			serve()
			<-be.entered
			if l.InFlight() != int64(max) || l.Rejected() != 1 {
				t.Errorf("after reuse: InFlight %d Rejected %d", l.InFlight(), l.Rejected())
			}
			for range max {
				be.release <- struct{}{}
				if c := <-codes; c != 299 {
					t.Errorf("status %d", c)
				}
			}
			wg.Wait()
			if l.InFlight() != 0 {
				t.Errorf("InFlight %d after all returned", l.InFlight())
			}
		})
	}
}

// TestPanicReleases: a panicking handler gives its slot back.
func TestPanicReleases(t *testing.T) {
	l, _ := New(Config{Max: 1})
	h := l.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	func() {
		defer func() { _ = recover() }()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}()
	if l.InFlight() != 0 {
		t.Fatalf("InFlight %d after a panic", l.InFlight())
	}
}

// TestConcurrentNeverExceedsMax: under contention the backend never sees more than Max at
// once, and every request is either served or refused.
func TestConcurrentNeverExceedsMax(t *testing.T) {
	const limit, n = 4, 200
	l, _ := New(Config{Max: limit})
	var mu sync.Mutex
	cur, peak := 0, 0
	h := l.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		cur++
		peak = max(peak, cur)
		mu.Unlock()
		if got := l.InFlight(); got > limit {
			t.Errorf("InFlight %d", got)
		}
		mu.Lock()
		cur--
		mu.Unlock()
	}))
	var wg sync.WaitGroup
	var served, refused sync.Map
	for i := range n {
		wg.Go(func() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
			if w.Code == 503 {
				refused.Store(i, true)
			} else {
				served.Store(i, true)
			}
		})
	}
	wg.Wait()
	count := func(m *sync.Map) (c int) {
		m.Range(func(any, any) bool { c++; return true })
		return c
	}
	if peak > limit || count(&served)+count(&refused) != n || uint64(count(&refused)) != l.Rejected() {
		t.Errorf("peak %d served %d refused %d Rejected %d", peak, count(&served), count(&refused), l.Rejected())
	}
}

// FuzzAcquireRelease drives the limiter with an arbitrary sequence of arrivals and departures
// and compares it with a plain counter: a request is admitted exactly when fewer than Max are
// in flight, and InFlight and Rejected always agree with the model.
func FuzzAcquireRelease(f *testing.F) {
	f.Add(uint8(1), []byte{0, 0, 1, 0, 1, 1})
	f.Add(uint8(3), []byte{0, 0, 0, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, max uint8, ops []byte) {
		l, err := New(Config{Max: int(max%8) + 1})
		if err != nil {
			t.Fatal(err)
		}
		var held, rejected int64
		for i, op := range ops {
			if op%2 == 0 {
				got := l.acquire()
				want := held < int64(l.Max())
				if got != want {
					t.Fatalf("op %d: acquire %v with %d of %d held", i, got, held, l.Max())
				}
				if got {
					held++
				} else {
					rejected++
				}
			} else if held > 0 {
				l.release()
				held--
			}
			if l.InFlight() != held || l.Rejected() != uint64(rejected) {
				t.Fatalf("op %d: InFlight %d Rejected %d, model %d %d", i, l.InFlight(), l.Rejected(), held, rejected)
			}
		}
	})
}
