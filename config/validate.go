package config

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgeapi/gateway/trust"
)

// Allowed values of the enumerated keys. This is the one list to extend when a resolver,
// registry, strategy or handler is added; Validate and the flag help read it.
var (
	serverEngines  = []string{"gateway", "stdlib"}
	logLevels      = []string{"debug", "info", "warn", "error"}
	logFormats     = []string{"text", "json"}
	resolverTypes  = []string{"micro", "path", "host", "grpc", "vpath"}
	registryTypes  = []string{"nats", "consul", "static", "memory"}
	strategies     = []string{"round_robin", "random", "least_outstanding"}
	handlers       = []string{"rpc", "api", "http", "web", "event"}
	descriptorSrcs = []string{"reflection", "proto", "protoset"}
	httpMethods    = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE"}
)

// Validate checks every key and returns all problems joined with errors.Join, each a *KeyError
// naming the key and its value, or nil. Empty values that have a documented default (a route's
// handler, a service's descriptors, a nil namespace) are valid.
func (c Config) Validate() error {
	var v validator

	s := c.Server
	if err := checkHostPort(s.Address, false); err != nil {
		v.bad("server.address", s.Address, err.Error())
	}
	v.nonNegative("server.read_header_timeout", s.ReadHeaderTimeout)
	v.nonNegative("server.idle_timeout", s.IdleTimeout)
	v.nonNegative("server.write_timeout", s.WriteTimeout)
	v.nonNegative("server.shutdown_timeout", s.ShutdownTimeout)
	if s.MaxConns < 0 {
		v.bad("server.max_conns", strconv.Itoa(s.MaxConns), "must not be negative (0: no cap)")
	}
	if s.MaxHeaderBytes < 0 {
		v.bad("server.max_header_bytes", s.MaxHeaderBytes.String(), "must not be negative")
	}
	v.oneOf("server.engine", s.Engine, serverEngines)
	if s.BodyLimit <= 0 {
		v.bad("server.body_limit", s.BodyLimit.String(), "must be positive")
	}

	for i, p := range s.TrustedProxies {
		if _, err := trust.Parse([]string{p}); err != nil {
			v.bad("server.trusted_proxies["+strconv.Itoa(i)+"]", p, "not a CIDR or IP address")
		}
	}

	v.oneOf("log.level", c.Log.Level, logLevels)
	v.oneOf("log.format", c.Log.Format, logFormats)

	v.oneOf("resolver.type", c.Resolver.Type, resolverTypes)
	if ns := c.Resolver.Namespace; ns != nil && *ns != "" {
		if err := checkNamespace(*ns); err != nil {
			v.bad("resolver.namespace", *ns, err.Error())
		}
	}

	v.oneOf("registry.type", c.Registry.Type, registryTypes)
	v.static(c.Registry.Static)
	if c.Registry.Type == "nats" {
		v.positive("registry.nats.ttl", c.Registry.NATS.TTL)
		if !isToken(c.Registry.NATS.Bucket) || strings.ContainsAny(c.Registry.NATS.Bucket, ".*>") {
			v.bad("registry.nats.bucket", c.Registry.NATS.Bucket, "must be letters, digits, '-' or '_'")
		}
	}
	if c.Registry.Type == "consul" {
		if err := checkHostPort(c.Registry.Consul.Address, true); err != nil {
			v.bad("registry.consul.address", c.Registry.Consul.Address, err.Error())
		}
		if sc := c.Registry.Consul.Scheme; sc != "" && sc != "http" && sc != "https" {
			v.bad("registry.consul.scheme", sc, "must be http or https")
		}
		if c.Registry.Consul.TTL.D() < time.Second {
			v.bad("registry.consul.ttl", c.Registry.Consul.TTL.String(), "must be at least 1s")
		}
	}
	if c.NATS.URL == "" {
		e := c.NATS.Embedded
		if e.Port < -1 || e.Port > 65535 {
			v.bad("nats.embedded.port", strconv.Itoa(e.Port), "must be a port number, or -1 for any free port")
		}
		if e.StoreDir == "" {
			v.bad("nats.embedded.store_dir", "", "must name a directory")
		}
	}
	if c.Web.ReadLimit <= 0 {
		v.bad("web.read_limit", c.Web.ReadLimit.String(), "must be positive")
	}
	v.positive("web.idle_timeout", c.Web.IdleTimeout)
	if c.Web.MaxConns < 1 {
		v.bad("web.max_conns", strconv.Itoa(c.Web.MaxConns), "must be at least 1")
	}
	if p := c.Dashboard.Prefix; c.Dashboard.Enabled && (!strings.HasPrefix(p, "/") || p == "/" || strings.ContainsAny(p, "{}*. ")) {
		v.bad("dashboard.prefix", p, "must be a plain absolute path such as /dashboard")
	}
	if c.Dashboard.RecentErrors < 0 {
		v.bad("dashboard.recent_errors", strconv.Itoa(c.Dashboard.RecentErrors), "must not be negative")
	}
	if p := c.OpenAPI.Path; c.OpenAPI.Enabled && (!strings.HasPrefix(p, "/") || !strings.HasSuffix(p, ".json") || strings.ContainsAny(p, "{}* ")) {
		v.bad("openapi.path", p, "must be an absolute path ending in .json")
	}
	v.nonNegative("server.drain_delay", s.DrainDelay)
	if t := s.TLS; t.Enabled() && (t.CertFile == "" || t.KeyFile == "") {
		v.bad("server.tls", t.CertFile+" "+t.KeyFile, "cert_file and key_file go together")
	}
	for i, o := range c.CORS.AllowedOrigins {
		if o == "*" && c.CORS.AllowCredentials {
			v.bad("cors.allowed_origins["+strconv.Itoa(i)+"]", o, `"*" cannot be combined with allow_credentials`)
		}
	}
	if d := c.Auth.Default; d != "" && d != "none" {
		if _, ok := c.Auth.Policies[d]; !ok {
			v.bad("auth.default", d, "no such policy in auth.policies")
		}
	}
	for name, p := range c.Auth.Policies {
		if p.JWT == nil && p.APIKeys == nil {
			v.bad("auth.policies."+name, "", "needs jwt or api_keys")
		}
	}
	for i, rt := range c.Routes {
		if rt.Auth != "" && rt.Auth != "none" {
			if _, ok := c.Auth.Policies[rt.Auth]; !ok {
				v.bad("routes["+strconv.Itoa(i)+"].auth", rt.Auth, "no such policy in auth.policies")
			}
		}
		if rt.RateLimit.Rate < 0 || rt.RateLimit.Burst < 0 || rt.MaxConcurrent < 0 {
			v.bad("routes["+strconv.Itoa(i)+"].rate_limit", fmt.Sprint(rt.RateLimit.Rate), "limits must not be negative")
		}
	}
	if l := c.Limits; l.RateLimit.Rate < 0 || l.RateLimit.Burst < 0 || l.MaxConcurrent < 0 || l.XFFDepth < 1 {
		v.bad("limits", fmt.Sprint(l.RateLimit.Rate), "rates, bursts and max_concurrent must not be negative; xff_depth at least 1")
	}
	if p := c.Observe.MetricsPath; c.Observe.Metrics && !strings.HasPrefix(p, "/") {
		v.bad("observability.metrics_path", p, "must start with /")
	}
	if a := c.Observe.AdminAddress; a != "" {
		if err := checkHostPort(a, false); err != nil {
			v.bad("observability.admin_address", a, err.Error())
		}
	}
	v.positive("events.ack_timeout", c.Events.AckTimeout)
	v.nonNegative("events.max_age", c.Events.MaxAge)
	v.positive("events.duplicate_window", c.Events.DuplicateWindow)
	if e := c.Events; e.MaxAge > 0 && e.DuplicateWindow > e.MaxAge {
		v.bad("events.duplicate_window", e.DuplicateWindow.String(), "must not exceed events.max_age ("+e.MaxAge.String()+")")
	}
	if c.Events.Stream == "" || strings.ContainsAny(c.Events.Stream, " .*>") {
		v.bad("events.stream", c.Events.Stream, "must be a JetStream stream name (no spaces, '.', '*' or '>')")
	}

	v.oneOf("selector.strategy", c.Selector.Strategy, strategies)
	b := c.Selector.Breaker
	if b.ConsecutiveFailures < 1 {
		v.bad("selector.breaker.consecutive_failures", "0", "must be at least 1")
	}
	if b.HalfOpenRequests < 1 {
		v.bad("selector.breaker.half_open_requests", "0", "must be at least 1")
	}
	v.positive("selector.breaker.open_timeout", b.OpenTimeout)
	v.nonNegative("selector.breaker.interval", b.Interval)
	if b.FailureRatio < 0 || b.FailureRatio > 1 {
		v.bad("selector.breaker.failure_ratio", fmt.Sprint(b.FailureRatio), "must be between 0 and 1")
	}
	if b.MaxEjectionPercent < 1 || b.MaxEjectionPercent > 100 {
		v.bad("selector.breaker.max_ejection_percent", strconv.Itoa(b.MaxEjectionPercent), "must be between 1 and 100")
	}
	v.retry("retry", c.Retry, true)
	v.upstreamTLS(c.Upstream.TLS)
	if b.Window > 0 && b.Interval <= 0 {
		v.bad("selector.breaker.window", b.Window.String(), "needs selector.breaker.interval (the window's total length)")
	}

	r := c.RPC
	v.positive("rpc.timeout", r.Timeout)
	v.positive("rpc.max_timeout", r.MaxTimeout)
	v.positive("rpc.dial_timeout", r.DialTimeout)
	if r.Timeout > 0 && r.MaxTimeout > 0 && r.Timeout > r.MaxTimeout {
		v.bad("rpc.timeout", r.Timeout.String(), "must not exceed rpc.max_timeout ("+r.MaxTimeout.String()+")")
	}
	v.services(r.Services)

	for i, h := range c.Headers.Forward {
		if !isToken(h) {
			v.bad("headers.forward["+strconv.Itoa(i)+"]", h, "not a valid header name")
		}
	}

	v.oneOf("handler", c.Handler, handlers)
	v.routes(c.Routes, r)

	return errors.Join(v.errs...)
}

type validator struct{ errs []error }

func (v *validator) bad(key, value, reason string) {
	v.errs = append(v.errs, &KeyError{Key: key, Value: value, hasValue: true, Err: errors.New(reason)})
}

// missing reports a key that needs a value and has none.
func (v *validator) missing(key, reason string) {
	v.errs = append(v.errs, &KeyError{Key: key, Err: errors.New(reason)})
}

func (v *validator) oneOf(key, value string, allowed []string) {
	if !slices.Contains(allowed, value) {
		v.bad(key, value, "must be one of "+strings.Join(allowed, ", "))
	}
}

func (v *validator) nonNegative(key string, d Duration) {
	if d < 0 {
		v.bad(key, d.String(), "must not be negative")
	}
}

func (v *validator) positive(key string, d Duration) {
	if d <= 0 {
		v.bad(key, d.String(), "must be positive")
	}
}

func (v *validator) static(services []StaticService) {
	first := map[string]int{}
	for i, s := range services {
		key := "registry.static[" + strconv.Itoa(i) + "]"
		if s.Name == "" {
			v.missing(key+".name", "a static service needs a name")
		} else if j, dup := first[s.Name]; dup {
			v.bad(key+".name", s.Name, fmt.Sprintf("declared twice (also registry.static[%d])", j))
		} else {
			first[s.Name] = i
		}
		ids := map[string]int{}
		for j, n := range s.Nodes {
			nkey := key + ".nodes[" + strconv.Itoa(j) + "]"
			if err := checkHostPort(n.Address, true); err != nil {
				v.bad(nkey+".address", n.Address, err.Error())
			}
			id := n.ID
			if id == "" {
				id = n.Address
			}
			if k, dup := ids[id]; dup && id != "" {
				v.bad(nkey+".id", id, fmt.Sprintf("same node id as nodes[%d] (the id defaults to the address)", k))
			} else {
				ids[id] = j
			}
		}
		for j, e := range s.Endpoints {
			if e.Name == "" {
				v.missing(key+".endpoints["+strconv.Itoa(j)+"].name", "an endpoint needs a name")
			}
		}
	}
}

func (v *validator) services(services map[string]RPCService) {
	names := make([]string, 0, len(services))
	for name := range services {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		s := services[name]
		key := "rpc.services[" + strconv.Quote(name) + "]"
		if name == "" {
			v.missing("rpc.services", "a service name must not be empty")
		}
		src := s.Descriptors
		if src == "" {
			src = "reflection"
		}
		if s.Descriptors != "" {
			v.oneOf(key+".descriptors", s.Descriptors, descriptorSrcs)
		}
		switch {
		case src == "proto" && len(s.ProtoFiles) == 0:
			v.missing(key+".proto_files", "descriptors: proto needs at least one file")
		case src == "protoset" && s.Protoset == "":
			v.missing(key+".protoset", "descriptors: protoset needs a file")
		}
		if src != "proto" && len(s.ProtoFiles) > 0 {
			v.bad(key+".proto_files", strings.Join(s.ProtoFiles, ","), "only read with descriptors: proto")
		}
		if src != "protoset" && s.Protoset != "" {
			v.bad(key+".protoset", s.Protoset, "only read with descriptors: protoset")
		}
	}
}

func (v *validator) routes(routes []Route, rpc RPC) {
	first := map[string]int{}
	for i, rt := range routes {
		key := "routes[" + strconv.Itoa(i) + "]"
		if err := checkPattern(rt.Path); err != nil {
			v.bad(key+".path", rt.Path, err.Error())
		}
		if rt.Method != "" {
			v.oneOf(key+".method", rt.Method, httpMethods)
		}
		if id := rt.Method + " " + rt.Path; rt.Path != "" {
			if j, dup := first[id]; dup {
				v.bad(key+".path", rt.Path, fmt.Sprintf("same method and path as routes[%d]", j))
			} else {
				first[id] = i
			}
		}
		h := rt.Handler
		if h == "" {
			h = "rpc"
		}
		v.oneOf(key+".handler", h, handlers)
		switch h {
		case "rpc", "api":
			if rt.Endpoint == "" {
				v.missing(key+".endpoint", h+" routes need an endpoint \"Service.Method\"")
			} else if !isEndpoint(rt.Endpoint) {
				v.bad(key+".endpoint", rt.Endpoint, "want \"Service.Method\" (or \"pkg.Service.Method\")")
			}
			fallthrough
		case "http", "web":
			if rt.Service == "" {
				v.missing(key+".service", h+" routes need a service")
			}
		}
		if rt.StripPrefix != "" {
			if h != "http" && h != "web" && h != "event" {
				v.bad(key+".strip_prefix", rt.StripPrefix, "only used by http, web and event routes")
			} else if !strings.HasPrefix(rt.StripPrefix, "/") {
				v.bad(key+".strip_prefix", rt.StripPrefix, "must start with \"/\"")
			}
		}
		v.nonNegative(key+".timeout", rt.Timeout)
		v.nonNegative(key+".max_timeout", rt.MaxTimeout)
		v.retry(key+".retry", rt.Retry, false)
		if rt.BodyLimit < 0 {
			v.bad(key+".body_limit", rt.BodyLimit.String(), "must not be negative")
		}
		if rt.Timeout > 0 || rt.MaxTimeout > 0 {
			t, tkey := rt.Timeout, key+".timeout"
			if t == 0 {
				t, tkey = rpc.Timeout, "rpc.timeout"
			}
			m, mkey := rt.MaxTimeout, key+".max_timeout"
			if m == 0 {
				m, mkey = rpc.MaxTimeout, "rpc.max_timeout"
			}
			if t > 0 && m > 0 && t > m {
				v.bad(tkey, t.String(), "must not exceed "+mkey+" ("+m.String()+") for "+key)
			}
		}
	}
}

// checkHostPort accepts "host:port" with a numeric port; a node (dial target) needs a port
// from 1, a listener may use 0 for any free port.
func checkHostPort(addr string, node bool) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		if ae := (*net.AddrError)(nil); errors.As(err, &ae) {
			return fmt.Errorf("want host:port: %s", ae.Err)
		}
		return fmt.Errorf("want host:port: %w", err)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	if node && n == 0 {
		return errors.New("port 0 cannot be dialled")
	}
	return nil
}

// checkNamespace accepts dot-separated labels of [A-Za-z0-9_-], the resolver's service names.
func checkNamespace(ns string) error {
	for label := range strings.SplitSeq(ns, ".") {
		if label == "" {
			return errors.New("empty label: no leading, trailing or double dots")
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
				return fmt.Errorf("character %q not allowed: labels are made of A-Z, a-z, 0-9, _ and -", r)
			}
		}
	}
	return nil
}

// checkPattern catches the route patterns chi would refuse with a panic.
func checkPattern(p string) error {
	if !strings.HasPrefix(p, "/") {
		return errors.New("must start with \"/\"")
	}
	depth := 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '{':
			depth++
		case '}':
			if depth--; depth < 0 {
				return errors.New("unbalanced \"}\"")
			}
		case '*':
			if depth == 0 && i != len(p)-1 {
				return errors.New("wildcard \"*\" must be the last character")
			}
		}
	}
	if depth != 0 {
		return errors.New("unclosed \"{\"")
	}
	return nil
}

// isEndpoint accepts "Service.Method" and "pkg.Service.Method": dot-separated identifiers.
func isEndpoint(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
		for i, r := range p {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || i > 0 && r >= '0' && r <= '9') {
				return false
			}
		}
	}
	return true
}

// isToken reports whether s is an HTTP header name (an RFC 9110 token).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// retry checks a retry block; a route's zero values inherit the global ones.
func (v *validator) retry(key string, r Retry, global bool) {
	least := 0
	if global {
		least = 1
	}
	if r.Attempts < least || r.Attempts > 10 {
		v.bad(key+".attempts", strconv.Itoa(r.Attempts), fmt.Sprintf("must be between %d and 10", least))
	}
	v.nonNegative(key+".per_try_timeout", r.PerTryTimeout)
	if r.BudgetPercent < 0 || r.BudgetPercent > 100 || (global && r.BudgetPercent == 0) {
		v.bad(key+".budget_percent", strconv.Itoa(r.BudgetPercent), fmt.Sprintf("must be between %d and 100", least))
	}
	if r.MinRetries < 0 || (global && r.MinRetries == 0) {
		v.bad(key+".min_retries", strconv.Itoa(r.MinRetries), fmt.Sprintf("must be at least %d", least))
	}
}

// upstreamTLS checks the backend TLS files come in the right combinations.
func (v *validator) upstreamTLS(t UpstreamTLS) {
	if (t.CertFile == "") != (t.KeyFile == "") {
		v.bad("upstream.tls.cert_file", t.CertFile, "cert_file and key_file go together")
	}
}
