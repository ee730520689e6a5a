// Package ratelimit limits the request rate per (route, client) with token buckets.
//
//	l, err := ratelimit.New(ratelimit.Config{Rate: 5, Burst: 10, TrustedProxies: proxies})
//	if err != nil { ... }
//	r.With(l.Middleware).Post("/orders", h) // or: handler = l.Middleware(handler)
//
// Contract:
//   - Each (route key, client) has a bucket of Burst tokens that refills at Rate tokens per
//     second; a request takes one token. Without a token the request is refused with 429 and
//     the gateway's JSON error, carrying Retry-After: the seconds until a token is back,
//     rounded up (at least 1). The next handler is not called.
//   - The client is the peer's IP address; when the peer is one of TrustedProxies, it is the
//     address XFFDepth entries from the right end of X-Forwarded-For (trust.FromRight), so what
//     a client writes into the header itself is never believed. IPv6 clients are grouped by
//     their /IPv6PrefixBits network (default /64: one host usually owns a whole /64).
//   - The route key is RouteKey(r); nil means one key for all requests, so one Limiter per route
//     is per route. Build one Limiter per policy and share it between goroutines.
//   - Memory is bounded: at most MaxClients buckets. A bucket that has refilled completely is
//     the same as no bucket and is dropped when it reaches the least recently used end; when
//     the table is full the least recently used bucket is dropped to make room (its client
//     starts again with a full bucket). There is no background goroutine; the work is done in
//     Allow, O(1) per call.
//   - Time comes from Config.Now (default time.Now); tests inject a clock.
package ratelimit

import (
	"errors"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/trust"
)

// Config tunes a Limiter; zero values mean the documented defaults.
type Config struct {
	// Rate is the sustained rate in requests per second per client. Default 10; it must be
	// finite and not negative.
	Rate float64
	// Burst is the bucket size: requests a client may send at once. Default ceil(Rate), at least 1.
	Burst int
	// TrustedProxies may name the client in X-Forwarded-For. Default: nobody.
	TrustedProxies trust.Proxies
	// XFFDepth is the number of trusted proxies in front of the gateway, the peer included:
	// the client is the XFFDepth-th X-Forwarded-For entry from the right. Default 1.
	XFFDepth int
	// MaxClients bounds the buckets kept. Default 65536 (a few MiB).
	MaxClients int
	// IPv6PrefixBits groups IPv6 clients by network. Default 64; at most 128.
	IPv6PrefixBits int
	// RouteKey names the route of a request; nil means every request has the same key.
	RouteKey func(*http.Request) string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Defaults for the zero Config.
const (
	DefaultRate           = 10
	DefaultMaxClients     = 65536
	DefaultIPv6PrefixBits = 64
)

// Limiter is a set of token buckets. It is safe for concurrent use.
type Limiter struct {
	cfg      Config
	rate     float64       // tokens per nanosecond
	burst    float64       // bucket size
	fullSpan time.Duration // time for an empty bucket to fill

	mu      sync.Mutex
	buckets map[key]*bucket
	lru     bucket // sentinel: lru.next is the most recently used, lru.prev the least
}

type key struct {
	route  string
	client netip.Addr
}

type bucket struct {
	key        key
	tokens     float64
	last       time.Time
	prev, next *bucket
}

// New validates cfg and returns a Limiter.
func New(cfg Config) (*Limiter, error) {
	switch {
	case math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0) || cfg.Rate < 0:
		return nil, errors.New("ratelimit: Rate must be a finite number of requests per second, not negative")
	case cfg.Burst < 0:
		return nil, errors.New("ratelimit: Burst must not be negative")
	case cfg.XFFDepth < 0:
		return nil, errors.New("ratelimit: XFFDepth must not be negative")
	case cfg.MaxClients < 0:
		return nil, errors.New("ratelimit: MaxClients must not be negative")
	case cfg.IPv6PrefixBits < 0 || cfg.IPv6PrefixBits > 128:
		return nil, errors.New("ratelimit: IPv6PrefixBits must be between 1 and 128")
	}
	if cfg.Rate == 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Burst == 0 {
		cfg.Burst = max(1, int(math.Ceil(cfg.Rate)))
	}
	if cfg.XFFDepth == 0 {
		cfg.XFFDepth = 1
	}
	if cfg.MaxClients == 0 {
		cfg.MaxClients = DefaultMaxClients
	}
	if cfg.IPv6PrefixBits == 0 {
		cfg.IPv6PrefixBits = DefaultIPv6PrefixBits
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Limiter{
		cfg:     cfg,
		rate:    cfg.Rate / float64(time.Second),
		burst:   float64(cfg.Burst),
		buckets: make(map[key]*bucket),
	}
	l.fullSpan = duration(l.burst / l.rate)
	l.lru.next, l.lru.prev = &l.lru, &l.lru
	return l, nil
}

// Middleware refuses requests over the limit with 429 and Retry-After, and passes the others to
// next. Its signature is chi's middleware: r.Use(l.Middleware).
func (l *Limiter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := ""
		if l.cfg.RouteKey != nil {
			route = l.cfg.RouteKey(r)
		}
		ok, wait := l.Allow(route, l.Client(r))
		if !ok {
			secs := max(1, int64(math.Ceil(wait.Seconds())))
			e := apierror.New(http.StatusTooManyRequests, "rate limit exceeded: retry in %d s", secs)
			e.Header = http.Header{"Retry-After": {strconv.FormatInt(secs, 10)}}
			apierror.Write(w, apierror.GatewayID, e)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Client returns the key the Limiter uses for r's client: the address from
// TrustedProxies.ClientIP at XFFDepth, IPv6 reduced to its /IPv6PrefixBits network. Requests
// whose peer is not an IP address (a Unix socket) share the zero Addr.
func (l *Limiter) Client(r *http.Request) netip.Addr {
	a := l.cfg.TrustedProxies.ClientIP(r, l.cfg.XFFDepth)
	if a.Is6() && l.cfg.IPv6PrefixBits < 128 {
		if p, err := a.Prefix(l.cfg.IPv6PrefixBits); err == nil {
			a = p.Addr()
		}
	}
	return a
}

// Allow takes a token from the bucket of (route, client). When there is none, ok is false and
// wait is how long until there will be one.
func (l *Limiter) Allow(route string, client netip.Addr) (ok bool, wait time.Duration) {
	now := l.cfg.Now()
	k := key{route, client}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[k]
	if b == nil {
		l.evict(now)
		b = &bucket{key: k, tokens: l.burst, last: now}
		l.buckets[k] = b
		l.pushFront(b)
	} else {
		l.moveToFront(b)
		if d := now.Sub(b.last); d > 0 {
			b.tokens = min(l.burst, b.tokens+float64(d)*l.rate)
			b.last = now
		}
		l.sweep(now, 2)
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, duration((1 - b.tokens) / l.rate)
}

// duration rounds ns up to a Duration, saturating instead of overflowing (a tiny Rate).
func duration(ns float64) time.Duration {
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(math.Ceil(ns))
}

// Clients returns the number of buckets held.
func (l *Limiter) Clients() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// evict makes room for one bucket: idle full buckets first, then the least recently used.
func (l *Limiter) evict(now time.Time) {
	l.sweep(now, 2)
	if len(l.buckets) >= l.cfg.MaxClients {
		l.remove(l.lru.prev)
	}
}

// sweep drops up to n buckets at the least recently used end that have refilled completely.
func (l *Limiter) sweep(now time.Time, n int) {
	for ; n > 0; n-- {
		b := l.lru.prev
		if b == &l.lru || now.Sub(b.last) < l.fullSpan {
			return
		}
		l.remove(b)
	}
}

func (l *Limiter) remove(b *bucket) {
	b.prev.next, b.next.prev = b.next, b.prev
	b.prev, b.next = nil, nil
	delete(l.buckets, b.key)
}

func (l *Limiter) pushFront(b *bucket) {
	b.prev, b.next = &l.lru, l.lru.next
	l.lru.next.prev = b
	l.lru.next = b
}

func (l *Limiter) moveToFront(b *bucket) {
	if l.lru.next == b {
		return
	}
	b.prev.next, b.next.prev = b.next, b.prev
	l.pushFront(b)
}
