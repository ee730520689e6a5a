package dashboard

import (
	"bufio"
	"encoding/json"
	"mime"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/edgeapi/gateway/router"
)

// MaxErrorBody is how much of an error response's body the Recorder keeps.
const MaxErrorBody = 4 << 10

// ErrorEntry is one recorded failed request.
type ErrorEntry struct {
	Time      time.Time `json:"time"`
	RequestID string    `json:"requestId"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Status    int       `json:"status"`
	// ID, Detail and GRPCCode come from the gateway's error body (see package apierror).
	ID       string `json:"id,omitempty"`
	Detail   string `json:"detail,omitempty"`
	GRPCCode string `json:"grpcCode,omitempty"`
	// Body is the start of the body when it is not an error body the gateway wrote (a proxied
	// service's own error page, say).
	Body       string  `json:"body,omitempty"`
	DurationMS float64 `json:"durationMs"`
}

// Recorder keeps the last N responses with a status of 400 or more, in a ring: memory stays
// bounded however many errors come. Its Middleware records them; Recent reads them. Safe for
// concurrent use; a request that succeeds takes no lock.
type Recorder struct {
	mu    sync.Mutex
	ring  []ErrorEntry
	next  int
	full  bool
	total uint64
}

// NewRecorder returns a Recorder keeping the last n errors (at least 1).
func NewRecorder(n int) *Recorder {
	return &Recorder{ring: make([]ErrorEntry, max(n, 1))}
}

// Recent returns the recorded errors, newest first.
func (rc *Recorder) Recent() []ErrorEntry {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := rc.next
	if rc.full {
		n = len(rc.ring)
	}
	out := make([]ErrorEntry, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, rc.ring[(rc.next-i+len(rc.ring))%len(rc.ring)])
	}
	return out
}

// Total returns how many errors were recorded since the start, including those the ring no
// longer holds.
func (rc *Recorder) Total() uint64 {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.total
}

func (rc *Recorder) add(e ErrorEntry) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.ring[rc.next] = e
	rc.next++
	if rc.next == len(rc.ring) {
		rc.next, rc.full = 0, true
	}
	rc.total++
}

// Middleware records every response with a status of 400 or more: request id, method, path,
// status, time taken, and the error body's id, detail and gRPC code (the first MaxErrorBody
// bytes of the body are looked at). Streaming, Flush and WebSocket upgrades pass through.
func (rc *Recorder) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		cw := &captureWriter{ResponseWriter: w}
		next.ServeHTTP(cw, r)
		if cw.status < http.StatusBadRequest {
			return
		}
		e := ErrorEntry{
			Time: start, RequestID: router.RequestIDFrom(r.Context()), Method: r.Method, Path: r.URL.Path,
			Status: cw.status, DurationMS: float64(time.Since(start).Microseconds()) / 1000,
		}
		if e.RequestID == "" {
			e.RequestID = w.Header().Get("X-Request-Id")
		}
		var body struct {
			ID       string `json:"id"`
			Detail   string `json:"detail"`
			GRPCCode string `json:"grpc_code"`
		}
		ct, _, _ := mime.ParseMediaType(w.Header().Get("Content-Type"))
		if ct == "application/json" && json.Unmarshal(cw.body, &body) == nil && body.Detail != "" {
			e.ID, e.Detail, e.GRPCCode = body.ID, body.Detail, body.GRPCCode
		} else {
			e.Body = string(cw.body)
		}
		rc.add(e)
	})
}

// captureWriter remembers the status and the start of an error body.
type captureWriter struct {
	http.ResponseWriter
	status int
	body   []byte
}

func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if c.status >= http.StatusBadRequest && len(c.body) < MaxErrorBody {
		c.body = append(c.body, b[:min(len(b), MaxErrorBody-len(c.body))]...)
	}
	return c.ResponseWriter.Write(b)
}

func (c *captureWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (c *captureWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// Hijack keeps WebSocket upgrades working for code that asserts http.Hijacker.
func (c *captureWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(c.ResponseWriter).Hijack()
	if err == nil && c.status == 0 {
		c.status = http.StatusSwitchingProtocols
	}
	return conn, brw, err
}
