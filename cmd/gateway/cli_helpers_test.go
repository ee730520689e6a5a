package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/edgeapi/gateway/examples/order/ordersrv"
	"github.com/edgeapi/gateway/examples/proto/order"
	"github.com/edgeapi/gateway/examples/proto/user"
	"github.com/edgeapi/gateway/examples/user/usersrv"
	"github.com/edgeapi/gateway/internal/testsvc"
)

// The CLI tests build the real binary once per test run and run it with exec.Command against
// real gRPC servers on loopback (internal/testsvc and the seed's user and order services, served
// in-process), listed in a static registry config written to a temporary file. Outputs that are
// stable are compared with golden files under testdata/cli; `go test ./cmd/gateway -args
// -update` rewrites them.

var update = flag.Bool("update", false, "rewrite the golden files under testdata/cli")

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error

	buildTime time.Duration
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if testing.Verbose() && buildTime > 0 {
		fmt.Printf("gateway binary built in %s\n", buildTime.Round(time.Millisecond))
	}
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// gatewayBinary builds the gateway binary on first use (a t.TempDir would vanish with the first
// test that asked; TestMain removes this directory instead).
func gatewayBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "gateway-cli-test-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "gateway")
		goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goTool); err != nil {
			goTool = "go"
		}
		start := time.Now()
		out, err := exec.Command(goTool, "build", "-o", binPath, ".").CombinedOutput()
		buildTime = time.Since(start)
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// cliResult is one finished run of the binary.
type cliResult struct {
	args           []string
	code           int
	stdout, stderr string
}

func (r cliResult) String() string {
	return fmt.Sprintf("gateway %s\nexit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// errorBody decodes stderr as the gateway's JSON error body.
func (r cliResult) errorBody(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stderr), &m); err != nil {
		t.Fatalf("stderr is not a JSON error body: %v\n%s", err, r)
	}
	return m
}

// runIn runs the binary in dir with stdin and a clean environment (no GATEWAY_* variables).
func runIn(t testing.TB, dir, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, gatewayBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{args: args, stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running gateway %v: %v", args, err)
	}
	return res
}

// cliFixture is a set of real services and a config file listing them.
type cliFixture struct {
	dir    string // working directory of the runs
	config string // the config file
	yaml   string
	echo   *testsvc.Server
	users  string
	orders string
	names  map[string]string // address -> placeholder, for golden files
}

// newCLIFixture starts testsvc as go.micro.api.echoservice and the seed's user and order
// services, then writes a static registry config listing them, plus extra nodes and YAML.
func newCLIFixture(t *testing.T, extraYAML string, extra ...node) *cliFixture {
	t.Helper()
	echo := testsvc.Start(t, "n1")
	users := startPlainServer(t, func(s *grpc.Server) { user.RegisterUserSrvServer(s, usersrv.New()) })
	conn, err := grpc.NewClient("passthrough:///"+users, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	orders := startPlainServer(t, func(s *grpc.Server) {
		order.RegisterOrderSrvServer(s, ordersrv.New(user.NewUserSrvClient(conn)))
	})
	nodes := append([]node{svc(echoService, echo.Addr), svc(usersrv.Name, users), svc(ordersrv.Name, orders)}, extra...)
	f := &cliFixture{
		dir:    t.TempDir(),
		yaml:   gatewayYAML(extraYAML, nodes...),
		echo:   echo,
		users:  users,
		orders: orders,
		names:  map[string]string{echo.Addr: "<echo>", users: "<users>", orders: "<orders>"},
	}
	f.config = filepath.Join(f.dir, "gateway.yaml")
	if err := os.WriteFile(f.config, []byte(f.yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// run runs `gateway <args[0]> --config <file> <args[1:]...>`.
func (f *cliFixture) run(t testing.TB, stdin string, args ...string) cliResult {
	t.Helper()
	full := append([]string{args[0], "--config", f.config}, args[1:]...)
	res := runIn(t, f.dir, stdin, full...)
	res.args = args // golden files show the command without the temporary config path
	return res
}

var (
	loopbackAddr = regexp.MustCompile(`127\.0\.0\.1:\d+`)
	columnGap    = regexp.MustCompile(`(\S) {2,}`)
)

// normalize replaces addresses with stable names and evens out table spacing (column widths
// follow the addresses' lengths).
func (f *cliFixture) normalize(s string) string {
	for addr, name := range f.names {
		s = strings.ReplaceAll(s, addr, name)
	}
	s = loopbackAddr.ReplaceAllString(s, "127.0.0.1:<port>")
	return columnGap.ReplaceAllString(s, "$1  ")
}

// golden compares a run's transcript, normalized, with testdata/cli/<name>.golden.
func (f *cliFixture) golden(t *testing.T, name string, r cliResult) {
	t.Helper()
	compareGolden(t, name, f.normalize(transcript(r)))
}

// transcript is the command line, exit code and output of a run, as golden files hold them.
func transcript(r cliResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ gateway %s\nexit %d\n", quoteArgs(r.args), r.code)
	if r.stdout != "" {
		fmt.Fprintf(&b, "--- stdout\n%s", r.stdout)
	}
	if r.stderr != "" {
		fmt.Fprintf(&b, "--- stderr\n%s", r.stderr)
	}
	return b.String()
}

// compareGolden compares got with testdata/cli/<name>.golden, or rewrites the file with -update.
func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "cli", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the tests with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (rerun with -update if the change is intended)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func quoteArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \"'{}|<>&;$") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// startHealthServer serves the standard health service reporting st for the whole server.
func startHealthServer(t *testing.T, st healthpb.HealthCheckResponse_ServingStatus) string {
	t.Helper()
	return startPlainServer(t, func(s *grpc.Server) {
		hs := health.NewServer()
		hs.SetServingStatus("", st)
		healthpb.RegisterHealthServer(s, hs)
	})
}
