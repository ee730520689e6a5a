package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/edgeapi/gateway/examples/clock/clocksrv"
	"github.com/edgeapi/gateway/examples/order/ordersrv"
	"github.com/edgeapi/gateway/examples/proto/clock"
	"github.com/edgeapi/gateway/examples/proto/order"
	"github.com/edgeapi/gateway/examples/proto/user"
	"github.com/edgeapi/gateway/examples/user/usersrv"
	"github.com/edgeapi/gateway/internal/testwait"
	"github.com/edgeapi/gateway/natsserver"
	regnats "github.com/edgeapi/gateway/registry/nats"
	"github.com/edgeapi/gateway/service"
)

// The dashboard tests run the real gateway with the example services. The browser test drives
// Debian's headless Chromium through the DevTools protocol (chromedp); it is skipped when
// Chromium is missing, except under CI, where scripts/test.sh installs it. With -update (the
// golden-file flag of this package's tests) its screenshots are also written to
// testdata/dashboard/.

// dashSeed serves the example services in-process, registered in the NATS registry the way
// the example programs register themselves, until stopped.
type dashSeed struct {
	natsURL string
	reg     *regnats.Registry
	stops   map[string]func()
}

const dashBucket = "dashboard_test"

func startDashSeed(t *testing.T) *dashSeed {
	t.Helper()
	ctx := context.Background()
	ns, err := natsserver.Start(ctx, natsserver.Config{Port: natsserver.RandomPort, StoreDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	reg, err := regnats.New(ctx, nc, regnats.Config{Bucket: dashBucket, TTL: 15 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &dashSeed{natsURL: ns.ClientURL(), reg: reg, stops: map[string]func(){}}

	users := s.serve(t, usersrv.Name, func(gs *grpc.Server) { user.RegisterUserSrvServer(gs, usersrv.New()) })
	conn, err := grpc.NewClient("passthrough:///"+users, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	s.serve(t, ordersrv.Name, func(gs *grpc.Server) { order.RegisterOrderSrvServer(gs, ordersrv.New(user.NewUserSrvClient(conn))) })
	s.serve(t, clocksrv.Name, func(gs *grpc.Server) { clock.RegisterClockServer(gs, clocksrv.New()) })
	return s
}

// serve runs a service (reflection and health added by package service) registered in the
// registry; stopping it deregisters it. It returns the node's address.
func (s *dashSeed) serve(t *testing.T, name string, register func(*grpc.Server)) string {
	t.Helper()
	gs := grpc.NewServer()
	register(gs)
	srv, err := service.New(service.Options{Server: gs, Name: name, Registrar: s.reg, HeartbeatInterval: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: Serve: %v", name, err)
		}
	}
	s.stops[name] = stop
	t.Cleanup(stop)
	// Registered once the registry lists the node.
	testwait.Until(t, 10*time.Second, name+" registered", func() bool {
		svc, err := s.reg.GetService(context.Background(), name)
		return err == nil && len(svc.Nodes) > 0
	})
	return srv.Addr()
}

func (s *dashSeed) gatewayYAML() string {
	return fmt.Sprintf(`server:
  address: 127.0.0.1:0
  shutdown_timeout: 10s
registry:
  type: nats
  nats:
    bucket: %s
    ttl: 15s
nats:
  url: %s
events:
  stream: DASHBOARD_TEST_EVENTS
dashboard:
  enabled: true
  prefix: /dashboard
  recent_errors: 20
openapi:
  enabled: true
  path: /openapi.json
routes:
  - path: /orders/{id}
    method: GET
    handler: rpc
    service: %s
    endpoint: OrderSrv.GetOrder
  - path: /events/*
    handler: event
    strip_prefix: /events
`, dashBucket, s.natsURL, ordersrv.Name)
}

// dashGet fetches path from the gateway and decodes its JSON answer.
func dashGet(t *testing.T, g *testGateway, path string, v any) {
	t.Helper()
	r := g.call(t, http.MethodGet, path, "")
	if r.code != http.StatusOK {
		t.Fatalf("GET %s: %s", path, r)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, r.body)
	}
}

// waitServices waits until the dashboard lists exactly want among the example services.
func waitServices(t *testing.T, g *testGateway, want ...string) {
	t.Helper()
	testwait.Until(t, 15*time.Second, fmt.Sprintf("dashboard listing %v", want), func() bool {
		var got struct {
			Services []struct{ Name string } `json:"services"`
		}
		dashGet(t, g, "/dashboard/api/services", &got)
		var names []string
		for _, s := range got.Services {
			names = append(names, s.Name)
		}
		return strings.Join(names, ",") == strings.Join(want, ",")
	})
}

// TestDashboardAPI checks the JSON the page reads: services with nodes and breaker states, a
// service's methods with call paths, schemas and templates, and recorded errors with their
// request ids.
func TestDashboardAPI(t *testing.T) {
	seed := startDashSeed(t)
	g := startGateway(t, seed.gatewayYAML())
	waitServices(t, g, clocksrv.Name, ordersrv.Name, usersrv.Name)

	// The page and its files, with a policy that allows nothing from elsewhere.
	r := g.call(t, http.MethodGet, "/dashboard", "")
	if r.code != http.StatusOK || !strings.Contains(string(r.body), `id="services"`) {
		t.Fatalf("GET /dashboard (redirected): %s", r)
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	for _, f := range []string{"app.js", "style.css"} {
		if r := g.call(t, http.MethodGet, "/dashboard/"+f, ""); r.code != http.StatusOK || len(r.body) == 0 {
			t.Errorf("GET /dashboard/%s: %d", f, r.code)
		}
	}
	for _, f := range []string{"index.html", "app.js", "style.css"} {
		b := g.call(t, http.MethodGet, "/dashboard/"+f, "").body
		if bytes.Contains(b, []byte("http://")) || bytes.Contains(b, []byte("https://")) || bytes.Contains(b, []byte("//cdn")) {
			t.Errorf("%s refers to an external URL", f)
		}
	}

	var list struct {
		Version  uint64 `json:"version"`
		Services []struct {
			Name   string `json:"name"`
			Health string `json:"health"`
			Nodes  []struct {
				ID, Address, Breaker string
			} `json:"nodes"`
		} `json:"services"`
	}
	dashGet(t, g, "/dashboard/api/services", &list)
	for _, s := range list.Services {
		if len(s.Nodes) != 1 || s.Nodes[0].Breaker != "closed" || s.Health != "ok" {
			t.Errorf("service %s: %+v", s.Name, s)
		}
	}

	var detail struct {
		Name    string `json:"name"`
		GRPC    bool   `json:"grpc"`
		OpenAPI string `json:"openapi"`
		Routes  []struct{ Source, Method, Path, Handler string }
		Methods []struct {
			Name, GRPCMethod, Path, Streaming string
			Template                          json.RawMessage
			Request                           map[string]any
			Response                          map[string]any
		} `json:"methods"`
	}
	dashGet(t, g, "/dashboard/api/services/"+ordersrv.Name, &detail)
	if !detail.GRPC || len(detail.Methods) != 2 || detail.OpenAPI != "/openapi/"+ordersrv.Name+".json" {
		t.Fatalf("order service detail: %+v", detail)
	}
	get := detail.Methods[0]
	if get.Name != "OrderSrv.GetOrder" || get.Path != "/orderservice/OrderSrv/GetOrder" || get.GRPCMethod != "/order.OrderSrv/GetOrder" || string(get.Template) != `{"id":0}` {
		t.Errorf("GetOrder: %+v", get)
	}
	if ref := get.Request["$ref"]; ref != "#/$defs/order.OrderRequest" || field(get.Response, "$defs", "order.OrderResponse", "properties", "username", "type") != "string" {
		t.Errorf("GetOrder schemas: %v / %v", get.Request, get.Response)
	}
	if len(detail.Routes) != 1 || detail.Routes[0].Path != "/orders/{id}" {
		t.Errorf("routes of the order service: %+v", detail.Routes)
	}
	dashGet(t, g, "/dashboard/api/services/"+clocksrv.Name, &detail)
	for _, m := range detail.Methods {
		if m.Name == "Clock.Tick" && m.Streaming != "server" {
			t.Errorf("Tick streaming %q", m.Streaming)
		}
	}
	wantError(t, g.call(t, http.MethodGet, "/dashboard/api/services/go.micro.api.nobody", ""), http.StatusNotFound, "gateway", "not in the registry")

	// Errors are recorded with the request id the client saw.
	bad := g.post(t, "/orderservice/OrderSrv/GetOrder", `{"id":99}`, "X-Request-Id", "dash-test-1")
	wantError(t, bad, http.StatusNotFound, ordersrv.Name)
	var errs struct {
		Total  int `json:"total"`
		Errors []struct {
			RequestID, Method, Path, ID, Detail, GRPCCode string
			Status                                        int
		} `json:"errors"`
	}
	dashGet(t, g, "/dashboard/api/errors", &errs)
	if len(errs.Errors) == 0 {
		t.Fatal("no error recorded")
	}
	e := errs.Errors[0]
	if e.RequestID != "dash-test-1" || e.Status != 404 || e.Path != "/orderservice/OrderSrv/GetOrder" || e.ID != ordersrv.Name || e.GRPCCode != "NotFound" || !strings.Contains(e.Detail, "99") {
		t.Errorf("recorded error %+v", e)
	}
}

// TestDashboardOpenAPI: the live document of the running gateway is valid OpenAPI 3.1,
// describes the seed services, real answers validate against it, and it follows the registry.
func TestDashboardOpenAPI(t *testing.T) {
	seed := startDashSeed(t)
	g := startGateway(t, seed.gatewayYAML())
	waitServices(t, g, clocksrv.Name, ordersrv.Name, usersrv.Name)

	r := g.call(t, http.MethodGet, "/openapi.json", "")
	if r.code != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json: %s", r)
	}
	doc, err := libopenapi.NewDocument(r.body)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("%s: %s", e.Message, e.Reason)
		}
		t.FailNow()
	}
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/orderservice/OrderSrv/GetOrder", "/userservices/UserSrv/GetAccount", "/clock/Clock/Tick"} {
		if field(m, "paths", p, "post") == nil {
			t.Errorf("no POST %s", p)
		}
	}
	if field(m, "paths", "/orderservice/Health/Check") != nil {
		t.Error("the health service every node carries is described as part of the API")
	}
	if field(m, "paths", "/clock/Clock/Tick", "post", "responses", "200", "content", "application/x-ndjson") == nil {
		t.Error("Tick is not described as NDJSON")
	}
	if field(m, "paths", "/events/{topic}/{name}", "post") == nil || field(m, "paths", "/orders/{id}", "get") == nil {
		t.Error("config routes are not described")
	}

	// A real exchange validates against the document.
	req, _ := http.NewRequest(http.MethodPost, g.url+"/orderservice/OrderSrv/GetOrder", strings.NewReader(`{"id":1}`))
	req.Header.Set("Content-Type", "application/json")
	if ok, verrs := v.ValidateHttpRequest(req); !ok {
		t.Errorf("request: %s", verrs[0].Reason)
	}
	req, _ = http.NewRequest(http.MethodPost, g.url+"/orderservice/OrderSrv/GetOrder", strings.NewReader(`{"id":1}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"username":"john"`) {
		t.Fatalf("GetOrder: %d %s", res.StatusCode, body)
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	if ok, verrs := v.ValidateHttpResponse(req, res); !ok {
		t.Errorf("response %s: %s", body, verrs[0].Reason)
	}

	// The per-service document, and the document following the registry.
	if r := g.call(t, http.MethodGet, "/openapi/"+usersrv.Name+".json", ""); r.code != 200 || !strings.Contains(string(r.body), "/userservices/UserSrv/GetAccount") {
		t.Errorf("per-service document: %s", r)
	}
	seed.stops[clocksrv.Name]()
	waitServices(t, g, ordersrv.Name, usersrv.Name)
	if r := g.call(t, http.MethodGet, "/openapi.json", ""); strings.Contains(string(r.body), "/clock/Clock/Tick") {
		t.Error("the document still describes a service that left")
	}
}

// chromiumPath finds Debian's chromium: skipped without it, failed under CI.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed (scripts/test.sh installs it)")
	}
	t.Skip("chromium is not installed; apt-get install chromium to run the browser test")
	return ""
}

// TestDashboardBrowser opens the dashboard in headless Chromium: both seed services are listed,
// OrderSrv.GetOrder called from the form answers the order joined with its user, a server
// stream shows its messages as they arrive, an event is published, and a service that stops
// leaves the list while the failures it causes appear among the recent errors.
func TestDashboardBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	seed := startDashSeed(t)
	g := startGateway(t, seed.gatewayYAML())
	waitServices(t, g, clocksrv.Name, ordersrv.Name, usersrv.Name)

	// Not t.TempDir: Chromium's helper processes can still be writing into their profile for a
	// moment after the browser is gone, and TempDir's cleanup fails the test when the directory
	// will not go away at once.
	profile, err := os.MkdirTemp("", "gateway-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for os.RemoveAll(profile) != nil && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond) // polling for the helpers to exit
		}
	})
	var out bytes.Buffer
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 1100),
		chromedp.CombinedOutput(&out),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	logf := func(string, ...any) {}
	if os.Getenv("GATEWAY_TEST_LOG") != "" {
		logf = t.Logf
	}
	ctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(logf))
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			t.Fatalf("%s: %v\nchromium output:\n%s", what, err, out.String())
		}
	}
	serviceItem := func(name string) string { return `li[data-test="service"][data-name="` + name + `"]` }
	pickEndpoint := func(name string) chromedp.Action {
		return chromedp.Evaluate(fmt.Sprintf(`(() => {
			const s = document.getElementById('endpoint');
			const i = [...s.options].findIndex(o => o.textContent.startsWith(%q));
			s.value = String(i);
			s.dispatchEvent(new Event('change'));
			return i;
		})()`, name), nil)
	}
	waitJS := func(expr string) chromedp.Action {
		return chromedp.Poll(expr, nil, chromedp.WithPollingInterval(50*time.Millisecond))
	}

	run("open the dashboard",
		chromedp.Navigate(g.url+"/dashboard/"),
		chromedp.WaitVisible(serviceItem(ordersrv.Name)),
		chromedp.WaitVisible(serviceItem(usersrv.Name)),
	)

	// Call OrderSrv.GetOrder from the form.
	var template, status, body, fields string
	var methods int
	run("call OrderSrv.GetOrder",
		chromedp.Click(serviceItem(ordersrv.Name)+" button"),
		chromedp.WaitVisible(`details[data-test="method"][data-name="OrderSrv.GetOrder"]`),
		chromedp.Click(`details[data-name="OrderSrv.GetOrder"] > summary`),
		chromedp.Text(`details[data-name="OrderSrv.GetOrder"] .body`, &fields),
		chromedp.Evaluate(`document.querySelectorAll('details[data-test="method"]').length`, &methods),
		pickEndpoint("OrderSrv.GetOrder"),
		chromedp.Value(`#request`, &template),
		chromedp.SetValue(`#request`, `{"id":1}`),
		chromedp.Click(`#send`),
		waitJS(`document.getElementById('call-status').textContent.startsWith('200')`),
		chromedp.Text(`#call-status`, &status),
		chromedp.Text(`#call-body`, &body),
	)
	for _, want := range []string{"Request order.OrderRequest", "id: string|integer (int64)", "Response order.OrderResponse", "username: string"} {
		if !strings.Contains(fields, want) {
			t.Errorf("GetOrder's schemas lack %q:\n%s", want, fields)
		}
	}
	if methods != 2 {
		t.Errorf("%d endpoints listed for the order service, want GetOrder and ListOrders (not the health service)", methods)
	}
	if !strings.Contains(template, `"id": 0`) {
		t.Errorf("request template %q, want the id field", template)
	}
	var order map[string]any
	if err := json.Unmarshal([]byte(body), &order); err != nil || order["username"] != "john" || order["id"] != "1" {
		t.Errorf("status %q, body %q: want order 1 joined with user john", status, body)
	}
	var shot []byte
	run("screenshot", chromedp.FullScreenshot(&shot, 100))
	saveScreenshot(t, "dashboard-call.png", shot)

	// A server stream shows its messages.
	run("stream Clock.Tick",
		chromedp.Click(serviceItem(clocksrv.Name)+" button"),
		chromedp.WaitVisible(`details[data-test="method"][data-name="Clock.Tick"]`),
		pickEndpoint("Clock.Tick"),
		chromedp.SetValue(`#request`, `{"count":3,"intervalMs":20}`),
		chromedp.Click(`#send`),
		waitJS(`document.querySelectorAll('[data-test="stream-message"]').length === 3 && document.getElementById('call-stream-info').textContent.includes('ended')`),
	)
	var first string
	run("read the stream", chromedp.Text(`[data-test="stream-message"]`, &first))
	if !strings.Contains(first, `"seq":1`) {
		t.Errorf("first stream message %q", first)
	}

	// Publish an event.
	var published string
	run("publish an event",
		chromedp.SetValue(`#event-topic`, "user"),
		chromedp.SetValue(`#event-name`, "login"),
		chromedp.Click(`#publish`),
		waitJS(`document.getElementById('publish-result').textContent.startsWith('202')`),
		chromedp.Text(`#publish-result`, &published),
	)
	if !strings.Contains(published, "event id") {
		t.Errorf("publish result %q", published)
	}

	// Stop the user service: it leaves the list; the order service then fails to join users,
	// and that failure shows among the recent errors with its request id.
	seed.stops[usersrv.Name]()
	run("see the user service leave",
		chromedp.WaitNotPresent(serviceItem(usersrv.Name)),
		chromedp.WaitVisible(serviceItem(ordersrv.Name)),
		chromedp.Click(serviceItem(ordersrv.Name)+" button"),
		chromedp.WaitVisible(`details[data-test="method"][data-name="OrderSrv.GetOrder"]`),
		pickEndpoint("OrderSrv.GetOrder"),
		chromedp.SetValue(`#request`, `{"id":1}`),
		chromedp.Click(`#send`),
		waitJS(`/^5\d\d/.test(document.getElementById('call-status').textContent)`),
		waitJS(`[...document.querySelectorAll('tr[data-test="error"]')].some(r => r.dataset.status.startsWith('5') && r.dataset.requestId !== '')`),
	)
	run("screenshot", chromedp.FullScreenshot(&shot, 100))
	saveScreenshot(t, "dashboard-left.png", shot)
}

// saveScreenshot writes a PNG to the test's temporary directory (or DASHBOARD_SCREENSHOT_DIR),
// logging where, and with -update to testdata/dashboard/ instead.
func saveScreenshot(t *testing.T, name string, png []byte) {
	t.Helper()
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("%s is not a PNG", name)
		return
	}
	dir := t.TempDir()
	if keep := os.Getenv("DASHBOARD_SCREENSHOT_DIR"); keep != "" {
		dir = keep
	}
	if updating() {
		dir = filepath.Join("testdata", "dashboard")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// updating reports whether the package's -update flag is set (looked up by name: it is
// declared with the golden-file tests).
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}
