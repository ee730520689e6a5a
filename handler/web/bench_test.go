package web_test

import (
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/edgeapi/gateway/handler/web"
)

// roundTrips sends n messages one at a time on c, each waiting for its echo.
func roundTrips(tb testing.TB, c *websocket.Conn, n int) {
	tb.Helper()
	p := []byte("ping message of a typical small size, some 64 bytes in all.....")
	for i := range n {
		if err := c.WriteMessage(websocket.TextMessage, p); err != nil {
			tb.Fatalf("round trip %d: %v", i, err)
		}
		if _, got, err := c.ReadMessage(); err != nil || len(got) != len(p) {
			tb.Fatalf("round trip %d: %d bytes, %v", i, len(got), err)
		}
	}
}

// TestWebSocketRate logs messages per second through the gateway and straight to the backend:
// 10,000 round trips (latency bound) and 10,000 messages each way streamed (throughput bound).
// It asserts nothing about speed. Run it alone for meaningful numbers:
//
//	go test -run TestWebSocketRate -v ./handler/web/
func TestWebSocketRate(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	const n = 10000
	b := newWSBackend(t)
	b.N = n
	gw := newGateway(t, web.Config{}, map[string][]string{"svc": {b.Addr}})
	for _, target := range []struct{ name, echo, stream string }{
		{"direct", "ws://" + b.Addr + "/echo", "ws://" + b.Addr + "/stream"},
		{"gateway", gw.WS + "/chat/echo", gw.WS + "/chat/stream"},
	} {
		c, _ := dial(t, target.echo, nil)
		start := time.Now()
		roundTrips(t, c, n)
		d := time.Since(start)
		t.Logf("%-8s %d round trips in %v: %.0f round trips/s", target.name, n, d.Round(time.Millisecond), float64(n)/d.Seconds())

		s, _ := dial(t, target.stream, nil)
		start = time.Now()
		if err := exchange(s, n); err != nil {
			t.Fatal(err)
		}
		if err := <-b.StreamResult; err != nil {
			t.Fatal(err)
		}
		d = time.Since(start)
		t.Logf("%-8s %d messages each way streamed in %v: %.0f msgs/s each way", target.name, n, d.Round(time.Millisecond), float64(n)/d.Seconds())
	}
}

// BenchmarkWebSocketRoundTrip: one op is one echoed message.
//
//	go test -run '^$' -bench WebSocketRoundTrip -benchtime 10000x ./handler/web/
func BenchmarkWebSocketRoundTrip(bm *testing.B) {
	b := newWSBackend(bm)
	gw := newGateway(bm, web.Config{}, map[string][]string{"svc": {b.Addr}})
	for _, target := range []struct{ name, url string }{
		{"direct", "ws://" + b.Addr + "/echo"},
		{"gateway", gw.WS + "/chat/echo"},
	} {
		bm.Run(target.name, func(bm *testing.B) {
			c, _ := dial(bm, target.url, nil)
			bm.ReportAllocs()
			bm.ResetTimer()
			roundTrips(bm, c, bm.N)
			bm.ReportMetric(float64(bm.N)/bm.Elapsed().Seconds(), "msgs/s")
		})
	}
}
