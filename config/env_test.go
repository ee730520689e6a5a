package config

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestEnvOverrides(t *testing.T) {
	tests := []struct {
		name  string
		value string
		get   func(Config) any
		want  any
	}{
		{"GATEWAY_SERVER_ADDRESS", ":9999", func(c Config) any { return c.Server.Address }, ":9999"},
		{"GATEWAY_SERVER_BODY_LIMIT", "8MiB", func(c Config) any { return c.Server.BodyLimit }, 8 * MiB},
		{"GATEWAY_SERVER_MAX_HEADER_BYTES", "1000", func(c Config) any { return c.Server.MaxHeaderBytes }, KB},
		{"GATEWAY_SERVER_IDLE_TIMEOUT", "0", func(c Config) any { return c.Server.IdleTimeout }, Duration(0)},
		{"GATEWAY_LOG_LEVEL", "debug", func(c Config) any { return c.Log.Level }, "debug"},
		{"GATEWAY_RESOLVER_TYPE", "grpc", func(c Config) any { return c.Resolver.Type }, "grpc"},
		{"GATEWAY_RESOLVER_NAMESPACE", "acme.api", func(c Config) any { return *c.Resolver.Namespace }, "acme.api"},
		{"GATEWAY_REGISTRY_TYPE", "memory", func(c Config) any { return c.Registry.Type }, "memory"},
		{"GATEWAY_SELECTOR_STRATEGY", "random", func(c Config) any { return c.Selector.Strategy }, "random"},
		{"GATEWAY_SELECTOR_BREAKER_CONSECUTIVE_FAILURES", "3", func(c Config) any { return c.Selector.Breaker.ConsecutiveFailures }, uint32(3)},
		{"GATEWAY_RPC_TIMEOUT", "30s", func(c Config) any { return c.RPC.Timeout }, Duration(30 * time.Second)},
		{"GATEWAY_RPC_USE_PROTO_NAMES", "true", func(c Config) any { return c.RPC.UseProtoNames }, true},
		{"GATEWAY_HANDLER", "http", func(c Config) any { return c.Handler }, "http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load([]string{"-config="}, env(map[string]string{tt.name: tt.value}))
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.get(c); got != tt.want {
				t.Fatalf("%s=%s gave %v, want %v", tt.name, tt.value, got, tt.want)
			}
		})
	}
}

func TestEnvBadValues(t *testing.T) {
	tests := []struct{ name, value, message string }{
		{"GATEWAY_RPC_TIMEOUT", "abc", `invalid duration "abc"`},
		{"GATEWAY_RPC_TIMEOUT", "15", `invalid duration "15"`},
		{"GATEWAY_SERVER_BODY_LIMIT", "4M", `invalid size "4M"`},
		{"GATEWAY_SERVER_BODY_LIMIT", "-1", "negative"},
		{"GATEWAY_SELECTOR_BREAKER_CONSECUTIVE_FAILURES", "-1", `invalid value "-1"`},
		{"GATEWAY_SELECTOR_BREAKER_HALF_OPEN_REQUESTS", "99999999999", `invalid value "99999999999"`},
		{"GATEWAY_RPC_OMIT_ZERO_VALUES", "yes please", `invalid value "yes please": want true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			_, err := Load([]string{"-config="}, env(map[string]string{tt.name: tt.value}))
			ke := keyError(t, err, tt.name)
			if !strings.HasPrefix(ke.Error(), tt.name+": ") || !strings.Contains(ke.Error(), tt.message) {
				t.Fatalf("error %q, want %q naming %s", ke.Error(), tt.message, tt.name)
			}
		})
	}
}

func TestEnvValueValidated(t *testing.T) {
	_, err := Load([]string{"-config="}, env(map[string]string{"GATEWAY_LOG_FORMAT": "xml"}))
	keyError(t, err, "log.format")
}

func TestEnvVars(t *testing.T) {
	names := EnvVars()
	for _, want := range []string{
		"GATEWAY_SERVER_ADDRESS", "GATEWAY_SERVER_READ_HEADER_TIMEOUT", "GATEWAY_SERVER_BODY_LIMIT",
		"GATEWAY_LOG_LEVEL", "GATEWAY_LOG_FORMAT", "GATEWAY_RESOLVER_TYPE", "GATEWAY_RESOLVER_NAMESPACE",
		"GATEWAY_REGISTRY_TYPE", "GATEWAY_SELECTOR_STRATEGY", "GATEWAY_SELECTOR_BREAKER_OPEN_TIMEOUT",
		"GATEWAY_RPC_TIMEOUT", "GATEWAY_RPC_MAX_TIMEOUT", "GATEWAY_RPC_DIAL_TIMEOUT", "GATEWAY_HANDLER",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("EnvVars lacks %s", want)
		}
	}
	for _, not := range []string{"GATEWAY_ROUTES", "GATEWAY_REGISTRY_STATIC", "GATEWAY_RPC_SERVICES", "GATEWAY_HEADERS_FORWARD"} {
		if slices.Contains(names, not) {
			t.Errorf("EnvVars has %s, a list or map", not)
		}
	}
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	if len(slices.Compact(sorted)) != len(names) {
		t.Errorf("EnvVars has duplicates: %v", names)
	}
}

// TestEnvCoversEveryScalar sets every variable to a value of its type and checks that each
// field changed, so that a new scalar key gets its variable without anyone listing it.
func TestEnvCoversEveryScalar(t *testing.T) {
	values := map[reflect.Type]string{
		durationType:               "7s",
		sizeType:                   "7KiB",
		reflect.TypeFor[string]():  "x7",
		reflect.TypeFor[*string](): "x7",
		reflect.TypeFor[bool]():    "true",
		reflect.TypeFor[uint32]():  "7",
		reflect.TypeFor[int]():     "7",
		reflect.TypeFor[int64]():   "7",
		reflect.TypeFor[uint64]():  "7",
	}
	set := map[string]string{}
	c := Default()
	walkEnv(reflect.ValueOf(&c).Elem(), EnvPrefix, func(name string, f reflect.Value) {
		v, ok := values[f.Type()]
		if f.Kind() == reflect.Bool {
			v = strconv.FormatBool(!f.Bool()) // flip whatever the default is
		}
		if !ok {
			t.Fatalf("no test value for %s of type %s", name, f.Type())
		}
		set[name] = v
	})
	before := Default()
	if err := applyEnv(&c, env(set)); err != nil {
		t.Fatal(err)
	}
	walkEnv(reflect.ValueOf(&c).Elem(), EnvPrefix, func(name string, f reflect.Value) {
		old := fieldByEnv(t, reflect.ValueOf(&before).Elem(), name)
		if reflect.DeepEqual(f.Interface(), old.Interface()) {
			t.Errorf("%s=%s left the field at %v", name, set[name], f)
		}
	})
}

func fieldByEnv(t *testing.T, v reflect.Value, name string) reflect.Value {
	t.Helper()
	var out reflect.Value
	walkEnv(v, EnvPrefix, func(n string, f reflect.Value) {
		if n == name {
			out = f
		}
	})
	if !out.IsValid() {
		t.Fatalf("no field for %s", name)
	}
	return out
}
