package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/edgeapi/gateway/bench/benchpb"
	"github.com/edgeapi/gateway/bench/internal/loadgen"
)

type harness struct {
	o                  options
	ps                 *procs
	backend            *proc
	grpcAddr, httpAddr string
}

// target is one thing a scenario sends load to.
type target struct {
	name  string
	proc  *proc // whose CPU and memory are reported; nil: none (the direct client)
	dial  loadgen.Dialer
	check func(ctx context.Context) error // one request with an ordinary client, answer verified
}

// scenario is a set of targets measured side by side; targets[0] is this gateway.
type scenario struct {
	title   string
	unit    string // "req/s", "msg/s", "events/s"
	what    string // one line on what a request is
	cpuNote string
	targets []*target
	results map[string]*targetResult
	rate    float64 // open-loop rate used for latency
}

func (h *harness) startBackend(ctx context.Context) error {
	lines := make(chan string, 1)
	p, err := h.ps.start("backend", false, nil, lines, filepath.Join(h.o.bin, "backend"))
	if err != nil {
		return err
	}
	h.backend = p
	select {
	case line := <-lines:
		var addrs struct{ GRPC, HTTP string }
		if err := json.Unmarshal([]byte(line), &addrs); err != nil || addrs.GRPC == "" {
			return fmt.Errorf("backend said %q (see %s)", line, p.log)
		}
		h.grpcAddr, h.httpAddr = addrs.GRPC, addrs.HTTP
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("backend did not start (see %s)", p.log)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// gatewayConfig is the gateway's YAML for one scenario group: a static registry pointing at the
// backend, descriptors by reflection, access log off (log level warn, like NGINX's access_log
// off), dashboard and OpenAPI off.
func (h *harness) gatewayConfig(port, natsPort int, dir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `server:
  address: 127.0.0.1:%d
log:
  level: warn
resolver:
  type: micro
  namespace: go.micro.api
handler: rpc
registry:
  type: static
  static:
    - name: go.micro.api.bench
      nodes: [{address: %q}]
    - name: go.micro.api.hello
      nodes: [{address: %q}]
    - name: go.micro.api.ws
      nodes: [{address: %q}]
web:
  allowed_origins: ["*"]
dashboard:
  enabled: false
openapi:
  enabled: false
routes:
  - path: /hello
    method: GET
    handler: http
    service: go.micro.api.hello
  - path: /ws
    handler: web
    service: go.micro.api.ws
`, port, h.grpcAddr, h.httpAddr, h.httpAddr)
	if natsPort > 0 {
		fmt.Fprintf(&b, `  - path: /events/*
    handler: event
    strip_prefix: /events
nats:
  embedded:
    host: 127.0.0.1
    port: %d
    store_dir: %q
events:
  max_age: 5m
`, natsPort, filepath.Join(dir, "nats"))
		if h.o.dupWindow != "" {
			fmt.Fprintf(&b, "  duplicate_window: %s\n", h.o.dupWindow)
		}
	}
	return b.String()
}

// startGateway starts the gateway for one scenario group; natsPort > 0 adds the event route
// and the embedded NATS server.
// env is added to the gateway's environment (GATEWAY_* overrides the config's keys).
func (h *harness) startGateway(ctx context.Context, group string, natsPort int, env ...string) (*proc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	dir := filepath.Join(h.o.work, "gateway-"+group)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	cfgPath := filepath.Join(dir, "gateway.yaml")
	if err := os.WriteFile(cfgPath, []byte(h.gatewayConfig(port, natsPort, dir)), 0o644); err != nil {
		return nil, "", err
	}
	debugPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	debug := fmt.Sprintf("127.0.0.1:%d", debugPort)
	// BENCH_DEBUG_ADDR is read by bench/overlay/debug.go.in, which run.sh builds into the binary.
	p, err := h.ps.start("gateway-"+group, false, append([]string{"BENCH_DEBUG_ADDR=" + debug}, env...), nil, filepath.Join(h.o.bin, "gateway"), "serve", "-config", cfgPath)
	if err != nil {
		return nil, "", err
	}
	p.debug = debug
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	err = waitFor(ctx, p, 30*time.Second, func() error { return httpStatus(ctx, "GET", "http://"+addr+"/health/ready", "", nil, 200, nil) })
	return p, addr, err
}

// startHTTPPeer starts a Go peer binary listening on a free port and waits for it to answer.
func (h *harness) startPeer(ctx context.Context, name string, args func(addr string) []string, ready func(addr string) error) (*proc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	debugPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	addr, debug := fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", debugPort)
	p, err := h.ps.start(name, false, nil, nil, filepath.Join(h.o.bin, name), append(args(addr), "-debug", debug)...)
	if err != nil {
		return nil, "", err
	}
	p.debug = debug
	return p, addr, waitFor(ctx, p, 20*time.Second, func() error { return ready(addr) })
}

var client = &http.Client{Timeout: 10 * time.Second}

// httpStatus sends one request with net/http and checks the status; verify, if set, checks the body.
func httpStatus(ctx context.Context, method, url, contentType string, body []byte, want int, verify func([]byte) error) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %.200s", method, url, res.StatusCode, want, b)
	}
	if verify != nil {
		return verify(b)
	}
	return nil
}

// Messages of the rpc scenarios.
func smallMessage() *benchpb.Message {
	return &benchpb.Message{Name: "bench", Count: 7, Tags: []string{"a", "b"}}
}

// largeMessage is about 4 KiB as JSON: 29 items with mixed scalar fields, labels and a map.
func largeMessage() *benchpb.Message {
	m := &benchpb.Message{Name: "bench-4k", Count: 29, Tags: []string{"catalog", "page-1", "eu"}}
	for i := range 29 {
		m.Items = append(m.Items, &benchpb.Item{
			Id: int64(100000 + i), Name: fmt.Sprintf("item number %d", i), Price: 19.99 + float64(i),
			Qty: int32(i % 5), Available: i%3 != 0, Labels: []string{"new", "sale"},
			Attrs: map[string]string{"color": "blue", "size": strconv.Itoa(36 + i%8)},
		})
	}
	return m
}

func (h *harness) rpcScenarios(ctx context.Context) ([]*scenario, error) {
	gw, gwAddr, err := h.startGateway(ctx, "rpc", 0)
	if err != nil {
		return nil, err
	}
	defer gw.stop()
	ggw, ggwAddr, err := h.startPeer(ctx, "grpcgw",
		func(addr string) []string { return []string{"-listen", addr, "-backend", h.grpcAddr} },
		func(addr string) error {
			return httpStatus(ctx, "POST", "http://"+addr+"/bench/Bench/Echo", "application/json", []byte(`{}`), 200, nil)
		})
	if err != nil {
		return nil, err
	}
	defer ggw.stop()
	cc, err := grpc.NewClient("passthrough:///"+h.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	direct := benchpb.NewBenchClient(cc)

	var out []*scenario
	for _, size := range []struct {
		title string
		msg   *benchpb.Message
	}{{"rpc unary, small JSON body", smallMessage()}, {"rpc unary, ~4 KiB message", largeMessage()}} {
		body, err := protojson.Marshal(size.msg)
		if err != nil {
			return nil, err
		}
		msg := size.msg
		verify := func(b []byte) error {
			var got benchpb.Message
			if err := protojson.Unmarshal(b, &got); err != nil {
				return fmt.Errorf("answer is not a bench.v1.Message: %v: %.200s", err, b)
			}
			if !proto.Equal(&got, msg) {
				return fmt.Errorf("echo differs: %.200s", b)
			}
			return nil
		}
		post := func(addr string) (loadgen.Dialer, func(context.Context) error) {
			lg := &loadgen.HTTP{Addr: addr, WantStatus: 200,
				Request: loadgen.NewRequest("POST", addr, "/bench/Bench/Echo", map[string]string{"Content-Type": "application/json"}, body)}
			return lg.Dial, func(ctx context.Context) error {
				return httpStatus(ctx, "POST", "http://"+addr+"/bench/Bench/Echo", "application/json", body, 200, verify)
			}
		}
		sc := &scenario{
			title: size.title, unit: "req/s",
			what: fmt.Sprintf("POST /bench/Bench/Echo with a %d-byte JSON body, echoed back (bench.v1.Bench/Echo); direct: the generated Go client, same message, %d-byte protobuf",
				len(body), proto.Size(msg)),
			cpuNote: "of the gateway / grpc-gateway process",
		}
		gd, gc := post(gwAddr)
		sc.targets = append(sc.targets, &target{name: "gateway", proc: gw, dial: gd, check: gc})
		pd, pc := post(ggwAddr)
		sc.targets = append(sc.targets, &target{name: "grpc-gateway", proc: ggw, dial: pd, check: pc})
		g := &loadgen.GRPC{Clients: []benchpb.BenchClient{direct}, Msg: msg}
		sc.targets = append(sc.targets, &target{name: "direct gRPC", dial: g.Dial, check: func(ctx context.Context) error {
			got, err := direct.Echo(ctx, msg)
			if err == nil && !proto.Equal(got, msg) {
				err = fmt.Errorf("echo differs")
			}
			return err
		}})
		if err := h.measure(ctx, sc); err != nil {
			return out, err
		}
		out = append(out, sc)
	}
	return out, nil
}

func (h *harness) httpScenario(ctx context.Context) ([]*scenario, error) {
	gw, gwAddr, err := h.startGateway(ctx, "http", 0)
	if err != nil {
		return nil, err
	}
	defer gw.stop()
	// The same gateway on net/http's server: what h1server (server.engine gateway) is worth.
	gws, gwsAddr, err := h.startGateway(ctx, "http-stdlib", 0, "GATEWAY_SERVER_ENGINE=stdlib")
	if err != nil {
		return nil, err
	}
	defer gws.stop()
	helloOK := func(addr string) error {
		return httpStatus(ctx, "GET", "http://"+addr+"/hello", "", nil, 200, func(b []byte) error {
			if !bytes.Contains(b, []byte(`"hello"`)) {
				return fmt.Errorf("unexpected body %.200s", b)
			}
			return nil
		})
	}
	rp, rpAddr, err := h.startPeer(ctx, "rproxy",
		func(addr string) []string { return []string{"-listen", addr, "-backend", "http://" + h.httpAddr} }, helloOK)
	if err != nil {
		return nil, err
	}
	defer rp.stop()
	fl, flAddr, err := h.startPeer(ctx, "floor",
		func(addr string) []string { return []string{"-listen", addr, "-backend", h.httpAddr} }, helloOK)
	if err != nil {
		return nil, err
	}
	defer fl.stop()
	// An epoll event loop in Go, NGINX's I/O model: how much of the gap to NGINX is the model.
	ev, evAddr, err := h.startPeer(ctx, "evloop",
		func(addr string) []string { return []string{"-listen", addr, "-backend", h.httpAddr} }, helloOK)
	if err != nil {
		return nil, err
	}
	defer ev.stop()

	sc := &scenario{title: "http proxy", unit: "req/s",
		what:    "GET /hello, a 47-byte JSON answer with Content-Length, over keep-alive connections",
		cpuNote: "of the proxy process (NGINX: master and workers)"}
	add := func(name string, p *proc, addr string) {
		lg := &loadgen.HTTP{Addr: addr, WantStatus: 200, Request: loadgen.NewRequest("GET", addr, "/hello", nil, nil)}
		sc.targets = append(sc.targets, &target{name: name, proc: p, dial: lg.Dial, check: func(context.Context) error { return helloOK(addr) }})
	}
	add("gateway", gw, gwAddr)
	if h.o.nginx != "" {
		ng, ngAddr, err := h.startNGINX(ctx, helloOK)
		if err != nil {
			return nil, err
		}
		defer ng.stop()
		add("NGINX", ng, ngAddr)
	} else {
		log.Printf("http: no nginx binary, NGINX peer skipped")
	}
	add("gateway, engine stdlib", gws, gwsAddr)
	add("httputil.ReverseProxy", rp, rpAddr)
	add("floor: net/http server + h1client", fl, flAddr)
	add("stick: epoll event loop in Go", ev, evAddr)
	add("direct", nil, h.httpAddr)
	if err := h.measure(ctx, sc); err != nil {
		return nil, err
	}
	return []*scenario{sc}, nil
}

// startNGINX runs NGINX in the foreground with a generated config in its own prefix directory:
// upstream keep-alive 64, HTTP/1.1 to the backend, access log off, one worker per core.
func (h *harness) startNGINX(ctx context.Context, ready func(string) error) (*proc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	prefix := filepath.Join(h.o.work, "nginx")
	if err := os.MkdirAll(filepath.Join(prefix, "tmp"), 0o755); err != nil {
		return nil, "", err
	}
	_ = os.Chmod(h.o.work, 0o755) // workers may run as another user when started by root
	conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes auto;
error_log stderr warn;
pid %[1]s/nginx.pid;
events {
    worker_connections 4096;
}
http {
    access_log off;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    upstream backend {
        server %[2]s;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:%[3]d;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`, prefix, h.httpAddr, port)
	confPath := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, "", err
	}
	p, err := h.ps.start("nginx", true, nil, nil, h.o.nginx, "-p", prefix, "-c", confPath, "-e", "stderr")
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	return p, addr, waitFor(ctx, p, 20*time.Second, func() error { return ready(addr) })
}

func (h *harness) wsScenario(ctx context.Context) ([]*scenario, error) {
	gw, gwAddr, err := h.startGateway(ctx, "ws", 0)
	if err != nil {
		return nil, err
	}
	defer gw.stop()
	msg := []byte(`{"name":"bench","count":7,"tags":["a","b"]}`)
	sc := &scenario{title: "WebSocket echo", unit: "msg/s",
		what:    fmt.Sprintf("one %d-byte text message, then wait for its echo, per connection (round trip)", len(msg)),
		cpuNote: "of the gateway process"}
	for _, t := range []struct {
		name, addr string
		p          *proc
	}{{"gateway", gwAddr, gw}, {"direct", h.httpAddr, nil}} {
		ws := &loadgen.WebSocket{URL: "ws://" + t.addr + "/ws", Msg: msg}
		sc.targets = append(sc.targets, &target{name: t.name, proc: t.p, dial: ws.Dial, check: func(ctx context.Context) error {
			c, res, err := websocket.DefaultDialer.DialContext(ctx, ws.URL, nil)
			if res != nil && res.Body != nil {
				_ = res.Body.Close()
			}
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
				return err
			}
			_, got, err := c.ReadMessage()
			if err == nil && !bytes.Equal(got, msg) {
				err = fmt.Errorf("echo differs: %q", got)
			}
			return err
		}})
	}
	if err := h.measure(ctx, sc); err != nil {
		return nil, err
	}
	return []*scenario{sc}, nil
}

func (h *harness) eventsScenario(ctx context.Context) ([]*scenario, error) {
	natsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	gw, gwAddr, err := h.startGateway(ctx, "events", natsPort)
	if err != nil {
		return nil, err
	}
	defer gw.stop()
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", natsPort))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	body := []byte(`{"name":"bench","count":7,"tags":["a","b"]}`)
	sc := &scenario{title: "events published with acknowledgement", unit: "events/s",
		what: fmt.Sprintf("gateway: POST /events/bench/tick with a %d-byte JSON body -> CloudEvent on go.micro.api.bench, 202 after the JetStream ack; "+
			"direct: JetStream publish of the same body to the same stream, waiting for the ack (nats.go, one connection). "+
			"Neither carries a deduplication id (the bench client sends no Ce-Id)", len(body)),
		cpuNote: "of the gateway process, which hosts the embedded NATS server in both rows"}
	lg := &loadgen.HTTP{Addr: gwAddr, WantStatus: 202,
		Request: loadgen.NewRequest("POST", gwAddr, "/events/bench/tick", map[string]string{"Content-Type": "application/json"}, body)}
	sc.targets = append(sc.targets, &target{name: "gateway", proc: gw, dial: lg.Dial, check: func(ctx context.Context) error {
		return httpStatus(ctx, "POST", "http://"+gwAddr+"/events/bench/tick", "application/json", body, 202, func(b []byte) error {
			if !bytes.Contains(b, []byte(`"id"`)) {
				return fmt.Errorf("no event id in %.200s", b)
			}
			return nil
		})
	}})
	direct := &loadgen.JetStream{JS: js, Subject: "go.micro.api.bench", Data: body}
	sc.targets = append(sc.targets, &target{name: "direct JetStream", proc: gw, dial: direct.Dial, check: func(ctx context.Context) error {
		c, err := direct.Dial(ctx)
		if err != nil {
			return err
		}
		return c.Do(ctx)
	}})
	if err := h.measure(ctx, sc); err != nil {
		return nil, err
	}
	return []*scenario{sc}, nil
}

// registryScale runs cmd/regscale and returns its JSON.
func (h *harness) registryScale(ctx context.Context) (map[string]any, error) {
	p, err := h.ps.start("regscale", false, nil, nil, filepath.Join(h.o.bin, "regscale"))
	if err != nil {
		return nil, err
	}
	select {
	case <-p.exited:
	case <-time.After(5 * time.Minute):
		p.stop()
		return nil, fmt.Errorf("regscale did not finish")
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
	b, err := os.ReadFile(p.log)
	if err != nil {
		return nil, err
	}
	// The log holds stdout and stderr; the JSON object starts at the first '{'.
	i := bytes.IndexByte(b, '{')
	if i < 0 || p.cmd.ProcessState.ExitCode() != 0 {
		return nil, fmt.Errorf("regscale failed: %s", b)
	}
	var out map[string]any
	if err := json.Unmarshal(b[i:], &out); err != nil {
		return nil, fmt.Errorf("regscale output: %v: %s", err, b)
	}
	return out, nil
}
