package gcfloor

import (
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func gogc(t *testing.T) int {
	t.Helper()
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func noEnv(string) string { return "" }

func TestPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live, scan, min int64
		base, want      int
	}{
		{live: 4 * mib, scan: 4 * mib, min: 64 * mib, base: 100, want: 1500},  // goal 4 + 60 = 64 MiB
		{live: 4 * mib, scan: 12 * mib, min: 64 * mib, base: 100, want: 500},  // stacks and globals scale too
		{live: 32 * mib, scan: 32 * mib, min: 64 * mib, base: 100, want: 100}, // doubling reaches the floor already
		{live: 20 * mib, scan: 44 * mib, min: 64 * mib, base: 100, want: 100}, // so does 20 + 44
		{live: 200 * mib, scan: 210 * mib, min: 64 * mib, base: 100, want: 100},
		{live: 16 * mib, scan: 16 * mib, min: 64 * mib, base: 400, want: 400}, // a higher GOGC already does more
		{live: 1 << 10, scan: 1 << 10, min: 64 * mib, base: 100, want: maxPercent},
		{live: 0, scan: 0, min: 64 * mib, base: 100, want: 100}, // before the first cycle
	} {
		if got := percentFor(c.live, c.scan, c.min, c.base); got != c.want {
			t.Errorf("percentFor(live %d, scan %d, min %d, base %d) = %d, want %d", c.live, c.scan, c.min, c.base, got, c.want)
		}
	}
}

// TestFloorFollowsCollections checks that a floor far above the test's live heap raises GOGC,
// keeps adjusting after collections, and that stop restores the GOGC it found.
func TestFloorFollowsCollections(t *testing.T) {
	base := gogc(t)
	runtime.GC() // the floor scales what the last cycle measured
	stop := Start(Config{MinHeap: 1 << 30}, noEnv, quiet())
	raised := gogc(t)
	if raised <= base {
		t.Fatalf("GOGC %d after Start with a 1 GiB floor, want more than %d", raised, base)
	}
	// Keep 64 MiB alive: the next cycles must lower GOGC to keep the goal near the floor.
	keep := make([][]byte, 64)
	for i := range keep {
		keep[i] = make([]byte, 1<<20)
	}
	deadline := time.Now().Add(5 * time.Second)
	for gogc(t) >= raised {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC stayed %d with 64 MiB live, want it lowered", gogc(t))
		}
		runtime.GC()
		time.Sleep(time.Millisecond) // the finalizer runs on the runtime's goroutine after the cycle
	}
	runtime.KeepAlive(keep)
	stop()
	stop() // twice is harmless
	if got := gogc(t); got != base {
		t.Fatalf("GOGC %d after stop, want %d restored", got, base)
	}
	// No finalizer may change it afterwards.
	for range 3 {
		runtime.GC()
	}
	time.Sleep(10 * time.Millisecond)
	if got := gogc(t); got != base {
		t.Fatalf("GOGC %d after collections past stop, want %d", got, base)
	}
}

func TestGOGCFromTheEnvironmentWins(t *testing.T) {
	base := gogc(t)
	env := func(k string) string {
		if k == "GOGC" {
			return "150"
		}
		return ""
	}
	stop := Start(Config{MinHeap: 1 << 30}, env, quiet())
	defer stop()
	if got := gogc(t); got != base {
		t.Fatalf("GOGC %d with GOGC set in the environment, want %d untouched", got, base)
	}
}

func TestGOGCOffIsLeftAlone(t *testing.T) {
	old := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(old)
	stop := Start(Config{MinHeap: 1 << 30}, noEnv, quiet())
	defer stop()
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Fatalf("GOGC=off became %d", got)
	}
}

func TestMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	stop := Start(Config{MemoryLimit: 3 << 30}, noEnv, quiet())
	if got := debug.SetMemoryLimit(-1); got != 3<<30 {
		t.Errorf("memory limit %d, want %d", got, int64(3<<30))
	}
	stop()
	if got := debug.SetMemoryLimit(-1); got != old {
		t.Errorf("memory limit %d after stop, want %d restored", got, old)
	}

	// GOMEMLIMIT in the environment wins over the configuration.
	env := func(k string) string {
		if k == "GOMEMLIMIT" {
			return "1GiB"
		}
		return ""
	}
	stop = Start(Config{MemoryLimit: 3 << 30}, env, quiet())
	defer stop()
	if got := debug.SetMemoryLimit(-1); got != old {
		t.Errorf("memory limit %d with GOMEMLIMIT set, want the runtime's %d untouched", got, old)
	}
}
