package chatroom_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/edgeapi/gateway/examples/chat/chatroom"
)

// waitFor bounds every wait of these tests.
const waitFor = 10 * time.Second

func startRoom(t *testing.T, cfg chatroom.Config) (*chatroom.Room, string) {
	t.Helper()
	room := chatroom.New(cfg, nil)
	srv := httptest.NewServer(room)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := room.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		srv.Close()
	})
	return room, "ws" + strings.TrimPrefix(srv.URL, "http")
}

// dial opens a WebSocket offering chat.v1, with extra request headers.
func dial(t *testing.T, url string, hdr http.Header) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitFor, Subprotocols: []string{"other.v2", chatroom.Subprotocol}}
	c, resp, err := d.Dial(url, hdr)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", url, err, status)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// expect reads messages until want arrives, failing on anything else or after waitFor.
func expect(t *testing.T, c *websocket.Conn, want ...string) {
	t.Helper()
	for _, w := range want {
		_ = c.SetReadDeadline(time.Now().Add(waitFor))
		typ, msg, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for %q: %v", w, err)
		}
		if typ != websocket.TextMessage || string(msg) != w {
			t.Fatalf("got %q (type %d), want %q", msg, typ, w)
		}
	}
}

// expectClose reads until the connection closes and checks the close code.
func expectClose(t *testing.T, c *websocket.Conn, code int) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue // broadcasts still queued
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code {
			t.Fatalf("read error %v, want close code %d", err, code)
		}
		return
	}
}

func TestBroadcastBetweenTwoClients(t *testing.T) {
	_, url := startRoom(t, chatroom.Config{})
	alice := dial(t, url+"/chat/ws?nick=alice", nil)
	if p := alice.Subprotocol(); p != chatroom.Subprotocol {
		t.Fatalf("subprotocol %q, want %q", p, chatroom.Subprotocol)
	}
	expect(t, alice, "* alice joined")
	bob := dial(t, url+"/chat/ws?nick=bob", nil)
	expect(t, bob, "* bob joined")
	expect(t, alice, "* bob joined")

	if err := alice.WriteMessage(websocket.TextMessage, []byte("hi bob")); err != nil {
		t.Fatal(err)
	}
	if err := bob.WriteMessage(websocket.TextMessage, []byte("hi alice")); err != nil {
		t.Fatal(err)
	}
	// Each sender's messages keep their order; between senders the room decides, so each client
	// sees the same two lines in some order.
	for _, c := range []*websocket.Conn{alice, bob} {
		got := map[string]bool{}
		for range 2 {
			_ = c.SetReadDeadline(time.Now().Add(waitFor))
			_, msg, err := c.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			got[string(msg)] = true
		}
		if !got["alice: hi bob"] || !got["bob: hi alice"] {
			t.Fatalf("got %v", got)
		}
	}

	if err := bob.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")); err != nil {
		t.Fatal(err)
	}
	expectClose(t, bob, websocket.CloseNormalClosure)
	expect(t, alice, "* bob left")
}

func TestWithoutSubprotocolAndNick(t *testing.T) {
	_, url := startRoom(t, chatroom.Config{})
	c, _, err := (&websocket.Dialer{HandshakeTimeout: waitFor}).Dial(url+"/chat/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Subprotocol() != "" {
		t.Fatalf("subprotocol %q chosen though none was offered", c.Subprotocol())
	}
	expect(t, c, "* anonymous joined")
}

func TestLimits(t *testing.T) {
	_, url := startRoom(t, chatroom.Config{ReadLimit: 16})
	for _, tc := range []struct {
		name string
		typ  int
		data []byte
		code int
	}{
		{"too big", websocket.TextMessage, []byte(strings.Repeat("x", 17)), websocket.CloseMessageTooBig},
		{"binary", websocket.BinaryMessage, []byte{1, 2, 3}, websocket.CloseUnsupportedData},
		{"not UTF-8", websocket.TextMessage, []byte{0xff, 0xfe}, websocket.CloseInvalidFramePayloadData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, url+"/chat/ws?nick=x", nil)
			expect(t, c, "* x joined")
			if err := c.WriteMessage(tc.typ, tc.data); err != nil {
				t.Fatal(err)
			}
			expectClose(t, c, tc.code)
		})
	}
	// A message at the limit passes.
	c := dial(t, url+"/chat/ws?nick=x", nil)
	expect(t, c, "* x joined")
	if err := c.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("y", 16))); err != nil {
		t.Fatal(err)
	}
	expect(t, c, "x: "+strings.Repeat("y", 16))
}

func TestPingsAndSilentClientsAreDropped(t *testing.T) {
	_, url := startRoom(t, chatroom.Config{PongWait: 200 * time.Millisecond, PingInterval: 20 * time.Millisecond})

	// A client that answers pings is pinged (the default handler answers while reading).
	pinged := make(chan struct{}, 1)
	live := dial(t, url+"/chat/ws?nick=live", nil)
	live.SetPingHandler(func(data string) error {
		select {
		case pinged <- struct{}{}:
		default:
		}
		return live.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(waitFor))
	})
	expect(t, live, "* live joined")

	// A client that never answers is dropped once PongWait passes.
	silent := dial(t, url+"/chat/ws?nick=silent", nil)
	silent.SetPingHandler(func(string) error { return nil })
	expect(t, silent, "* silent joined")

	// live stays: it sees silent join, then leave, reading all the while (which answers pings).
	expect(t, live, "* silent joined", "* silent left")
	select {
	case <-pinged:
	default:
		t.Fatal("live was never pinged")
	}
	_ = silent.SetReadDeadline(time.Now().Add(waitFor))
	for {
		if _, _, err := silent.ReadMessage(); err != nil {
			break // the server dropped it
		}
	}
}

func TestOrigins(t *testing.T) {
	_, url := startRoom(t, chatroom.Config{AllowedOrigins: []string{"http://localhost:8080"}})
	host := strings.TrimPrefix(url, "ws://")
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{"http://" + host, true}, // same host: the page served by this server
		{"http://localhost:8080", true},
		{"https://evil.example", false},
		{"http://localhost:8081", false},
	} {
		hdr := http.Header{}
		if tc.origin != "" {
			hdr.Set("Origin", tc.origin)
		}
		c, resp, err := (&websocket.Dialer{HandshakeTimeout: waitFor}).Dial(url+"/chat/ws", hdr)
		if tc.ok {
			if err != nil {
				t.Errorf("origin %q refused: %v", tc.origin, err)
				continue
			}
			_ = c.Close()
			continue
		}
		if err == nil {
			_ = c.Close()
			t.Errorf("origin %q accepted", tc.origin)
		} else if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("origin %q: %v, want 403", tc.origin, err)
		}
	}
}

func TestPage(t *testing.T) {
	room := chatroom.New(chatroom.Config{}, nil)
	srv := httptest.NewServer(room)
	defer srv.Close()
	resp, err := (&http.Client{Timeout: waitFor}).Get(srv.URL + "/chat") // redirected to /chat/
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/chat/" {
		t.Fatalf("GET /chat: %d at %s, %v", resp.StatusCode, resp.Request.URL.Path, err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q", ct)
	}
	page := string(body)
	for _, want := range []string{`new WebSocket(url, ["chat.v1"])`, `new URL("ws", location.href)`, `"wss:"`, "textContent"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	for _, external := range []string{"src=", "href=", "@import"} {
		if strings.Contains(page, external) {
			t.Errorf("page loads an external asset (%s)", external)
		}
	}
}

func TestShutdownClosesSessionsAndRefusesNewOnes(t *testing.T) {
	room, url := startRoom(t, chatroom.Config{})
	c := dial(t, url+"/chat/ws?nick=x", nil)
	expect(t, c, "* x joined")

	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	// The client reads meanwhile, so it answers the close frame and Shutdown need not wait out
	// the grace period.
	var (
		wg       sync.WaitGroup
		shutdown error
	)
	wg.Go(func() { shutdown = room.Shutdown(ctx) })
	expectClose(t, c, websocket.CloseGoingAway)
	wg.Wait()
	if shutdown != nil {
		t.Fatal(shutdown)
	}

	late := dial(t, url+"/chat/ws?nick=late", nil)
	expectClose(t, late, websocket.CloseGoingAway)
}

func TestNick(t *testing.T) {
	for in, want := range map[string]string{
		"alice":                       "alice",
		"  bob  ":                     "bob",
		"":                            "anonymous",
		"\x00\x1b[31m":                "[31m",
		"a\u200bb":                    "ab",
		" \t\n":                       "anonymous",
		strings.Repeat("é", 30):       strings.Repeat("é", chatroom.MaxNick),
		"x" + strings.Repeat(" ", 30): "x",
	} {
		if got := chatroom.Nick(in); got != want {
			t.Errorf("Nick(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestShutdownCutsSessionsAtItsDeadline(t *testing.T) {
	room, url := startRoom(t, chatroom.Config{})
	c := dial(t, url+"/chat/ws?nick=x", nil)
	expect(t, c, "* x joined")

	// The client does not read, so it never answers the close frame: Shutdown gives up waiting
	// when its context ends, cuts the connection and still waits for the session to end.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := room.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			break // the close frame, or the cut connection
		}
	}
}
