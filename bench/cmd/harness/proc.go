package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a process the harness started and will stop. With tree set (NGINX), its CPU and
// memory include its direct children (the workers).
type proc struct {
	name   string
	cmd    *exec.Cmd
	tree   bool
	exited chan struct{}
	log    string
	debug  string // side address with /debug/pprof and /debug/bench/allocs; empty: none
}

// procs owns every started process, so they are all stopped however the run ends.
type procs struct {
	mu      sync.Mutex
	all     []*proc
	pidFile string
	logDir  string
}

// start runs bin with args, output to a log file. If firstLine is not nil the first line the
// process prints on stdout is sent there (the backend prints its addresses).
func (ps *procs) start(name string, tree bool, env []string, firstLine chan<- string, bin string, args ...string) (*proc, error) {
	logPath := filepath.Join(ps.logDir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = logf
	// Own process group, so stopping it reaches NGINX's workers too; killed if we die.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var stdout io.ReadCloser
	if firstLine != nil {
		if stdout, err = cmd.StdoutPipe(); err != nil {
			_ = logf.Close()
			return nil, err
		}
	} else {
		cmd.Stdout = logf
	}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, tree: tree, exited: make(chan struct{}), log: logPath}
	ps.mu.Lock()
	ps.all = append(ps.all, p)
	if ps.pidFile != "" {
		if f, err := os.OpenFile(ps.pidFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintln(f, cmd.Process.Pid)
			_ = f.Close()
		}
	}
	ps.mu.Unlock()
	if stdout != nil {
		go func() {
			br := bufio.NewReader(stdout)
			line, _ := br.ReadString('\n')
			firstLine <- strings.TrimSpace(line)
			_, _ = io.Copy(logf, br)
		}()
	}
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(p.exited)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// alive reports whether the process is still running.
func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM to the process group, and SIGKILL if it is still there after 5 s.
func (p *proc) stop() {
	if !p.alive() {
		return
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.exited
	}
}

// stopAll stops every process still running, newest first.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	all := ps.all
	ps.all = nil
	ps.mu.Unlock()
	for i := len(all) - 1; i >= 0; i-- {
		all[i].stop()
	}
}

// pids is the process and, for a tree, its direct children.
func (p *proc) pids() []int {
	out := []int{p.pid()}
	if !p.tree {
		return out
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err == nil && st.ppid == p.pid() {
			out = append(out, pid)
		}
	}
	return out
}

// cpu is user + system CPU time used so far (children of a tree included while they run).
func (p *proc) cpu() time.Duration {
	var ticks int64
	for _, pid := range p.pids() {
		if st, err := readStat(pid); err == nil {
			ticks += st.utime + st.stime
		}
	}
	return time.Duration(ticks) * time.Second / time.Duration(clockTicks())
}

// peakRSS is VmHWM (peak resident set) in bytes, summed over a tree.
func (p *proc) peakRSS() int64 {
	var total int64
	for _, pid := range p.pids() {
		total += statusKB(pid, "VmHWM") << 10
	}
	return total
}

// resetPeakRSS clears VmHWM (Linux: "5" to clear_refs), so a scenario's peak is its own.
func (p *proc) resetPeakRSS() {
	for _, pid := range p.pids() {
		_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	}
}

type stat struct {
	ppid         int
	utime, stime int64
}

func readStat(pid int) (stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return stat{}, err
	}
	// The command name is in parentheses and may hold spaces: fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return stat{}, errors.New("malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return stat{}, errors.New("short stat")
	}
	var st stat
	st.ppid, _ = strconv.Atoi(f[1])
	st.utime, _ = strconv.ParseInt(f[11], 10, 64)
	st.stime, _ = strconv.ParseInt(f[12], 10, 64)
	return st, nil
}

func statusKB(pid int, key string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

var clockTicksOnce = sync.OnceValue(func() int64 {
	// AT_CLKTCK (17) from the auxiliary vector; 100 on every common Linux.
	b, err := os.ReadFile("/proc/self/auxv")
	if err == nil {
		for i := 0; i+16 <= len(b); i += 16 {
			if binary.NativeEndian.Uint64(b[i:]) == 17 {
				if v := int64(binary.NativeEndian.Uint64(b[i+8:])); v > 0 {
					return v
				}
			}
		}
	}
	return 100
})

func clockTicks() int64 { return clockTicksOnce() }

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitFor polls check until it succeeds, the process exits or the deadline passes.
func waitFor(ctx context.Context, p *proc, d time.Duration, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var last error
	for {
		if last = check(); last == nil {
			return nil
		}
		if p != nil && !p.alive() {
			return fmt.Errorf("%s exited (see %s): %v", p.name, p.log, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %v", nameOf(p), d, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func nameOf(p *proc) string {
	if p == nil {
		return "target"
	}
	return p.name
}

// machineBusy is the CPU time every process on the machine used so far (/proc/stat: user, nice,
// system, steal), and the number of CPUs. Interrupt and softirq time is left out: on loopback
// most of it is the benchmark's own packets, which no process is charged for.
func machineBusy() (time.Duration, int) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 1
	}
	var busy int64
	cpus := 0
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if f[0] == "cpu" && len(f) >= 9 {
			for _, i := range []int{1, 2, 3, 8} {
				v, _ := strconv.ParseInt(f[i], 10, 64)
				busy += v
			}
		} else if strings.HasPrefix(f[0], "cpu") {
			cpus++
		}
	}
	return time.Duration(busy) * time.Second / time.Duration(clockTicks()), max(cpus, 1)
}

// ours is the CPU time used so far by the harness and every process it started that still runs.
func (ps *procs) ours() time.Duration {
	total := selfCPU()
	ps.mu.Lock()
	all := append([]*proc(nil), ps.all...)
	ps.mu.Unlock()
	for _, p := range all {
		if p.alive() {
			total += p.cpu()
		}
	}
	return total
}

func selfCPU() time.Duration {
	st, err := readStat(os.Getpid())
	if err != nil {
		return 0
	}
	return time.Duration(st.utime+st.stime) * time.Second / time.Duration(clockTicks())
}
