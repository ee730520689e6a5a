package h1server_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// echo upgrades to a WebSocket and echoes messages until the client leaves.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade answered
	}
	defer ws.Close()
	for {
		typ, msg, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if err := ws.WriteMessage(typ, msg); err != nil {
			return
		}
	}
})

func dialWS(t *testing.T, addr string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitFor}
	ws, resp, err := d.Dial("ws://"+addr+"/echo", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = ws.Close() })
	_ = ws.SetReadDeadline(time.Now().Add(waitFor))
	return ws
}

func roundTripWS(t *testing.T, ws *websocket.Conn, msg string) {
	t.Helper()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	_, got, err := ws.ReadMessage()
	if err != nil || string(got) != msg {
		t.Fatalf("echo of %q: %q, %v", msg, got, err)
	}
}

// TestWebSocketEcho through gorilla/websocket, which hijacks the connection.
func TestWebSocketEcho(t *testing.T) {
	_, addr := serveH1(t, echo)
	ws := dialWS(t, addr)
	for _, msg := range []string{"hello", "", string(make([]byte, 70000))} {
		roundTripWS(t, ws, msg)
	}
}

// TestShutdownLeavesHijackedConnections to their handler.
func TestShutdownLeavesHijackedConnections(t *testing.T) {
	srv, addr := serveH1(t, echo)
	ws := dialWS(t, addr)
	roundTripWS(t, ws, "before")
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	roundTripWS(t, ws, "after")
	_ = srv.Close()
	roundTripWS(t, ws, "after Close")
}

// TestHijackReturnsPipelinedBytes: what the client sent after the request is in the reader
// Hijack returns, whether it came with the request or while the server watched the
// connection.
func TestHijackReturnsPipelinedBytes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		body  string // the request's body, read before the hijack
		later bool   // the bytes come once the server watches the connection
	}{
		{name: "with the request"},
		{name: "with the request after a body", body: "abc"},
		{name: "while watched", later: true},
		{name: "while watched after a body", body: "abc", later: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ready := make(chan struct{}, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if tc.later {
					time.Sleep(watchDelay) // the server now watches the connection
					ready <- struct{}{}
					time.Sleep(watchDelay) // and has read the first byte
				}
				nc, brw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(waitFor))
				extra := make([]byte, 5)
				_, err = io.ReadFull(brw, extra)
				_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n")
				_, _ = brw.WriteString(string(body) + "|" + string(extra) + "|" + errString(err))
				_ = brw.Flush()
			})
			for _, s := range servers(t, h) {
				c := dial(t, s.addr)
				req := "POST / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\nContent-Length: 3\r\n\r\n" + tc.body
				if tc.body == "" {
					req = "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n"
				}
				if tc.later {
					c.send(req)
					<-ready
					c.send("extra")
				} else {
					c.send(req + "extra")
				}
				a := c.mustRead(http.MethodGet)
				if a.StatusCode != http.StatusSwitchingProtocols {
					t.Fatalf("%s: status %d %q", s.name, a.StatusCode, a.body)
				}
				rest, _ := io.ReadAll(c.br)
				if want := tc.body + "|extra|"; string(rest) != want {
					t.Errorf("%s: the handler read %q, want %q", s.name, rest, want)
				}
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestHijackAfterTheHead: a head already written goes out before the connection is handed
// over; the writer is unusable after.
func TestHijackAfterTheHead(t *testing.T) {
	errs := make(chan []error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Upgrade", "test")
		w.Header().Set("Connection", "Upgrade")
		w.WriteHeader(http.StatusSwitchingProtocols)
		rc := http.NewResponseController(w)
		nc, brw, err := rc.Hijack()
		if err != nil {
			errs <- []error{err}
			return
		}
		defer nc.Close()
		_, errWrite := w.Write([]byte("x"))
		_, _, errAgain := rc.Hijack()
		_, _ = brw.WriteString("raw bytes")
		_ = brw.Flush()
		errs <- []error{nil, errWrite, errAgain}
	})
	for _, s := range servers(t, h) {
		c := dial(t, s.addr)
		c.send("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
		a := c.mustRead(http.MethodGet)
		if a.StatusCode != http.StatusSwitchingProtocols || a.Header.Get("Upgrade") != "test" {
			t.Errorf("%s: %d %v", s.name, a.StatusCode, a.Header)
		}
		if rest, _ := io.ReadAll(c.br); string(rest) != "raw bytes" {
			t.Errorf("%s: after the head %q", s.name, rest)
		}
		got := <-errs
		if got[0] != nil {
			t.Fatalf("%s: Hijack: %v", s.name, got[0])
		}
		if !errors.Is(got[1], http.ErrHijacked) {
			t.Errorf("%s: Write after Hijack: %v, want http.ErrHijacked", s.name, got[1])
		}
		if got[2] == nil {
			t.Errorf("%s: a second Hijack succeeded", s.name)
		}
	}
}

// TestHijackedConnectionOutlivesClose: a hijacked connection is the handler's, which Close
// does not end.
func TestHijackedConnectionOutlivesClose(t *testing.T) {
	hijacked := make(chan net.Conn, 1)
	srv, addr := serveH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		hijacked <- nc
	}))
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	nc := <-hijacked
	defer nc.Close()
	_ = srv.Close()
	if _, err := io.WriteString(nc, "still mine"); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len("still mine"))
	if _, err := io.ReadFull(bufio.NewReader(c.nc), got); err != nil || string(got) != "still mine" {
		t.Errorf("read %q, %v", got, err)
	}
}
