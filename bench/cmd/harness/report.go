package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

type report struct {
	o                 options
	started, finished time.Time
	machine           []string
	scenarios         []*scenario
	registry          map[string]any
}

// machineInfo describes where the numbers come from.
func machineInfo(o options) []string {
	var out []string
	model, cores := "", 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok {
				switch strings.TrimSpace(k) {
				case "model name":
					model = strings.TrimSpace(v)
				case "processor":
					cores++
				}
			}
		}
	}
	mem := statusLine("/proc/meminfo", "MemTotal")
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	out = append(out, fmt.Sprintf("CPU: %s, %d logical cores (GOMAXPROCS %d); memory %s; Linux %s",
		model, cores, runtime.GOMAXPROCS(0), mem, strings.TrimSpace(string(kernel))))
	out = append(out, "Go: "+runtime.Version())
	if b, err := os.ReadFile("/proc/self/stat"); err == nil {
		if i := bytes.LastIndexByte(b, ')'); i >= 0 {
			if f := strings.Fields(string(b[i+1:])); len(f) > 16 && f[16] != "0" {
				out = append(out, "Priority: the harness and every process it starts run at nice "+f[16]+
					" (run.sh's NICE), so that other work on a shared machine disturbs the measurement less")
			}
		}
	}
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		out = append(out, "Load average when the run started: "+strings.Join(strings.Fields(string(load))[:3], " "))
	}
	if o.nginx != "" {
		v, _ := exec.Command(o.nginx, "-v").CombinedOutput()
		out = append(out, "NGINX: "+strings.TrimSpace(strings.TrimPrefix(string(v), "nginx version: ")))
	} else {
		out = append(out, "NGINX: not installed, its row is missing")
	}
	rev, err := exec.Command("git", "-C", "..", "rev-parse", "--short", "HEAD").Output()
	if err == nil {
		dirty := ""
		if st, _ := exec.Command("git", "-C", "..", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench").Output(); len(bytes.TrimSpace(st)) > 0 {
			dirty = " with uncommitted changes in the work tree"
		}
		out = append(out, "Gateway: commit "+strings.TrimSpace(string(rev))+dirty)
	}
	return out
}

func statusLine(path, key string) string {
	b, _ := os.ReadFile(path)
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(v), &kb)
			return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	return "?"
}

func (r *report) write(path string) error {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# Benchmark results\n\n")
	w("Written by `bench/run.sh` (%s run, %s, %s). ", r.o.mode, r.started.Format("2006-01-02 15:04 MST"), durationOrRunning(r))
	w("How to read and reproduce: [README.md](README.md).\n\n")
	for _, m := range r.machine {
		w("- %s\n", m)
	}
	w("- Load: loopback only, the Go load generator of `bench/internal/loadgen` in the harness process, %d connections. "+
		"Throughput: closed loop, %d x %s per target, targets in rotating order, median. "+
		"Latency: open loop at one fixed rate per scenario (half the slowest target's throughput), %d x %s, medians of p50 and p99, "+
		"counted from the scheduled send time. CPU: utime+stime of the process under test per 10k requests, median, during the closed-loop runs (saturated) and during the open-loop runs (at the latency rate). "+
		"Peak RSS: VmHWM, reset before each run, highest of the runs.\n",
		r.o.conns, r.o.reps, r.o.duration, r.o.reps, r.o.latDuration)
	w("- The load generator, the process under test and the backend share the machine's cores; absolute numbers drift between runs, ratios within one run hold better.\n\n")

	r.writeTargets(&b)
	for _, sc := range r.scenarios {
		r.writeScenario(&b, sc)
	}
	if r.registry != nil {
		r.writeRegistry(&b)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func durationOrRunning(r *report) string {
	if r.finished.IsZero() {
		return "incomplete: still running or failed"
	}
	return "took " + r.finished.Sub(r.started).Round(time.Second).String()
}

func (r *report) writeScenario(b *strings.Builder, sc *scenario) {
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	w("## %s\n\n%s.\n\n", sc.title, sc.what)
	w("| target | %s | ", sc.unit)
	for _, p := range sc.targets {
		w("x %s | ", p.name)
	}
	w("p50 @ %.0f/s | p99 @ %.0f/s | p99 closed loop | CPU s / 10k | CPU s / 10k @ %.0f/s | allocs / req | B / req | peak RSS | others' CPU |\n", sc.rate, sc.rate, sc.rate)
	w("|---|--:|")
	for range sc.targets {
		w("--:|")
	}
	w("--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	var notes []string
	for _, t := range sc.targets {
		res := sc.results[t.name]
		w("| %s | %.0f | ", t.name, res.throughput())
		for _, p := range sc.targets {
			if p == t {
				w("- | ")
				continue
			}
			w("%.2f | ", res.throughput()/sc.results[p.name].throughput())
		}
		cpu, openCPU, rss, allocs, bytes := "-", "-", "-", "-", "-"
		if ao, ab := res.allocs(); !math.IsNaN(ao) {
			allocs, bytes = fmt.Sprintf("%.0f", ao), fmt.Sprintf("%.0f", ab)
		}
		if t.proc != nil {
			cpu = fmt.Sprintf("%.3f", res.cpuPer10k())
			openCPU = fmt.Sprintf("%.3f", res.openCPUPer10k())
			rss = fmt.Sprintf("%.0f MiB", float64(res.peakRSS())/(1<<20))
		}
		w("%s | %s | %s | %s | %s | %s | %s | %s | %.0f%% |\n", fmtDur(res.p50()), fmtDur(res.p99()), fmtDur(res.closedP99()), cpu, openCPU, allocs, bytes, rss, res.others()*100)
		if n, first := res.errors(); n > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d failed requests (first: %v)", t.name, n, first))
		}
	}
	w("\nCPU %s. Ratios (x peer) are throughput over the peer's. Allocations: heap objects and bytes the process under test allocated per request (runtime/metrics, whole process), median. Others' CPU: share of the machine used by processes the benchmark did not start, median over the target's runs.\n", sc.cpuNote)
	// This gateway against each peer.
	gw := sc.results[sc.targets[0].name]
	for _, p := range sc.targets[1:] {
		pr := sc.results[p.name]
		line := fmt.Sprintf("gateway vs %s: throughput %.2fx, p99 %s vs %s (%s)", p.name,
			gw.throughput()/pr.throughput(), fmtDur(gw.p99()), fmtDur(pr.p99()), fmtDelta(gw.p99()-pr.p99()))
		if p.proc != nil && p.proc != sc.targets[0].proc {
			line += fmt.Sprintf(", CPU per request %.2fx (%.2fx at %.0f/s), peak RSS %.2fx", gw.cpuPer10k()/pr.cpuPer10k(),
				gw.openCPUPer10k()/pr.openCPUPer10k(), sc.rate, float64(gw.peakRSS())/float64(pr.peakRSS()))
			ga, _ := gw.allocs()
			if pa, _ := pr.allocs(); !math.IsNaN(ga) && !math.IsNaN(pa) {
				line += fmt.Sprintf(", allocations per request %.0f vs %.0f", ga, pa)
			}
		}
		w("- %s\n", line)
	}
	for _, n := range notes {
		w("- errors: %s\n", n)
	}
	w("\n")
}

func (r *report) writeRegistry(b *strings.Builder) {
	w := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	g := func(k string) float64 {
		switch v := r.registry[k].(type) {
		case float64:
			return v
		}
		return math.NaN()
	}
	small, _ := r.registry["small"].(map[string]any)
	sg := func(k string) float64 {
		v, _ := small[k].(float64)
		return v
	}
	w("## registry scale: %.0f services x %.0f nodes\n\n", g("services"), g("nodes_per_service"))
	w("The gateway's packages wired as cmd/gateway wires them (`bench/cmd/regscale`): registry/cache snapshot -> selector.Update -> router.UpdateRoutes. ")
	w("Every service declares one endpoint with a path template, so the registry route table holds one route per service (its worst case). ")
	w("Lookups cycle over 4,096 random services, through the router's whole chain (middleware, resolver or route table, selector) with a handler that only selects a node.\n\n")
	w("| measure | 10,000 services | 100 services |\n|---|--:|--:|\n")
	w("| snapshot lookup (map by name) | %.0f ns | |\n", g("snapshot_lookup_ns"))
	w("| selector Select + Done | %.0f ns, %.0f allocs | %.0f ns |\n", g("select_ns"), g("select_allocs"), sg("select_ns"))
	w("| ... with `failure_ratio` set (every pick takes its node's breaker) | %.0f ns, %.0f allocs | |\n", g("select_counted_ns"), g("select_counted_allocs"))
	w("| request routed by the resolver (`/svcNNNNN/Svc/Call`) | %.0f ns, %.0f allocs | %.0f ns |\n", g("route_resolver_ns"), g("route_resolver_allocs"), sg("route_resolver_ns"))
	w("| request routed by the registry route table (`/r/svcNNNNN/{id}`) | %.0f ns, %.0f allocs | %.0f ns |\n", g("route_table_ns"), g("route_table_allocs"), sg("route_table_ns"))
	w("| heap: snapshot (services, nodes, endpoints, cache map) | %.1f MiB | |\n", g("snapshot_bytes")/(1<<20))
	w("| heap: selector table (a breaker per node) | %.1f MiB | |\n", g("selector_bytes")/(1<<20))
	w("| heap: registry route table (%.0f routes) | %.1f MiB | |\n", g("services"), g("route_table_bytes")/(1<<20))
	w("| heap: total | %.1f MiB | |\n", (g("snapshot_bytes")+g("selector_bytes")+g("route_table_bytes"))/(1<<20))
	w("| rebuild after one service changed: event in -> all rebuilt (median) | %.1f ms | |\n", g("rebuild_total_ms"))
	w("| ... of which selector.Update | %.1f ms | |\n", g("rebuild_selector_ms"))
	w("| ... of which router.UpdateRoutes | %.1f ms | |\n", g("rebuild_routes_ms"))
	w("| build from scratch (first snapshot or relist): selector.Update + router.UpdateRoutes | %.1f ms + %.1f ms | |\n", g("full_selector_ms"), g("full_routes_ms"))
	w("| peak RSS of the measuring process | %.0f MiB | |\n\n", g("peak_rss_bytes")/(1<<20))
}

func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
}

func fmtDelta(d time.Duration) string {
	if d < 0 {
		return "-" + fmtDur(-d)
	}
	return "+" + fmtDur(d)
}

// find returns the result of the named target in the scenario whose title starts with title.
func (r *report) find(title, target string) *targetResult {
	for _, sc := range r.scenarios {
		if strings.HasPrefix(sc.title, title) {
			return sc.results[target]
		}
	}
	return nil
}

// writeTargets checks this run against the targets of issue 7.
func (r *report) writeTargets(b *strings.Builder) {
	type row struct{ target, measured string }
	var rows []row
	ok := func(pass bool) string {
		if pass {
			return "met"
		}
		return "**not met**"
	}
	// Latency comparisons mean little while other processes took a large share of the machine.
	noisy := func(rs ...*targetResult) string {
		worst := 0.0
		for _, r := range rs {
			worst = math.Max(worst, r.others())
		}
		if worst > 0.15 {
			return fmt.Sprintf(" (may be unreliable: other processes used up to %.0f%% of the machine)", worst*100)
		}
		return ""
	}
	for _, size := range []string{"rpc unary, small", "rpc unary, ~4 KiB"} {
		gw, peer := r.find(size, "gateway"), r.find(size, "grpc-gateway")
		if gw == nil || peer == nil {
			continue
		}
		x := gw.throughput() / peer.throughput()
		rows = append(rows, row{size + ": throughput >= 1.3x grpc-gateway, p99 no worse",
			fmt.Sprintf("%.2fx, p99 %s vs %s: %s%s", x, fmtDur(gw.p99()), fmtDur(peer.p99()), ok(x >= 1.3 && gw.p99() <= peer.p99()), noisy(gw, peer))})
		ga, _ := gw.allocs()
		pa, _ := peer.allocs()
		if !math.IsNaN(ga) && !math.IsNaN(pa) {
			rows = append(rows, row{size + ": allocations per call below grpc-gateway's", fmt.Sprintf("%.0f vs %.0f: %s", ga, pa, ok(ga < pa))})
		}
	}
	if gw := r.find("http proxy", "gateway"); gw != nil {
		if rp := r.find("http proxy", "httputil.ReverseProxy"); rp != nil {
			x := gw.throughput() / rp.throughput()
			rows = append(rows, row{"http: >= 1.5x bare httputil.ReverseProxy", fmt.Sprintf("%.2fx: %s", x, ok(x >= 1.5))})
		}
		if ng := r.find("http proxy", "NGINX"); ng != nil {
			x := gw.throughput() / ng.throughput()
			rows = append(rows, row{"http: >= 0.7x NGINX", fmt.Sprintf("%.2fx: %s", x, ok(x >= 0.7))})
		}
		if d := r.find("http proxy", "direct"); d != nil {
			over := gw.p99() - d.p99()
			rows = append(rows, row{"http: p99 overhead over direct <= 1 ms (at the scenario's open-loop rate, half the slowest peer's peak)",
				fmt.Sprintf("%s (%s vs %s): %s%s", fmtDelta(over), fmtDur(gw.p99()), fmtDur(d.p99()), ok(over <= time.Millisecond), noisy(gw, d))})
		}
	}
	if ev := r.find("events", "gateway"); ev != nil {
		rows = append(rows, row{"events: >= 20,000/s acknowledged", fmt.Sprintf("%.0f/s: %s", ev.throughput(), ok(ev.throughput() >= 20000))})
	}
	if r.registry != nil {
		g := func(k string) float64 { v, _ := r.registry[k].(float64); return v }
		rows = append(rows,
			row{"registry 10k x 5: lookup O(1), < 1 µs", fmt.Sprintf("selector Select %.0f ns (%s); a whole request through the router %.1f µs", g("select_ns"), ok(g("select_ns") < 1000), g("route_resolver_ns")/1000)},
			row{"registry 10k x 5: route-table rebuild < 100 ms", fmt.Sprintf("%.1f ms after one change: %s", g("rebuild_total_ms"), ok(g("rebuild_total_ms") < 100))},
			row{"registry 10k x 5: snapshot < 100 MB", fmt.Sprintf("%.1f MiB with selector and route table: %s", (g("snapshot_bytes")+g("selector_bytes")+g("route_table_bytes"))/(1<<20),
				ok(g("snapshot_bytes")+g("selector_bytes")+g("route_table_bytes") < 100e6))})
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(b, "## Targets of issue 7, this run\n\n| target | measured |\n|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(b, "| %s | %s |\n", r.target, r.measured)
	}
	fmt.Fprintf(b, "\n")
}
