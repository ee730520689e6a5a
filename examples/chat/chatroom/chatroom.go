// Package chatroom is the chat service of the examples: one WebSocket chat room behind the
// gateway's web handler. It is importable so that tests can serve it in-process; examples/chat
// wraps it in a program that registers it.
//
// Contract:
//   - GET /chat/ serves a self-contained HTML page (no external assets) that connects to the
//     WebSocket at "ws" relative to itself (/chat/ws), so it works directly and through a gateway.
//   - GET /chat/ws upgrades to a WebSocket, selecting the subprotocol "chat.v1" when the client
//     offers it (a client offering none gets none). The nickname comes from ?nick= (trimmed, control
//     characters dropped, at most MaxNick runes, "anonymous" when empty).
//   - Every text message a client sends is broadcast to every connected client, the sender
//     included, as "<nick>: <message>"; joins and leaves are broadcast as "* <nick> joined" and
//     "* <nick> left". Messages from one client reach everyone in the order sent.
//   - Limits: a message over Config.ReadLimit closes the sender with 1009; a binary message
//     closes it with 1003, text that is not UTF-8 with 1007; a client that answers no ping within Config.PongWait is dropped; a
//     client too slow to take its messages (Config.SendBuffer queued) is closed with 1008.
//   - Origins: a request without Origin (not a browser), from the same host, or from an origin in
//     Config.AllowedOrigins is accepted; others get 403. Behind the gateway the Host is the
//     node's address, so list the gateway's origin (e.g. http://localhost:8080).
//   - Shutdown closes every session with 1001 and waits for their goroutines; the room then
//     refuses new sessions with 1001.
package chatroom

import (
	"context"
	"embed"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// Name is the registry name of the chat service (/chat/... through a web route).
const Name = "go.micro.api.chat"

// Subprotocol is the WebSocket subprotocol the room speaks.
const Subprotocol = "chat.v1"

// MaxNick is the longest nickname kept, in runes.
const MaxNick = 24

// Defaults of Config.
const (
	DefaultReadLimit  = 4 << 10
	DefaultPongWait   = 60 * time.Second
	DefaultWriteWait  = 10 * time.Second
	DefaultSendBuffer = 64
	// closeGrace is how long a session waits for the peer's answer to its close frame.
	closeGrace = time.Second
)

//go:embed static/index.html
var static embed.FS

// Config tunes the room; zero values mean the documented defaults.
type Config struct {
	// AllowedOrigins lists browser origins accepted besides the same host: exact origins
	// ("http://localhost:8080") or "*" for any.
	AllowedOrigins []string
	// ReadLimit caps one incoming message in bytes; default 4 KiB.
	ReadLimit int64
	// PongWait drops a client that sent nothing, not even a pong, for this long; default 60s.
	PongWait time.Duration
	// PingInterval is how often clients are pinged; default PongWait/2, less than PongWait.
	PingInterval time.Duration
	// WriteWait bounds writing one message to a client; default 10s.
	WriteWait time.Duration
	// SendBuffer is how many messages may wait for a client before it counts as too slow;
	// default 64.
	SendBuffer int
}

// Room is the chat room and its HTTP handler. Create it with New.
type Room struct {
	cfg      Config
	log      *slog.Logger
	mux      *http.ServeMux
	upgrader websocket.Upgrader

	mu       sync.Mutex
	clients  map[*client]struct{} // receiving broadcasts
	sessions map[*client]struct{} // every live connection, for a forced close
	closed   bool
	wg       sync.WaitGroup // one per session, Done when its handler returns
}

// client is one connection. Its writer goroutine is the only one writing data frames.
type client struct {
	conn *websocket.Conn
	nick string
	send chan []byte // closed by the room (under mu) when the client leaves
	// closeMsg is the close frame the writer sends after send is closed (nil: none). Written
	// under Room.mu before send is closed, read by the writer after.
	closeMsg []byte
}

// New returns a room. A nil log discards.
func New(cfg Config, log *slog.Logger) *Room {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.ReadLimit <= 0 {
		cfg.ReadLimit = DefaultReadLimit
	}
	if cfg.PongWait <= 0 {
		cfg.PongWait = DefaultPongWait
	}
	if cfg.PingInterval <= 0 || cfg.PingInterval >= cfg.PongWait {
		cfg.PingInterval = cfg.PongWait / 2
	}
	if cfg.WriteWait <= 0 {
		cfg.WriteWait = DefaultWriteWait
	}
	if cfg.SendBuffer <= 0 {
		cfg.SendBuffer = DefaultSendBuffer
	}
	r := &Room{
		cfg: cfg, log: log, mux: http.NewServeMux(),
		clients:  map[*client]struct{}{},
		sessions: map[*client]struct{}{},
	}
	r.upgrader = websocket.Upgrader{
		HandshakeTimeout: cfg.WriteWait,
		Subprotocols:     []string{Subprotocol},
		CheckOrigin:      r.originAllowed,
	}
	r.mux.HandleFunc("GET /chat/{$}", r.page)
	r.mux.HandleFunc("GET /chat/ws", r.serveWS)
	return r
}

// ServeHTTP implements http.Handler.
func (r *Room) ServeHTTP(w http.ResponseWriter, req *http.Request) { r.mux.ServeHTTP(w, req) }

func (r *Room) page(w http.ResponseWriter, _ *http.Request) {
	body, err := static.ReadFile("static/index.html")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(body)
}

func (r *Room) originAllowed(req *http.Request) bool {
	origin := req.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if slices.Contains(r.cfg.AllowedOrigins, "*") || slices.Contains(r.cfg.AllowedOrigins, origin) {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, req.Host)
}

func (r *Room) serveWS(w http.ResponseWriter, req *http.Request) {
	nick := Nick(req.URL.Query().Get("nick"))
	conn, err := r.upgrader.Upgrade(w, req, nil)
	if err != nil {
		// Upgrade answered the client already.
		r.log.Debug("upgrade refused", "origin", req.Header.Get("Origin"), "error", err)
		return
	}
	c := &client{conn: conn, nick: nick, send: make(chan []byte, r.cfg.SendBuffer)}
	if !r.join(c) {
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(r.cfg.WriteWait))
		_ = conn.Close()
		return
	}
	defer r.wg.Done()
	r.log.Info("joined", "nick", nick, "remote", req.RemoteAddr, "subprotocol", conn.Subprotocol())

	var writer sync.WaitGroup
	writer.Go(func() { r.write(c) })
	r.broadcast("* " + nick + " joined")
	closeMsg := r.read(c)
	r.leave(c, closeMsg)
	writer.Wait()
	_ = conn.Close()
	r.untrack(c)
	r.broadcast("* " + nick + " left")
	r.log.Info("left", "nick", nick)
}

// read receives the client's messages until it goes away or breaks a rule, and returns the
// close frame to answer with (nil when none is due).
func (r *Room) read(c *client) []byte {
	c.conn.SetReadLimit(r.cfg.ReadLimit)
	_ = c.conn.SetReadDeadline(time.Now().Add(r.cfg.PongWait))
	c.conn.SetPongHandler(func(string) error {
		return c.conn.SetReadDeadline(time.Now().Add(r.cfg.PongWait))
	})
	for {
		typ, msg, err := c.conn.ReadMessage()
		if err != nil {
			// A peer's close frame was answered by the default close handler, and a message over
			// the limit by the library (1009): nothing more to send.
			if errors.Is(err, websocket.ErrReadLimit) {
				r.log.Info("message too big", "nick", c.nick, "limit", r.cfg.ReadLimit)
			}
			return nil
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(r.cfg.PongWait))
		if typ != websocket.TextMessage {
			return websocket.FormatCloseMessage(websocket.CloseUnsupportedData, "text messages only")
		}
		if !utf8.Valid(msg) {
			return websocket.FormatCloseMessage(websocket.CloseInvalidFramePayloadData, "text must be UTF-8")
		}
		r.broadcast(c.nick + ": " + string(msg))
	}
}

// write sends queued messages and pings until the room closes c.send, then the close frame.
func (r *Room) write(c *client) {
	ping := time.NewTicker(r.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case msg, ok := <-c.send:
			if !ok {
				if c.closeMsg != nil {
					_ = c.conn.WriteControl(websocket.CloseMessage, c.closeMsg, time.Now().Add(r.cfg.WriteWait))
					// The reader ends with the peer's answer, or after the grace period.
					_ = c.conn.SetReadDeadline(time.Now().Add(closeGrace))
				}
				return
			}
			_ = c.conn.SetWriteDeadline(time.Now().Add(r.cfg.WriteWait))
			if err := c.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				r.fail(c)
				return
			}
		case <-ping.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(r.cfg.WriteWait)); err != nil {
				r.fail(c)
				return
			}
		}
	}
}

// fail drops a client whose connection broke under the writer; closing the connection ends its
// reader.
func (r *Room) fail(c *client) {
	r.leave(c, nil)
	_ = c.conn.Close()
}

// join adds c unless the room is shut down; on success the caller owes r.wg.Done.
func (r *Room) join(c *client) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.clients[c] = struct{}{}
	r.sessions[c] = struct{}{}
	r.wg.Add(1)
	return true
}

// leave stops broadcasts to c and tells its writer to finish with closeMsg. Only the first
// call for a client counts.
func (r *Room) leave(c *client, closeMsg []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.leaveLocked(c, closeMsg)
}

func (r *Room) leaveLocked(c *client, closeMsg []byte) {
	if _, ok := r.clients[c]; !ok {
		return
	}
	delete(r.clients, c)
	c.closeMsg = closeMsg
	close(c.send)
}

func (r *Room) untrack(c *client) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.sessions, c)
}

// broadcast queues text for every client; a client whose queue is full is closed with 1008.
func (r *Room) broadcast(text string) {
	msg := []byte(text)
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.clients {
		select {
		case c.send <- msg:
		default:
			r.log.Warn("client too slow, closing it", "nick", c.nick)
			r.leaveLocked(c, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "too slow"))
		}
	}
}

// Shutdown closes every session with 1001 (going away) and waits until their goroutines have
// ended, or until ctx is done, when it cuts the remaining connections and waits for them. New
// sessions are refused from now on. It is safe to call more than once.
func (r *Room) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	for c := range r.clients {
		r.leaveLocked(c, websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"))
	}
	r.mu.Unlock()

	done := make(chan struct{})
	var waiter sync.WaitGroup
	waiter.Go(func() {
		r.wg.Wait()
		close(done)
	})
	defer waiter.Wait()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	r.mu.Lock()
	for c := range r.sessions {
		_ = c.conn.Close()
	}
	r.mu.Unlock()
	return ctx.Err()
}

// Nick cleans a requested nickname: trimmed, control and format characters dropped, at most
// MaxNick runes, "anonymous" when nothing is left.
func Nick(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if rs := []rune(s); len(rs) > MaxNick {
		s = strings.TrimSpace(string(rs[:MaxNick]))
	}
	if s == "" {
		return "anonymous"
	}
	return s
}
