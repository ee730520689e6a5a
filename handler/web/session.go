package web

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// session pumps messages between a client and a backend WebSocket.
type session struct {
	client, backend *websocket.Conn
	cfg             Config
	log             *slog.Logger
	closeOnce       sync.Once
	// writeMu serialises writers per connection: the pump and the pinger both write.
	clientMu, backendMu sync.Mutex
}

// run pumps both ways until either side ends, then closes both. It returns when both pumps and
// the pinger have stopped.
func (s *session) run() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); s.pump(s.client, s.backend, &s.backendMu) }()
	go func() { defer wg.Done(); s.pump(s.backend, s.client, &s.clientMu) }()
	go func() { defer wg.Done(); s.ping(done) }()
	// The first pump to end closes both connections, which ends the other pump.
	wg.Wait()
	close(done)
}

func (s *session) prepare(c *websocket.Conn) {
	c.SetReadLimit(s.cfg.ReadLimit)
	_ = c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
	c.SetPongHandler(func(string) error {
		return c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
	})
}

// pump copies messages from src to dst; on src's close frame it forwards the code and reason.
func (s *session) pump(src, dst *websocket.Conn, dstMu *sync.Mutex) {
	s.prepare(src)
	for {
		typ, msg, err := src.ReadMessage()
		if err != nil {
			code, reason := websocket.CloseGoingAway, "peer went away"
			var ce *websocket.CloseError
			switch {
			case errors.As(err, &ce):
				code, reason = ce.Code, ce.Text
				if code == websocket.CloseNoStatusReceived {
					code, reason = websocket.CloseNormalClosure, ""
				}
			case errors.Is(err, websocket.ErrReadLimit):
				code, reason = websocket.CloseMessageTooBig, "message too big"
			}
			s.closeBoth(code, reason)
			return
		}
		_ = src.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		dstMu.Lock()
		_ = dst.SetWriteDeadline(time.Now().Add(s.cfg.IdleTimeout))
		err = dst.WriteMessage(typ, msg)
		dstMu.Unlock()
		if err != nil {
			s.closeBoth(websocket.CloseGoingAway, "peer went away")
			return
		}
	}
}

func (s *session) ping(done <-chan struct{}) {
	t := time.NewTicker(s.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			deadline := time.Now().Add(s.cfg.PingInterval)
			s.clientMu.Lock()
			err1 := s.client.WriteControl(websocket.PingMessage, nil, deadline)
			s.clientMu.Unlock()
			s.backendMu.Lock()
			err2 := s.backend.WriteControl(websocket.PingMessage, nil, deadline)
			s.backendMu.Unlock()
			if err1 != nil || err2 != nil {
				s.closeBoth(websocket.CloseGoingAway, "ping failed")
				return
			}
		}
	}
}

// closeBoth sends a close frame with code and reason to both sides, then closes the sockets.
func (s *session) closeBoth(code int, reason string) {
	s.closeOnce.Do(func() {
		if code == websocket.CloseAbnormalClosure || code == websocket.CloseNoStatusReceived || code == websocket.CloseTLSHandshake {
			code = websocket.CloseGoingAway // reserved codes must not be sent on the wire
		}
		msg := websocket.FormatCloseMessage(code, reason)
		deadline := time.Now().Add(time.Second)
		s.clientMu.Lock()
		_ = s.client.WriteControl(websocket.CloseMessage, msg, deadline)
		s.clientMu.Unlock()
		s.backendMu.Lock()
		_ = s.backend.WriteControl(websocket.CloseMessage, msg, deadline)
		s.backendMu.Unlock()
		_ = s.client.Close()
		_ = s.backend.Close()
	})
}
