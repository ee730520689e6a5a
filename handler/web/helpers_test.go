package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	httphandler "github.com/edgeapi/gateway/handler/http"
	"github.com/edgeapi/gateway/handler/web"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/resolver"
	"github.com/edgeapi/gateway/router"
	"github.com/edgeapi/gateway/selector"
)

// waitFor bounds every wait the tests coordinate on.
const waitFor = 10 * time.Second

var chatRoute = router.Route{Path: "/chat/*", Handler: "web", Service: "svc", StripPrefix: "/chat"}

// gateway is the real router with the web handler on /chat/* (service "svc") and as the default
// handler (path resolver, namespace go.micro.api), served on loopback.
type gateway struct {
	URL string // http://127.0.0.1:port
	WS  string // ws://127.0.0.1:port
	Web *web.Handler
	Sel *selector.Selector
}

func newGateway(t testing.TB, cfg web.Config, services map[string][]string) *gateway {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	sel, err := selector.New(selector.Config{})
	if err != nil {
		t.Fatal(err)
	}
	table := map[string]*registry.Service{}
	for name, addrs := range services {
		svc := &registry.Service{Name: name}
		for i, a := range addrs {
			svc.Nodes = append(svc.Nodes, registry.Node{ID: fmt.Sprintf("%s-%d", name, i), Address: a})
		}
		table[name] = svc
	}
	sel.Update(table)
	res, err := resolver.New(resolver.KindPath, "go.micro.api")
	if err != nil {
		t.Fatal(err)
	}
	h := web.New(httphandler.New(sel, log, httphandler.Config{}), sel, log, cfg)
	root, err := router.New(router.Config{
		Log:            log,
		Resolver:       res,
		Handlers:       map[string]http.Handler{"web": h},
		DefaultHandler: "web",
		Routes:         []router.Route{chatRoute},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(root)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		_ = h.Shutdown(ctx)
		srv.Close()
	})
	return &gateway{URL: srv.URL, WS: "ws" + strings.TrimPrefix(srv.URL, "http"), Web: h, Sel: sel}
}

// wsBackend is a real HTTP + WebSocket backend. Paths:
//
//	/echo         echoes every message with its type
//	/closer       after the first message, closes with 4002 "done"
//	/big          sends one message of BigSize bytes
//	/stream       sends N messages and checks N incoming ones in order, concurrently (see N)
//	anything else without Upgrade: a JSON description of the request
type wsBackend struct {
	Addr     string
	N        int
	BigSize  int
	upgrader websocket.Upgrader

	// Closes receives the close frame (or error) each session's reader ended with.
	Closes chan error
	// Offered receives the subprotocols each handshake offered.
	Offered chan []string
	// StreamResult receives the outcome of each /stream session.
	StreamResult chan error
}

func newWSBackend(t testing.TB) *wsBackend {
	t.Helper()
	b := &wsBackend{
		N:            10000,
		BigSize:      4096,
		Closes:       make(chan error, 64),
		Offered:      make(chan []string, 64),
		StreamResult: make(chan error, 8),
		upgrader: websocket.Upgrader{
			Subprotocols: []string{"b"},
			CheckOrigin:  func(*http.Request) bool { return true },
		},
	}
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	b.Addr = srv.Listener.Addr().String()
	return b
}

func (b *wsBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery, "body": string(body)})
		return
	}
	if r.URL.Path == "/refuse" {
		http.Error(w, "no websockets for you", http.StatusForbidden)
		return
	}
	select {
	case b.Offered <- websocket.Subprotocols(r):
	default:
	}
	c, err := b.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	switch r.URL.Path {
	case "/closer":
		if _, _, err := c.ReadMessage(); err != nil {
			b.report(err)
			return
		}
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4002, "done"), time.Now().Add(time.Second))
		b.drain(c)
	case "/big":
		_ = c.WriteMessage(websocket.BinaryMessage, make([]byte, b.BigSize))
		b.drain(c)
	case "/stream":
		b.StreamResult <- exchange(c, b.N)
	default: // echo
		for {
			typ, msg, err := c.ReadMessage()
			if err != nil {
				b.report(err)
				return
			}
			if err := c.WriteMessage(typ, msg); err != nil {
				return
			}
		}
	}
}

func (b *wsBackend) drain(c *websocket.Conn) {
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			b.report(err)
			return
		}
	}
}

func (b *wsBackend) report(err error) {
	select {
	case b.Closes <- err:
	default:
	}
}

// message i of a sequence: even ones are text, odd ones binary; both carry i.
func message(i int) (int, []byte) {
	if i%2 == 0 {
		return websocket.TextMessage, fmt.Appendf(nil, "text message %06d", i)
	}
	p := make([]byte, 64+i%200)
	for j := range p {
		p[j] = byte(i + j)
	}
	copy(p, fmt.Appendf(nil, "%06d", i))
	return websocket.BinaryMessage, p
}

func checkMessage(i, typ int, got []byte) error {
	wantTyp, want := message(i)
	if typ != wantTyp || string(got) != string(want) {
		return fmt.Errorf("message %d: type %d %q..., want type %d %q...", i, typ, head(got), wantTyp, head(want))
	}
	return nil
}

func head(b []byte) []byte {
	if len(b) > 24 {
		return b[:24]
	}
	return b
}

// exchange sends n messages and reads n messages concurrently on c, checking order, type and
// content of what it reads.
func exchange(c *websocket.Conn, n int) error {
	var wg sync.WaitGroup
	var werr error
	wg.Go(func() {
		for i := range n {
			typ, p := message(i)
			if werr = c.WriteMessage(typ, p); werr != nil {
				werr = fmt.Errorf("writing message %d: %w", i, werr)
				return
			}
		}
	})
	var rerr error
	for i := range n {
		typ, p, err := c.ReadMessage()
		if err != nil {
			rerr = fmt.Errorf("reading message %d: %w", i, err)
			break
		}
		if rerr = checkMessage(i, typ, p); rerr != nil {
			break
		}
	}
	wg.Wait()
	return errors.Join(werr, rerr)
}

// dial opens a WebSocket through the gateway.
func dial(t testing.TB, url string, hdr http.Header, protos ...string) (*websocket.Conn, *http.Response) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitFor, Subprotocols: protos}
	c, resp, err := d.Dial(url, hdr)
	if err != nil {
		body := ""
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			body = fmt.Sprintf(" (%d %s)", resp.StatusCode, b)
		}
		t.Fatalf("dial %s: %v%s", url, err, body)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, resp
}

// dialRefused dials and expects the gateway's JSON error with code.
func dialRefused(t *testing.T, url string, hdr http.Header, code int) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitFor}
	c, resp, err := d.Dial(url, hdr)
	if err == nil {
		_ = c.Close()
		t.Fatalf("dial %s succeeded, want %d", url, code)
	}
	if resp == nil {
		t.Fatalf("dial %s: %v, want an HTTP %d answer", url, err, code)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != code || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("dial %s: %d %q %s, want %d application/json", url, resp.StatusCode, resp.Header.Get("Content-Type"), body, code)
	}
	var e struct {
		Code   int    `json:"code"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Code != code || e.Detail == "" {
		t.Fatalf("error body %s: %v", body, err)
	}
}

// wantClose reads from c until it ends and checks the close code and reason.
func wantClose(t *testing.T, c *websocket.Conn, code int, reason string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("connection ended with %v, want close %d %q", err, code, reason)
		}
		if ce.Code != code || ce.Text != reason {
			t.Fatalf("closed with %d %q, want %d %q", ce.Code, ce.Text, code, reason)
		}
		return
	}
}

// wantBackendClose waits for a backend session to end with close code and reason.
func wantBackendClose(t *testing.T, b *wsBackend, code int, reason string) {
	t.Helper()
	select {
	case err := <-b.Closes:
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code || (reason != "*" && ce.Text != reason) {
			t.Fatalf("backend session ended with %v, want close %d %q", err, code, reason)
		}
	case <-time.After(waitFor):
		t.Fatalf("the backend session did not end (want close %d %q)", code, reason)
	}
}

func deadAddress(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}
