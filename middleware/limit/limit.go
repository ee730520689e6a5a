// Package limit bounds the number of requests a route handles at once.
//
//	l, err := limit.New(limit.Config{Max: 256})
//	if err != nil { ... }
//	r.With(l.Middleware).Handle("/orders/*", h)
//	// metrics: l.InFlight(), l.Rejected()
//
// Contract:
//   - One Limiter is one budget: build one per route (or per group of routes that share it).
//   - A request that would be request number Max+1 in flight is refused at once with 503, the
//     gateway's JSON error and Retry-After: 1; it does not queue. The next handler is not called.
//   - A request holds its slot until the next handler returns, panics included. A WebSocket
//     session holds its slot for as long as the handler serves it, so the limit also bounds
//     concurrent WebSocket connections.
//   - InFlight and Rejected are safe to read at any time (for metrics); the hot path takes no
//     lock.
package limit

import (
	"errors"
	"net/http"
	"sync/atomic"

	"github.com/edgeapi/gateway/apierror"
)

// Config tunes a Limiter; zero values mean the documented defaults.
type Config struct {
	// Max is the number of requests allowed in flight at once. Default 1024; negative is an
	// error.
	Max int
}

// DefaultMax is the limit when Config.Max is zero.
const DefaultMax = 1024

// Limiter counts requests in flight. It is safe for concurrent use.
type Limiter struct {
	max      int64
	inFlight atomic.Int64
	rejected atomic.Uint64
}

// New validates cfg and returns a Limiter.
func New(cfg Config) (*Limiter, error) {
	if cfg.Max < 0 {
		return nil, errors.New("limit: Max must not be negative")
	}
	if cfg.Max == 0 {
		cfg.Max = DefaultMax
	}
	return &Limiter{max: int64(cfg.Max)}, nil
}

// Middleware passes at most Max concurrent requests to next and refuses the others with 503.
// Its signature is chi's middleware: r.Use(l.Middleware).
func (l *Limiter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !l.acquire() {
			e := apierror.New(http.StatusServiceUnavailable, "too many concurrent requests: the limit is %d", l.max)
			e.Header = http.Header{"Retry-After": {"1"}}
			apierror.Write(w, apierror.GatewayID, e)
			return
		}
		defer l.release()
		next.ServeHTTP(w, r)
	})
}

// acquire takes a slot unless all Max are taken, and counts the refusal when they are. The
// compare-and-swap loop keeps InFlight from ever exceeding Max, even for a moment.
func (l *Limiter) acquire() bool {
	for {
		n := l.inFlight.Load()
		if n >= l.max {
			l.rejected.Add(1)
			return false
		}
		if l.inFlight.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release gives a slot back.
func (l *Limiter) release() { l.inFlight.Add(-1) }

// InFlight returns the number of requests being handled now; it is never above Max.
func (l *Limiter) InFlight() int64 { return l.inFlight.Load() }

// Rejected returns the number of requests refused since New.
func (l *Limiter) Rejected() uint64 { return l.rejected.Load() }

// Max returns the limit.
func (l *Limiter) Max() int { return int(l.max) }
