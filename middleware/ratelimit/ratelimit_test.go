package ratelimit

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeapi/gateway/trust"
)

// clock is a manual clock for Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// send runs one request from remote (with X-Forwarded-For xff when not empty) through h.
func send(h http.Handler, remote, xff string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "/orders", nil)
	r.RemoteAddr = remote
	if xff != "" {
		r.Header.Set("X-Forwarded-For", xff)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func ok() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) })
}

func mustNew(t *testing.T, cfg Config) *Limiter {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestNewValidates(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"negative rate", Config{Rate: -1}, false},
		{"NaN rate", Config{Rate: math.NaN()}, false},
		{"infinite rate", Config{Rate: math.Inf(1)}, false},
		{"negative burst", Config{Burst: -1}, false},
		{"negative depth", Config{XFFDepth: -1}, false},
		{"negative max clients", Config{MaxClients: -1}, false},
		{"prefix too long", Config{IPv6PrefixBits: 129}, false},
		{"prefix negative", Config{IPv6PrefixBits: -1}, false},
		{"fractional rate", Config{Rate: 0.5}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("New(%+v) error %v, want ok=%v", tc.cfg, err, tc.ok)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	l := mustNew(t, Config{})
	if l.cfg.Rate != DefaultRate || l.cfg.Burst != DefaultRate || l.cfg.XFFDepth != 1 ||
		l.cfg.MaxClients != DefaultMaxClients || l.cfg.IPv6PrefixBits != 64 {
		t.Errorf("defaults %+v", l.cfg)
	}
	if l := mustNew(t, Config{Rate: 0.2}); l.cfg.Burst != 1 {
		t.Errorf("burst for rate 0.2 = %d, want 1", l.cfg.Burst)
	}
	if l := mustNew(t, Config{Rate: 2.5}); l.cfg.Burst != 3 {
		t.Errorf("burst for rate 2.5 = %d, want 3", l.cfg.Burst)
	}
}

// TestBurstThen429: Burst requests pass, the next is 429 with the gateway's error body and
// Retry-After rounded up to whole seconds.
func TestBurstThen429(t *testing.T) {
	cases := []struct {
		name       string
		rate       float64
		burst      int
		retryAfter string
	}{
		{"one per second", 1, 3, "1"},
		{"one every 2.5 s rounds up", 0.4, 2, "3"},
		{"fast rate is at least 1 s", 100, 5, "1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			h := mustNew(t, Config{Rate: tc.rate, Burst: tc.burst, Now: clk.Now}).Middleware(ok())
			for i := range tc.burst {
				if w := send(h, "192.0.2.1:1000", ""); w.Code != 299 {
					t.Fatalf("request %d: %d", i, w.Code)
				}
			}
			w := send(h, "192.0.2.1:1000", "")
			if w.Code != http.StatusTooManyRequests {
				t.Fatalf("request past the burst: %d, want 429", w.Code)
			}
			if got := w.Header().Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			var e struct {
				ID     string `json:"id"`
				Code   int    `json:"code"`
				Detail string `json:"detail"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Code != 429 || e.ID != "gateway" ||
				!strings.Contains(e.Detail, "rate limit") || w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("body %s: %v", w.Body, err)
			}
		})
	}
}

// TestRefill: tokens come back at Rate, never beyond Burst, and Retry-After shrinks as time
// passes. The clock is injected; nothing sleeps.
func TestRefill(t *testing.T) {
	clk := newClock()
	l := mustNew(t, Config{Rate: 2, Burst: 4, Now: clk.Now})
	a := netip.MustParseAddr("192.0.2.1")
	take := func(n int) (got int) {
		for range n {
			if ok, _ := l.Allow("", a); ok {
				got++
			}
		}
		return got
	}
	steps := []struct {
		advance time.Duration
		try     int
		want    int
	}{
		{0, 10, 4},                      // the burst
		{100 * time.Millisecond, 1, 0},  // 0.2 token
		{400 * time.Millisecond, 2, 1},  // 1 token at 0.5 s
		{time.Second, 5, 2},             // 2 tokens per second
		{time.Hour, 10, 4},              // capped at the burst
		{250 * time.Millisecond, 1, 0},  // 0.5 token
		{250 * time.Millisecond, 1, 1},  // 1 token
		{-time.Second, 1, 0},            // a clock going back adds nothing
		{1500 * time.Millisecond, 1, 1}, // and takes nothing either
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		if got := take(s.try); got != s.want {
			t.Fatalf("step %d (+%v): %d of %d allowed, want %d", i, s.advance, got, s.try, s.want)
		}
	}
	// Retry-After tracks the deficit.
	l = mustNew(t, Config{Rate: 0.1, Burst: 1, Now: clk.Now})
	h := l.Middleware(ok())
	send(h, "192.0.2.9:1", "")
	for _, c := range []struct {
		advance time.Duration
		want    string
	}{{0, "10"}, {3 * time.Second, "7"}, {6500 * time.Millisecond, "1"}} {
		clk.Advance(c.advance)
		if got := send(h, "192.0.2.9:1", "").Header().Get("Retry-After"); got != c.want {
			t.Errorf("after +%v Retry-After %q, want %q", c.advance, got, c.want)
		}
	}
	clk.Advance(500 * time.Millisecond)
	if w := send(h, "192.0.2.9:1", ""); w.Code != 299 {
		t.Errorf("after 10 s: %d", w.Code)
	}
}

// TestClients: who counts as the client, and isolation between clients and routes.
func TestClients(t *testing.T) {
	trusted, err := trust.Parse([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		cfg   Config
		first [2]string // remote, xff of the request that uses up the bucket
		then  [2]string // remote, xff of the next request
		same  bool      // whether the second shares the first one's bucket
	}{
		{"different peers are isolated", Config{}, [2]string{"192.0.2.1:1", ""}, [2]string{"192.0.2.2:1", ""}, false},
		{"same peer, other port", Config{}, [2]string{"192.0.2.1:1", ""}, [2]string{"192.0.2.1:2", ""}, true},
		{"xff from an untrusted peer is ignored", Config{TrustedProxies: trusted},
			[2]string{"192.0.2.1:1", "198.51.100.1"}, [2]string{"192.0.2.1:1", "198.51.100.2"}, true},
		{"xff spoofing cannot borrow another client's bucket", Config{TrustedProxies: trusted},
			[2]string{"192.0.2.1:1", ""}, [2]string{"192.0.2.2:1", "192.0.2.1"}, false},
		{"trusted proxy: clients told apart by xff", Config{TrustedProxies: trusted},
			[2]string{"10.0.0.1:1", "198.51.100.1"}, [2]string{"10.0.0.1:1", "198.51.100.2"}, false},
		{"trusted proxy: same client via two proxies", Config{TrustedProxies: trusted},
			[2]string{"10.0.0.1:1", "198.51.100.1"}, [2]string{"10.0.0.2:1", "198.51.100.1"}, true},
		{"trusted proxy: client prefix in xff is not believed", Config{TrustedProxies: trusted},
			[2]string{"10.0.0.1:1", "1.1.1.1, 198.51.100.1"}, [2]string{"10.0.0.1:1", "2.2.2.2, 198.51.100.1"}, true},
		{"depth 2 reads one further left", Config{TrustedProxies: trusted, XFFDepth: 2},
			[2]string{"10.0.0.1:1", "6.6.6.6, 198.51.100.1, 10.0.0.9"}, [2]string{"10.0.0.1:1", "7.7.7.7, 198.51.100.1, 10.0.0.8"}, true},
		{"depth 2 tells clients apart", Config{TrustedProxies: trusted, XFFDepth: 2},
			[2]string{"10.0.0.1:1", "198.51.100.1, 10.0.0.9"}, [2]string{"10.0.0.1:1", "198.51.100.2, 10.0.0.9"}, false},
		{"trusted proxy without xff is its own client", Config{TrustedProxies: trusted},
			[2]string{"10.0.0.1:1", ""}, [2]string{"10.0.0.1:1", "garbage"}, true},
		{"ipv6 /64 is one client", Config{}, [2]string{"[2001:db8:1:2::1]:1", ""}, [2]string{"[2001:db8:1:2:ffff::9]:1", ""}, true},
		{"ipv6 other /64 is another", Config{}, [2]string{"[2001:db8:1:2::1]:1", ""}, [2]string{"[2001:db8:1:3::1]:1", ""}, false},
		{"ipv6 /128 when configured", Config{IPv6PrefixBits: 128}, [2]string{"[2001:db8:1:2::1]:1", ""}, [2]string{"[2001:db8:1:2::2]:1", ""}, false},
		{"mapped ipv4 is ipv4", Config{}, [2]string{"[::ffff:192.0.2.1]:1", ""}, [2]string{"192.0.2.1:1", ""}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			tc.cfg.Rate, tc.cfg.Burst, tc.cfg.Now = 1, 1, clk.Now
			h := mustNew(t, tc.cfg).Middleware(ok())
			if w := send(h, tc.first[0], tc.first[1]); w.Code != 299 {
				t.Fatalf("first: %d", w.Code)
			}
			w := send(h, tc.then[0], tc.then[1])
			if shared := w.Code == http.StatusTooManyRequests; shared != tc.same {
				t.Errorf("second got %d: shared bucket = %v, want %v", w.Code, shared, tc.same)
			}
		})
	}
	t.Run("route keys are isolated", func(t *testing.T) {
		h := mustNew(t, Config{Rate: 1, Burst: 1, Now: newClock().Now,
			RouteKey: func(r *http.Request) string { return r.URL.Path }}).Middleware(ok())
		for _, c := range []struct {
			path string
			want int
		}{{"/a", 299}, {"/b", 299}, {"/a", 429}, {"/b", 429}} {
			r := httptest.NewRequest("GET", c.path, nil)
			r.RemoteAddr = "192.0.2.1:1"
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != c.want {
				t.Errorf("%s: %d, want %d", c.path, w.Code, c.want)
			}
		}
	})
}

// TestBoundedMemory: however many clients come, at most MaxClients buckets are kept; idle
// buckets that have refilled are dropped as new requests arrive.
func TestBoundedMemory(t *testing.T) {
	t.Run("max clients", func(t *testing.T) {
		clk := newClock()
		l := mustNew(t, Config{Rate: 1, Burst: 5, MaxClients: 100, Now: clk.Now})
		for i := range 10000 {
			a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			if ok, _ := l.Allow("", a); !ok {
				t.Fatalf("new client %s refused", a)
			}
			if n := l.Clients(); n > 100 {
				t.Fatalf("%d buckets after %d clients, max 100", n, i+1)
			}
		}
		// The most recent clients are still tracked: their buckets are not full.
		last := netip.AddrFrom4([4]byte{10, 0, 39, 15}) // client 9999
		for range 4 {
			l.Allow("", last)
		}
		if ok, _ := l.Allow("", last); ok {
			t.Error("the most recent client's bucket was lost")
		}
	})
	t.Run("idle buckets are swept", func(t *testing.T) {
		clk := newClock()
		l := mustNew(t, Config{Rate: 1, Burst: 5, MaxClients: 1000, Now: clk.Now})
		for i := range 500 {
			l.Allow("", netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
		}
		if n := l.Clients(); n != 500 {
			t.Fatalf("%d buckets, want 500", n)
		}
		clk.Advance(5 * time.Second) // every bucket has refilled
		active := netip.MustParseAddr("192.0.2.1")
		for range 300 {
			l.Allow("", active)
		}
		if n := l.Clients(); n != 1 {
			t.Errorf("%d buckets after the idle ones refilled, want 1 (the active client)", n)
		}
	})
	t.Run("a bucket that has not refilled is kept", func(t *testing.T) {
		clk := newClock()
		l := mustNew(t, Config{Rate: 1, Burst: 5, Now: clk.Now})
		a := netip.MustParseAddr("192.0.2.1")
		for range 5 {
			l.Allow("", a)
		}
		clk.Advance(4 * time.Second) // 4 of 5 tokens back
		for i := range 50 {
			l.Allow("", netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}))
		}
		for range 4 {
			if ok, _ := l.Allow("", a); !ok {
				t.Fatal("refilled token missing")
			}
		}
		if ok, _ := l.Allow("", a); ok {
			t.Error("the partly refilled bucket was dropped and replaced by a full one")
		}
	})
}

// TestConcurrent: many goroutines on a few clients; exactly Burst requests per client pass
// while the clock stands still.
func TestConcurrent(t *testing.T) {
	clk := newClock()
	l := mustNew(t, Config{Rate: 1, Burst: 50, Now: clk.Now})
	var wg sync.WaitGroup
	var mu sync.Mutex
	passed := map[netip.Addr]int{}
	for g := range 16 {
		wg.Go(func() {
			a := netip.AddrFrom4([4]byte{192, 0, 2, byte(g % 4)})
			n := 0
			for range 100 {
				if ok, _ := l.Allow("", a); ok {
					n++
				}
			}
			mu.Lock()
			passed[a] += n
			mu.Unlock()
		})
	}
	wg.Wait()
	for a, n := range passed {
		if n != 50 {
			t.Errorf("%s: %d passed, want 50", a, n)
		}
	}
}

// FuzzClientKey sends arbitrary X-Forwarded-For headers from a trusted and an untrusted
// peer: no panic; an untrusted peer is always keyed by its own address; a trusted peer is
// keyed either by itself or by an address that appears in the header.
func FuzzClientKey(f *testing.F) {
	for _, s := range []string{"", "198.51.100.1", "1.1.1.1, 2.2.2.2", "[2001:db8::1]:80", "unknown", ",,,", "::ffff:1.2.3.4", "1.1.1.1%x"} {
		f.Add(s, 1)
		f.Add(s, 3)
	}
	trusted, err := trust.Parse([]string{"10.0.0.0/8"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, xff string, depth int) {
		if depth < 0 || depth > 64 {
			return
		}
		l, err := New(Config{TrustedProxies: trusted, XFFDepth: depth, IPv6PrefixBits: 128})
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-Forwarded-For", xff)
		r.RemoteAddr = "192.0.2.1:1"
		if got := l.Client(r); got != netip.MustParseAddr("192.0.2.1") {
			t.Fatalf("untrusted peer keyed as %s", got)
		}
		r.RemoteAddr = "10.0.0.1:1"
		got := l.Client(r)
		if a, ok := trust.FromRight(r.Header.Values("X-Forwarded-For"), depth); ok {
			if got != a {
				t.Fatalf("trusted peer keyed as %s, the entry at depth %d is %s", got, depth, a)
			}
		} else if got != netip.MustParseAddr("10.0.0.1") {
			t.Fatalf("no usable entry, yet keyed as %s", got)
		}
		h := l.Middleware(ok())
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 299 && w.Code != 429 {
			t.Fatalf("status %d", w.Code)
		}
	})
}
