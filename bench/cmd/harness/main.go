// Command harness runs the benchmark scenarios side by side and writes RESULTS.md. run.sh builds
// the binaries and calls it; see bench/README.md.
//
// For each scenario it starts the processes under test (the gateway built from cmd/gateway and
// the peers) in front of one shared backend, checks every target answers correctly, warms each
// up, then measures:
//
//   - throughput: closed loop with -conns connections, -reps runs of -duration per target, the
//     targets in a rotating order (noise hits all of them alike), median of the runs;
//   - latency: open loop at one fixed rate for every target of the scenario (half the slowest
//     target's median throughput, so none is saturated), -reps runs of -latency-duration,
//     medians of p50 and p99, latency counted from the scheduled send time;
//   - CPU seconds per 10k requests of the process under test (utime+stime from /proc/<pid>/stat
//     before and after each closed-loop run), median;
//   - peak RSS (VmHWM from /proc/<pid>/status, reset at the start of each scenario).
//
// Every run is bounded by time and by request count. Every process it starts is stopped when it
// returns, on SIGINT/SIGTERM too, and its pid is appended to -pidfile for run.sh's trap.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

type options struct {
	bin, out, work, pidFile, nginx string
	profileDir                     string
	reps                           int
	duration, latDuration, warmup  time.Duration
	conns                          int
	maxRequests                    int64
	only                           []string
	mode                           string
	// dupWindow is the gateway's events.duplicate_window; empty keeps its default (2m).
	dupWindow string
}

func main() {
	var o options
	var only string
	flag.StringVar(&o.bin, "bin", ".out/bin", "directory with the built binaries (gateway, backend, grpcgw, rproxy, regscale)")
	flag.StringVar(&o.out, "out", "RESULTS.md", "report to write")
	flag.StringVar(&o.work, "work", "", "scratch directory (configs, logs, NATS store); default a new temp dir")
	flag.StringVar(&o.pidFile, "pidfile", "", "append the pid of every started process here")
	flag.StringVar(&o.nginx, "nginx", "", "nginx binary; empty skips the NGINX peer")
	flag.IntVar(&o.reps, "reps", 3, "runs per target and phase")
	flag.DurationVar(&o.duration, "duration", 8*time.Second, "closed-loop (throughput) run length")
	flag.DurationVar(&o.latDuration, "latency-duration", 4*time.Second, "open-loop (latency) run length")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "warm-up per target before a scenario")
	flag.IntVar(&o.conns, "conns", 64, "connections")
	flag.Int64Var(&o.maxRequests, "max-requests", 2_000_000, "bound on requests per run")
	flag.StringVar(&only, "only", "", "comma-separated scenario groups to run: rpc,http,ws,events,registry (default all)")
	flag.StringVar(&o.profileDir, "profile-dir", "", "write CPU and allocation profiles of the first closed-loop run of each process with a debug listener here")
	flag.StringVar(&o.mode, "mode", "full", "label of the run in the report (full, quick)")
	flag.StringVar(&o.dupWindow, "events-duplicate-window", "", "the gateway's events.duplicate_window (JetStream's dedup window); empty: the gateway's default")
	flag.Parse()
	if only != "" {
		o.only = strings.Split(only, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		log.Printf("harness: %v", err)
		stop()
		os.Exit(1)
	}
}

func (o options) wants(group string) bool { return len(o.only) == 0 || slices.Contains(o.only, group) }

func run(ctx context.Context, o options) error {
	if o.work == "" {
		dir, err := os.MkdirTemp("", "gateway-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.work = dir
	}
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	o.bin = bin
	logDir := filepath.Join(o.work, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	ps := &procs{pidFile: o.pidFile, logDir: logDir}
	defer ps.stopAll()

	h := &harness{o: o, ps: ps}
	rep := &report{started: time.Now(), o: o, machine: machineInfo(o)}
	if err := h.startBackend(ctx); err != nil {
		return err
	}
	log.Printf("backend: grpc %s, http %s", h.grpcAddr, h.httpAddr)
	groups := []struct {
		name string
		fn   func(context.Context) ([]*scenario, error)
	}{
		{"rpc", h.rpcScenarios},
		{"http", h.httpScenario},
		{"ws", h.wsScenario},
		{"events", h.eventsScenario},
	}
	for _, g := range groups {
		if !o.wants(g.name) {
			continue
		}
		scs, err := g.fn(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", g.name, err)
		}
		rep.scenarios = append(rep.scenarios, scs...)
		if err := rep.write(o.out); err != nil { // partial results survive a later failure
			return err
		}
	}
	if o.wants("registry") {
		log.Printf("registry scale")
		rs, err := h.registryScale(ctx)
		if err != nil {
			return fmt.Errorf("registry: %w", err)
		}
		rep.registry = rs
	}
	rep.finished = time.Now()
	if err := rep.write(o.out); err != nil {
		return err
	}
	log.Printf("wrote %s in %s", o.out, time.Since(rep.started).Round(time.Second))
	return nil
}
