package router

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/edgeapi/gateway/apierror"
)

// RequestIDFrom returns the request id RequestID put in ctx.
func RequestIDFrom(ctx context.Context) string {
	if s := stateFrom(ctx); s != nil {
		return s.id
	}
	return ""
}

// RequestID keeps a well-formed incoming X-Request-Id or mints one, sets it on the request
// (so handlers forward it to backends) and on the response.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, r := withState(r)
		s.id = requestID(w.Header(), r.Header)
		next.ServeHTTP(w, r)
	})
}

// requestIDHeader is X-Request-Id in canonical form, to index header maps directly.
const requestIDHeader = "X-Request-Id"

// requestID returns the request's id and sets it on both headers. The two headers share one
// one-element value slice (Set and Add never write into an existing slice), which saves an
// allocation per request.
func requestID(resp, req http.Header) string {
	if v := req[requestIDHeader]; len(v) > 0 && validRequestID(v[0]) {
		resp[requestIDHeader] = v[:1:1]
		return v[0]
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	var h [24]byte
	hex.Encode(h[:], b[:])
	id := string(h[:])
	v := []string{id}
	req[requestIDHeader] = v
	resp[requestIDHeader] = v
	return id
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// Recover turns a panic in a handler into a 500 error body and one log line with the stack.
func Recover(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				v := recover()
				if v == nil || v == http.ErrAbortHandler {
					if v != nil {
						panic(v)
					}
					return
				}
				log.Error("handler panicked", "panic", fmt.Sprint(v), "path", r.URL.Path,
					"request_id", RequestIDFrom(r.Context()), "stack", string(debug.Stack()))
				apierror.Write(w, apierror.GatewayID, apierror.New(http.StatusInternalServerError, "internal error"))
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// statusRecorder remembers the status and size written, and keeps Flush working.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer (hijack, deadlines).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Hijack keeps WebSocket upgrades working for code that asserts http.Hijacker rather than
// using http.ResponseController (gorilla/websocket does).
func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err == nil && s.status == 0 {
		s.status = http.StatusSwitchingProtocols
	}
	return conn, brw, err
}

// RouteInfo says where the router sent a request; the router fills it in as it routes.
type RouteInfo struct {
	// Route is the matched pattern ("/orders/{id}"), "resolver" for the default handler, or
	// "" when nothing matched.
	Route string
	// Handler is rpc, api, http, web or event ("" for the gateway's own endpoints).
	Handler string
	// Service is the backend service the request was for.
	Service string

	done func(status int, d time.Duration)
}

// RouteInfoFrom returns the request's RouteInfo (nil outside the router).
func RouteInfoFrom(ctx context.Context) *RouteInfo {
	if s := stateFrom(ctx); s != nil {
		return &s.info
	}
	return nil
}

// Observer hears about every routed request: Start when the router has chosen the handler,
// and the returned function when the request ended. The metrics package implements it.
type Observer interface {
	Start(r *http.Request, info RouteInfo) (done func(status int, d time.Duration))
}

// routed records where a request goes and starts its observation.
func routed(r *http.Request, obs Observer, route, handler, service string) {
	ri := RouteInfoFrom(r.Context())
	if ri == nil {
		return
	}
	ri.Route, ri.Handler, ri.Service = route, handler, service
	if obs != nil && ri.done == nil {
		ri.done = obs.Start(r, *ri)
	}
}

// AccessLog writes one structured line per request, and ends the request's observation.
func AccessLog(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			s, r := withState(r)
			rec := &s.rec
			if rec.ResponseWriter != nil { // an AccessLog inside another: the state's is taken
				rec = &statusRecorder{}
			}
			rec.ResponseWriter = w
			ri := &s.info
			next.ServeHTTP(rec, r)
			if rec.status == 0 {
				rec.status = http.StatusOK // a handler that writes nothing sends 200
			}
			d := time.Since(start)
			if done := ri.done; done != nil {
				ri.done = nil // observed once, even by an AccessLog inside another
				done(rec.status, d)
			}
			if !log.Enabled(r.Context(), slog.LevelInfo) {
				return
			}
			log.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", rec.status),
				slog.Int64("bytes", rec.bytes),
				slog.Duration("duration", d),
				slog.String("service", ri.Service),
				slog.String("handler", ri.Handler),
				slog.String("remote", r.RemoteAddr),
				slog.String("request_id", s.id),
			)
		})
	}
}
