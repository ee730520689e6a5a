// Package config holds the gateway's configuration: the types, their documented defaults, and
// Load, which reads YAML, applies GATEWAY_* environment overrides and then command-line flags,
// and validates the result.
//
// Contract: a Config returned by Load, LoadFile or Parse is complete (defaults filled in) and
// valid. Unknown YAML keys, malformed durations or sizes and out-of-range values are errors
// whose message names the key and the offending value (and the line, for YAML); every problem
// is reported at once, each as a *KeyError, joined with errors.Join. Durations are Go durations
// ("15s"; a bare 0 is allowed); sizes are byte counts with an optional IEC/SI suffix ("4MiB",
// "64KiB", "1MB", "512"), case-insensitive.
//
// # Sources
//
// Later sources win: Default, then the YAML file (-config, default config.yaml, which may be
// absent), then environment variables, then flags (-address, -log-level, -log-format,
// -registry, -namespace). Keys absent from the YAML keep their defaults; lists and maps given in
// YAML replace the default (empty) ones. An explicit zero is kept where it means something
// (resolver.namespace: "" means no namespace; server.read_header_timeout: 0 means none); a
// route's zero timeout, max_timeout or body_limit means "inherit the global one".
//
// # Environment
//
// Every scalar key (string, bool, integer, duration, size) of a nested mapping can be set by a
// variable named GATEWAY_ followed by its YAML path in upper case, the parts joined by "_":
//
//	server.address                         GATEWAY_SERVER_ADDRESS=:9090
//	server.body_limit                      GATEWAY_SERVER_BODY_LIMIT=8MiB
//	log.level                              GATEWAY_LOG_LEVEL=debug
//	resolver.namespace                     GATEWAY_RESOLVER_NAMESPACE=com.example.api
//	rpc.timeout                            GATEWAY_RPC_TIMEOUT=30s
//	selector.breaker.consecutive_failures  GATEWAY_SELECTOR_BREAKER_CONSECUTIVE_FAILURES=3
//	handler                                GATEWAY_HANDLER=http
//
// EnvVars lists them all. Lists and maps (routes, registry.static, rpc.services,
// headers.forward) have no variables. An empty variable counts as unset, so the environment
// cannot clear a value: set resolver.namespace to "" in YAML or with -namespace= instead. A
// value that does not parse is an error naming the variable and the value.
package config

import "time"

// Config is the whole gateway configuration.
type Config struct {
	Server    Server        `yaml:"server"`
	Log       Log           `yaml:"log"`
	Resolver  Resolver      `yaml:"resolver"`
	Registry  Registry      `yaml:"registry"`
	Selector  Selector      `yaml:"selector"`
	RPC       RPC           `yaml:"rpc"`
	Headers   Headers       `yaml:"headers"`
	NATS      NATS          `yaml:"nats"`
	Events    Events        `yaml:"events"`
	Web       Web           `yaml:"web"`
	Dashboard Dashboard     `yaml:"dashboard"`
	CORS      CORS          `yaml:"cors"`
	Auth      Auth          `yaml:"auth"`
	Limits    Limits        `yaml:"limits"`
	Observe   Observability `yaml:"observability"`
	OpenAPI   OpenAPI       `yaml:"openapi"`
	Retry     Retry         `yaml:"retry"`
	Upstream  Upstream      `yaml:"upstream"`
	Runtime   Runtime       `yaml:"runtime"`
	Routes    []Route       `yaml:"routes"`
	// Handler is the handler for requests no route matches: rpc (default), api, http, web, event.
	Handler string `yaml:"handler"`
}

// Server configures the HTTP listener.
type Server struct {
	Address           string   `yaml:"address"`             // default ":8080"; port 0 picks a free port
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"` // default 10s; 0: none
	IdleTimeout       Duration `yaml:"idle_timeout"`        // default 120s; 0: none
	WriteTimeout      Duration `yaml:"write_timeout"`       // default 60s; 0: none; per write (send_timeout)
	// MaxConns caps the client connections open at once (idle keep-alive and WebSocket ones
	// included); at the cap new ones wait in the listen backlog. Default 0: no cap.
	MaxConns       int  `yaml:"max_conns"`
	MaxHeaderBytes Size `yaml:"max_header_bytes"` // default 64KiB; 0: 1MiB
	// Engine serves cleartext HTTP/1.1: "gateway" (default; the gateway's own server, h1server,
	// cheaper per request) or "stdlib" (net/http's). With TLS, net/http serves (HTTP/2 and 1.1).
	Engine string `yaml:"engine"`
	// UnderscoresInHeaders keeps request headers whose names hold "_"; by default (false) they
	// are dropped at the edge, as NGINX does: CGI-style backends read "_" as "-".
	UnderscoresInHeaders bool     `yaml:"underscores_in_headers"`
	BodyLimit            Size     `yaml:"body_limit"`       // default 4MiB; must be positive
	ShutdownTimeout      Duration `yaml:"shutdown_timeout"` // default 15s: drain bound on SIGTERM
	// TrustedProxies are the CIDRs (or addresses) of load balancers in front of the gateway:
	// only their X-Forwarded-* headers are believed; everyone else's are overwritten.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// DrainDelay: on SIGTERM readiness fails at once, and the gateway keeps serving this long
	// (so load balancers stop sending) before it drains; default 0.
	DrainDelay Duration `yaml:"drain_delay"`
	// TLS serves HTTPS when cert_file and key_file are set.
	TLS TLS `yaml:"tls"`
}

// TLS configures the listener's TLS (1.2 or later).
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile, when set, requires clients to present a certificate signed by it.
	ClientCAFile string `yaml:"client_ca_file"`
}

// Enabled reports whether TLS is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// CORS configures cross-origin requests from browsers.
type CORS struct {
	// AllowedOrigins lists exact origins, or "*" (never with credentials). Empty: CORS off.
	AllowedOrigins   []string `yaml:"allowed_origins"`
	AllowedMethods   []string `yaml:"allowed_methods"` // default GET, POST, PUT, PATCH, DELETE
	AllowedHeaders   []string `yaml:"allowed_headers"` // default Content-Type, Authorization, X-Request-Id
	ExposedHeaders   []string `yaml:"exposed_headers"`
	AllowCredentials bool     `yaml:"allow_credentials"`
	MaxAge           Duration `yaml:"max_age"` // default 10m
}

// Auth holds named authentication policies that routes refer to.
type Auth struct {
	// Default is the policy for requests no route with its own auth matched ("" for none).
	Default string `yaml:"default"`
	// Policies by name.
	Policies map[string]AuthPolicy `yaml:"policies"`
}

// AuthPolicy accepts JWTs, API keys, or both.
type AuthPolicy struct {
	// Optional lets anonymous requests through, but checks credentials that are present.
	Optional bool        `yaml:"optional"`
	JWT      *JWTPolicy  `yaml:"jwt"`
	APIKeys  *APIKeyList `yaml:"api_keys"`
}

// JWTPolicy verifies bearer tokens.
type JWTPolicy struct {
	Algorithms      []string `yaml:"algorithms"` // default: those of the keys
	Issuer          string   `yaml:"issuer"`
	Audience        []string `yaml:"audience"`
	Leeway          Duration `yaml:"leeway"`
	AllowMissingExp bool     `yaml:"allow_missing_exp"`
	ForwardClaims   []string `yaml:"forward_claims"` // as Grpc-Metadata-X-Jwt-<claim>
	Keys            []JWTKey `yaml:"keys"`
	JWKS            *JWKSURL `yaml:"jwks"`
}

// JWTKey is one verification key: exactly one of secret, secret_file, pem, pem_file.
type JWTKey struct {
	ID         string `yaml:"id"`
	Algorithm  string `yaml:"algorithm"`
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	PEM        string `yaml:"pem"`
	PEMFile    string `yaml:"pem_file"`
}

// JWKSURL fetches keys from a JWKS endpoint, cached.
type JWKSURL struct {
	URL                string   `yaml:"url"`
	TTL                Duration `yaml:"ttl"`                  // default 10m
	MinRefreshInterval Duration `yaml:"min_refresh_interval"` // default 30s
	Timeout            Duration `yaml:"timeout"`              // default 5s
	AllowInsecureHTTP  bool     `yaml:"allow_insecure_http"`
}

// APIKeyList accepts API keys stored as SHA-256 hashes (echo -n KEY | sha256sum).
type APIKeyList struct {
	Header string   `yaml:"header"` // default X-API-Key
	Keys   []APIKey `yaml:"keys"`
}

// APIKey is one named key, stored hashed.
type APIKey struct {
	Name   string `yaml:"name"`
	SHA256 string `yaml:"sha256"`
}

// RateLimit is a token bucket per client: Rate requests per second, bursts up to Burst.
type RateLimit struct {
	Rate  float64 `yaml:"rate"` // 0: no limit
	Burst int     `yaml:"burst"`
}

// Limits bound requests per client and in flight.
type Limits struct {
	// RateLimit applies per client to requests without a route limit of their own.
	RateLimit RateLimit `yaml:"rate_limit"`
	// XFFDepth: behind trusted proxies, the client is the address this many hops from the right
	// of X-Forwarded-For (1: the address the nearest proxy saw); default 1.
	XFFDepth int `yaml:"xff_depth"`
	// MaxConcurrent bounds requests in flight per route without a limit of its own (0: none).
	MaxConcurrent int `yaml:"max_concurrent"`
}

// Observability configures metrics and the admin listener.
type Observability struct {
	// Metrics serves Prometheus metrics at MetricsPath on the main listener; default true.
	Metrics     bool   `yaml:"metrics"`
	MetricsPath string `yaml:"metrics_path"` // default /metrics
	// AdminAddress, when set, is a second listener (loopback by convention) serving the metrics
	// and, with Pprof, /debug/pprof.
	AdminAddress string `yaml:"admin_address"`
	Pprof        bool   `yaml:"pprof"`
}

// Log configures slog.
type Log struct {
	Level  string `yaml:"level"`  // debug, info (default), warn, error
	Format string `yaml:"format"` // text (default), json
}

// Resolver configures how paths map to services.
type Resolver struct {
	Type string `yaml:"type"` // micro (default), path, host, grpc, vpath
	// Namespace prefixes every service name; default "go.micro.api". Set to "" explicitly for none.
	Namespace *string `yaml:"namespace"`
}

// Registry configures service discovery.
type Registry struct {
	// Type is nats (default: the embedded NATS server, or nats.url), consul, static or memory
	// (in-process, for tests).
	Type   string          `yaml:"type"`
	Static []StaticService `yaml:"static"`
	NATS   RegistryNATS    `yaml:"nats"`
	Consul Consul          `yaml:"consul"`
}

// RegistryNATS configures the NATS registry (a JetStream KV bucket, a key per node).
type RegistryNATS struct {
	// Bucket is the KV bucket; default "gateway_registry".
	Bucket string `yaml:"bucket"`
	// TTL is how long a node stays without a heartbeat; default 15s.
	TTL Duration `yaml:"ttl"`
}

// Consul configures the Consul registry.
type Consul struct {
	Address    string    `yaml:"address"` // default 127.0.0.1:8500
	Scheme     string    `yaml:"scheme"`  // http or https; default https when tls is set
	Datacenter string    `yaml:"datacenter"`
	Token      string    `yaml:"token"` // ACL token; default CONSUL_HTTP_TOKEN
	TLS        ConsulTLS `yaml:"tls"`
	// TagFilter keeps only instances carrying every tag (and adds them on registration).
	TagFilter []string `yaml:"tag_filter"`
	// TTL of registered nodes' checks; default 15s.
	TTL Duration `yaml:"ttl"`
	// DeregisterAfter removes a node whose check stayed critical this long; default 1m.
	DeregisterAfter Duration `yaml:"deregister_after"`
}

// ConsulTLS configures HTTPS to the Consul agent.
type ConsulTLS struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// NATS configures the NATS connection shared by the nats registry and the event broker.
type NATS struct {
	// URL of an external NATS server or cluster ("nats://a:4222,nats://b:4222"). Empty: the
	// gateway runs an embedded server (below) when the registry or the event handler needs one.
	URL string `yaml:"url"`
	// Embedded configures the embedded server.
	Embedded EmbeddedNATS `yaml:"embedded"`
}

// EmbeddedNATS configures the embedded NATS server (JetStream on disk).
type EmbeddedNATS struct {
	Host     string `yaml:"host"`      // default 127.0.0.1
	Port     int    `yaml:"port"`      // default 4222; -1 picks a free port
	StoreDir string `yaml:"store_dir"` // default data/nats
}

// Events configures the event handler.
type Events struct {
	// Source is the CloudEvents source attribute; default "/gateway".
	Source string `yaml:"source"`
	// Stream is the JetStream stream holding events; default GATEWAY_EVENTS.
	Stream string `yaml:"stream"`
	// AckTimeout bounds waiting for the broker's acknowledgement; default 5s.
	AckTimeout Duration `yaml:"ack_timeout"`
	// MaxAge drops stored events older than this; 0 keeps them.
	MaxAge Duration `yaml:"max_age"`
	// DuplicateWindow is how long JetStream remembers event ids to drop a repeated publish of
	// the same Ce-Id; default 2m. The ids are held in memory: at tens of thousands of events a
	// second a shorter window bounds the broker's memory (and, with the embedded server, the
	// gateway's heap and GC work).
	DuplicateWindow Duration `yaml:"duplicate_window"`
}

// Web configures the web handler's WebSocket proxying.
type Web struct {
	// AllowedOrigins lists the browser origins allowed to open WebSockets ("*" for any);
	// requests without an Origin header (non-browser clients) are allowed.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// ReadLimit caps one WebSocket message; default 1MiB.
	ReadLimit Size `yaml:"read_limit"`
	// IdleTimeout closes a silent session; default 60s.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxConns bounds concurrent WebSocket sessions; default 10000.
	MaxConns int `yaml:"max_conns"`
}

// Dashboard configures the web dashboard the gateway serves.
type Dashboard struct {
	// Enabled serves it; off by default (config.yaml turns it on for local use). It shows every
	// service and can call any endpoint: keep it off, or behind auth, in production.
	Enabled bool `yaml:"enabled"`
	// Prefix is where it is served; default /dashboard.
	Prefix string `yaml:"prefix"`
	// RecentErrors is how many recent gateway errors it keeps; default 100.
	RecentErrors int `yaml:"recent_errors"`
}

// OpenAPI configures the live OpenAPI 3.1 document.
type OpenAPI struct {
	// Enabled serves it; default true.
	Enabled bool `yaml:"enabled"`
	// Path of the document for all services; default /openapi.json. Per service:
	// <path without .json>/<service>.json.
	Path string `yaml:"path"`
}

// StaticService is one service declared in config for the static registry.
type StaticService struct {
	Name      string            `yaml:"name"`
	Version   string            `yaml:"version"`
	Metadata  map[string]string `yaml:"metadata"`
	Nodes     []StaticNode      `yaml:"nodes"`
	Endpoints []StaticEndpoint  `yaml:"endpoints"`
}

// StaticNode is one address of a static service.
type StaticNode struct {
	ID       string            `yaml:"id"` // default: the address
	Address  string            `yaml:"address"`
	Metadata map[string]string `yaml:"metadata"`
}

// StaticEndpoint is one endpoint of a static service with routing metadata.
type StaticEndpoint struct {
	Name     string            `yaml:"name"`
	Metadata map[string]string `yaml:"metadata"`
}

// Selector configures node selection and circuit breaking.
type Selector struct {
	Strategy string  `yaml:"strategy"` // round_robin (default), random, least_outstanding
	Breaker  Breaker `yaml:"breaker"`
}

// Breaker configures the per-node circuit breaker.
type Breaker struct {
	// ConsecutiveFailures trips the breaker; default 5, at least 1.
	ConsecutiveFailures uint32 `yaml:"consecutive_failures"`
	// OpenTimeout is how long a tripped breaker stays open before half-open; default 10s,
	// must be positive.
	OpenTimeout Duration `yaml:"open_timeout"`
	// HalfOpenRequests is how many trial requests pass while half-open; default 1, at least 1.
	HalfOpenRequests uint32 `yaml:"half_open_requests"`
	// Interval clears counts while closed; 0 (default) never clears.
	Interval Duration `yaml:"interval"`
	// FailureRatio (0-1), when set, also trips a node whose failures reach this share of at least
	// MinRequests requests counted in the interval.
	FailureRatio float64 `yaml:"failure_ratio"`
	// MinRequests is the sample the ratio needs; default 20.
	MinRequests uint32 `yaml:"min_requests"`
	// Window makes the interval rolling, in buckets of this length (0: fixed interval).
	Window Duration `yaml:"window"`
	// MaxEjectionPercent bounds the share of a service's nodes that open breakers take out of
	// rotation (at least one node, never all of a pool of two or more); past it every node takes
	// traffic again. Default 50.
	MaxEjectionPercent int `yaml:"max_ejection_percent"`
}

// Retry configures retries of failed backend attempts on another node. A request that never
// reached a node (connect failure) always moves to another one, once; Attempts above 1 also
// retries idempotent requests after a node failure (unavailable, reset, per-try timeout), never
// once the answer has started.
type Retry struct {
	// Attempts is how many tries a request may make in all; 1 (default): retries off.
	Attempts int `yaml:"attempts"`
	// PerTryTimeout bounds each try; 0 (default): only the route's timeout.
	PerTryTimeout Duration `yaml:"per_try_timeout"`
	// BudgetPercent caps retries in flight at this share of a route's requests in flight;
	// default 20.
	BudgetPercent int `yaml:"budget_percent"`
	// MinRetries is the budget's floor: this many retries may always run; default 3.
	MinRetries int `yaml:"min_retries"`
}

// Runtime tunes the Go runtime's garbage collector (package gcfloor); GOGC and GOMEMLIMIT in
// the environment win over it.
type Runtime struct {
	// GCMinHeap is the heap size below which no collection starts; default 64MiB, 0: off (plain
	// GOGC). A gateway keeps little alive, so without it the collector runs many times a second
	// under load and its cycles are most of the proxy's tail latency.
	GCMinHeap Size `yaml:"gc_min_heap"`
	// MemoryLimit is the soft memory limit (GOMEMLIMIT); default 0: none.
	MemoryLimit Size `yaml:"memory_limit"`
}

// Upstream configures how the gateway connects to backends.
type Upstream struct {
	TLS UpstreamTLS `yaml:"tls"`
}

// UpstreamTLS configures TLS from the gateway to backends (gRPC, HTTP and WebSocket). A node
// whose registry metadata has tls=true is always dialled with TLS; Enabled dials every node so.
type UpstreamTLS struct {
	// Enabled dials every backend with TLS.
	Enabled bool `yaml:"enabled"`
	// CAFile verifies backends' certificates (PEM); empty: the system's roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the gateway's client certificate, for backends that require one.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name verified in backends' certificates (default: the node's host).
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any certificate: for tests only, never in production.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// RPC configures the rpc handler.
type RPC struct {
	// Timeout is the default per-call deadline; default 15s, positive, at most MaxTimeout.
	Timeout Duration `yaml:"timeout"`
	// MaxTimeout bounds a client's Timeout/Grpc-Timeout header; default 60s.
	MaxTimeout Duration `yaml:"max_timeout"`
	// UseProtoNames writes snake_case field names instead of lowerCamel.
	UseProtoNames bool `yaml:"use_proto_names"`
	// OmitZeroValues drops zero values from JSON answers (they are emitted by default).
	OmitZeroValues bool `yaml:"omit_zero_values"`
	// DialTimeout bounds connecting to a backend; default 3s.
	DialTimeout Duration `yaml:"dial_timeout"`
	// Services chooses the descriptor source per service; services not listed use reflection.
	Services map[string]RPCService `yaml:"services"`
}

// RPCService chooses where a service's descriptors come from.
type RPCService struct {
	// Descriptors is reflection (default), proto or protoset.
	Descriptors string `yaml:"descriptors"`
	// ProtoFiles are compiled at start-up when Descriptors is proto (relative to ImportPaths).
	ProtoFiles []string `yaml:"proto_files"`
	// ImportPaths are the include directories for ProtoFiles.
	ImportPaths []string `yaml:"import_paths"`
	// Protoset is a FileDescriptorSet file (protoc --descriptor_set_out --include_imports).
	Protoset string `yaml:"protoset"`
}

// Headers configures which request headers become gRPC metadata.
type Headers struct {
	// Forward lists extra request headers to pass to backends, beyond Authorization,
	// X-Request-Id and Grpc-Metadata-*.
	Forward []string `yaml:"forward"`
}

// Route maps a path to a handler and a service explicitly.
type Route struct {
	// Path is a chi pattern, e.g. "/orders/{id}" or "/static/*". Method and Path together are
	// unique among routes.
	Path string `yaml:"path"`
	// Method restricts the HTTP method, upper case (empty: any).
	Method string `yaml:"method"`
	// Handler is rpc (default), api, http, web or event.
	Handler string `yaml:"handler"`
	// Service is the full registry name; required for rpc, api, http and web routes.
	Service string `yaml:"service"`
	// Endpoint is "Service.Method" (or "pkg.Service.Method") for rpc and api routes.
	Endpoint string `yaml:"endpoint"`
	// Timeout overrides rpc.timeout for this route (0: inherit).
	Timeout Duration `yaml:"timeout"`
	// MaxTimeout overrides rpc.max_timeout for this route (0: inherit).
	MaxTimeout Duration `yaml:"max_timeout"`
	// BodyLimit overrides server.body_limit for this route (0: inherit).
	BodyLimit Size `yaml:"body_limit"`
	// StripPrefix is removed from the path before forwarding (http, web and event routes).
	StripPrefix string `yaml:"strip_prefix"`
	// Auth names the auth policy for this route ("" : auth.default; "none": no auth).
	Auth string `yaml:"auth"`
	// RateLimit per client for this route (rate 0: limits.rate_limit).
	RateLimit RateLimit `yaml:"rate_limit"`
	// MaxConcurrent bounds this route's requests in flight (0: limits.max_concurrent).
	MaxConcurrent int `yaml:"max_concurrent"`
	// Retry overrides the global retry settings for this route (zero fields inherit); the
	// route gets a retry budget of its own.
	Retry Retry `yaml:"retry"`
}

// Duration is a time.Duration read from a Go duration string.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Size is a byte count read from strings like "4MiB".
type Size int64
