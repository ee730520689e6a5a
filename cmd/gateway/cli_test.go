package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/edgeapi/gateway/examples/order/ordersrv"
	"github.com/edgeapi/gateway/examples/user/usersrv"
	"github.com/edgeapi/gateway/internal/testsvc"
)

// TestCLIGolden runs commands whose whole output is stable and compares it with the golden
// files: every exit code, errors with grpc_code, streams, services, describe, help.
func TestCLIGolden(t *testing.T) {
	t.Parallel()
	f := newCLIFixture(t, "")
	cases := []struct {
		name  string
		stdin string
		args  []string
		code  int
	}{
		{"call_order", "", []string{"call", ordersrv.Name, "OrderSrv.GetOrder", `{"id":1}`}, 0},
		{"call_list_orders", "", []string{"call", ordersrv.Name, "OrderSrv.ListOrders", `{"userId":1}`}, 0},
		{"call_not_found", "", []string{"call", ordersrv.Name, "OrderSrv.GetOrder", `{"id":99}`}, 1},
		{"call_invalid_argument", "", []string{"call", usersrv.Name, "UserSrv.GetAccount", `{"id":0}`}, 1},
		{"call_server_stream", "", []string{"call", echoService, "Echo.Count", `{"to":3}`}, 0},
		{"call_server_stream_error", "", []string{"call", echoService, "Echo.Count", `{"to":3,"failAt":3}`}, 1},
		{"call_client_stream", "", []string{"call", echoService, "Echo.Sum", `{"value":1} {"value":"2"}` + "\n" + `{"value":4}`}, 0},
		{"call_bidi_stream", "", []string{"call", echoService, "testsvc.v1.Echo.Chat", `{"text":"hi"}{"text":"there"}`}, 0},
		{"call_unknown_service", "", []string{"call", "go.micro.api.nope", "Nope.Call", `{}`}, 1},
		{"call_unknown_endpoint", "", []string{"call", ordersrv.Name, "OrderSrv.Nope", `{}`}, 1},
		{"call_bad_field", "", []string{"call", ordersrv.Name, "OrderSrv.GetOrder", `{"id":"one"}`}, 1},
		{"call_missing_endpoint", "", []string{"call", ordersrv.Name}, 2},
		{"call_bad_metadata", "", []string{"call", "--metadata", "novalue", ordersrv.Name, "OrderSrv.GetOrder"}, 2},
		{"services", "", []string{"services"}, 0},
		{"services_json", "", []string{"services", "--json"}, 0},
		{"describe_echo", "", []string{"describe", echoService}, 0},
		{"describe_echo_json", "", []string{"describe", "--json", echoService}, 0},
		{"describe_order", "", []string{"describe", ordersrv.Name}, 0},
		{"describe_unknown", "", []string{"describe", "go.micro.api.nope"}, 1},
		{"health_registry", "", []string{"health"}, 0},
		{"call_help", "", []string{"call", "--help"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := f.run(t, tc.stdin, tc.args...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\n%s", r.code, tc.code, r)
			}
			f.golden(t, tc.name, r)
		})
	}
}

// TestCLIHelp: help, a command's --help and `help <command>` print usage and exit 0; an
// unknown command is a usage error.
func TestCLIHelp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := runIn(t, dir, "", "help")
	if r.code != 0 || !strings.Contains(r.stdout, "Commands:") {
		t.Errorf("help: %s", r)
	}
	compareGolden(t, "help", transcript(r))
	for _, cmd := range []string{"call", "services", "describe", "publish", "health"} {
		for _, args := range [][]string{{cmd, "--help"}, {cmd, "-h"}, {"help", cmd}} {
			r := runIn(t, dir, "", args...)
			if r.code != 0 || !strings.HasPrefix(r.stdout, "Usage: gateway "+cmd+" ") || r.stderr != "" {
				t.Errorf("want usage on stdout and exit 0:\n%s", r)
			}
		}
	}
	r = runIn(t, dir, "", "frobnicate")
	if r.code != 2 || !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %s", r)
	}
	r = runIn(t, dir, "", "serve", "--help")
	if r.code != 0 || !strings.Contains(r.stderr, "Usage: gateway serve") {
		t.Errorf("serve --help: %s", r)
	}
}

// TestCLIUsageErrors: every command's usage errors exit 2 with a message naming the command on
// stderr, and nothing on stdout.
func TestCLIUsageErrors(t *testing.T) {
	t.Parallel()
	f := newCLIFixture(t, "")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"call"}, "missing arguments"},
		{[]string{"call", echoService, "Unary"}, "want Service.Method"},
		{[]string{"call", echoService, "Echo.Unary", "{}", "extra"}, `unexpected argument "extra"`},
		{[]string{"call", "--no-such-flag", echoService, "Echo.Unary"}, "flag provided but not defined"},
		{[]string{"call", "--timeout", "soon", echoService, "Echo.Unary"}, "invalid value"},
		{[]string{"call", "--timeout", "-1s", echoService, "Echo.Unary"}, "must not be negative"},
		{[]string{"call", "--metadata", "grpc-timeout=1", echoService, "Echo.Unary"}, "reserved"},
		{[]string{"call", echoService, "Echo.Unary", "@does-not-exist.json"}, "reading the input file"},
		{[]string{"call", "--gateway", "localhost:8080", echoService, "Echo.Unary"}, "want an http:// or https:// URL"},
		{[]string{"call", "--gateway", "http://127.0.0.1:1", "com.example.other", "Other.Call"}, `outside the gateway's namespace "go.micro.api"`},
		{[]string{"call", "--gateway", "http://127.0.0.1:1", echoService, "testsvc.v1.Echo.Unary"}, "use Echo.Unary"},
		{[]string{"services", "extra"}, `unexpected argument "extra"`},
		{[]string{"describe"}, "missing arguments"},
		{[]string{"publish"}, "missing arguments"},
		{[]string{"publish", "a.b", "{}"}, `topic "a.b"`},
		{[]string{"publish", "user", "not json"}, "not valid JSON"},
		{[]string{"publish", "--id", "has space", "user", "{}"}, `-id "has space"`},
		{[]string{"health", "--gateway", "http://127.0.0.1:1", echoService}, "leave the service out"},
		{[]string{"health", "a", "b"}, `unexpected argument "b"`},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			t.Parallel()
			r := f.run(t, "", tc.args...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2\n%s", r.code, r)
			}
			if !strings.HasPrefix(r.stderr, "gateway "+tc.args[0]+": ") || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr does not name the command and say %q:\n%s", tc.want, r)
			}
			if r.stdout != "" {
				t.Errorf("stdout not empty:\n%s", r)
			}
		})
	}
	t.Run("missing config file", func(t *testing.T) {
		r := runIn(t, f.dir, "", "services", "--config", "missing.yaml")
		if r.code != 2 || !strings.Contains(r.stderr, "missing.yaml") {
			t.Errorf("want exit 2 naming the file:\n%s", r)
		}
	})
}

// TestCLICallInput: the request comes from the argument, stdin (no argument or "-") or a file
// ("@file"), and flags may follow the arguments.
func TestCLICallInput(t *testing.T) {
	t.Parallel()
	f := newCLIFixture(t, "")
	file := filepath.Join(f.dir, "req.json")
	if err := os.WriteFile(file, []byte(`{"id": 2}`), 0o600); err != nil {
		t.Fatal(err)
	}
	want := f.run(t, "", "call", usersrv.Name, "UserSrv.GetAccount", `{"id":2}`)
	if want.code != 0 || !strings.Contains(want.stdout, `"username":"jane"`) {
		t.Fatalf("argument: %s", want)
	}
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
	}{
		{"stdin without argument", `{"id":2}`, []string{"call", usersrv.Name, "UserSrv.GetAccount"}},
		{"stdin with -", "{\n  \"id\": 2\n}\n", []string{"call", usersrv.Name, "UserSrv.GetAccount", "-"}},
		{"@file", "", []string{"call", usersrv.Name, "UserSrv.GetAccount", "@" + file}},
		{"flags after the arguments", "", []string{"call", usersrv.Name, "UserSrv.GetAccount", `{"id":2}`, "--timeout", "5s"}},
		{"after --", "", []string{"call", "--", usersrv.Name, "UserSrv.GetAccount", `{"id":2}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.run(t, tc.stdin, tc.args...)
			if r.code != 0 || r.stdout != want.stdout {
				t.Errorf("got\n%s\nwant stdout %s", r, want.stdout)
			}
		})
	}
	t.Run("empty input is an empty request", func(t *testing.T) {
		r := f.run(t, "", "call", usersrv.Name, "UserSrv.GetAccount")
		if r.code != 1 || r.errorBody(t)["grpc_code"] != "InvalidArgument" {
			t.Errorf("want the backend's InvalidArgument for id 0:\n%s", r)
		}
	})
}

// TestCLICallMetadata: --metadata reaches the backend, directly and through a gateway.
func TestCLICallMetadata(t *testing.T) {
	t.Parallel()
	f := newCLIFixture(t, "")
	gw := startGateway(t, f.yaml)
	for _, mode := range [][]string{nil, {"--gateway", gw.url}} {
		t.Run(fmt.Sprintf("gateway=%v", mode != nil), func(t *testing.T) {
			args := append([]string{"call", "--metadata", "x-tenant=acme", "--metadata", "Authorization=Bearer t0k",
				"--metadata", "x-multi=1", "--metadata", "x-multi=2"}, mode...)
			r := f.run(t, "", append(args, echoService, "Echo.Unary", `{"name":"md"}`)...)
			if r.code != 0 {
				t.Fatalf("%s", r)
			}
			var resp struct{ Metadata map[string]string }
			if err := json.Unmarshal([]byte(r.stdout), &resp); err != nil {
				t.Fatalf("%v\n%s", err, r)
			}
			for k, v := range map[string]string{"x-tenant": "acme", "authorization": "Bearer t0k", "x-multi": "1,2"} {
				if resp.Metadata[k] != v {
					t.Errorf("metadata %s = %q, want %q (all: %v)", k, resp.Metadata[k], v, resp.Metadata)
				}
			}
		})
	}
}

// TestCLICallTimeout: --timeout bounds the call, directly and through a gateway (504 with
// grpc_code DeadlineExceeded, exit 1), and the backend sees the deadline.
func TestCLICallTimeout(t *testing.T) {
	t.Parallel()
	f := newCLIFixture(t, "")
	gw := startGateway(t, f.yaml)
	for _, mode := range [][]string{nil, {"--gateway", gw.url}} {
		t.Run(fmt.Sprintf("gateway=%v", mode != nil), func(t *testing.T) {
			gatewayBinary(t) // built before the clock starts
			start := time.Now()
			args := append([]string{"call", "--timeout", "300ms"}, mode...)
			r := f.run(t, "", append(args, echoService, "Echo.Slow", `{"millis":10000}`)...)
			if took := time.Since(start); took > 8*time.Second {
				t.Errorf("the call took %s despite --timeout 300ms", took)
			}
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\n%s", r.code, r)
			}
			body := r.errorBody(t)
			if body["code"] != float64(504) {
				t.Errorf("code %v, want 504\n%s", body["code"], r)
			}
			if mode == nil && body["grpc_code"] != "DeadlineExceeded" {
				t.Errorf("grpc_code %v, want DeadlineExceeded\n%s", body["grpc_code"], r)
			}

			args = append([]string{"call", "--timeout", "3s"}, mode...)
			r = f.run(t, "", append(args, echoService, "Echo.Unary", `{}`)...)
			var resp struct {
				DeadlineMillis int64 `json:"deadlineMillis,string"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &resp); err != nil || r.code != 0 {
				t.Fatalf("%v\n%s", err, r)
			}
			if resp.DeadlineMillis <= 0 || resp.DeadlineMillis > 3000 {
				t.Errorf("the backend saw %dms left, want (0, 3000]", resp.DeadlineMillis)
			}
		})
	}
}

// TestCLICallGateway: through a running gateway the answers are the same as direct calls,
// errors keep their body (grpc_code included) and exit 1, and server streams print one JSON
// per line.
func TestCLICallGateway(t *testing.T) {
	t.Parallel()
	f := newCLIFixture(t, "")
	gw := startGateway(t, f.yaml)
	cases := []struct {
		args []string
		code int
	}{
		{[]string{ordersrv.Name, "OrderSrv.GetOrder", `{"id":1}`}, 0},
		{[]string{ordersrv.Name, "OrderSrv.ListOrders", `{}`}, 0},
		{[]string{ordersrv.Name, "OrderSrv.GetOrder", `{"id":99}`}, 1},
		{[]string{usersrv.Name, "UserSrv.GetAccount", `{"id":-1}`}, 1},
		{[]string{echoService, "Echo.Count", `{"to":4}`}, 0},
		{[]string{"go.micro.api.nope", "Nope.Call", `{}`}, 1},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args[:2], "_"), func(t *testing.T) {
			direct := f.run(t, "", append([]string{"call"}, tc.args...)...)
			via := f.run(t, "", append([]string{"call", "--gateway", gw.url + "/"}, tc.args...)...)
			if direct.code != tc.code || via.code != tc.code {
				t.Fatalf("exit codes %d (direct) and %d (gateway), want %d\n%s\n%s", direct.code, via.code, tc.code, direct, via)
			}
			if via.stdout != direct.stdout {
				t.Errorf("stdout differs:\ndirect %s\ngateway %s", direct.stdout, via.stdout)
			}
			if tc.code == 0 {
				return
			}
			d, g := direct.errorBody(t), via.errorBody(t)
			for _, k := range []string{"code", "status", "grpc_code", "detail"} {
				if fmt.Sprint(d[k]) != fmt.Sprint(g[k]) {
					t.Errorf("%s: %v (direct) vs %v (gateway)", k, d[k], g[k])
				}
			}
		})
	}
	t.Run("stream error after messages", func(t *testing.T) {
		r := f.run(t, "", "call", "--gateway", gw.url, echoService, "Echo.Count", `{"to":3,"failAt":3}`)
		if r.code != 1 || r.stdout != "{\"n\":1}\n{\"n\":2}\n" || r.errorBody(t)["grpc_code"] != "FailedPrecondition" {
			t.Errorf("want two messages, then the error and exit 1:\n%s", r)
		}
	})
	t.Run("gateway unreachable", func(t *testing.T) {
		r := f.run(t, "", "call", "--gateway", "http://"+testsvc.UnusedAddr(t), echoService, "Echo.Unary", `{}`)
		if body := r.errorBody(t); r.code != 1 || body["code"] != float64(502) || body["id"] != "gateway" {
			t.Errorf("want exit 1 with a 502 from the gateway id:\n%s", r)
		}
	})
}

// TestCLIHealth: the gRPC health check on every node of a service, the registry without a
// service, and a running gateway's readiness.
func TestCLIHealth(t *testing.T) {
	t.Parallel()
	serving := startHealthServer(t, healthpb.HealthCheckResponse_SERVING)
	notServing := startHealthServer(t, healthpb.HealthCheckResponse_NOT_SERVING)
	unused := testsvc.UnusedAddr(t)
	f := newCLIFixture(t, "",
		svc("go.micro.api.mixed", serving, unused),
		svc("go.micro.api.healthy", serving),
		svc("go.micro.api.sick", notServing))
	f.names[serving], f.names[notServing], f.names[unused] = "<serving>", "<not-serving>", "<unused>"

	r := f.run(t, "", "health", "go.micro.api.mixed")
	if r.code != 1 {
		t.Errorf("one node unreachable: exit %d, want 1\n%s", r.code, r)
	}
	f.golden(t, "health_mixed", r)

	r = f.run(t, "", "health", "--json", "go.micro.api.mixed")
	var nodes []nodeHealth
	if err := json.Unmarshal([]byte(r.stdout), &nodes); err != nil || r.code != 1 || len(nodes) != 2 {
		t.Fatalf("--json: %v\n%s", err, r)
	}
	if nodes[0].Status != "SERVING" || nodes[1].Status != "unreachable" || nodes[1].Address != unused {
		t.Errorf("--json: %+v", nodes)
	}

	for _, tc := range []struct {
		service, status string
		code            int
	}{
		{"go.micro.api.healthy", "SERVING", 0},
		{"go.micro.api.sick", "NOT_SERVING", 1},
		{echoService, "error", 1}, // testsvc serves no health service
	} {
		r := f.run(t, "", "health", tc.service)
		if r.code != tc.code || !strings.Contains(r.stdout, tc.status) {
			t.Errorf("%s: want %s and exit %d\n%s", tc.service, tc.status, tc.code, r)
		}
	}
	r = f.run(t, "", "health", "--grpc-service", "no.such.Service", "go.micro.api.healthy")
	if r.code != 1 || !strings.Contains(r.stdout, "SERVICE_UNKNOWN") {
		t.Errorf("--grpc-service unknown: %s", r)
	}
	r = f.run(t, "", "health", "go.micro.api.nope")
	if r.code != 1 || r.errorBody(t)["code"] != float64(404) {
		t.Errorf("unknown service: %s", r)
	}

	gw := startGateway(t, f.yaml)
	r = f.run(t, "", "health", "--gateway", gw.url)
	if r.code != 0 || !reflect.DeepEqual(decodeJSON(t, r.stdout), map[string]any{"status": "ok", "detail": "ready"}) {
		t.Errorf("--gateway: %s", r)
	}
	r = f.run(t, "", "health", "--gateway", "http://"+unused)
	if r.code != 1 || r.errorBody(t)["code"] != float64(502) {
		t.Errorf("--gateway unreachable: %s", r)
	}
}

// TestCLIRegistryUnreachable: a registry that cannot be reached fails every command that needs
// it with exit 1 and a 503 error body.
func TestCLIRegistryUnreachable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gateway.yaml")
	yaml := fmt.Sprintf("registry:\n  type: nats\nnats:\n  url: nats://%s\n", testsvc.UnusedAddr(t))
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"services", "--config", cfg},
		{"health", "--config", cfg},
		{"describe", "--config", cfg, echoService},
		{"call", "--config", cfg, echoService, "Echo.Unary", "{}"},
		{"publish", "--config", cfg, "user", "{}"},
	} {
		r := runIn(t, dir, "", args...)
		if r.code != 1 || r.errorBody(t)["code"] != float64(503) || r.stdout != "" {
			t.Errorf("want exit 1 with a 503 body:\n%s", r)
		}
	}
}

// TestCLIDefaultConfig: without --config the CLI reads config.yaml in the working directory,
// as serve does.
func TestCLIDefaultConfig(t *testing.T) {
	t.Parallel()
	f := newCLIFixture(t, "")
	if err := os.WriteFile(filepath.Join(f.dir, "config.yaml"), []byte(f.yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runIn(t, f.dir, "", "call", ordersrv.Name, "OrderSrv.GetOrder", `{"id":3}`)
	if r.code != 0 || !strings.Contains(r.stdout, `"product":"Milk frother"`) {
		t.Errorf("%s", r)
	}
}

// TestCLIUseProtoNames: the configured JSON naming applies to answers and to describe.
func TestCLIUseProtoNames(t *testing.T) {
	t.Parallel()
	f := newCLIFixture(t, "rpc:\n  use_proto_names: true\n  omit_zero_values: true\n")
	r := f.run(t, "", "call", ordersrv.Name, "OrderSrv.GetOrder", `{"id":2}`)
	if r.code != 0 || !strings.Contains(r.stdout, `"price_cents":"2400"`) {
		t.Errorf("use_proto_names: %s", r)
	}
	r = f.run(t, "", "call", echoService, "Echo.Count", `{"to":1}`)
	if r.code != 0 || r.stdout != "{\"n\":1}\n" {
		t.Errorf("stream: %s", r)
	}
	r = f.run(t, "", "describe", ordersrv.Name)
	if r.code != 0 || !strings.Contains(r.stdout, "price_cents: int64") {
		t.Errorf("describe: %s", r)
	}
}

// TestCLIAmbiguousEndpoint: where two gRPC services share a short name, describe names the
// endpoints in full, the short form is a 400 naming the candidates, and the full form works.
func TestCLIAmbiguousEndpoint(t *testing.T) {
	t.Parallel()
	v2 := testsvc.Start(t, "v2", testsvc.WithV2())
	f := newCLIFixture(t, "", svc("go.micro.api.echov2", v2.Addr))
	r := f.run(t, "", "describe", "go.micro.api.echov2")
	if r.code != 0 || !strings.Contains(r.stdout, "  testsvc.v1.Echo.Unary  (unary)") || !strings.Contains(r.stdout, "  testsvc.v2.Echo.Unary  (unary)") {
		t.Errorf("describe: %s", r)
	}
	r = f.run(t, "", "call", "go.micro.api.echov2", "Echo.Unary", `{"text":"x"}`)
	if body := r.errorBody(t); r.code != 1 || body["code"] != float64(400) || !strings.Contains(fmt.Sprint(body["detail"]), "testsvc.v2.Echo") {
		t.Errorf("short name: %s", r)
	}
	r = f.run(t, "", "call", "go.micro.api.echov2", "testsvc.v2.Echo.Unary", `{"text":"x"}`)
	if r.code != 0 || r.stdout != `{"text":"x","version":"v2"}`+"\n" {
		t.Errorf("full name: %s", r)
	}
}
