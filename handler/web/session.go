package web

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// closeGrace is how long each side gets to answer a close frame before its socket is closed.
// Closing a socket with unread data resets the connection, and a reset can destroy the close
// frame still in flight to the peer, so the close handshake is given a moment to complete.
const closeGrace = time.Second

// session pumps messages between a client and a backend WebSocket.
//
// Writers: each connection is written by exactly one pump (data messages); the pinger and
// closeBoth only use WriteControl, which gorilla allows concurrently with everything else.
type session struct {
	client, backend *websocket.Conn
	cfg             Config
	log             *slog.Logger
	closeOnce       sync.Once
	// closing is closed once close frames were sent to both sides; afterwards nothing extends
	// the read deadlines any more.
	closing   chan struct{}
	isClosing atomic.Bool
}

func newSession(client, backend *websocket.Conn, cfg Config, log *slog.Logger) *session {
	return &session{client: client, backend: backend, cfg: cfg, log: log, closing: make(chan struct{})}
}

// run pumps both ways until either side ends, then completes the close handshake on both
// sides (bounded by closeGrace) and closes both sockets. It returns when both pumps and the
// pinger have stopped.
func (s *session) run() {
	var pumps sync.WaitGroup
	pumps.Go(func() { s.pump(s.client, s.backend) })
	pumps.Go(func() { s.pump(s.backend, s.client) })
	pumpsDone := make(chan struct{})
	go func() { pumps.Wait(); close(pumpsDone) }()

	stopPing := make(chan struct{})
	var pinger sync.WaitGroup
	pinger.Go(func() { s.ping(stopPing) })

	// Every way a pump ends goes through closeBoth, so closing is always reached.
	<-s.closing
	grace := time.NewTimer(closeGrace)
	select {
	case <-pumpsDone: // both sides answered the close frame (or went away)
	case <-grace.C: // a side that does not answer is cut off
	}
	grace.Stop()
	close(stopPing)
	_ = s.client.Close()
	_ = s.backend.Close()
	<-pumpsDone
	pinger.Wait()
}

func (s *session) prepare(c *websocket.Conn) {
	c.SetReadLimit(s.cfg.ReadLimit)
	_ = c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
	c.SetPongHandler(func(string) error {
		s.extend(c)
		return nil
	})
}

// extend pushes c's idle deadline forward, unless the session is closing.
func (s *session) extend(c *websocket.Conn) {
	if !s.isClosing.Load() {
		_ = c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
	}
}

// pump copies messages from src to dst; on src's close frame it forwards the code and reason.
func (s *session) pump(src, dst *websocket.Conn) {
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
		s.extend(src)
		_ = dst.SetWriteDeadline(time.Now().Add(s.cfg.IdleTimeout))
		if err := dst.WriteMessage(typ, msg); err != nil {
			s.closeBoth(websocket.CloseGoingAway, "peer went away")
			return
		}
	}
}

func (s *session) ping(stop <-chan struct{}) {
	t := time.NewTicker(s.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			deadline := time.Now().Add(s.cfg.PingInterval)
			err1 := s.client.WriteControl(websocket.PingMessage, nil, deadline)
			err2 := s.backend.WriteControl(websocket.PingMessage, nil, deadline)
			if err1 != nil || err2 != nil {
				s.closeBoth(websocket.CloseGoingAway, "ping failed")
				return
			}
		}
	}
}

// closeBoth sends a close frame with code and reason to both sides; run then waits for their
// answers (up to closeGrace) and closes the sockets. A side that already sent or answered a
// close frame gets no second one.
func (s *session) closeBoth(code int, reason string) {
	s.closeOnce.Do(func() {
		if code == websocket.CloseAbnormalClosure || code == websocket.CloseNoStatusReceived || code == websocket.CloseTLSHandshake {
			code = websocket.CloseGoingAway // reserved codes must not be sent on the wire
		}
		s.isClosing.Store(true)
		msg := websocket.FormatCloseMessage(code, reason)
		deadline := time.Now().Add(closeGrace)
		_ = s.client.WriteControl(websocket.CloseMessage, msg, deadline)
		_ = s.backend.WriteControl(websocket.CloseMessage, msg, deadline)
		grace := time.Now().Add(closeGrace)
		_ = s.client.SetReadDeadline(grace)
		_ = s.backend.SetReadDeadline(grace)
		close(s.closing)
	})
}
