// Package gcfloor keeps the garbage collector from running more often than a heap floor calls
// for.
//
// With GOGC=100 the collector starts a cycle each time the heap doubles over what survived the
// last one. A gateway keeps little alive (a few MB of routes, pools and buffers) and allocates a
// few KB per request, so at 10,000 requests/s it would collect ten or more times a second; each
// cycle takes a quarter of the CPU for its marking and slows the requests it catches, which is
// most of the proxy's p99 over a direct call (bench/README.md). The floor raises the goal of a
// small heap to MinHeap: while the live heap stays below about half of it, GOGC is set so that
// the next cycle starts when the heap reaches MinHeap; once the live heap is larger (a busy
// embedded NATS server, thousands of services) the operator's GOGC applies as it is.
//
// Contract:
//   - Start adjusts GOGC after every collection (from a finalizer the runtime runs once per
//     cycle, so it costs no goroutine of its own) and stop restores the GOGC it found. Nothing
//     is kept alive for the floor: the memory it lets the heap grow into is garbage that would
//     otherwise have been collected sooner, bounded by MinHeap.
//   - GOGC set in the environment (any value: the operator tunes the collector by hand) or
//     turned off leaves the collector's percentage alone; MinHeap 0 turns the floor off.
//   - MemoryLimit, when positive, is set as the soft memory limit (debug.SetMemoryLimit), unless
//     GOMEMLIMIT is set in the environment, which wins. The limit makes the collector run
//     earlier than any goal near it, so the floor never pushes a process past it.
//   - Only one floor should run in a process: GOGC is the process's.
package gcfloor

import (
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// Config sets the floor; zero values turn each part off.
type Config struct {
	// MinHeap is the heap size below which the collector does not start a cycle, in bytes.
	MinHeap int64
	// MemoryLimit is the soft memory limit in bytes (GOMEMLIMIT); 0 leaves the runtime's.
	MemoryLimit int64
}

// maxPercent bounds the GOGC the floor sets for a nearly empty heap.
const maxPercent = 10000

// floor is the state the per-cycle finalizer works with. The runtime runs finalizers one at a
// time; mu orders a finalizer's change of GOGC against stop's restoring it.
type floor struct {
	min     int64
	base    int // the GOGC found at Start
	sample  []metrics.Sample
	stopped atomic.Bool

	mu  sync.Mutex
	set int // the GOGC last set
}

// Start applies cfg and returns the function that undoes it. getenv reads the environment
// (os.Getenv when nil), which wins over cfg.
func Start(cfg Config, getenv func(string) string, log *slog.Logger) (stop func()) {
	if getenv == nil {
		getenv = os.Getenv
	}
	oldLimit := int64(-1)
	if cfg.MemoryLimit > 0 && getenv("GOMEMLIMIT") == "" {
		oldLimit = debug.SetMemoryLimit(cfg.MemoryLimit)
	}
	restoreLimit := func() {
		if oldLimit >= 0 {
			debug.SetMemoryLimit(oldLimit)
		}
	}
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	if cfg.MinHeap <= 0 || base < 0 || getenv("GOGC") != "" {
		if cfg.MinHeap > 0 {
			log.Info("GOGC is set: runtime.gc_min_heap does not apply", "gogc", base)
		}
		return restoreLimit
	}
	f := &floor{
		min:    cfg.MinHeap,
		base:   base,
		set:    base,
		sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}},
	}
	f.adjust()
	f.arm()
	log.Debug("garbage collector heap floor", "min_heap", cfg.MinHeap, "gogc", base)
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.stopped.CompareAndSwap(false, true) {
			debug.SetGCPercent(f.base)
			restoreLimit()
		}
	}
}

// arm lets the next collection call cycle: a fresh unreachable object with a finalizer is
// found by the next cycle and its finalizer run right after it.
func (f *floor) arm() {
	runtime.SetFinalizer(&sentinel{f: f}, (*sentinel).cycle)
}

// sentinel carries a pointer so that it gets a heap object of its own (a zero-size one would
// share the runtime's zero base, which cannot take a finalizer).
type sentinel struct{ f *floor }

func (s *sentinel) cycle() {
	f := s.f
	if f.stopped.Load() {
		return
	}
	f.adjust()
	f.arm()
}

// adjust sets GOGC for the heap that survived the last cycle.
func (f *floor) adjust() {
	metrics.Read(f.sample)
	var v [3]int64
	for i, s := range f.sample {
		if s.Value.Kind() != metrics.KindUint64 {
			return
		}
		v[i] = int64(s.Value.Uint64())
	}
	p := percentFor(v[0], v[0]+v[1]+v[2], f.min, f.base)
	f.mu.Lock()
	defer f.mu.Unlock()
	// Small changes of the live heap would reset GOGC every cycle for nothing.
	if p != f.set && (p == f.base || math.Abs(float64(p-f.set)) > float64(f.set)/8) && !f.stopped.Load() {
		debug.SetGCPercent(p)
		f.set = p
	}
}

// percentFor is the GOGC whose heap goal is min, and never less than base. The runtime's goal
// is live + scan*GOGC/100, where scan is the live heap plus the goroutine stacks and globals the
// collector scans: leaving those out would let a gateway with many connections (each a stack)
// grow several times past min.
func percentFor(live, scan, min int64, base int) int {
	if live <= 0 || scan <= 0 {
		return base // no cycle yet: nothing measured to scale
	}
	if live+scan*int64(base)/100 >= min {
		return base
	}
	p := (min - live) * 100 / scan
	if p > maxPercent {
		return maxPercent
	}
	return int(p)
}
