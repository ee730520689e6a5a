package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDefault(t *testing.T) {
	d := Default()
	tests := []struct {
		key       string
		got, want any
	}{
		{"server.address", d.Server.Address, ":8080"},
		{"server.read_header_timeout", d.Server.ReadHeaderTimeout, Duration(10 * time.Second)},
		{"server.idle_timeout", d.Server.IdleTimeout, Duration(120 * time.Second)},
		{"server.max_header_bytes", d.Server.MaxHeaderBytes, Size(64 << 10)},
		{"server.body_limit", d.Server.BodyLimit, Size(4 << 20)},
		{"server.shutdown_timeout", d.Server.ShutdownTimeout, Duration(15 * time.Second)},
		{"server.engine", d.Server.Engine, "gateway"},
		{"log.level", d.Log.Level, "info"},
		{"log.format", d.Log.Format, "text"},
		{"resolver.type", d.Resolver.Type, "micro"},
		{"resolver.namespace", d.Resolver.NamespaceOrDefault(), "go.micro.api"},
		{"registry.type", d.Registry.Type, "nats"},
		{"selector.strategy", d.Selector.Strategy, "round_robin"},
		{"selector.breaker.consecutive_failures", d.Selector.Breaker.ConsecutiveFailures, uint32(5)},
		{"selector.breaker.open_timeout", d.Selector.Breaker.OpenTimeout, Duration(10 * time.Second)},
		{"selector.breaker.half_open_requests", d.Selector.Breaker.HalfOpenRequests, uint32(1)},
		{"selector.breaker.interval", d.Selector.Breaker.Interval, Duration(0)},
		{"rpc.timeout", d.RPC.Timeout, Duration(15 * time.Second)},
		{"rpc.max_timeout", d.RPC.MaxTimeout, Duration(60 * time.Second)},
		{"rpc.dial_timeout", d.RPC.DialTimeout, Duration(3 * time.Second)},
		{"handler", d.Handler, "rpc"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("%s = %v, want %v", tt.key, tt.got, tt.want)
			}
		})
	}
	if d.Resolver.Namespace == nil {
		t.Fatal("Default().Resolver.Namespace is nil")
	}
	if err := d.Validate(); err != nil {
		t.Fatalf("Default() is not valid: %v", err)
	}
	*d.Resolver.Namespace = "changed"
	if got := *Default().Resolver.Namespace; got != DefaultNamespace {
		t.Fatalf("changing one Default() changed another: namespace %q", got)
	}
}

func TestParseEmptyIsDefault(t *testing.T) {
	for _, in := range []string{"", "\n", "# nothing\n", "---\n", "~\n", "server:\n"} {
		t.Run(strings.TrimSpace(in), func(t *testing.T) {
			got, err := Parse([]byte(in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, Default()) {
				t.Fatalf("Parse(%q) = %+v, want the defaults", in, got)
			}
		})
	}
}

func TestParseOverridesDefaults(t *testing.T) {
	const in = `
server:
  address: 127.0.0.1:9090
  body_limit: 1MB
  idle_timeout: 0
log: {level: debug, format: json}
resolver:
  type: path
  namespace: com.example
registry:
  type: static
  static:
    - name: com.example.orders
      nodes:
        - address: 10.0.0.1:9000
        - id: b
          address: 10.0.0.2:9000
selector:
  breaker: {consecutive_failures: 3}
rpc:
  timeout: 5s
  use_proto_names: true
  services:
    com.example.orders: {descriptors: protoset, protoset: orders.pb}
    com.example.users: {}
headers:
  forward: [X-Tenant]
routes:
  - path: /orders/{id}
    method: GET
    service: com.example.orders
    endpoint: Orders.Get
    timeout: 2s
  - path: /static/*
    handler: http
    service: com.example.web
    strip_prefix: /static
handler: api
`
	got, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Server.Address = "127.0.0.1:9090"
	want.Server.BodyLimit = MB
	want.Server.IdleTimeout = 0
	want.Log = Log{Level: "debug", Format: "json"}
	want.Resolver = Resolver{Type: "path", Namespace: ptr("com.example")}
	want.Registry.Type = "static"
	want.Registry.Static = []StaticService{{
		Name: "com.example.orders",
		Nodes: []StaticNode{
			{ID: "10.0.0.1:9000", Address: "10.0.0.1:9000"}, // id defaults to the address
			{ID: "b", Address: "10.0.0.2:9000"},
		},
	}}
	want.Selector.Breaker.ConsecutiveFailures = 3
	want.RPC.Timeout = Duration(5 * time.Second)
	want.RPC.UseProtoNames = true
	want.RPC.Services = map[string]RPCService{
		"com.example.orders": {Descriptors: "protoset", Protoset: "orders.pb"},
		"com.example.users":  {Descriptors: "reflection"},
	}
	want.Headers.Forward = []string{"X-Tenant"}
	want.Routes = []Route{
		{Path: "/orders/{id}", Method: "GET", Handler: "rpc", Service: "com.example.orders",
			Endpoint: "Orders.Get", Timeout: Duration(2 * time.Second)},
		{Path: "/static/*", Handler: "http", Service: "com.example.web", StripPrefix: "/static"},
	}
	want.Handler = "api"
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseNamespace(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"absent", "resolver: {type: micro}", DefaultNamespace},
		{"empty string kept", `resolver: {namespace: ""}`, ""},
		{"null means default", "resolver: {namespace: null}", DefaultNamespace},
		{"set", "resolver: {namespace: acme}", "acme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if c.Resolver.Namespace == nil || *c.Resolver.Namespace != tt.want {
				t.Fatalf("namespace = %v, want %q", c.Resolver.Namespace, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		key     string // the *KeyError's Key
		line    int
		message string // substring of the whole error
	}{
		{"unknown top-level key", "server: {}\nlogs: {level: debug}\n", "logs", 2, "unknown key"},
		{"unknown nested key", "server:\n  address: :1\n  adress: :2\n", "server.adress", 3, "known keys of server: address,"},
		{"unknown key in list item", "routes:\n  - path: /a\n    servce: x\n", "routes[0].servce", 3, "unknown key"},
		{"unknown key in map value", "rpc:\n  services:\n    a.b: {descriptor: proto}\n", `rpc.services["a.b"].descriptor`, 3, "unknown key"},
		{"bad duration", "rpc:\n  timeout: 15\n", "rpc.timeout", 2, `invalid duration "15"`},
		{"bad duration word", "server: {idle_timeout: forever}", "server.idle_timeout", 1, `"forever"`},
		{"bad size", "server:\n  body_limit: 4XB\n", "server.body_limit", 2, `unknown unit "XB"`},
		{"negative size", "server:\n  max_header_bytes: -1\n", "server.max_header_bytes", 2, "negative"},
		{"bad integer", "selector:\n  breaker:\n    consecutive_failures: many\n", "selector.breaker.consecutive_failures", 3, `want a whole number from 0 to 4294967295, got "many"`},
		{"integer out of range", "selector: {breaker: {half_open_requests: 5000000000}}", "selector.breaker.half_open_requests", 1, "got number 5000000000"},
		{"bad bool", "rpc: {use_proto_names: maybe}", "rpc.use_proto_names", 1, "want true or false"},
		{"mapping for scalar", "log:\n  level: {x: 1}\n", "log.level", 2, "want a string, got a mapping"},
		{"scalar for mapping", "server: fast\n", "server", 1, "want a mapping"},
		{"scalar for list", "routes: /a\n", "routes", 1, "want a list"},
		{"top level not a mapping", "- a\n", "(top level)", 1, "want a mapping"},
		{"duplicate key", "log:\n  level: info\n  level: debug\n", "log.level", 3, "set twice (first at line 2)"},
		{"unknown key through alias", "routes:\n  - &r {path: /a, servce: x}\n  - *r\n", "routes[0].servce", 2, "unknown key"},
		{"unknown key in merged mapping", "base: &b {adress: x}\nserver:\n  <<: *b\n", "server.adress", 1, "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			ke := keyError(t, err, tt.key)
			if ke.Line != tt.line {
				t.Errorf("line = %d, want %d (%v)", ke.Line, tt.line, ke)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not contain %q", err, tt.message)
			}
		})
	}
}

func TestParseMergedKeysChecked(t *testing.T) {
	const in = "defaults: &d {timeout: 2s}\n"
	if _, err := Parse([]byte(in)); err == nil {
		t.Fatal("top-level key defaults accepted")
	}
	const merged = "rpc:\n  <<: {timeout: 2s, max_timeout: 3s}\n  dial_timeout: 1s\n"
	c, err := Parse([]byte(merged))
	if err != nil {
		t.Fatal(err)
	}
	if c.RPC.Timeout != Duration(2*time.Second) || c.RPC.MaxTimeout != Duration(3*time.Second) {
		t.Fatalf("merge key not applied: %+v", c.RPC)
	}
	const bad = "rpc:\n  <<: {timeout: 2s, max_timeot: 3s}\n"
	_, err = Parse([]byte(bad))
	if ke := keyError(t, err, "rpc.max_timeot"); ke.Line != 2 {
		t.Fatalf("line = %d, want 2", ke.Line)
	}
}

func TestParseReportsAllErrors(t *testing.T) {
	const in = "server:\n  adress: x\n  body_limit: lots\nrpc:\n  timeout: soon\nfoo: 1\n"
	_, err := Parse([]byte(in))
	for _, key := range []string{"server.adress", "server.body_limit", "rpc.timeout", "foo"} {
		keyError(t, err, key)
	}
}

func TestParseSyntaxAndDocuments(t *testing.T) {
	tests := []struct{ name, in, message string }{
		{"syntax", "server:\n  address: [\n", "config: yaml:"},
		{"tab indentation", "server:\n\taddress: :1\n", "config: yaml:"},
		{"two documents", "log: {level: info}\n---\nlog: {level: debug}\n", "found a second"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("Parse = %v, want error containing %q", err, tt.message)
			}
		})
	}
}

func TestParseValidates(t *testing.T) {
	_, err := Parse([]byte("resolver: {type: foo}\n"))
	ke := keyError(t, err, "resolver.type")
	if want := `resolver.type "foo": must be one of micro, path, host, grpc, vpath`; ke.Error() != want {
		t.Fatalf("error = %q, want %q", ke.Error(), want)
	}
}

func TestLoadFile(t *testing.T) {
	p := writeFile(t, "gw.yaml", "log:\n  levl: debug\n")
	_, err := LoadFile(p)
	ke := keyError(t, err, "log.levl")
	if !strings.HasPrefix(ke.Error(), p+":2: log.levl: unknown key") {
		t.Fatalf("error = %q, want it to start with %q", ke.Error(), p+":2: log.levl: unknown key")
	}
	if _, err := LoadFile(p + ".missing"); err == nil {
		t.Fatal("LoadFile of a missing file succeeded")
	}
	p = writeFile(t, "ok.yaml", "log: {level: warn}\n")
	c, err := LoadFile(p)
	if err != nil || c.Log.Level != "warn" {
		t.Fatalf("LoadFile = %+v, %v", c.Log, err)
	}
}

func TestLoadPrecedence(t *testing.T) {
	file := writeFile(t, "gw.yaml", "server: {address: ':1001'}\nlog: {level: warn}\n")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"file beats default", []string{"-config", file}, nil, ":1001"},
		{"env beats file", []string{"-config", file}, map[string]string{"GATEWAY_SERVER_ADDRESS": ":1002"}, ":1002"},
		{"flag beats env", []string{"--config=" + file, "--address", ":1003"}, map[string]string{"GATEWAY_SERVER_ADDRESS": ":1002"}, ":1003"},
		{"flag beats file", []string{"-config", file, "-address=:1003"}, nil, ":1003"},
		{"empty env is unset", []string{"-config", file}, map[string]string{"GATEWAY_SERVER_ADDRESS": ""}, ":1001"},
		{"no file", []string{"-config="}, map[string]string{"GATEWAY_LOG_LEVEL": "error"}, ":8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.args, env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.Server.Address != tt.want {
				t.Fatalf("server.address = %q, want %q", c.Server.Address, tt.want)
			}
		})
	}
}

func TestLoadFlags(t *testing.T) {
	c, err := Load([]string{"-config=", "-address", "127.0.0.1:0", "-log-level", "debug", "-log-format", "json",
		"-registry", "memory", "-namespace", "acme"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Server.Address = "127.0.0.1:0"
	want.Log = Log{Level: "debug", Format: "json"}
	want.Registry.Type = "memory"
	want.Resolver.Namespace = ptr("acme")
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("Load = %+v, want %+v", c, want)
	}
}

func TestLoadNamespaceEmpty(t *testing.T) {
	file := writeFile(t, "gw.yaml", "resolver: {namespace: ''}\n")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"yaml empty kept", []string{"-config", file}, nil, ""},
		{"empty env does not clear", []string{"-config="}, map[string]string{"GATEWAY_RESOLVER_NAMESPACE": ""}, DefaultNamespace},
		{"env sets", []string{"-config", file}, map[string]string{"GATEWAY_RESOLVER_NAMESPACE": "acme"}, "acme"},
		{"flag clears", []string{"-config=", "-namespace="}, map[string]string{"GATEWAY_RESOLVER_NAMESPACE": "acme"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.args, env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.Resolver.Namespace == nil || *c.Resolver.Namespace != tt.want {
				t.Fatalf("namespace = %v, want %q", c.Resolver.Namespace, tt.want)
			}
		})
	}
}

func TestLoadConfigFile(t *testing.T) {
	t.Chdir(t.TempDir())
	// Default file absent, flag not given: defaults.
	c, err := Load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("Load with no file = %+v, want the defaults", c)
	}
	// Named file absent: error.
	if _, err := Load([]string{"-config", "config.yaml"}, nil); err == nil {
		t.Fatal("Load with a missing -config file succeeded")
	}
	// Default file present: read.
	writeIn(t, DefaultFile, "log: {format: json}\n")
	c, err = Load(nil, nil)
	if err != nil || c.Log.Format != "json" {
		t.Fatalf("Load = %+v, %v; want log.format json from %s", c.Log, err, DefaultFile)
	}
	// Default file present but bad: the error names the file, key and line.
	writeIn(t, DefaultFile, "log:\n  format: xml\n  colour: true\n")
	_, err = Load(nil, nil)
	if ke := keyError(t, err, "log.colour"); ke.File != DefaultFile || ke.Line != 3 {
		t.Fatalf("error = %v, want file %s line 3", ke, DefaultFile)
	}
}

func TestLoadArgErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		message string
	}{
		{"unknown flag", []string{"-config=", "-port", "1"}, "-port"},
		{"positional", []string{"-config=", "serve"}, `unexpected argument "serve"`},
		{"missing value", []string{"-address"}, "-address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.args, nil)
			if err == nil || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("Load = %v, want error containing %q", err, tt.message)
			}
		})
	}
	if _, err := Load([]string{"-h"}, nil); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Load(-h) = %v, want flag.ErrHelp", err)
	}
}

func TestLoadValidates(t *testing.T) {
	_, err := Load([]string{"-config=", "-log-level", "loud", "-address", ":abc"}, nil)
	keyError(t, err, "log.level")
	keyError(t, err, "server.address")
}

func TestUsage(t *testing.T) {
	var b bytes.Buffer
	Usage(&b)
	for _, name := range []string{"-config", "-address", "-log-level", "-log-format", "-registry", "-namespace", "static, memory"} {
		if !strings.Contains(b.String(), name) {
			t.Errorf("Usage does not mention %s:\n%s", name, b.String())
		}
	}
}

// TestParseAliasBomb checks that anchors expanding to an exponential tree are refused (or
// walked once per anchor) rather than expanded.
func TestParseAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("x0: &n0 {address: 'h:1'}\n")
	for i := 1; i <= 9; i++ {
		prev := "*n" + strconv.Itoa(i-1)
		fmt.Fprintf(&b, "x%d: &n%d [%s]\n", i, i, strings.Repeat(prev+", ", 9)+prev)
	}
	b.WriteString("registry:\n  static:\n    - name: a\n      nodes: *n9\n")
	_, err := Parse([]byte(b.String()))
	if err == nil {
		t.Fatal("alias bomb accepted")
	}
	keyError(t, err, "x0")
}

func TestParseRecursiveAlias(t *testing.T) {
	for _, in := range []string{"routes: &r [*r]\n", "server: &s {address: *s}\n", "rpc: {services: &m {a: *m}}\n"} {
		t.Run(in, func(t *testing.T) {
			if _, err := Parse([]byte(in)); err == nil {
				t.Fatalf("Parse(%q) succeeded", in)
			}
		})
	}
}
