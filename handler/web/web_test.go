package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/edgeapi/gateway/handler/web"
	"github.com/edgeapi/gateway/internal/testwait"
)

func TestPlainRequestsAreProxied(t *testing.T) {
	b := newWSBackend(t)
	gw := newGateway(t, web.Config{}, map[string][]string{"svc": {b.Addr}, "go.micro.api.site": {b.Addr}})
	for _, tc := range []struct{ method, path, body, wantPath, wantQuery string }{
		{http.MethodGet, "/chat/rooms?limit=5", "", "/rooms", "limit=5"},
		{http.MethodPost, "/chat/rooms", `{"name":"general"}`, "/rooms", ""},
		{http.MethodGet, "/site/index.html", "", "/site/index.html", ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, gw.URL+tc.path, strings.NewReader(tc.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got map[string]string
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
				t.Fatalf("%d: %v", resp.StatusCode, err)
			}
			if got["method"] != tc.method || got["path"] != tc.wantPath || got["query"] != tc.wantQuery || got["body"] != tc.body {
				t.Errorf("backend saw %v", got)
			}
		})
	}
}

func TestWebSocketEcho(t *testing.T) {
	b := newWSBackend(t)
	gw := newGateway(t, web.Config{}, map[string][]string{"svc": {b.Addr}})
	c, _ := dial(t, gw.WS+"/chat/echo?room=1", nil)
	for i := range 50 {
		typ, p := message(i)
		if err := c.WriteMessage(typ, p); err != nil {
			t.Fatal(err)
		}
		gt, gp, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if err := checkMessage(i, gt, gp); err != nil {
			t.Fatal(err)
		}
	}
	if n := gw.Web.Active(); n != 1 {
		t.Errorf("Active() = %d during a session, want 1", n)
	}
	_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	wantBackendClose(t, b, websocket.CloseNormalClosure, "")
	testwait.Until(t, waitFor, "the session to end", func() bool { return gw.Web.Active() == 0 })
}

func TestTenThousandMessagesEachWayInOrder(t *testing.T) {
	b := newWSBackend(t)
	b.N = 10000
	gw := newGateway(t, web.Config{}, map[string][]string{"svc": {b.Addr}})
	c, _ := dial(t, gw.WS+"/chat/stream", nil)
	start := time.Now()
	// The client and the backend each send 10,000 messages (text and binary alternating) and
	// each check the 10,000 they receive, at the same time.
	if err := exchange(c, b.N); err != nil {
		t.Fatalf("client side: %v", err)
	}
	select {
	case err := <-b.StreamResult:
		if err != nil {
			t.Fatalf("backend side: %v", err)
		}
	case <-time.After(waitFor):
		t.Fatal("the backend did not finish")
	}
	t.Logf("%d messages each way in %v", b.N, time.Since(start))
}

func TestSubprotocolNegotiatedEndToEnd(t *testing.T) {
	b := newWSBackend(t)
	gw := newGateway(t, web.Config{}, map[string][]string{"svc": {b.Addr}})
	for _, tc := range []struct {
		name    string
		offered []string
		want    string
	}{
		{"backend picks b", []string{"a", "b"}, "b"},
		{"backend supports none offered", []string{"a"}, ""},
		{"none offered", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, resp := dial(t, gw.WS+"/chat/echo", nil, tc.offered...)
			if got := c.Subprotocol(); got != tc.want {
				t.Errorf("client sees subprotocol %q, want %q", got, tc.want)
			}
			if got := resp.Header.Get("Sec-Websocket-Protocol"); got != tc.want {
				t.Errorf("handshake answer Sec-WebSocket-Protocol %q, want %q", got, tc.want)
			}
			select {
			case got := <-b.Offered:
				if strings.Join(got, ",") != strings.Join(tc.offered, ",") {
					t.Errorf("backend was offered %q, want %q", got, tc.offered)
				}
			case <-time.After(waitFor):
				t.Fatal("no handshake reached the backend")
			}
		})
	}
}

func TestOriginAllowList(t *testing.T) {
	b := newWSBackend(t)
	allowed := "https://app.example.com"
	cases := []struct {
		name   string
		cfg    web.Config
		origin string
		code   int // 0: accepted
	}{
		{"allowed origin", web.Config{AllowedOrigins: []string{allowed}}, allowed, 0},
		{"other origin", web.Config{AllowedOrigins: []string{allowed}}, "https://evil.example.com", http.StatusForbidden},
		{"scheme matters", web.Config{AllowedOrigins: []string{allowed}}, "http://app.example.com", http.StatusForbidden},
		{"no origin, not required", web.Config{AllowedOrigins: []string{allowed}}, "", 0},
		{"no origin, required", web.Config{AllowedOrigins: []string{allowed}, RequireOrigin: true}, "", http.StatusForbidden},
		{"allowed origin, required", web.Config{AllowedOrigins: []string{allowed}, RequireOrigin: true}, allowed, 0},
		{"empty allow-list refuses browsers", web.Config{}, allowed, http.StatusForbidden},
		{"wildcard", web.Config{AllowedOrigins: []string{"*"}}, "https://anything.example.org", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gw := newGateway(t, tc.cfg, map[string][]string{"svc": {b.Addr}})
			hdr := http.Header{}
			if tc.origin != "" {
				hdr.Set("Origin", tc.origin)
			}
			if tc.code != 0 {
				dialRefused(t, gw.WS+"/chat/echo", hdr, tc.code)
				return
			}
			c, _ := dial(t, gw.WS+"/chat/echo", hdr)
			if err := c.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
				t.Fatal(err)
			}
			if _, p, err := c.ReadMessage(); err != nil || string(p) != "hi" {
				t.Fatalf("echo: %q %v", p, err)
			}
		})
	}
}

func TestCloseCodeAndReasonCrossBothWays(t *testing.T) {
	b := newWSBackend(t)
	gw := newGateway(t, web.Config{}, map[string][]string{"svc": {b.Addr}})

	t.Run("client closes", func(t *testing.T) {
		c, _ := dial(t, gw.WS+"/chat/echo", nil)
		if err := c.WriteMessage(websocket.TextMessage, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.ReadMessage(); err != nil {
			t.Fatal(err)
		}
		if err := c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "bye"), time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		wantBackendClose(t, b, 4001, "bye")
		// The gateway answers the client's close frame (with the same code).
		wantClose(t, c, 4001, "")
	})

	t.Run("backend closes", func(t *testing.T) {
		c, _ := dial(t, gw.WS+"/chat/closer", nil)
		if err := c.WriteMessage(websocket.TextMessage, []byte("close please")); err != nil {
			t.Fatal(err)
		}
		wantClose(t, c, 4002, "done")
		wantBackendClose(t, b, 4002, "*") // the gateway's reply to the backend's close frame
	})
	testwait.Until(t, waitFor, "both sessions to end", func() bool { return gw.Web.Active() == 0 })
}

func TestReadLimitExceededIs1009(t *testing.T) {
	b := newWSBackend(t)
	b.BigSize = 2048
	gw := newGateway(t, web.Config{ReadLimit: 1024}, map[string][]string{"svc": {b.Addr}})

	t.Run("client sends too much", func(t *testing.T) {
		c, _ := dial(t, gw.WS+"/chat/echo", nil)
		if err := c.WriteMessage(websocket.BinaryMessage, make([]byte, 1024)); err != nil {
			t.Fatal(err)
		}
		if _, p, err := c.ReadMessage(); err != nil || len(p) != 1024 {
			t.Fatalf("a message at the limit: %d bytes, %v", len(p), err)
		}
		if err := c.WriteMessage(websocket.BinaryMessage, make([]byte, 1025)); err != nil {
			t.Fatal(err)
		}
		wantClose(t, c, websocket.CloseMessageTooBig, "")
		wantBackendClose(t, b, websocket.CloseMessageTooBig, "message too big")
	})

	t.Run("backend sends too much", func(t *testing.T) {
		c, _ := dial(t, gw.WS+"/chat/big", nil)
		wantClose(t, c, websocket.CloseMessageTooBig, "message too big")
		wantBackendClose(t, b, websocket.CloseMessageTooBig, "")
	})
}

func TestIdleSessionIsClosed(t *testing.T) {
	b := newWSBackend(t)
	// Pings would keep live peers' sessions open (pongs count as traffic); with none in the
	// window an idle session is closed.
	gw := newGateway(t, web.Config{IdleTimeout: 200 * time.Millisecond, PingInterval: time.Hour}, map[string][]string{"svc": {b.Addr}})
	c, _ := dial(t, gw.WS+"/chat/echo", nil)
	start := time.Now()
	wantClose(t, c, websocket.CloseGoingAway, "peer went away")
	wantBackendClose(t, b, websocket.CloseGoingAway, "peer went away")
	t.Logf("idle session closed after %v (idle timeout 200ms)", time.Since(start))
	testwait.Until(t, waitFor, "the session to end", func() bool { return gw.Web.Active() == 0 })
}

func TestPingsKeepAnIdleSessionWithLivePeersOpen(t *testing.T) {
	b := newWSBackend(t)
	gw := newGateway(t, web.Config{IdleTimeout: 300 * time.Millisecond, PingInterval: 50 * time.Millisecond}, map[string][]string{"svc": {b.Addr}})
	c, _ := dial(t, gw.WS+"/chat/echo", nil)
	pings := make(chan struct{}, 64)
	c.SetPingHandler(func(data string) error {
		select {
		case pings <- struct{}{}:
		default:
		}
		return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	readErr := make(chan error, 1)
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				readErr <- err
				return
			}
		}
	}()
	// Several pings answered by the client: the session outlives the idle timeout many times
	// over only if the pongs keep it alive. (Counting pings, not watching a clock.)
	for i := range 20 {
		select {
		case <-pings:
		case err := <-readErr:
			t.Fatalf("session ended after %d pings: %v", i, err)
		case <-time.After(waitFor):
			t.Fatalf("no ping %d", i)
		}
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("still here")); err != nil {
		t.Fatal(err)
	}
}

func TestMaxConnsExceededIs503(t *testing.T) {
	b := newWSBackend(t)
	gw := newGateway(t, web.Config{MaxConns: 2}, map[string][]string{"svc": {b.Addr}})
	c1, _ := dial(t, gw.WS+"/chat/echo", nil)
	_, _ = dial(t, gw.WS+"/chat/echo", nil)
	dialRefused(t, gw.WS+"/chat/echo", nil, http.StatusServiceUnavailable)
	if n := gw.Web.Active(); n != 2 {
		t.Fatalf("Active() = %d, want 2", n)
	}
	_ = c1.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	testwait.Until(t, waitFor, "a slot to free up", func() bool { return gw.Web.Active() == 1 })
	c3, _ := dial(t, gw.WS+"/chat/echo", nil)
	if err := c3.WriteMessage(websocket.TextMessage, []byte("in")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c3.ReadMessage(); err != nil || string(p) != "in" {
		t.Fatalf("echo after a slot freed: %q %v", p, err)
	}
}

func TestShutdownClosesSessionsWith1001(t *testing.T) {
	b := newWSBackend(t)
	gw := newGateway(t, web.Config{}, map[string][]string{"svc": {b.Addr}})
	var clients []*websocket.Conn
	for range 3 {
		c, _ := dial(t, gw.WS+"/chat/echo", nil)
		clients = append(clients, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := gw.Web.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := gw.Web.Active(); n != 0 {
		t.Errorf("Active() = %d after Shutdown, want 0", n)
	}
	for _, c := range clients {
		wantClose(t, c, websocket.CloseGoingAway, "gateway shutting down")
	}
	for range clients {
		wantBackendClose(t, b, websocket.CloseGoingAway, "gateway shutting down")
	}
	// New upgrades are refused once shut down; a second Shutdown is harmless.
	dialRefused(t, gw.WS+"/chat/echo", nil, http.StatusServiceUnavailable)
	if err := gw.Web.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

func TestBackendHandshakeFailures(t *testing.T) {
	b := newWSBackend(t)
	plain := newPlainBackend(t)
	gw := newGateway(t, web.Config{}, map[string][]string{"svc": {b.Addr}, "go.micro.api.plain": {plain}, "go.micro.api.dead": {deadAddress(t)}})
	t.Run("backend refuses with 403", func(t *testing.T) {
		dialRefused(t, gw.WS+"/chat/refuse", nil, http.StatusForbidden)
	})
	t.Run("backend answers 200 without upgrading", func(t *testing.T) {
		dialRefused(t, gw.WS+"/plain/ws", nil, http.StatusBadGateway)
	})
	t.Run("only node dead", func(t *testing.T) {
		dialRefused(t, gw.WS+"/dead/ws", nil, http.StatusBadGateway)
	})
	t.Run("unknown service", func(t *testing.T) {
		dialRefused(t, gw.WS+"/nosuch/ws", nil, http.StatusNotFound)
	})
}

func TestDeadNodeUpgradeRetriedOnLiveNode(t *testing.T) {
	b := newWSBackend(t)
	gw := newGateway(t, web.Config{}, map[string][]string{"svc": {deadAddress(t), b.Addr}})
	for i := range 6 {
		c, _ := dial(t, gw.WS+"/chat/echo", nil)
		if err := c.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
			t.Fatal(err)
		}
		if _, p, err := c.ReadMessage(); err != nil || string(p) != "hi" {
			t.Fatalf("session %d: %q %v", i, p, err)
		}
		_ = c.Close()
	}
}

func TestConcurrentSessions(t *testing.T) {
	b := newWSBackend(t)
	b.N = 500
	gw := newGateway(t, web.Config{}, map[string][]string{"svc": {b.Addr}})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			d := websocket.Dialer{HandshakeTimeout: waitFor}
			c, _, err := d.Dial(gw.WS+"/chat/stream", nil)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			if err := exchange(c, b.N); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for range 8 {
		select {
		case err := <-b.StreamResult:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(waitFor):
			t.Fatal("a backend session did not finish")
		}
	}
}

// newPlainBackend is an HTTP server that ignores Upgrade and answers 200.
func newPlainBackend(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("not a websocket server"))
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}
