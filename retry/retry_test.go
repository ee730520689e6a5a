package retry_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/edgeapi/gateway/retry"
)

func TestMay(t *testing.T) {
	off := retry.New(0, 0, 0, 0)
	on := retry.New(3, 0, 0, 0)
	for _, tc := range []struct {
		name       string
		p          *retry.Policy
		attempt    int
		sent, idem bool
		want       bool
	}{
		{"nil policy, never sent, first try", nil, 0, false, false, true},
		{"nil policy, never sent, second try", nil, 1, false, false, false},
		{"nil policy, sent idempotent", nil, 0, true, true, false},
		{"off, never sent", off, 0, false, false, true},
		{"off, sent idempotent", off, 0, true, true, false},
		{"on, sent idempotent", on, 0, true, true, true},
		{"on, sent idempotent, last try", on, 2, true, true, false},
		{"on, sent not idempotent", on, 0, true, false, false},
		{"on, never sent, second try", on, 1, false, false, true},
		{"on, never sent, third try", on, 2, false, false, false},
	} {
		if got := tc.p.May(tc.attempt, tc.sent, tc.idem); got != tc.want {
			t.Errorf("%s: May = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestBudget: retries in flight stay under the share of requests in flight, with a floor.
func TestBudget(t *testing.T) {
	p := retry.New(3, 0, 20, 3)
	// 10 requests in flight: 20% is 2, the floor 3 wins.
	for range 10 {
		p.Begin()
	}
	for i := range 3 {
		if !p.Acquire() {
			t.Fatalf("token %d refused under the floor", i)
		}
	}
	if p.Acquire() {
		t.Fatal("a fourth retry passed with 10 requests in flight")
	}
	// 30 in flight: 20% is 6.
	for range 20 {
		p.Begin()
	}
	for i := 3; i < 6; i++ {
		if !p.Acquire() {
			t.Fatalf("token %d refused at 30 in flight", i)
		}
	}
	if p.Acquire() {
		t.Fatal("a seventh retry passed with 30 requests in flight")
	}
	p.Release()
	if !p.Acquire() {
		t.Fatal("a released token was not reusable")
	}
	if req, ret := p.Budget.InFlight(); req != 30 || ret != 6 {
		t.Fatalf("in flight %d requests %d retries, want 30 and 6", req, ret)
	}
}

// TestBudgetConcurrent: racing acquirers never exceed the budget.
func TestBudgetConcurrent(t *testing.T) {
	p := retry.New(2, 0, 20, 3)
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := 0
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p.Acquire() {
				mu.Lock()
				got++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if got != 3 {
		t.Fatalf("%d tokens taken with no requests in flight, want the floor 3", got)
	}
}

func TestTry(t *testing.T) {
	parent := context.Background()
	ctx, cancel := (*retry.Policy)(nil).Try(parent)
	cancel()
	if ctx != parent || retry.PerTryExpired(parent, ctx) {
		t.Fatal("nil policy changed the context")
	}
	p := retry.New(2, 10*time.Millisecond, 0, 0)
	ctx, cancel = p.Try(parent)
	defer cancel()
	<-ctx.Done()
	if !retry.PerTryExpired(parent, ctx) {
		t.Fatal("per-try expiry not reported")
	}
	gone, stop := context.WithCancel(parent)
	stop()
	ctx2, cancel2 := p.Try(gone)
	defer cancel2()
	if retry.PerTryExpired(gone, ctx2) {
		t.Fatal("a cancelled request reported as a per-try expiry")
	}
}

// TestGrant: a request takes one token for all its retries, and Observe hears every decision.
func TestGrant(t *testing.T) {
	p := retry.New(3, 0, 20, 1)
	type seen struct {
		service string
		granted bool
	}
	var got []seen
	p.Observe = func(service string, granted bool) { got = append(got, seen{service, granted}) }
	var first, second bool
	if !p.Grant("a", &first) || !p.Grant("a", &first) {
		t.Fatal("a request holding a token was refused its second retry")
	}
	if p.Grant("b", &second) {
		t.Fatal("a second request got a token beyond the floor of 1")
	}
	p.Release()
	if !p.Grant("b", &second) {
		t.Fatal("the released token was not granted")
	}
	want := []seen{{"a", true}, {"a", true}, {"b", false}, {"b", true}}
	if len(got) != len(want) {
		t.Fatalf("observed %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("observed %v, want %v", got, want)
		}
	}
	var held bool
	if !(*retry.Policy)(nil).Grant("c", &held) {
		t.Fatal("a nil policy refused a retry")
	}
}

func TestIdempotentMethod(t *testing.T) {
	for m, want := range map[string]bool{
		"GET": true, "HEAD": true, "OPTIONS": true, "TRACE": true, "PUT": true, "DELETE": true,
		"POST": false, "PATCH": false, "CONNECT": false, "get": false, "": false,
	} {
		if got := retry.IdempotentMethod(m); got != want {
			t.Errorf("IdempotentMethod(%q) = %v, want %v", m, got, want)
		}
	}
}
