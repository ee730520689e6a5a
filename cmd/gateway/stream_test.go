package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/edgeapi/gateway/internal/testsvc"
)

// startStreamGateway serves one test node behind a gateway and returns both.
func startStreamGateway(t *testing.T) (*testGateway, *testsvc.Server) {
	t.Helper()
	srv := testsvc.Start(t, "n1")
	return startGateway(t, gatewayYAML("", svc(echoService, srv.Addr))), srv
}

// openStream POSTs to a server-streaming method and returns the response (status and headers
// already read, body streaming).
func openStream(t *testing.T, g *testGateway, body string, accept string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, g.url+"/echoservice/Echo/Count", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = res.Body.Close() })
	return res
}

// TestServerStreamNDJSON reads a server stream line by line: the first message arrives while the
// backend still holds the rest, so the gateway flushed it instead of buffering the stream.
func TestServerStreamNDJSON(t *testing.T) {
	g, srv := startStreamGateway(t)
	res := openStream(t, g, `{"to":3,"holdAfter":1}`, "")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("got %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	lines := bufio.NewScanner(res.Body)
	want := func(line string) {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("stream ended before %s: %v", line, lines.Err())
		}
		if got := lines.Text(); !sameJSON(t, got, line) {
			t.Fatalf("line = %s, want %s", got, line)
		}
	}
	want(`{"result":{"n":1}}`) // the backend is holding: this line was flushed on its own
	srv.Release()
	want(`{"result":{"n":2}}`)
	want(`{"result":{"n":3}}`)
	if lines.Scan() {
		t.Fatalf("extra line %s", lines.Text())
	}
}

// TestServerStreamSSE reads the same stream as server-sent events.
func TestServerStreamSSE(t *testing.T) {
	g, srv := startStreamGateway(t)
	res := openStream(t, g, `{"to":2,"holdAfter":1}`, "text/event-stream")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("got %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	events := readSSE(res)
	first := <-events
	if !sameJSON(t, first.data, `{"n":1}`) || first.id != "1" || first.event != "" {
		t.Fatalf("first event = %+v", first)
	}
	srv.Release()
	if second := <-events; !sameJSON(t, second.data, `{"n":2}`) || second.id != "2" {
		t.Fatalf("second event = %+v", second)
	}
	if ev, ok := <-events; ok {
		t.Fatalf("extra event %+v", ev)
	}
}

type sseEvent struct{ event, id, data string }

// readSSE parses events from res's body on a goroutine that ends with the body.
func readSSE(res *http.Response) <-chan sseEvent {
	out := make(chan sseEvent, 16)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(res.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				out <- ev
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return out
}

// TestServerStreamErrors: an error before the first message is an ordinary error response; one
// after it arrives inside the stream in the stream's format, with the same body apierror writes.
func TestServerStreamErrors(t *testing.T) {
	g, _ := startStreamGateway(t)

	wantError(t, g.post(t, "/echoservice/Echo/Count", `{"to":3,"failAt":1}`), http.StatusBadRequest, echoService, "count failed at 1")
	wantError(t, g.post(t, "/echoservice/Echo/Count", `{"to":"x"}`), http.StatusBadRequest, echoService, `field "to"`)

	res := openStream(t, g, `{"to":5,"failAt":3}`, "")
	sc := bufio.NewScanner(res.Body)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 3 || !sameJSON(t, lines[0], `{"result":{"n":1}}`) || !sameJSON(t, lines[1], `{"result":{"n":2}}`) {
		t.Fatalf("NDJSON stream = %q", lines)
	}
	var tail struct{ Error map[string]any }
	if err := json.Unmarshal([]byte(lines[2]), &tail); err != nil || tail.Error["code"] != float64(400) ||
		tail.Error["grpc_code"] != "FailedPrecondition" || tail.Error["id"] != echoService {
		t.Fatalf("error line = %s (%v)", lines[2], err)
	}

	res = openStream(t, g, `{"to":5,"failAt":2}`, "text/event-stream")
	var got []sseEvent
	for ev := range readSSE(res) {
		got = append(got, ev)
	}
	if len(got) != 2 || !sameJSON(t, got[0].data, `{"n":1}`) || got[1].event != "error" || !strings.Contains(got[1].data, `"grpc_code":"FailedPrecondition"`) {
		t.Fatalf("SSE stream = %+v", got)
	}
}

// TestServerStreamClientGone: a client that leaves mid-stream cancels the backend's stream.
func TestServerStreamClientGone(t *testing.T) {
	g, srv := startStreamGateway(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.url+"/echoservice/Echo/Count", strings.NewReader(`{"to":3,"holdAfter":1}`))
	res, err := g.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(res.Body)
	if !sc.Scan() {
		t.Fatal("no first line")
	}
	cancel()
	_ = res.Body.Close()
	// The held stream ends by cancellation, so a later stream holds and is released in turn.
	// The token goes out only once the server saw the cancellation: a stream still holding
	// could take it, and the second would wait forever.
	deadline := time.Now().Add(10 * time.Second)
	for srv.HoldsCancelled() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the server never saw the first stream's cancellation")
		}
		time.Sleep(5 * time.Millisecond)
	}
	res2 := openStream(t, g, `{"to":2,"holdAfter":1}`, "")
	srv.Release()
	sc2 := bufio.NewScanner(res2.Body)
	n := 0
	for sc2.Scan() {
		n++
	}
	if n != 2 {
		t.Fatalf("second stream had %d lines, want 2", n)
	}
}

func dialStream(t *testing.T, g *testGateway, method string, hdr http.Header) *websocket.Conn {
	t.Helper()
	url := "ws" + strings.TrimPrefix(g.url, "http") + "/echoservice/Echo/" + method
	conn, res, err := websocket.DefaultDialer.Dial(url, hdr)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", url, err, status)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// TestClientStreamWebSocket sums values sent one frame each; closing the client side ends it.
func TestClientStreamWebSocket(t *testing.T) {
	g, _ := startStreamGateway(t)
	conn := dialStream(t, g, "Sum", nil)
	for i := 1; i <= 100; i++ {
		if err := conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"value":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")); err != nil {
		t.Fatal(err)
	}
	_, msg, err := conn.ReadMessage()
	if err != nil || !sameJSON(t, string(msg), `{"total":"5050","count":100}`) {
		t.Fatalf("answer %s, %v", msg, err)
	}
	_, _, err = conn.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure {
		t.Fatalf("after the answer: %v, want close 1000", err)
	}

	// Without a WebSocket the method explains how to call it.
	wantError(t, g.post(t, "/echoservice/Echo/Sum", `{"value":1}`), http.StatusBadRequest, echoService, "WebSocket")
}

// TestBidiStreamWebSocket: every message is answered in order; a backend error arrives as an
// error frame and close code 1011; a bad message is refused with 1007.
func TestBidiStreamWebSocket(t *testing.T) {
	g, _ := startStreamGateway(t)
	conn := dialStream(t, g, "Chat", nil)
	for i := range 1000 {
		if err := conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"text":"m%d"}`, i)); err != nil {
			t.Fatal(err)
		}
		_, msg, err := conn.ReadMessage()
		if want := fmt.Sprintf(`{"text":"M%d","fail":false}`, i); err != nil || !sameJSON(t, string(msg), want) {
			t.Fatalf("message %d: %s, %v; want %s", i, msg, err, want)
		}
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"fail":true}`)); err != nil {
		t.Fatal(err)
	}
	_, msg, err := conn.ReadMessage()
	if err != nil || !strings.Contains(string(msg), `"grpc_code":"FailedPrecondition"`) {
		t.Fatalf("error frame %s, %v", msg, err)
	}
	_, _, err = conn.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseInternalServerErr {
		t.Fatalf("after the error: %v, want close 1011", err)
	}

	bad := dialStream(t, g, "Chat", nil)
	if err := bad.WriteMessage(websocket.TextMessage, []byte(`{"text":5}`)); err != nil {
		t.Fatal(err)
	}
	_, msg, err = bad.ReadMessage()
	if err != nil || !strings.Contains(string(msg), `field \"text\"`) {
		t.Fatalf("bad message answer %s, %v", msg, err)
	}
	_, _, err = bad.ReadMessage()
	if !errors.As(err, &ce) || ce.Code != websocket.CloseInvalidFramePayloadData {
		t.Fatalf("after a bad message: %v, want close 1007", err)
	}
}

// TestStreamOriginCheck: browsers from origins outside web.allowed_origins cannot open streams.
func TestStreamOriginCheck(t *testing.T) {
	srv := testsvc.Start(t, "n1")
	g := startGateway(t, gatewayYAML("web:\n  allowed_origins: [\"http://good.example\"]\n", svc(echoService, srv.Addr)))
	dialStream(t, g, "Chat", http.Header{"Origin": {"http://good.example"}})
	url := "ws" + strings.TrimPrefix(g.url, "http") + "/echoservice/Echo/Chat"
	_, res, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {"http://evil.example"}})
	if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("evil origin: %v %v", res, err)
	}
}

// sameJSON compares JSON values, not bytes: protojson varies its white space on purpose.
func sameJSON(t testing.TB, got, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		return false
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %s: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}
