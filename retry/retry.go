// Package retry decides when a failed attempt at a backend may be made again on another node, and
// bounds how many such retries run at once.
//
// Contract:
//   - An attempt that provably never reached a node (the connection could not be made, no stream
//     was opened) may always be made once more on another node: the node never saw it. This is
//     on for every route, also when retries are off.
//   - With Attempts > 1 (off by default), an attempt that failed in a way that says the node is
//     unhealthy (unavailable, reset, per-try timeout) is retried too, but only when the handler
//     says the request is idempotent (IdempotentMethod, with a replayable body; a
//     gRPC method whose descriptor declares idempotency_level), and never once any byte of the
//     answer reached the client: handlers only retry before they write.
//   - Every retry needs a token from the policy's Budget: retries in flight stay at or under
//     Percent of the requests in flight, or MinRetries, whichever is larger, so a failing
//     backend sees at most that much extra load. Without a token the last error is answered.
//   - PerTryTimeout bounds each attempt; the request's own deadline still bounds them all.
//
// A nil *Policy behaves like the zero Policy with an unlimited budget.
package retry

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"
)

// Policy is one route's retry policy. It is shared by every request of the route.
type Policy struct {
	// Attempts is how many times a request may be tried in all, counting the first; 0 or 1:
	// only connect failures are retried (once).
	Attempts int
	// PerTryTimeout bounds each attempt; 0: only the request's deadline.
	PerTryTimeout time.Duration
	// Budget caps retries in flight; nil: no cap.
	Budget *Budget
	// Observe, if set, hears every retry the policy allowed: granted, or refused by the budget
	// (for metrics). It must not block.
	Observe func(service string, granted bool)
}

// New returns a policy with its own budget.
func New(attempts int, perTry time.Duration, budgetPercent float64, minRetries int) *Policy {
	return &Policy{Attempts: attempts, PerTryTimeout: perTry, Budget: NewBudget(budgetPercent, minRetries)}
}

// Enabled reports whether requests that may have reached a node are retried.
func (p *Policy) Enabled() bool { return p != nil && p.Attempts > 1 }

// May reports whether a request that failed on its attempt-th try (0-based) may be tried again:
// sent says the failed attempt may have reached the node, idempotent that the request is safe to
// repeat. It does not take a budget token (see Budget.Acquire).
func (p *Policy) May(attempt int, sent, idempotent bool) bool {
	if !sent {
		limit := 2
		if p != nil && p.Attempts > limit {
			limit = p.Attempts
		}
		return attempt+1 < limit
	}
	return idempotent && p.Enabled() && attempt+1 < p.Attempts
}

// Begin counts a request in flight for the budget; End must follow. Nil-safe.
func (p *Policy) Begin() {
	if p != nil && p.Budget != nil {
		p.Budget.active.Add(1)
	}
}

// End ends what Begin started.
func (p *Policy) End() {
	if p != nil && p.Budget != nil {
		p.Budget.active.Add(-1)
	}
}

// Acquire takes a retry token; Release must follow when the retry is over. False: the budget is
// spent and the request must not be retried.
func (p *Policy) Acquire() bool {
	if p == nil || p.Budget == nil {
		return true
	}
	return p.Budget.Acquire()
}

// Grant decides a retry May allowed: the request takes a budget token unless it holds one
// already (*held, which Grant updates; Release it when the request ends), and Observe hears the
// outcome. False: the budget is spent and the last error stands.
func (p *Policy) Grant(service string, held *bool) bool {
	if !*held {
		*held = p.Acquire()
	}
	if p != nil && p.Observe != nil {
		p.Observe(service, *held)
	}
	return *held
}

// Release gives back a token taken by Acquire.
func (p *Policy) Release() {
	if p != nil && p.Budget != nil {
		p.Budget.Release()
	}
}

// Try returns the context of one attempt: ctx bounded by PerTryTimeout when set.
func (p *Policy) Try(ctx context.Context) (context.Context, context.CancelFunc) {
	if p == nil || p.PerTryTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, p.PerTryTimeout)
}

// PerTryExpired reports whether an attempt run under tryCtx (from Try on parent) ended because
// its own per-try timeout ran out while the request as a whole was still wanted: the node was
// too slow, which is the node's failure and not the client's.
func PerTryExpired(parent, tryCtx context.Context) bool {
	return parent.Err() == nil && tryCtx != parent && tryCtx.Err() == context.DeadlineExceeded
}

// Budget caps concurrent retries at a share of concurrent requests (Envoy's retry budget).
type Budget struct {
	ratio    float64
	min      int64
	active   atomic.Int64
	retrying atomic.Int64
}

// NewBudget returns a budget of percent (default 20) of the requests in flight, never below
// minRetries (default 3).
func NewBudget(percent float64, minRetries int) *Budget {
	if percent <= 0 {
		percent = 20
	}
	if minRetries <= 0 {
		minRetries = 3
	}
	return &Budget{ratio: percent / 100, min: int64(minRetries)}
}

// Acquire takes a token if retries in flight are under the budget.
func (b *Budget) Acquire() bool {
	for {
		cur := b.retrying.Load()
		limit := max(b.min, int64(b.ratio*float64(b.active.Load())))
		if cur >= limit {
			return false
		}
		if b.retrying.CompareAndSwap(cur, cur+1) {
			return true
		}
	}
}

// Release gives a token back.
func (b *Budget) Release() { b.retrying.Add(-1) }

// InFlight reports the requests and retries in flight (for tests and metrics).
func (b *Budget) InFlight() (requests, retries int64) {
	return b.active.Load(), b.retrying.Load()
}

// IdempotentMethod reports whether HTTP defines the method as idempotent (RFC 9110 9.2.2): the
// http proxy and the api handler, which carries the whole HTTP request, both retry by it.
func IdempotentMethod(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}
