package router

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edgeapi/gateway/internal/testwait"
)

func TestRequestID(t *testing.T) {
	var seen string
	h := RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = RequestIDFrom(r.Context())
		if r.Header.Get("X-Request-Id") != seen {
			t.Errorf("request header %q, context %q", r.Header.Get("X-Request-Id"), seen)
		}
	}))
	cases := []struct {
		name, in string
		kept     bool
	}{
		{"kept", "abc-123", true},
		{"kept with punctuation", "req:1/2;x=y", true},
		{"kept at 128 bytes", strings.Repeat("a", 128), true},
		{"minted when absent", "", false},
		{"minted when too long", strings.Repeat("a", 129), false},
		{"minted for a space", "a b", false},
		{"minted for a control character", "a\x01b", false},
		{"minted for non-ASCII", "é", false},
	}
	minted := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tc.in != "" {
				r.Header["X-Request-Id"] = []string{tc.in}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			echoed := w.Header().Get("X-Request-Id")
			if echoed != seen {
				t.Errorf("response id %q, handler saw %q", echoed, seen)
			}
			if tc.kept {
				if seen != tc.in {
					t.Errorf("id %q, want %q kept", seen, tc.in)
				}
				return
			}
			if len(seen) != 24 || strings.Trim(seen, "0123456789abcdef") != "" || minted[seen] {
				t.Errorf("minted id %q: want 24 fresh hex digits", seen)
			}
			minted[seen] = true
		})
	}
	if RequestIDFrom(httptest.NewRequest("GET", "/", nil).Context()) != "" {
		t.Error("RequestIDFrom of a bare context is not empty")
	}
}

func TestRecover(t *testing.T) {
	h, logs := newRouter(t, Config{Handlers: map[string]http.Handler{
		"rpc": http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }),
	}})
	r := do(h, "GET", "/orderservice/OrderSrv/GetOrder", http.Header{"X-Request-Id": {"rid-7"}})
	m := r.errorBody(t, http.StatusInternalServerError)
	if m["id"] != "gateway" || m["detail"] != "internal error" {
		t.Errorf("body %v", m)
	}
	if r.header.Get("X-Request-Id") != "rid-7" {
		t.Errorf("X-Request-Id %q", r.header.Get("X-Request-Id"))
	}
	var panicLine, accessLine map[string]any
	for _, l := range logs.lines(t) {
		switch l["msg"] {
		case "handler panicked":
			panicLine = l
		case "request":
			accessLine = l
		}
	}
	if panicLine == nil || panicLine["panic"] != "boom" || panicLine["request_id"] != "rid-7" ||
		!strings.Contains(panicLine["stack"].(string), "router") || panicLine["level"] != "ERROR" {
		t.Errorf("panic log %v", panicLine)
	}
	if accessLine == nil || accessLine["status"] != float64(500) || accessLine["request_id"] != "rid-7" {
		t.Errorf("access log %v, want the 500 recorded", accessLine)
	}
}

func TestRecoverLetsAbortThrough(t *testing.T) {
	h := Recover(slog.New(slog.DiscardHandler))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler", v)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	t.Error("ErrAbortHandler was swallowed")
}

func TestAccessLog(t *testing.T) {
	cases := []struct {
		name   string
		h      http.HandlerFunc
		status float64
		bytes  float64
	}{
		{"explicit status", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(201); io.WriteString(w, "made") }, 201, 4},
		{"implicit 200", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello") }, 200, 5},
		{"nothing written", func(http.ResponseWriter, *http.Request) {}, 200, 0},
		{"first status wins", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(404); w.WriteHeader(500) }, 404, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logs := &logBuffer{}
			h := RequestID(AccessLog(slog.New(slog.NewJSONHandler(logs, nil)))(tc.h))
			r := httptest.NewRequest("POST", "/some/path?q=1", nil)
			r.RemoteAddr = "192.0.2.1:1234"
			h.ServeHTTP(httptest.NewRecorder(), r)
			lines := logs.lines(t)
			if len(lines) != 1 {
				t.Fatalf("%d log lines", len(lines))
			}
			l := lines[0]
			if l["msg"] != "request" || l["method"] != "POST" || l["path"] != "/some/path" || l["status"] != tc.status ||
				l["bytes"] != tc.bytes || l["remote"] != "192.0.2.1:1234" || l["request_id"] == "" || l["duration"] == nil {
				t.Errorf("log line %v", l)
			}
		})
	}
	t.Run("through the router", func(t *testing.T) {
		h, logs := newRouter(t, Config{})
		do(h, "GET", "/a//b", nil)
		lines := logs.lines(t)
		if len(lines) != 1 || lines[0]["status"] != float64(404) || lines[0]["path"] != "/a//b" {
			t.Errorf("log %v", lines)
		}
	})
	t.Run("disabled level", func(t *testing.T) {
		logs := &logBuffer{}
		log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
		AccessLog(log)(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		if len(logs.lines(t)) != 0 {
			t.Error("logged below the handler's level")
		}
	})
}

// TestAccessLogKeepsWriterAbilities checks that a handler behind AccessLog can still flush and
// hijack, both through http.ResponseController and by type assertion.
func TestAccessLogKeepsWriterAbilities(t *testing.T) {
	logs := &logBuffer{}
	mw := AccessLog(slog.New(slog.NewJSONHandler(logs, nil)))
	srv := httptest.NewServer(mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/flush":
			io.WriteString(w, "a")
			w.(http.Flusher).Flush()
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("ResponseController.Flush: %v", err)
			}
		case "/hijack":
			hj, ok := w.(http.Hijacker)
			if !ok {
				http.Error(w, "no Hijacker", 500)
				return
			}
			conn, brw, err := hj.Hijack()
			if err != nil {
				t.Errorf("Hijack: %v", err)
				return
			}
			defer conn.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\nhello")
			brw.Flush()
		}
	})))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/flush")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "a" {
		t.Errorf("flush body %q", b)
	}

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /hijack HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n")
	br := bufio.NewReader(conn)
	status, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 101") {
		t.Fatalf("status line %q, %v", status, err)
	}
	rest, _ := io.ReadAll(br)
	if !strings.HasSuffix(string(rest), "hello") {
		t.Errorf("after the upgrade: %q", rest)
	}
	testwait.Until(t, 5*time.Second, "the hijacked request's log line", func() bool {
		for _, l := range logs.lines(t) {
			if l["path"] == "/hijack" {
				return l["status"] == float64(101)
			}
		}
		return false
	})

	rec := &statusRecorder{ResponseWriter: httptest.NewRecorder()}
	if _, _, err := rec.Hijack(); !errors.Is(err, http.ErrNotSupported) {
		t.Errorf("Hijack of a writer that cannot = %v, want http.ErrNotSupported", err)
	}
}
