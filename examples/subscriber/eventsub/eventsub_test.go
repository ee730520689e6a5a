package eventsub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	brokernats "github.com/edgeapi/gateway/broker/nats"
	"github.com/edgeapi/gateway/examples/subscriber/eventsub"
	"github.com/edgeapi/gateway/handler/event"
	"github.com/edgeapi/gateway/natsserver"
)

// waitFor bounds every wait of these tests.
const waitFor = 10 * time.Second

// output is a writer the subscriber writes to while the test reads it.
type output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *output) lines() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := strings.TrimSuffix(o.b.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// waitLines polls until out holds n lines.
func (o *output) waitLines(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		if l := o.lines(); len(l) >= n {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %d lines, got %q", n, o.lines())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startNATS runs an embedded NATS server with JetStream and connects to it.
func startNATS(t *testing.T) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	srv, err := natsserver.Start(context.Background(), natsserver.Config{Port: natsserver.RandomPort, StoreDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// gatewayEvents creates the events stream the way the gateway does (broker/nats) and returns the
// gateway's event handler publishing to it.
func gatewayEvents(t *testing.T, nc *nats.Conn) http.Handler {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	pub, err := brokernats.New(ctx, nc, brokernats.Config{Stream: "GATEWAY_EVENTS", Subjects: []string{"go.micro.api.>"}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return event.New(pub, slog.New(slog.DiscardHandler), event.Config{Namespace: "go.micro.api"})
}

// post publishes an event through the handler and returns its id.
func post(t *testing.T, h http.Handler, path, contentType, body string) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var acc event.Accepted
	if rec.Code != http.StatusAccepted || json.Unmarshal(rec.Body.Bytes(), &acc) != nil || acc.ID == "" {
		t.Fatalf("POST %s: %d %s", path, rec.Code, rec.Body)
	}
	return acc.ID
}

// subscribe runs eventsub.Run until the test ends or the returned stop is called; stop returns
// Run's error. Logs go to logs when given.
func subscribe(t *testing.T, js jetstream.JetStream, cfg eventsub.Config, out *output, logs ...*output) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg     sync.WaitGroup
		runErr error
	)
	log := slog.New(slog.DiscardHandler)
	if len(logs) > 0 {
		log = slog.New(slog.NewTextHandler(logs[0], nil))
	}
	wg.Go(func() { runErr = eventsub.Run(ctx, js, cfg, out, log) })
	stop = func() error {
		cancel()
		wg.Wait()
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// fields splits a printed line into its subject and its key=value attributes; data is the rest
// of the line.
func fields(t *testing.T, line string) (string, map[string]string) {
	t.Helper()
	head, data, ok := strings.Cut(line, " data=")
	if !ok {
		t.Fatalf("no data in %q", line)
	}
	parts := strings.Fields(head)
	attrs := map[string]string{"data": data}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(p, "=")
		attrs[k] = v
	}
	return parts[0], attrs
}

// waitAcked polls until the consumer has nothing pending or unacknowledged.
func waitAcked(t *testing.T, js jetstream.JetStream, durable string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		c, err := js.Consumer(context.Background(), "GATEWAY_EVENTS", durable)
		if err == nil {
			info, err := c.Info(context.Background())
			if err == nil && info.NumAckPending == 0 && info.NumPending == 0 && info.AckFloor.Stream == info.Delivered.Stream && info.Delivered.Stream > 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer %s never caught up", durable)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitNoPull waits until the durable has no pull request waiting on the server.
func waitNoPull(t *testing.T, js jetstream.JetStream, durable string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		c, err := js.Consumer(context.Background(), "GATEWAY_EVENTS", durable)
		if err == nil {
			if info, err := c.Info(context.Background()); err == nil && info.NumWaiting == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer %s still has a pull request waiting", durable)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPrintsGatewayEvents starts the subscriber before the stream exists, then publishes through
// the gateway's own event handler: the line carries every CloudEvents attribute and the data, and
// the event is acknowledged.
func TestPrintsGatewayEvents(t *testing.T) {
	nc, js := startNATS(t)
	out, logs := &output{}, &output{}
	stop := subscribe(t, js, eventsub.Config{Namespace: "go.micro.api", Retry: 20 * time.Millisecond}, out, logs)
	deadline := time.Now().Add(waitFor)
	for !strings.Contains(strings.Join(logs.lines(), "\n"), "does not exist yet") {
		if time.Now().After(deadline) {
			t.Fatalf("the subscriber did not wait for the stream; logs %q", logs.lines())
		}
		time.Sleep(10 * time.Millisecond)
	}

	h := gatewayEvents(t, nc)
	before := time.Now().Add(-time.Second)
	id := post(t, h, "/user/login", "application/json", `{ "user": "john" }`)

	line := out.waitLines(t, 1)[0]
	subject, attrs := fields(t, line)
	want := map[string]string{
		"id": id, "type": "user.login", "source": "/gateway", "content-type": "application/json",
		"data": `{"user":"john"}`,
	}
	if subject != "go.micro.api.user" {
		t.Errorf("subject %q in %q", subject, line)
	}
	for k, v := range want {
		if attrs[k] != v {
			t.Errorf("%s = %q, want %q (line %q)", k, attrs[k], v, line)
		}
	}
	if at, err := time.Parse(time.RFC3339Nano, attrs["time"]); err != nil || at.Before(before) {
		t.Errorf("time %q: %v", attrs["time"], err)
	}
	waitAcked(t, js, eventsub.DefaultDurable)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestTopicFilterAndResume(t *testing.T) {
	nc, js := startNATS(t)
	h := gatewayEvents(t, nc)
	cfg := eventsub.Config{Namespace: "go.micro.api", Topic: "user"}

	post(t, h, "/order/created", "application/json", `{"id":1}`)
	first := post(t, h, "/user/signup", "text/plain", "hello\nthere")
	out := &output{}
	stop := subscribe(t, js, cfg, out)
	// The order event came first in the stream: had the filter let it through, it would be
	// printed before the user event.
	lines := out.waitLines(t, 1)
	if subject, attrs := fields(t, lines[0]); subject != "go.micro.api.user" || attrs["id"] != first || attrs["data"] != `"hello\nthere"` {
		t.Fatalf("line %q", lines[0])
	}
	waitAcked(t, js, "subscriber-user")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// The stopped run's pull request stays on the server until the server sees its interest
	// gone; an event published before that is delivered into it and comes back only after the
	// ack wait (30 s). A restarted subscriber would print it then; the test waits for the
	// server instead.
	waitNoPull(t, js, "subscriber-user")

	// A new run with the same durable resumes after the acknowledged event.
	second := post(t, h, "/user/logout", "", "")
	out = &output{}
	stop = subscribe(t, js, cfg, out)
	lines = out.waitLines(t, 1)
	_, attrs := fields(t, lines[0])
	if len(lines) != 1 || attrs["id"] != second || attrs["content-type"] != "-" || attrs["data"] != "" {
		t.Fatalf("after resuming: %q", lines)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []eventsub.Config{{Topic: "user.login"}, {Topic: ">"}, {Durable: "a.b"}} {
		if err := eventsub.Run(context.Background(), nil, cfg, &output{}, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("Run(%+v) = nil, want an error", cfg)
		}
	}
}

func TestFilter(t *testing.T) {
	for _, tc := range []struct {
		cfg  eventsub.Config
		want string
	}{
		{eventsub.Config{Namespace: "go.micro.api"}, "go.micro.api.>"},
		{eventsub.Config{Namespace: "go.micro.api", Topic: "user"}, "go.micro.api.user"},
		{eventsub.Config{}, ">"},
		{eventsub.Config{Topic: "user"}, "user"},
	} {
		if got := tc.cfg.Filter(); got != tc.want {
			t.Errorf("%+v: Filter() = %q, want %q", tc.cfg, got, tc.want)
		}
	}
}

func TestLine(t *testing.T) {
	full := nats.Header{
		"ce-specversion": {"1.0"}, "ce-id": {"42"}, "ce-type": {"user.login"}, "ce-source": {"/gateway"},
		"ce-time": {"2030-01-02T03:04:05Z"}, "content-type": {"application/json"},
	}
	for _, tc := range []struct {
		name string
		h    nats.Header
		data string
		want string
	}{
		{"json", full, "{\n  \"user\": \"john\"\n}",
			`go.micro.api.user id=42 type=user.login source=/gateway time=2030-01-02T03:04:05Z content-type=application/json data={"user":"john"}`},
		{"text", full, "plain words", `go.micro.api.user id=42 type=user.login source=/gateway time=2030-01-02T03:04:05Z content-type=application/json data=plain words`},
		{"binary", nil, "\x00\xff", `go.micro.api.user id=- type=- source=- time=- content-type=- data="\x00\xff"`},
		{"header case", nats.Header{"Ce-Id": {"7"}, "Content-Type": {"text/plain"}}, "",
			`go.micro.api.user id=7 type=- source=- time=- content-type=text/plain data=`},
		{"attribute with a newline", nats.Header{"ce-id": {"a\nb"}}, "",
			`go.micro.api.user id="a\nb" type=- source=- time=- content-type=- data=`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := eventsub.Line("go.micro.api.user", tc.h, []byte(tc.data)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
