// Package testconsul runs a real Consul agent for integration tests.
//
// Start launches `consul agent -dev` on loopback only (every listener bound to and advertised
// as 127.0.0.1, DNS and gRPC off, update checks off) with free ports, waits until it has elected
// itself leader, and stops it when the test ends. The agent's output goes to a file in
// t.TempDir() that is printed when the test fails.
//
// The binary is CONSUL_BIN when set, else what scripts/consul.sh (found by walking up from the
// working directory to the repository root) prints. When no binary can be had the test is
// skipped, unless the CI environment variable is set: then it fails.
//
// A dev agent keeps its state in memory, so Restart comes back empty on the same ports: what
// a client sees when a Consul node loses its state, and what heartbeating registrations recover
// from.
package testconsul

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// startTimeout bounds how long one start may take until the agent is leader and answers.
const startTimeout = 60 * time.Second

// Agent is a running (or stopped) Consul dev agent owned by one test.
type Agent struct {
	t       testing.TB
	bin     string
	node    string
	logPath string
	ports   ports
	client  *api.Client

	mu   sync.Mutex
	proc *exec.Cmd
	done chan struct{} // closed when proc has exited
	logf *os.File
}

type ports struct {
	http, serfLAN, serfWAN, server int
}

// Start runs a Consul dev agent for the rest of t. It skips t when no Consul binary is
// available (fails it when CI is set).
func Start(t testing.TB) *Agent {
	t.Helper()
	bin, err := findBinary()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("testconsul: no consul binary (CI is set): %v", err)
		}
		t.Skipf("testconsul: no consul binary, skipping (set CONSUL_BIN or run scripts/consul.sh): %v", err)
	}
	dir := t.TempDir()
	a := &Agent{
		t:       t,
		bin:     bin,
		node:    "testconsul-" + strconv.Itoa(os.Getpid()),
		logPath: filepath.Join(dir, "consul.log"),
	}
	t.Cleanup(func() {
		a.Stop()
		if t.Failed() {
			a.dumpLog()
		}
	})
	// Ports are picked free and released before consul binds them, so another process can
	// take one in between: try again with fresh ports a few times.
	for attempt := 1; ; attempt++ {
		if a.ports, err = freePorts(); err == nil {
			if a.client, err = api.NewClient(&api.Config{Address: a.Addr(), Scheme: "http"}); err != nil {
				t.Fatalf("testconsul: client: %v", err)
			}
			if err = a.start(); err == nil {
				return a
			}
		}
		if attempt == 3 {
			t.Fatalf("testconsul: start: %v", err)
		}
		t.Logf("testconsul: start attempt %d failed, retrying with new ports: %v", attempt, err)
	}
}

// Addr is the agent's HTTP address (127.0.0.1:port).
func (a *Agent) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(a.ports.http)) }

// Client returns an API client for the agent, for tests that act on Consul directly. It may be
// used from any goroutine.
func (a *Agent) Client() *api.Client { return a.client }

// Stop interrupts the agent and waits for it to exit (killing it after 15s). It is safe to call
// more than once and on a stopped agent.
func (a *Agent) Stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopLocked()
}

// Restart stops the agent and starts it again on the same ports with the same node name. The
// dev agent comes back with empty state. It fails the test that started the agent, so call it
// from that test's goroutine.
func (a *Agent) Restart() {
	a.t.Helper()
	a.Stop()
	var err error
	// The old listeners are gone once the process exited; retry briefly in case the kernel has
	// not released a port yet.
	for attempt := 1; attempt <= 3; attempt++ {
		if err = a.start(); err == nil {
			return
		}
		a.t.Logf("testconsul: restart attempt %d: %v", attempt, err)
		time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
	}
	a.t.Fatalf("testconsul: restart: %v", err)
}

func (a *Agent) start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.proc != nil {
		return errors.New("already running")
	}
	logf, err := os.OpenFile(a.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "==> testconsul: starting %s (ports %+v)\n", a.bin, a.ports)
	p := a.ports
	cmd := exec.Command(a.bin, "agent", "-dev",
		"-node", a.node,
		"-bind", "127.0.0.1",
		"-client", "127.0.0.1",
		"-advertise", "127.0.0.1",
		"-advertise-wan", "127.0.0.1",
		"-http-port", strconv.Itoa(p.http),
		"-server-port", strconv.Itoa(p.server),
		"-serf-lan-port", strconv.Itoa(p.serfLAN),
		"-serf-wan-port", strconv.Itoa(p.serfWAN),
		"-grpc-port", "-1",
		"-grpc-tls-port", "-1",
		"-dns-port", "-1",
		"-log-level", "warn",
		"-hcl", "disable_update_check = true",
		"-hcl", "disable_anonymous_signature = true",
	)
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	go func() { // owned by the Agent: Stop waits on done
		_ = cmd.Wait()
		close(done)
	}()
	a.proc, a.done, a.logf = cmd, done, logf
	if err := a.waitReady(done); err != nil {
		a.stopLocked()
		return err
	}
	return nil
}

// waitReady polls until the agent answers, has a leader and has registered itself in the catalog.
func (a *Agent) waitReady(exited <-chan struct{}) error {
	c := a.client
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	q := (&api.QueryOptions{}).WithContext(ctx)
	var last error
	for {
		select {
		case <-exited:
			return fmt.Errorf("consul exited before it was ready (see %s): %s", a.logPath, tail(a.logPath, 2048))
		case <-ctx.Done():
			return fmt.Errorf("consul not ready after %s: %v", startTimeout, last)
		case <-time.After(50 * time.Millisecond):
		}
		leader, err := c.Status().LeaderWithQueryOptions(q)
		if err != nil || leader == "" {
			last = fmt.Errorf("leader %q: %v", leader, err)
			continue
		}
		svcs, _, err := c.Catalog().Services(q)
		if err != nil {
			last = err
			continue
		}
		if _, ok := svcs["consul"]; !ok {
			last = errors.New("consul service not in catalog yet")
			continue
		}
		return nil
	}
}

func (a *Agent) stopLocked() {
	if a.proc == nil {
		return
	}
	_ = a.proc.Process.Signal(os.Interrupt)
	select {
	case <-a.done:
	case <-time.After(15 * time.Second):
		_ = a.proc.Process.Kill()
		<-a.done
	}
	a.logf.Close()
	a.proc, a.done, a.logf = nil, nil, nil
}

func (a *Agent) dumpLog() {
	a.t.Logf("testconsul: agent log %s (last 8 KiB):\n%s", a.logPath, tail(a.logPath, 8<<10))
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// freePorts picks four distinct loopback ports that are free for TCP (and UDP, which serf
// also uses) right now.
func freePorts() (ports, error) {
	seen := map[int]bool{}
	pick := func() (int, error) {
		for range 20 {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return 0, err
			}
			port := l.Addr().(*net.TCPAddr).Port
			u, uerr := net.ListenPacket("udp", l.Addr().String())
			l.Close()
			if uerr != nil || seen[port] {
				if u != nil {
					u.Close()
				}
				continue
			}
			u.Close()
			seen[port] = true
			return port, nil
		}
		return 0, errors.New("no free loopback port")
	}
	var p ports
	for _, dst := range []*int{&p.http, &p.serfLAN, &p.serfWAN, &p.server} {
		port, err := pick()
		if err != nil {
			return p, err
		}
		*dst = port
	}
	return p, nil
}

// findBinary returns CONSUL_BIN, or the path scripts/consul.sh prints.
func findBinary() (string, error) {
	if bin := os.Getenv("CONSUL_BIN"); bin != "" {
		if st, err := os.Stat(bin); err != nil || st.IsDir() {
			return "", fmt.Errorf("CONSUL_BIN=%q: not a file", bin)
		}
		return bin, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	script := filepath.Join(root, "scripts", "consul.sh")
	if _, err := os.Stat(script); err != nil {
		return "", err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("bash", script)
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %v: %s", script, err, strings.TrimSpace(stderr.String()))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	bin := strings.TrimSpace(lines[len(lines)-1])
	if bin == "" {
		return "", fmt.Errorf("%s printed no path", script)
	}
	return bin, nil
}

// repoRoot walks up from the working directory to the directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}
