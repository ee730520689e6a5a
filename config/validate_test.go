package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	route := func(r Route) func(*Config) { return func(c *Config) { c.Routes = append(c.Routes, r) } }
	rpcRoute := Route{Path: "/o", Service: "orders", Endpoint: "Orders.Get"}
	tests := []struct {
		name    string
		mutate  func(*Config)
		key     string // "" means valid
		message string // substring of that key's error
	}{
		{"defaults", func(*Config) {}, "", ""},
		{"duplicate window zero", func(c *Config) { c.Events.DuplicateWindow = 0 }, "events.duplicate_window", "must be positive"},
		{"duplicate window over max age", func(c *Config) {
			c.Events.MaxAge, c.Events.DuplicateWindow = Duration(time.Minute), Duration(2*time.Minute)
		}, "events.duplicate_window", "must not exceed events.max_age"},
		{"retry attempts zero", func(c *Config) { c.Retry.Attempts = 0 }, "retry.attempts", "between 1 and 10"},
		{"retry attempts 11", func(c *Config) { c.Retry.Attempts = 11 }, "retry.attempts", "between 1 and 10"},
		{"retry budget zero", func(c *Config) { c.Retry.BudgetPercent = 0 }, "retry.budget_percent", "between 1 and 100"},
		{"retry negative per try", func(c *Config) { c.Retry.PerTryTimeout = -1 }, "retry.per_try_timeout", "must not be negative"},
		{"route retry inherits", route(Route{Path: "/o", Service: "orders", Endpoint: "Orders.Get", Retry: Retry{Attempts: 3}}), "", ""},
		{"route retry attempts", route(Route{Path: "/o", Service: "orders", Endpoint: "Orders.Get", Retry: Retry{Attempts: 12}}), "routes[0].retry.attempts", "between 0 and 10"},
		{"ejection percent", func(c *Config) { c.Selector.Breaker.MaxEjectionPercent = 0 }, "selector.breaker.max_ejection_percent", "between 1 and 100"},
		{"upstream cert without key", func(c *Config) { c.Upstream.TLS.CertFile = "a.pem" }, "upstream.tls.cert_file", "go together"},
		{"address port name", func(c *Config) { c.Server.Address = ":abc" }, "server.address", `server.address ":abc": port "abc" is not a number`},
		{"address no port", func(c *Config) { c.Server.Address = "localhost" }, "server.address", "missing port"},
		{"address empty", func(c *Config) { c.Server.Address = "" }, "server.address", "want host:port"},
		{"address port 0", func(c *Config) { c.Server.Address = "127.0.0.1:0" }, "", ""},
		{"address ipv6", func(c *Config) { c.Server.Address = "[::1]:8080" }, "", ""},
		{"address port too big", func(c *Config) { c.Server.Address = ":65536" }, "server.address", "65535"},
		{"negative duration", func(c *Config) { c.Server.IdleTimeout = -1 }, "server.idle_timeout", "must not be negative"},
		{"zero read header timeout", func(c *Config) { c.Server.ReadHeaderTimeout = 0 }, "", ""},
		{"zero body limit", func(c *Config) { c.Server.BodyLimit = 0 }, "server.body_limit", "must be positive"},
		{"negative header bytes", func(c *Config) { c.Server.MaxHeaderBytes = -1 }, "server.max_header_bytes", "negative"},
		{"unknown server engine", func(c *Config) { c.Server.Engine = "fasthttp" }, "server.engine", "must be one of gateway, stdlib"},
		{"log level", func(c *Config) { c.Log.Level = "verbose" }, "log.level", "must be one of debug, info, warn, error"},
		{"log level case", func(c *Config) { c.Log.Level = "INFO" }, "log.level", "must be one of"},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, "log.format", "must be one of text, json"},
		{"resolver type", func(c *Config) { c.Resolver.Type = "foo" }, "resolver.type", `resolver.type "foo": must be one of micro, path, host, grpc, vpath`},
		{"every resolver", func(c *Config) { c.Resolver.Type = "vpath" }, "", ""},
		{"namespace empty", func(c *Config) { c.Resolver.Namespace = ptr("") }, "", ""},
		{"namespace nil", func(c *Config) { c.Resolver.Namespace = nil }, "", ""},
		{"namespace dots", func(c *Config) { c.Resolver.Namespace = ptr("go..api") }, "resolver.namespace", "empty label"},
		{"namespace slash", func(c *Config) { c.Resolver.Namespace = ptr("go/api") }, "resolver.namespace", "not allowed"},
		{"registry type", func(c *Config) { c.Registry.Type = "etcd" }, "registry.type", "must be one of nats, consul, static, memory"},
		{"static no name", func(c *Config) { c.Registry.Static = []StaticService{{}} }, "registry.static[0].name", "needs a name"},
		{"static duplicate", func(c *Config) { c.Registry.Static = []StaticService{{Name: "a"}, {Name: "a"}} }, "registry.static[1].name", "declared twice"},
		{"static node address", func(c *Config) {
			c.Registry.Static = []StaticService{{Name: "a", Nodes: []StaticNode{{Address: "10.0.0.1"}}}}
		}, "registry.static[0].nodes[0].address", "missing port"},
		{"static node port 0", func(c *Config) {
			c.Registry.Static = []StaticService{{Name: "a", Nodes: []StaticNode{{Address: "h:0"}}}}
		}, "registry.static[0].nodes[0].address", "port 0"},
		{"static duplicate node", func(c *Config) {
			c.Registry.Static = []StaticService{{Name: "a", Nodes: []StaticNode{{Address: "h:1"}, {ID: "h:1", Address: "h:2"}}}}
		}, "registry.static[0].nodes[1].id", "same node id as nodes[0]"},
		{"static endpoint name", func(c *Config) {
			c.Registry.Static = []StaticService{{Name: "a", Endpoints: []StaticEndpoint{{}}}}
		}, "registry.static[0].endpoints[0].name", "needs a name"},
		{"static ok", func(c *Config) {
			c.Registry.Static = []StaticService{{Name: "a", Nodes: []StaticNode{{Address: "h:1"}, {Address: "h:2"}}}}
		}, "", ""},
		{"strategy", func(c *Config) { c.Selector.Strategy = "fastest" }, "selector.strategy", "round_robin, random, least_outstanding"},
		{"breaker failures", func(c *Config) { c.Selector.Breaker.ConsecutiveFailures = 0 }, "selector.breaker.consecutive_failures", "at least 1"},
		{"breaker half open", func(c *Config) { c.Selector.Breaker.HalfOpenRequests = 0 }, "selector.breaker.half_open_requests", "at least 1"},
		{"breaker open timeout", func(c *Config) { c.Selector.Breaker.OpenTimeout = 0 }, "selector.breaker.open_timeout", "positive"},
		{"breaker interval", func(c *Config) { c.Selector.Breaker.Interval = -1 }, "selector.breaker.interval", "negative"},
		{"rpc timeout zero", func(c *Config) { c.RPC.Timeout = 0 }, "rpc.timeout", "positive"},
		{"rpc timeout above max", func(c *Config) { c.RPC.Timeout = Duration(2 * time.Minute) }, "rpc.timeout", `rpc.timeout "2m0s": must not exceed rpc.max_timeout (1m0s)`},
		{"rpc dial timeout", func(c *Config) { c.RPC.DialTimeout = -Duration(time.Second) }, "rpc.dial_timeout", "positive"},
		{"descriptors", func(c *Config) { c.RPC.Services = map[string]RPCService{"a": {Descriptors: "grpcurl"}} }, `rpc.services["a"].descriptors`, "reflection, proto, protoset"},
		{"descriptors default", func(c *Config) { c.RPC.Services = map[string]RPCService{"a": {}} }, "", ""},
		{"proto without files", func(c *Config) { c.RPC.Services = map[string]RPCService{"a": {Descriptors: "proto"}} }, `rpc.services["a"].proto_files`, "at least one file"},
		{"proto with files", func(c *Config) {
			c.RPC.Services = map[string]RPCService{"a": {Descriptors: "proto", ProtoFiles: []string{"a.proto"}}}
		}, "", ""},
		{"protoset without file", func(c *Config) { c.RPC.Services = map[string]RPCService{"a": {Descriptors: "protoset"}} }, `rpc.services["a"].protoset`, "needs a file"},
		{"protoset with reflection", func(c *Config) { c.RPC.Services = map[string]RPCService{"a": {Protoset: "a.pb"}} }, `rpc.services["a"].protoset`, "only read with descriptors: protoset"},
		{"proto files with protoset", func(c *Config) {
			c.RPC.Services = map[string]RPCService{"a": {Descriptors: "protoset", Protoset: "a.pb", ProtoFiles: []string{"a.proto"}}}
		}, `rpc.services["a"].proto_files`, "only read with descriptors: proto"},
		{"service name empty", func(c *Config) { c.RPC.Services = map[string]RPCService{"": {}} }, "rpc.services", "must not be empty"},
		{"forward header", func(c *Config) { c.Headers.Forward = []string{"X-Tenant", "Bad Header"} }, "headers.forward[1]", "not a valid header name"},
		{"handler", func(c *Config) { c.Handler = "grpc" }, "handler", "must be one of rpc, api, http, web, event"},
		{"route ok", route(rpcRoute), "", ""},
		{"route full endpoint", route(Route{Path: "/o", Service: "orders", Endpoint: "order.Orders.Get"}), "", ""},
		{"route path", route(Route{Path: "orders", Service: "orders", Endpoint: "Orders.Get"}), "routes[0].path", `must start with "/"`},
		{"route path empty", route(Route{Service: "orders", Endpoint: "Orders.Get"}), "routes[0].path", `routes[0].path "": must start with "/"`},
		{"route path brace", route(Route{Path: "/o/{id", Service: "orders", Endpoint: "Orders.Get"}), "routes[0].path", "unclosed"},
		{"route path regexp", route(Route{Path: "/o/{id:[0-9]{3}}", Service: "orders", Endpoint: "Orders.Get"}), "", ""},
		{"route wildcard not last", route(Route{Path: "/o/*/x", Handler: "http", Service: "web"}), "routes[0].path", "wildcard"},
		{"route handler", route(Route{Path: "/o", Handler: "soap", Service: "orders"}), "routes[0].handler", "must be one of rpc, api, http, web, event"},
		{"route method", route(Route{Path: "/o", Method: "FETCH", Service: "orders", Endpoint: "Orders.Get"}), "routes[0].method", "must be one of GET"},
		{"rpc route endpoint missing", route(Route{Path: "/o", Service: "orders"}), "routes[0].endpoint", "need an endpoint"},
		{"rpc route endpoint form", route(Route{Path: "/o", Service: "orders", Endpoint: "GetOrder"}), "routes[0].endpoint", `"Service.Method"`},
		{"rpc route endpoint dots", route(Route{Path: "/o", Service: "orders", Endpoint: "Orders..Get"}), "routes[0].endpoint", `"Service.Method"`},
		{"api route service missing", route(Route{Path: "/o", Handler: "api", Endpoint: "Orders.Get"}), "routes[0].service", "api routes need a service"},
		{"http route service missing", route(Route{Path: "/o", Handler: "http"}), "routes[0].service", "http routes need a service"},
		{"event route", route(Route{Path: "/events/*", Handler: "event"}), "", ""},
		{"strip prefix on rpc", route(Route{Path: "/o", Service: "orders", Endpoint: "Orders.Get", StripPrefix: "/o"}), "routes[0].strip_prefix", "only used by http, web and event"},
		{"route negative timeout", route(Route{Path: "/o", Service: "s", Endpoint: "S.M", Timeout: -1}), "routes[0].timeout", "negative"},
		{"route timeout above global max", route(Route{Path: "/o", Service: "s", Endpoint: "S.M", Timeout: Duration(2 * time.Minute)}), "routes[0].timeout", "must not exceed rpc.max_timeout (1m0s)"},
		{"route max below global timeout", route(Route{Path: "/o", Service: "s", Endpoint: "S.M", MaxTimeout: Duration(time.Second)}), "rpc.timeout", "must not exceed routes[0].max_timeout (1s)"},
		{"route long timeout within own max", route(Route{Path: "/o", Service: "s", Endpoint: "S.M", Timeout: Duration(5 * time.Minute), MaxTimeout: Duration(10 * time.Minute)}), "", ""},
		{"route body limit", route(Route{Path: "/o", Service: "s", Endpoint: "S.M", BodyLimit: -1}), "routes[0].body_limit", "negative"},
		{"duplicate route", func(c *Config) {
			c.Routes = []Route{rpcRoute, {Path: "/x", Handler: "event"}, rpcRoute}
		}, "routes[2].path", "same method and path as routes[0]"},
		{"same path other method", func(c *Config) {
			get, post := rpcRoute, rpcRoute
			get.Method, post.Method = "GET", "POST"
			c.Routes = []Route{get, post}
		}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c)
			err := c.Validate()
			if tt.key == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			ke := keyError(t, err, tt.key)
			if !strings.Contains(ke.Error(), tt.message) {
				t.Fatalf("error %q does not contain %q", ke.Error(), tt.message)
			}
			if n := len(keyErrors(err)); n != 1 {
				t.Errorf("%d errors, want 1:\n%v", n, err)
			}
		})
	}
}

func TestValidateReportsAll(t *testing.T) {
	c := Default()
	c.Server.Address = ":abc"
	c.Log.Level = "loud"
	c.Resolver.Type = "foo"
	c.Routes = []Route{{Path: "x", Handler: "rpc"}}
	err := c.Validate()
	for _, key := range []string{"server.address", "log.level", "resolver.type", "routes[0].path", "routes[0].endpoint", "routes[0].service"} {
		keyError(t, err, key)
	}
	var ke *KeyError
	if !errors.As(err, &ke) || ke.Key != "server.address" || ke.Value != ":abc" {
		t.Fatalf("errors.As found %+v, want the server.address error first", ke)
	}
}

func TestKeyErrorFormat(t *testing.T) {
	reason := errors.New("reason")
	tests := []struct {
		err  *KeyError
		want string
	}{
		{&KeyError{Key: "a.b", Err: reason}, "a.b: reason"},
		{&KeyError{Key: "a.b", Value: "", hasValue: true, Err: reason}, `a.b "": reason`},
		{&KeyError{Line: 3, Key: "a.b", Err: reason}, "line 3: a.b: reason"},
		{&KeyError{File: "c.yaml", Line: 3, Key: "a.b", Value: "v", hasValue: true, Err: reason}, `c.yaml:3: a.b "v": reason`},
		{&KeyError{File: "c.yaml", Key: "a.b", Err: reason}, "c.yaml: a.b: reason"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Fatalf("Error() = %q, want %q", got, tt.want)
			}
			if !errors.Is(tt.err, reason) {
				t.Fatal("KeyError does not unwrap to its reason")
			}
		})
	}
}
