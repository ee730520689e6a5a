package event_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeapi/gateway/broker"
	brokernats "github.com/edgeapi/gateway/broker/nats"
	"github.com/edgeapi/gateway/handler/event"
	"github.com/edgeapi/gateway/internal/testwait"
	"github.com/edgeapi/gateway/natsserver"
	"github.com/edgeapi/gateway/router"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// wantEvent is what a published event must carry.
type wantEvent struct {
	id, typ, source, contentType string
	data                         []byte
	notBefore, notAfter          time.Time
	extra                        map[string]string // other headers that must be present
}

func checkEvent(t *testing.T, how string, hdr nats.Header, data []byte, w wantEvent) {
	t.Helper()
	get := func(k string) string {
		if v := hdr.Values(k); len(v) == 1 {
			return v[0]
		}
		t.Errorf("%s: header %s = %q, want exactly one value", how, k, hdr.Values(k))
		return ""
	}
	for k, want := range map[string]string{"ce-specversion": "1.0", "ce-id": w.id, "ce-type": w.typ, "ce-source": w.source} {
		if got := get(k); got != want {
			t.Errorf("%s: %s = %q, want %q", how, k, got, want)
		}
	}
	ts, err := time.Parse(time.RFC3339, get("ce-time"))
	if err != nil {
		t.Errorf("%s: ce-time: %v", how, err)
	} else if ts.Before(w.notBefore.Add(-time.Second)) || ts.After(w.notAfter.Add(time.Second)) {
		// Correctness, not speed: the stamp must be the time of this request, not another's.
		t.Errorf("%s: ce-time %v is not the time of the request (%v .. %v)", how, ts, w.notBefore, w.notAfter)
	}
	if w.contentType == "" {
		if v, ok := hdr["content-type"]; ok {
			t.Errorf("%s: content-type %q for a request without one", how, v)
		}
	} else if got := get("content-type"); got != w.contentType {
		t.Errorf("%s: content-type %q, want %q", how, got, w.contentType)
	}
	if !bytes.Equal(data, w.data) {
		t.Errorf("%s: data %q, want %q", how, data, w.data)
	}
	for k, want := range w.extra {
		if got := get(k); got != want {
			t.Errorf("%s: %s = %q, want %q", how, k, got, want)
		}
	}
	if v, ok := hdr["ce-datacontenttype"]; ok {
		t.Errorf("%s: ce-datacontenttype %q: binary mode carries it as content-type only", how, v)
	}
	for k := range hdr {
		if k == "Nats-Msg-Id" || k == "Nats-Expected-Stream" {
			continue // the JetStream publish headers
		}
		if k != strings.ToLower(k) {
			t.Errorf("%s: header %q is not lower case (CloudEvents NATS binding)", how, k)
		}
		if !strings.HasPrefix(k, "ce-") && k != "content-type" && w.extra[k] == "" {
			t.Errorf("%s: unexpected header %s: %q", how, k, hdr[k])
		}
	}
}

func TestPublishesACloudEvent(t *testing.T) {
	e := newEnv(t, event.Config{})
	// A plain subscriber, subscribed (and flushed to the server) before anything is published.
	obs := connect(t, e.NATS.ClientURL())
	sub, err := obs.SubscribeSync(namespace + ".>")
	if err != nil {
		t.Fatal(err)
	}
	if err := obs.Flush(); err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(obs)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()

	cases := []struct {
		name, path, contentType string
		body                    []byte
		hdr                     http.Header
		subject, typ            string
		extra                   map[string]string
	}{
		{
			name: "login with JSON", path: "/user/login", contentType: "application/json; charset=utf-8",
			body: []byte("{\"user\":\"ada\", \"n\": 1}\n"), subject: namespace + ".user", typ: "user.login",
			hdr: http.Header{
				"Ce-Traceid":         {"abc123"},
				"Ce-Type":            {"evil.override"}, // required attributes cannot be overridden
				"Ce-Specversion":     {"0.3"},
				"Ce-Source":          {"/forged"},
				"Ce-Datacontenttype": {"x/forged"},
				"Ce-Bad_name":        {"not an attribute name"},
				"X-Request-Id":       {"req-42"},
				"Traceparent":        {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
				"X-Other":            {"not carried"},
				"Nats-Msg-Id":        {"forged"},
			},
			extra: map[string]string{"ce-traceid": "abc123", "x-request-id": "req-42", "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
		},
		{
			name: "binary data, nested name", path: "/order/item/added", contentType: "application/octet-stream",
			body: []byte{0, 1, 2, 0xff, 0xfe, '\n', 0}, subject: namespace + ".order", typ: "order.item.added",
		},
		{
			name: "topic only, no content type, empty body", path: "/audit", subject: namespace + ".audit", typ: "audit", body: []byte{},
		},
		{
			name: "route with strip prefix", path: "/events/billing/invoice_paid", contentType: "text/plain",
			body: []byte("paid"), subject: namespace + ".billing", typ: "billing.invoice_paid",
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now()
			a, resp := postAccepted(t, e.URL+tc.path, tc.contentType, tc.body, tc.hdr)
			after := time.Now()
			if !uuidV4.MatchString(a.ID) {
				t.Errorf("id %q is not a UUID v4", a.ID)
			}
			if resp.Header.Get("Ce-Id") != a.ID {
				t.Errorf("response Ce-Id %q, want the id %q", resp.Header.Get("Ce-Id"), a.ID)
			}
			if a.Subject != tc.subject || a.Type != tc.typ || a.Stream != stream || a.Sequence != uint64(i+1) || a.Duplicate {
				t.Errorf("202 body %+v", a)
			}
			if tc.extra == nil {
				tc.extra = map[string]string{"x-request-id": resp.Header.Get("X-Request-Id")} // minted by the router
			}
			want := wantEvent{id: a.ID, typ: tc.typ, source: "/gateway", contentType: tc.contentType, data: tc.body, notBefore: before, notAfter: after, extra: tc.extra}

			msg, err := sub.NextMsg(waitFor)
			if err != nil {
				t.Fatalf("subscriber: %v", err)
			}
			if msg.Subject != tc.subject {
				t.Errorf("subject %q, want %q", msg.Subject, tc.subject)
			}
			checkEvent(t, "core subscriber", msg.Header, msg.Data, want)
			// No Ce-Id in these requests: the minted id is no deduplication id.
			if got, ok := msg.Header["Nats-Msg-Id"]; ok {
				t.Errorf("Nats-Msg-Id %q on an event without the client's Ce-Id", got)
			}

			st, err := js.Stream(ctx, stream)
			if err != nil {
				t.Fatal(err)
			}
			stored, err := st.GetMsg(ctx, a.Sequence)
			if err != nil {
				t.Fatalf("stream message %d: %v", a.Sequence, err)
			}
			if stored.Subject != tc.subject {
				t.Errorf("stored subject %q", stored.Subject)
			}
			checkEvent(t, "stream", stored.Header, stored.Data, want)
		})
	}
}

func TestClientEventIDIsUsedAndARetryIsStoredOnce(t *testing.T) {
	e := newEnv(t, event.Config{})
	hdr := http.Header{"Ce-Id": {"order-123"}}
	first, _ := postAccepted(t, e.URL+"/order/created", "application/json", []byte(`{"id":123}`), hdr)
	again, _ := postAccepted(t, e.URL+"/order/created", "application/json", []byte(`{"id":123}`), hdr)
	if first.ID != "order-123" || first.Duplicate {
		t.Fatalf("first: %+v", first)
	}
	if again.ID != "order-123" || !again.Duplicate || again.Sequence != first.Sequence {
		t.Fatalf("retry: %+v, want the duplicate of sequence %d", again, first.Sequence)
	}
	other, _ := postAccepted(t, e.URL+"/order/created", "application/json", []byte(`{"id":124}`), http.Header{"Ce-Id": {"order-124"}})
	if other.Duplicate || other.Sequence != first.Sequence+1 {
		t.Fatalf("another id: %+v", other)
	}
	if n := streamMsgs(t, e.NC); n != 2 {
		t.Fatalf("stream holds %d events, want 2", n)
	}
	for _, bad := range []string{"has space", strings.Repeat("x", 129), "tab\there", "é"} {
		resp, body := post(t, e.URL+"/order/created", "application/json", []byte(`{}`), http.Header{"Ce-Id": {bad}})
		wantError(t, resp, body, http.StatusBadRequest)
	}
}

func TestOnlyPOST(t *testing.T) {
	e := newEnv(t, event.Config{})
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		req, _ := http.NewRequest(m, e.URL+"/user/login", strings.NewReader("x"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		_ = resp.Body.Close()
		wantError(t, resp, body.Bytes(), http.StatusMethodNotAllowed)
		if got := resp.Header.Values("Allow"); !slices.Equal(got, []string{"POST"}) {
			t.Errorf("%s: Allow %q, want POST", m, got)
		}
	}
	if n := streamMsgs(t, e.NC); n != 0 {
		t.Fatalf("stream holds %d events after refused requests", n)
	}
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, event.Config{BodyLimit: 1024},
		router.Route{Path: "/small/*", Handler: "event", StripPrefix: "/small", BodyLimit: 16})
	postAccepted(t, e.URL+"/user/upload", "application/octet-stream", make([]byte, 1024), nil)
	resp, body := post(t, e.URL+"/user/upload", "application/octet-stream", make([]byte, 1025), nil)
	wantError(t, resp, body, http.StatusRequestEntityTooLarge)
	// A route's own limit.
	postAccepted(t, e.URL+"/small/user/note", "text/plain", make([]byte, 16), nil)
	resp, body = post(t, e.URL+"/small/user/note", "text/plain", make([]byte, 17), nil)
	wantError(t, resp, body, http.StatusRequestEntityTooLarge)
	if n := streamMsgs(t, e.NC); n != 2 {
		t.Fatalf("stream holds %d events, want the 2 within the limits", n)
	}
}

func TestBadPathIs400(t *testing.T) {
	e := newEnv(t, event.Config{})
	for _, p := range []string{
		"/events/",
		"/events/user/log.in",
		"/events/us%20er/login",
		"/events/user//login",
		"/events/user/" + strings.Repeat("a", 129),
		"/events/user/log%2Fin",
		"/events/user/l*gin",
	} {
		resp, body := post(t, e.URL+p, "text/plain", []byte("x"), nil)
		wantError(t, resp, body, http.StatusBadRequest)
	}
	if n := streamMsgs(t, e.NC); n != 0 {
		t.Fatalf("stream holds %d events after bad paths", n)
	}
}

func TestBrokerDownIs503AndNothingIsClaimed(t *testing.T) {
	e := newEnv(t, event.Config{AckTimeout: 2 * time.Second})
	first, _ := postAccepted(t, e.URL+"/user/login", "application/json", []byte(`{"n":1}`), nil)
	port := natsPort(t, e.NATS)

	e.NATS.Shutdown()
	testwait.Until(t, waitFor, "the gateway to notice NATS is gone", func() bool { return !e.NC.IsConnected() })
	for _, hdr := range []http.Header{nil, {"Ce-Id": {"client-chosen"}}} {
		resp, body := post(t, e.URL+"/user/login", "application/json", []byte(`{"n":2}`), hdr)
		wantError(t, resp, body, http.StatusServiceUnavailable)
		if resp.Header.Get("Ce-Id") != "" || bytes.Contains(body, []byte("sequence")) {
			t.Fatalf("a 503 claims an event: %v %s", resp.Header, body)
		}
	}

	// NATS back on the same port and store: the gateway reconnects, and the events it refused
	// were not stored behind its back (the next one follows the first directly).
	startNATS(t, e.Dir, port)
	testwait.Until(t, waitFor, "the gateway to reconnect", e.NC.IsConnected)
	var next accepted
	testwait.Until(t, waitFor, "events to be accepted again", func() bool {
		resp, body := post(t, e.URL+"/user/login", "application/json", []byte(`{"n":3}`), nil)
		if resp.StatusCode != http.StatusAccepted {
			return false
		}
		next = accepted{}
		return jsonInto(body, &next) == nil
	})
	if next.Sequence != first.Sequence+1 {
		t.Fatalf("sequence after the outage %d, want %d: a refused event was stored", next.Sequence, first.Sequence+1)
	}
}

func TestAcknowledgedEventsSurviveARestart(t *testing.T) {
	e := newEnv(t, event.Config{})
	const n = 50
	var ids []string
	for i := range n {
		a, _ := postAccepted(t, e.URL+"/user/login", "application/json", fmt.Appendf(nil, `{"i":%d}`, i), nil)
		ids = append(ids, a.ID)
	}
	e.NATS.Shutdown()

	s := startNATS(t, e.Dir, natsserver.RandomPort)
	nc := connect(t, s.ClientURL())
	if got := streamMsgs(t, nc); got != n {
		t.Fatalf("after the restart the stream holds %d events, want %d", got, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	js, _ := jetstream.New(nc)
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.FetchNoWait(n)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for msg := range batch.Messages() {
		if got := msg.Headers().Get("ce-id"); got != ids[i] {
			t.Errorf("event %d: ce-id %q, want %q", i, got, ids[i])
		}
		if want := fmt.Sprintf(`{"i":%d}`, i); string(msg.Data()) != want {
			t.Errorf("event %d: data %q, want %q", i, msg.Data(), want)
		}
		i++
	}
	if err := batch.Error(); err != nil {
		t.Fatal(err)
	}
	if i != n {
		t.Fatalf("read back %d events, want %d", i, n)
	}
}

func TestCustomSourceAndNamespace(t *testing.T) {
	dir := t.TempDir()
	s := startNATS(t, dir, natsserver.RandomPort)
	nc := connect(t, s.ClientURL())
	url := serve(t, nc, event.Config{Source: "https://gw.example.com", Namespace: namespace + ".events"})
	obs := connect(t, s.ClientURL())
	sub, _ := obs.SubscribeSync(namespace + ".events.user")
	_ = obs.Flush()
	a, _ := postAccepted(t, url+"/user/logout", "", nil, nil)
	if a.Subject != namespace+".events.user" {
		t.Fatalf("subject %q", a.Subject)
	}
	msg, err := sub.NextMsg(waitFor)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("ce-source") != "https://gw.example.com" || msg.Header.Get("ce-type") != "user.logout" {
		t.Fatalf("headers %v", msg.Header)
	}
}

// The gateway's publisher bounds the wait itself. Were PublishWithin renamed, the handler would
// quietly fall back to a context per event, slower and otherwise unnoticed.
var _ interface {
	PublishWithin(context.Context, *broker.Message, time.Duration) (broker.Ack, error)
} = (*brokernats.Publisher)(nil)

// ackingPublisher acknowledges every event and records the deadline its context had.
type ackingPublisher struct {
	deadline time.Time
	ok       bool
}

func (p *ackingPublisher) Publish(ctx context.Context, _ *broker.Message) (broker.Ack, error) {
	p.deadline, p.ok = ctx.Deadline()
	return broker.Ack{Stream: "S", Sequence: 1}, nil
}

// boundingPublisher can bound the wait itself; it records the bound.
type boundingPublisher struct {
	ackingPublisher
	within time.Duration
}

func (p *boundingPublisher) PublishWithin(ctx context.Context, msg *broker.Message, d time.Duration) (broker.Ack, error) {
	p.within = d
	return p.Publish(ctx, msg)
}

// TestAckTimeoutReachesThePublisher: the handler's (or the route's) AckTimeout bounds the
// publish, given as a deadline to any publisher, or as the bound to one that takes it.
func TestAckTimeoutReachesThePublisher(t *testing.T) {
	const ackTimeout, routeTimeout = 3 * time.Second, 7 * time.Second
	for _, route := range []bool{false, true} {
		want := ackTimeout
		if route {
			want = routeTimeout
		}
		handler := func(pub broker.Publisher) http.Handler {
			h := event.New(pub, slog.New(slog.DiscardHandler), event.Config{AckTimeout: ackTimeout})
			if route {
				return h.Route(routeTimeout, 0, 0)
			}
			return h
		}
		serve := func(h http.Handler) {
			t.Helper()
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/user/login", strings.NewReader("{}")))
			if w.Code != http.StatusAccepted {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
		}

		plain := &ackingPublisher{}
		before := time.Now()
		serve(handler(plain))
		if !plain.ok || plain.deadline.Before(before) || plain.deadline.After(time.Now().Add(want)) {
			t.Errorf("route %t: a plain publisher's deadline %v (%t), want within %v of the request", route, plain.deadline, plain.ok, want)
		}

		bounding := &boundingPublisher{}
		serve(handler(bounding))
		if bounding.within != want || bounding.ok {
			t.Errorf("route %t: PublishWithin got %v (and a context deadline: %t), want %v and the request's own context", route, bounding.within, bounding.ok, want)
		}
	}
}
