package loadgen

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/gorilla/websocket"
)

// WebSocket sends a fixed text message and waits for its echo, one at a time per connection.
type WebSocket struct {
	URL    string // ws://host:port/path
	Origin string // empty: none (a non-browser client)
	Msg    []byte
}

// Dial implements Dialer.
func (w *WebSocket) Dial(ctx context.Context) (Conn, error) {
	c := &wsConn{w: w}
	if err := c.connect(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

type wsConn struct {
	w *WebSocket
	c *websocket.Conn
}

func (c *wsConn) connect(ctx context.Context) error {
	h := http.Header{}
	if c.w.Origin != "" {
		h.Set("Origin", c.w.Origin)
	}
	d := websocket.Dialer{ReadBufferSize: 8 << 10, WriteBufferSize: 8 << 10}
	conn, res, err := d.DialContext(ctx, c.w.URL, h)
	if res != nil && res.Body != nil {
		_ = res.Body.Close()
	}
	if err != nil {
		return err
	}
	c.c = conn
	return nil
}

var errEcho = errors.New("websocket echo differs in length")

func (c *wsConn) Do(ctx context.Context) error {
	if c.c == nil {
		if err := c.connect(ctx); err != nil {
			return err
		}
	}
	if err := c.c.WriteMessage(websocket.TextMessage, c.w.Msg); err != nil {
		c.drop()
		return err
	}
	_, r, err := c.c.NextReader()
	if err != nil {
		c.drop()
		return err
	}
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		c.drop()
		return err
	}
	if n != int64(len(c.w.Msg)) {
		return errEcho
	}
	return nil
}

func (c *wsConn) drop() {
	_ = c.c.Close()
	c.c = nil
}

func (c *wsConn) Close() error {
	if c.c == nil {
		return nil
	}
	return c.c.Close()
}
