package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgeapi/gateway/bench/internal/loadgen"
	"github.com/edgeapi/gateway/bench/internal/stats"
)

// runStats is one run of one target.
type runStats struct {
	throughput float64
	p50, p99   time.Duration
	cpuPer10k  float64 // seconds; NaN without a process
	requests   int64
	errors     int64
	firstErr   error
	peakRSS    int64
	// Heap allocations of the process under test per request; NaN when unknown.
	allocsPerReq, bytesPerReq float64
	// others is the share of the machine's CPU that processes the harness did not start used
	// during the run (other users of a shared machine): 0.25 is half a core of 2.
	others float64
}

// targetResult gathers a target's runs in one scenario.
type targetResult struct {
	closed, open []runStats
}

func (r *targetResult) throughput() float64 {
	return stats.Median(collect(r.closed, func(s runStats) float64 { return s.throughput }))
}
func (r *targetResult) closedP99() time.Duration {
	return time.Duration(stats.Median(collect(r.closed, func(s runStats) float64 { return float64(s.p99) })))
}
func (r *targetResult) p50() time.Duration {
	return time.Duration(stats.Median(collect(r.open, func(s runStats) float64 { return float64(s.p50) })))
}
func (r *targetResult) p99() time.Duration {
	return time.Duration(stats.Median(collect(r.open, func(s runStats) float64 { return float64(s.p99) })))
}
func (r *targetResult) cpuPer10k() float64 {
	return stats.Median(collect(r.closed, func(s runStats) float64 { return s.cpuPer10k }))
}

// openCPUPer10k is the CPU per 10k requests at the open-loop rate: what a request costs
// when the process is not saturated, which throughput cannot show.
func (r *targetResult) openCPUPer10k() float64 {
	return stats.Median(collect(r.open, func(s runStats) float64 { return s.cpuPer10k }))
}
func (r *targetResult) allocs() (objects, bytes float64) {
	return stats.Median(collect(r.closed, func(s runStats) float64 { return s.allocsPerReq })),
		stats.Median(collect(r.closed, func(s runStats) float64 { return s.bytesPerReq }))
}

func (r *targetResult) peakRSS() int64 {
	var m int64
	for _, s := range append(append([]runStats(nil), r.closed...), r.open...) {
		m = max(m, s.peakRSS)
	}
	return m
}

// others is the median share of the machine other processes used during the target's runs.
func (r *targetResult) others() float64 {
	return stats.Median(collect(append(append([]runStats(nil), r.closed...), r.open...), func(s runStats) float64 { return s.others }))
}

func (r *targetResult) errors() (n int64, first error) {
	for _, s := range append(append([]runStats(nil), r.closed...), r.open...) {
		n += s.errors
		if first == nil {
			first = s.firstErr
		}
	}
	return n, first
}

func collect(rs []runStats, f func(runStats) float64) []float64 {
	out := make([]float64, 0, len(rs))
	for _, r := range rs {
		out = append(out, f(r))
	}
	return out
}

// measure checks, warms up and measures every target of sc (see the package doc).
func (h *harness) measure(ctx context.Context, sc *scenario) error {
	sc.results = map[string]*targetResult{}
	for _, t := range sc.targets {
		if err := t.check(ctx); err != nil {
			return fmt.Errorf("%s: %s answers wrongly: %w", sc.title, t.name, err)
		}
		sc.results[t.name] = &targetResult{}
	}
	log.Printf("%s: warm-up", sc.title)
	for _, t := range sc.targets {
		if _, err := h.load(ctx, t, 0, h.o.warmup); err != nil {
			return err
		}
	}
	for rep := range h.o.reps {
		for _, t := range rotate(sc.targets, rep) {
			var stopProfile func()
			if rep == 0 && h.o.profileDir != "" && t.proc != nil && t.proc.debug != "" {
				stopProfile = h.profile(ctx, sc, t)
			}
			rs, err := h.load(ctx, t, 0, h.o.duration)
			if stopProfile != nil {
				stopProfile()
			}
			if err != nil {
				return err
			}
			sc.results[t.name].closed = append(sc.results[t.name].closed, rs)
			log.Printf("%s: %-22s closed loop %9.0f %s  p99 %8s  cpu/10k %.3fs  errors %d  others %.0f%%",
				sc.title, t.name, rs.throughput, sc.unit, rs.p99.Round(time.Microsecond), rs.cpuPer10k, rs.errors, rs.others*100)
		}
	}
	sc.rate = math.Inf(1)
	for _, t := range sc.targets {
		sc.rate = math.Min(sc.rate, sc.results[t.name].throughput())
	}
	sc.rate = math.Floor(sc.rate / 2)
	if sc.rate < 1 {
		log.Printf("%s: a target served nothing; no latency runs", sc.title)
		return nil
	}
	for rep := range h.o.reps {
		for _, t := range rotate(sc.targets, rep) {
			rs, err := h.load(ctx, t, sc.rate, h.o.latDuration)
			if err != nil {
				return err
			}
			sc.results[t.name].open = append(sc.results[t.name].open, rs)
			log.Printf("%s: %-22s open loop %6.0f/s    p50 %8s  p99 %8s  errors %d  others %.0f%%",
				sc.title, t.name, sc.rate, rs.p50.Round(time.Microsecond), rs.p99.Round(time.Microsecond), rs.errors, rs.others*100)
		}
	}
	return nil
}

// load runs one bounded run against t: closed loop when rate is 0.
func (h *harness) load(ctx context.Context, t *target, rate float64, d time.Duration) (runStats, error) {
	if t.proc != nil {
		if !t.proc.alive() {
			return runStats{}, fmt.Errorf("%s exited (see %s)", t.proc.name, t.proc.log)
		}
		t.proc.resetPeakRSS()
	}
	time.Sleep(200 * time.Millisecond) // let the previous run's connections close
	cfg := loadgen.Config{Conns: h.o.conns, Rate: rate, Duration: d, MaxRequests: h.o.maxRequests}
	var cpu0 time.Duration
	var allocs0 allocCount
	var allocsOK bool
	if t.proc != nil {
		cpu0 = t.proc.cpu()
		if rate == 0 {
			allocs0, allocsOK = readAllocs(ctx, t.proc)
		}
	}
	busy0, cpus := machineBusy()
	ours0, t0 := h.ps.ours(), time.Now()
	res, err := loadgen.Run(ctx, cfg, t.dial)
	busy1, _ := machineBusy()
	ours1, elapsed := h.ps.ours(), time.Since(t0)
	if err != nil {
		return runStats{}, fmt.Errorf("%s: %w", t.name, err)
	}
	rs := runStats{throughput: res.Throughput(), p50: res.P(50), p99: res.P(99), requests: res.Requests,
		errors: res.Errors, firstErr: res.FirstErr, cpuPer10k: math.NaN(), allocsPerReq: math.NaN(), bytesPerReq: math.NaN(),
		others: max(0, ((busy1-busy0)-(ours1-ours0)).Seconds()/(elapsed.Seconds()*float64(cpus)))}
	if t.proc != nil {
		if res.Requests > 0 {
			rs.cpuPer10k = (t.proc.cpu() - cpu0).Seconds() / float64(res.Requests) * 10000
		}
		rs.peakRSS = t.proc.peakRSS()
		if allocs1, ok := readAllocs(ctx, t.proc); ok && allocsOK && res.Requests > 0 {
			rs.allocsPerReq = float64(allocs1.Objects-allocs0.Objects) / float64(res.Requests)
			rs.bytesPerReq = float64(allocs1.Bytes-allocs0.Bytes) / float64(res.Requests)
		}
	}
	rs.errors += res.Unfinished
	if res.Unfinished > 0 && rs.firstErr == nil {
		rs.firstErr = fmt.Errorf("%d requests unanswered at the end of the run", res.Unfinished)
	}
	if res.Requests == 0 {
		log.Printf("%s: no successful request (%d errors, %d unfinished, first: %v)", t.name, res.Errors, res.Unfinished, res.FirstErr)
	}
	return rs, nil
}

// rotate returns ts starting at index k, so each repetition runs the targets in another order.
func rotate(ts []*target, k int) []*target {
	k %= len(ts)
	return append(append([]*target(nil), ts[k:]...), ts[:k]...)
}

type allocCount struct{ Objects, Bytes uint64 }

// readAllocs asks the process's debug listener for its cumulative heap allocations.
func readAllocs(ctx context.Context, p *proc) (allocCount, bool) {
	if p.debug == "" {
		return allocCount{}, false
	}
	var a allocCount
	err := getJSON(ctx, "http://"+p.debug+"/debug/bench/allocs", &a)
	return a, err == nil
}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d", url, res.StatusCode)
	}
	return json.NewDecoder(res.Body).Decode(v)
}

// profile records a CPU profile of t's process over most of the coming closed-loop run and its
// allocation profile before and after it (compare with go tool pprof -diff_base), into
// -profile-dir. The returned function waits for the CPU profile.
func (h *harness) profile(ctx context.Context, sc *scenario, t *target) func() {
	base := filepath.Join(h.o.profileDir, slug(sc.title)+"--"+slug(t.name))
	fetch := func(path, file string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+t.proc.debug+path, nil)
		if err != nil {
			return
		}
		res, err := (&http.Client{}).Do(req)
		if err != nil {
			log.Printf("profile %s: %v", path, err)
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err == nil && res.StatusCode == http.StatusOK {
			err = os.WriteFile(file, b, 0o644)
		}
		if err != nil || res.StatusCode != http.StatusOK {
			log.Printf("profile %s: status %d %v", path, res.StatusCode, err)
		}
	}
	fetch("/debug/pprof/allocs", base+".allocs-before.pprof")
	secs := max(1, int(h.o.duration.Seconds())-1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(500 * time.Millisecond) // past connection set-up
		fetch(fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), base+".cpu.pprof")
	}()
	return func() {
		fetch("/debug/pprof/allocs", base+".allocs-after.pprof")
		<-done
	}
}

func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}
