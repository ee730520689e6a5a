package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/edgeapi/gateway/examples/chat/chatroom"
	httphandler "github.com/edgeapi/gateway/handler/http"
	"github.com/edgeapi/gateway/handler/web"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/registry/memory"
	"github.com/edgeapi/gateway/resolver"
	"github.com/edgeapi/gateway/router"
	"github.com/edgeapi/gateway/selector"
)

// waitFor bounds every wait of these tests.
const waitFor = 10 * time.Second

// gatewayOrigin is the origin of a browser page served by a gateway on its default address.
const gatewayOrigin = "http://localhost:8080"

// TestChatThroughGateway runs the chat program's serve on a free port, registered in a memory
// registry, behind the real gateway router and web handler with the README's route
// (/chat/* -> web): the page loads, two browser-like clients (Origin of the gateway) chat with
// the subprotocol negotiated end to end, and stopping the service closes them with 1001.
func TestChatThroughGateway(t *testing.T) {
	reg := memory.New()
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg       sync.WaitGroup
		serveErr error
	)
	wg.Go(func() {
		serveErr = serve(ctx, reg, "127.0.0.1:0", chatroom.Config{AllowedOrigins: []string{gatewayOrigin}}, slog.New(slog.DiscardHandler))
	})
	defer func() {
		cancel()
		wg.Wait()
	}()
	svc := waitRegistered(t, reg, chatroom.Name)
	gw := newGateway(t, svc)

	resp, err := (&http.Client{Timeout: waitFor}).Get(gw + "/chat/")
	if err != nil {
		t.Fatal(err)
	}
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "new WebSocket(") {
		t.Fatalf("GET /chat/ through the gateway: %d, %v\n%s", resp.StatusCode, err, page)
	}

	ws := "ws" + strings.TrimPrefix(gw, "http") + "/chat/ws?nick="
	alice := dial(t, ws+"alice")
	expect(t, alice, "* alice joined")
	bob := dial(t, ws+"bob")
	expect(t, bob, "* bob joined")
	expect(t, alice, "* bob joined")
	for _, c := range []*websocket.Conn{alice, bob} {
		if c.Subprotocol() != chatroom.Subprotocol {
			t.Fatalf("subprotocol %q through the gateway, want %q", c.Subprotocol(), chatroom.Subprotocol)
		}
	}
	if err := bob.WriteMessage(websocket.TextMessage, []byte("hello from bob")); err != nil {
		t.Fatal(err)
	}
	expect(t, alice, "bob: hello from bob")
	expect(t, bob, "bob: hello from bob")

	// Stopping the service closes the sessions with 1001, which the gateway passes on.
	cancel()
	for _, c := range []*websocket.Conn{alice, bob} {
		expectClose(t, c, websocket.CloseGoingAway)
	}
	wg.Wait()
	if serveErr != nil {
		t.Fatalf("serve: %v", serveErr)
	}
	if _, err := reg.GetService(context.Background(), chatroom.Name); err == nil {
		t.Fatal("still registered after stop")
	}
}

// waitRegistered polls reg until name has a node.
func waitRegistered(t *testing.T, reg registry.Registry, name string) *registry.Service {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		if svc, err := reg.GetService(context.Background(), name); err == nil && len(svc.Nodes) == 1 {
			return svc
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never registered", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newGateway serves the gateway's router with the web handler on the route /chat/* for svc,
// allowing WebSockets from gatewayOrigin.
func newGateway(t *testing.T, svc *registry.Service) string {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	sel, err := selector.New(selector.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sel.Update(map[string]*registry.Service{svc.Name: svc})
	res, err := resolver.New(resolver.KindPath, "go.micro.api")
	if err != nil {
		t.Fatal(err)
	}
	wh := web.New(httphandler.New(sel, log, httphandler.Config{}), sel, log, web.Config{AllowedOrigins: []string{gatewayOrigin}})
	root, err := router.New(router.Config{
		Log:            log,
		Resolver:       res,
		Handlers:       map[string]http.Handler{"web": wh},
		DefaultHandler: "web",
		Routes:         []router.Route{{Path: "/chat/*", Handler: "web", Service: chatroom.Name}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(root)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		_ = wh.Shutdown(ctx)
		srv.Close()
	})
	return srv.URL
}

// dial opens a WebSocket through the gateway the way a browser on the gateway's page would.
func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitFor, Subprotocols: []string{chatroom.Subprotocol}}
	c, resp, err := d.Dial(url, http.Header{"Origin": {gatewayOrigin}})
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

func expect(t *testing.T, c *websocket.Conn, want string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	_, msg, err := c.ReadMessage()
	if err != nil || string(msg) != want {
		t.Fatalf("got %q, %v; want %q", msg, err, want)
	}
}

func expectClose(t *testing.T, c *websocket.Conn, code int) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code {
			t.Fatalf("read error %v, want close code %d", err, code)
		}
		return
	}
}
