package h1server_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// present stands for any value in want.header.
const present = "<present>"

// wantAnswer is what a client must read; header values "" mean absent, present any value.
type wantAnswer struct {
	status  int
	header  map[string]string
	chunked bool
	body    string
	bodyErr bool // the body ends early: the server closed it short
	trailer map[string]string
	closed  bool
}

// TestAnswerLikeNetHTTP: handlers' answers are framed and completed as net/http's server does
// it, except where std says why not.
func TestAnswerLikeNetHTTP(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 640) // 10 KiB
	for _, tc := range []struct {
		name    string
		method  string // GET when empty
		proto   string // HTTP/1.1 when empty
		headers string // extra request header lines
		handler http.HandlerFunc
		want    wantAnswer
		std     string // why net/http answers otherwise; its answer is then not checked
	}{
		{name: "short body gets a length",
			handler: func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hello") },
			want: wantAnswer{status: 200, body: "hello", header: map[string]string{
				"Content-Length": "5", "Content-Type": "text/plain; charset=utf-8", "Date": present}}},
		{name: "4 KiB body gets a length",
			handler: func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, big[:4096]) },
			want:    wantAnswer{status: 200, body: big[:4096], header: map[string]string{"Content-Length": "4096"}},
			std:     "net/http holds back 2 KiB only, and chunks the rest"},
		{name: "longer body in one write is chunked and sniffed",
			handler: func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, big) },
			want: wantAnswer{status: 200, body: big, chunked: true, header: map[string]string{
				"Content-Length": "", "Content-Type": "text/plain; charset=utf-8"}}},
		{name: "many small writes are chunked",
			handler: func(w http.ResponseWriter, r *http.Request) {
				for i := 0; i < len(big); i += 1000 {
					_, _ = io.WriteString(w, big[i:min(i+1000, len(big))])
				}
			},
			want: wantAnswer{status: 200, body: big, chunked: true, header: map[string]string{"Content-Length": ""}}},
		{name: "flushed body is chunked",
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "a")
				if err := http.NewResponseController(w).Flush(); err != nil {
					panic(err)
				}
				_, _ = io.WriteString(w, "b")
			},
			want: wantAnswer{status: 200, body: "ab", chunked: true, header: map[string]string{"Content-Length": ""}}},
		{name: "flushed head only",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusAccepted)
				if err := http.NewResponseController(w).Flush(); err != nil {
					panic(err)
				}
			},
			want: wantAnswer{status: 202, chunked: true}},
		{name: "http/1.0 long body ends with the connection", proto: "HTTP/1.0",
			handler: func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, big) },
			want:    wantAnswer{status: 200, body: big, closed: true, header: map[string]string{"Content-Length": ""}}},
		{name: "http/1.0 keep-alive short body", proto: "HTTP/1.0", headers: "Connection: keep-alive\r\n",
			handler: func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hi") },
			want: wantAnswer{status: 200, body: "hi", header: map[string]string{
				"Content-Length": "2", "Connection": "keep-alive"}}},
		{name: "http/1.0 keep-alive flushed body ends with the connection", proto: "HTTP/1.0", headers: "Connection: keep-alive\r\n",
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, "a")
				_ = http.NewResponseController(w).Flush()
				_, _ = io.WriteString(w, "b")
			},
			want: wantAnswer{status: 200, body: "ab", closed: true, header: map[string]string{"Content-Length": ""}}},
		{name: "http/1.0 trailers are dropped", proto: "HTTP/1.0",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Trailer", "X-Sum")
				_, _ = io.WriteString(w, big)
				w.Header().Set("X-Sum", "1")
			},
			want: wantAnswer{status: 200, body: big, closed: true, header: map[string]string{"X-Sum": ""}}},
		{name: "head with a short body", method: http.MethodHead,
			handler: func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "<html>hello</html>") },
			want: wantAnswer{status: 200, header: map[string]string{
				"Content-Length": "18", "Content-Type": "text/html; charset=utf-8"}}},
		{name: "head without a body", method: http.MethodHead,
			handler: func(w http.ResponseWriter, r *http.Request) {},
			want:    wantAnswer{status: 200, header: map[string]string{"Content-Length": ""}}},
		{name: "head with a long body", method: http.MethodHead,
			handler: func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, big) },
			want:    wantAnswer{status: 200, header: map[string]string{"Content-Length": fmt.Sprint(len(big))}},
			std:     "net/http sends no length once its 2 KiB buffer was flushed"},
		{name: "head with an explicit length", method: http.MethodHead,
			handler: func(w http.ResponseWriter, r *http.Request) { w.Header().Set("Content-Length", "1234") },
			want:    wantAnswer{status: 200, header: map[string]string{"Content-Length": "1234"}}},
		{name: "no content",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "3")
				w.WriteHeader(http.StatusNoContent)
				_, _ = io.WriteString(w, "abc")
			},
			want: wantAnswer{status: 204, header: map[string]string{"Content-Length": ""}}},
		{name: "not modified",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.Header().Set("ETag", `"x"`)
				w.WriteHeader(http.StatusNotModified)
				_, _ = io.WriteString(w, "abc")
			},
			want: wantAnswer{status: 304, header: map[string]string{"Content-Length": "", "Content-Type": "", "Etag": `"x"`}}},
		{name: "explicit length is honoured",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", fmt.Sprint(len(big)))
				for i := 0; i < len(big); i += 1000 {
					_, _ = io.WriteString(w, big[i:min(i+1000, len(big))])
				}
			},
			want: wantAnswer{status: 200, body: big, header: map[string]string{"Content-Length": fmt.Sprint(len(big))}}},
		{name: "short of the length closes",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "10")
				_, _ = io.WriteString(w, "12345")
			},
			want: wantAnswer{status: 200, body: "12345", bodyErr: true, closed: true}},
		{name: "invalid explicit length is dropped",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "ten")
				_, _ = io.WriteString(w, "abc")
			},
			want: wantAnswer{status: 200, body: "abc", header: map[string]string{"Content-Length": "3"}},
			std:  "net/http drops the length from the header and then chunks the body"},
		{name: "html is sniffed",
			handler: func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "<!DOCTYPE html><p>x") },
			want:    wantAnswer{status: 200, body: "<!DOCTYPE html><p>x", header: map[string]string{"Content-Type": "text/html; charset=utf-8"}}},
		{name: "long html is sniffed", // the first write is beyond what the server holds back
			handler: func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "<html>"+big) },
			want:    wantAnswer{status: 200, body: "<html>" + big, chunked: true, header: map[string]string{"Content-Type": "text/html; charset=utf-8"}}},
		{name: "explicit type is kept",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/x-thing")
				_, _ = io.WriteString(w, "<html>")
			},
			want: wantAnswer{status: 200, body: "<html>", header: map[string]string{"Content-Type": "application/x-thing"}}},
		{name: "nil type suppresses sniffing",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Content-Type"] = nil
				_, _ = io.WriteString(w, "<html>")
			},
			want: wantAnswer{status: 200, body: "<html>", header: map[string]string{"Content-Type": ""}}},
		{name: "encoded body is not sniffed",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", "gzip")
				gz := gzip.NewWriter(w)
				_, _ = io.WriteString(gz, "hello")
				_ = gz.Close()
			},
			want: wantAnswer{status: 200, body: gzipped("hello"), header: map[string]string{"Content-Type": "", "Content-Encoding": "gzip"}}},
		{name: "empty body gets no type",
			handler: func(w http.ResponseWriter, r *http.Request) {},
			want:    wantAnswer{status: 200, header: map[string]string{"Content-Type": "", "Content-Length": "0"}}},
		{name: "handler date is kept",
			handler: func(w http.ResponseWriter, r *http.Request) { w.Header().Set("Date", "Sun, 06 Nov 1994 08:49:37 GMT") },
			want:    wantAnswer{status: 200, header: map[string]string{"Date": "Sun, 06 Nov 1994 08:49:37 GMT"}}},
		{name: "nil date suppresses it",
			handler: func(w http.ResponseWriter, r *http.Request) { w.Header()["Date"] = nil },
			want:    wantAnswer{status: 200, header: map[string]string{"Date": ""}}},
		{name: "header injection",
			handler: func(w http.ResponseWriter, r *http.Request) {
				h := w.Header()
				h.Set("X-A", "a\r\nX-Injected: 1")
				h.Set("X-B", "b\nSet-Cookie: evil=1")
				h["Bad Name"] = []string{"1"}
				h["X-C\r\nX-Injected"] = []string{"2"}
				h["X-D:"] = []string{"3"}
				h.Add("X-Two", "1")
				h.Add("X-Two", "2")
				_, _ = io.WriteString(w, "ok")
			},
			want: wantAnswer{status: 200, body: "ok", header: map[string]string{
				"X-A": "a  X-Injected: 1", "X-B": "b Set-Cookie: evil=1", "X-Injected": "", "Set-Cookie": "",
				"Bad Name": "", "X-D": "", "X-Two": "1"}}},
		{name: "control characters in a value",
			handler: func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-A", "a\x01b\x00c\x7fd") },
			want:    wantAnswer{status: 200, header: map[string]string{"X-A": "a b c d"}},
			std:     "net/http sends the control characters, and Go's client then refuses the answer"},
		{name: "declared trailers, short body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Trailer", "X-Sum, X-Late")
				_, _ = io.WriteString(w, "abc")
				w.Header().Set("X-Sum", "s")
				w.Header().Set("X-Late", "l")
			},
			want: wantAnswer{status: 200, body: "abc", chunked: true,
				header:  map[string]string{"X-Sum": "", "X-Late": "", "Content-Length": ""},
				trailer: map[string]string{"X-Sum": "s", "X-Late": "l"}}},
		{name: "declared trailers, long body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Add("Trailer", "X-Sum")
				_, _ = io.WriteString(w, big)
				w.Header().Set("X-Sum", "s")
			},
			want: wantAnswer{status: 200, body: big, chunked: true,
				header: map[string]string{"X-Sum": ""}, trailer: map[string]string{"X-Sum": "s"}}},
		{name: "forbidden trailers are not declared",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Trailer", "Content-Type, X-Sum")
				w.Header().Set("Content-Type", "text/x-kept")
				_, _ = io.WriteString(w, "abc")
				w.Header().Set("X-Sum", "s")
			},
			want: wantAnswer{status: 200, body: "abc", chunked: true,
				header: map[string]string{"Content-Type": "text/x-kept"}, trailer: map[string]string{"X-Sum": "s"}}},
		{name: "prefixed trailer, long body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, big)
				w.Header().Set(http.TrailerPrefix+"X-Late", "l")
			},
			want: wantAnswer{status: 200, body: big, chunked: true,
				header: map[string]string{"Trailer:X-Late": "", "X-Late": ""}, trailer: map[string]string{"X-Late": "l"}}},
		{name: "prefixed trailer set before the head",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set(http.TrailerPrefix+"X-Late", "l")
				_, _ = io.WriteString(w, "abc")
			},
			want: wantAnswer{status: 200, body: "abc", chunked: true,
				header: map[string]string{"Trailer:X-Late": "", "X-Late": ""}, trailer: map[string]string{"X-Late": "l"}}},
		{name: "first status wins",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusCreated)
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = io.WriteString(w, "x")
			},
			want: wantAnswer{status: 201, body: "x"}},
		{name: "unknown status",
			handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(599) },
			want:    wantAnswer{status: 599}},
		{name: "handler asks to close",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Connection", "close")
				_, _ = io.WriteString(w, "bye")
			},
			want: wantAnswer{status: 200, body: "bye", closed: true}},
		{name: "client asks to close", headers: "Connection: close\r\n",
			handler: func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, big) },
			want:    wantAnswer{status: 200, body: big, chunked: true, closed: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method, proto := tc.method, tc.proto
			if method == "" {
				method = http.MethodGet
			}
			if proto == "" {
				proto = "HTTP/1.1"
			}
			raw := fmt.Sprintf("%s / %s\r\nHost: x\r\n%s\r\n", method, proto, tc.headers)
			for _, s := range servers(t, tc.handler) {
				if s.name == "net/http" && tc.std != "" {
					continue
				}
				c := dial(t, s.addr)
				c.send(raw)
				a, err := c.read(method)
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				checkAnswer(t, s.name, a, tc.want)
				if got := c.closed(); got != tc.want.closed {
					t.Errorf("%s: connection closed %v, want %v", s.name, got, tc.want.closed)
				}
			}
		})
	}
}

func checkAnswer(t *testing.T, server string, a answer, want wantAnswer) {
	t.Helper()
	if a.StatusCode != want.status {
		t.Errorf("%s: status %d, want %d", server, a.StatusCode, want.status)
	}
	if (a.bodyErr != nil) != want.bodyErr {
		t.Errorf("%s: body error %v, want one: %v", server, a.bodyErr, want.bodyErr)
	}
	if a.body != want.body {
		t.Errorf("%s: body %.40q (%d bytes), want %.40q (%d)", server, a.body, len(a.body), want.body, len(want.body))
	}
	if chunked := len(a.TransferEncoding) == 1 && a.TransferEncoding[0] == "chunked"; chunked != want.chunked {
		t.Errorf("%s: chunked %v, want %v (Transfer-Encoding %q)", server, chunked, want.chunked, a.TransferEncoding)
	}
	for k, v := range want.header {
		got, ok := a.Header[k]
		switch {
		case v == "" && ok:
			t.Errorf("%s: header %s: %q, want none", server, k, got)
		case v == present && !ok:
			t.Errorf("%s: no header %s", server, k)
		case v != "" && v != present && (len(got) == 0 || got[0] != v):
			t.Errorf("%s: header %s: %q, want %q", server, k, got, v)
		}
	}
	for k, v := range want.trailer {
		if got := a.Trailer.Get(k); got != v {
			t.Errorf("%s: trailer %s: %q, want %q (trailers %v)", server, k, got, v, a.Trailer)
		}
	}
	for k, v := range a.Trailer {
		if _, ok := want.trailer[k]; !ok && v != nil {
			t.Errorf("%s: trailer %s: %q, want none", server, k, v)
		}
	}
}

func gzipped(s string) string {
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	_, _ = io.WriteString(gz, s)
	_ = gz.Close()
	return b.String()
}

// TestWriteErrors: what Write returns where a body may not go, as net/http's server does.
func TestWriteErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method string
		status int    // 0: none written
		length string // the handler's Content-Length
		writes []string
		want   []error
	}{
		{name: "no content", status: 204, writes: []string{"a"}, want: []error{http.ErrBodyNotAllowed}},
		{name: "not modified", status: 304, writes: []string{"a"}, want: []error{http.ErrBodyNotAllowed}},
		{name: "head", method: http.MethodHead, writes: []string{"a", "bc"}, want: []error{nil, nil}},
		{name: "past the length at once", length: "3", writes: []string{"abcd"}, want: []error{http.ErrContentLength}},
		{name: "past the length later", length: "3", writes: []string{"ab", "cd"}, want: []error{nil, http.ErrContentLength}},
		{name: "empty writes", status: 204, writes: []string{""}, want: []error{nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan []error, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.length != "" {
					w.Header().Set("Content-Length", tc.length)
				}
				if tc.status != 0 {
					w.WriteHeader(tc.status)
				}
				var errs []error
				for _, s := range tc.writes {
					_, err := io.WriteString(w, s)
					errs = append(errs, err)
				}
				got <- errs
			})
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			for _, s := range servers(t, h) {
				c := dial(t, s.addr)
				c.send(method + " / HTTP/1.1\r\nHost: x\r\n\r\n")
				a, err := c.read(method)
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				errs := <-got
				for i, want := range tc.want {
					if !errors.Is(errs[i], want) {
						t.Errorf("%s: write %d (%q): %v, want %v", s.name, i, tc.writes[i], errs[i], want)
					}
				}
				if a.body != "" && method != http.MethodHead && tc.length == "" {
					t.Errorf("%s: body %q where none may be", s.name, a.body)
				}
			}
		})
	}
}

// TestInformationalAnswers: 1xx answers go out at once with the header as it is then, before
// the final answer; a 1xx does not fix the status.
func TestInformationalAnswers(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("Link", "</other.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("Content-Length", "2")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "ok")
	})
	for _, s := range servers(t, h) {
		c := dial(t, s.addr)
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		for _, link := range []string{"</style.css>; rel=preload", "</other.css>; rel=preload"} {
			a := c.mustRead(http.MethodGet)
			if a.StatusCode != http.StatusEarlyHints || a.Header.Get("Link") != link {
				t.Errorf("%s: %d %v, want 103 with Link %s", s.name, a.StatusCode, a.Header, link)
			}
		}
		a := c.mustRead(http.MethodGet)
		if a.StatusCode != http.StatusOK || a.body != "ok" || a.Header.Get("Link") != "" {
			t.Errorf("%s: %d %v %q, want 200 ok without Link", s.name, a.StatusCode, a.Header, a.body)
		}
		if c.closed() {
			t.Errorf("%s: closed after a 103", s.name)
		}
	}
}

// TestInformationalToHTTP10: an HTTP/1.0 client cannot take a 1xx (RFC 9110 15.2): it is not
// sent.
func TestInformationalToHTTP10(t *testing.T) {
	_, addr := serveH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		_, _ = io.WriteString(w, "ok")
	}))
	c := dial(t, addr)
	c.send("GET / HTTP/1.0\r\n\r\n")
	if a := c.mustRead(http.MethodGet); a.StatusCode != http.StatusOK || a.body != "ok" {
		t.Errorf("%d %q, want 200 ok", a.StatusCode, a.body)
	}
}

// TestDateIsNow: the Date the server adds is the current time.
func TestDateIsNow(t *testing.T) {
	_, addr := serveH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	c := dial(t, addr)
	for range 2 {
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		a := c.mustRead(http.MethodGet)
		d, err := http.ParseTime(a.Header.Get("Date"))
		if err != nil {
			t.Fatalf("Date %q: %v", a.Header.Get("Date"), err)
		}
		if off := time.Since(d); off < -time.Second || off > 2*time.Second {
			t.Errorf("Date %v is %v off", d, off)
		}
	}
}

// TestPipelinedAnswers: answers of every framing to requests sent at once come back in order,
// each readable to its end.
func TestPipelinedAnswers(t *testing.T) {
	big := strings.Repeat("z", 9000)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			_, _ = io.WriteString(w, big)
		case "/trailer":
			w.Header().Set("Trailer", "X-T")
			_, _ = io.WriteString(w, "t")
			w.Header().Set("X-T", "end")
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/flushed":
			_, _ = io.WriteString(w, "f")
			_ = http.NewResponseController(w).Flush()
		default:
			_, _ = io.WriteString(w, r.Method+" "+r.URL.Path)
		}
	})
	reqs := []struct{ method, path, body string }{
		{"GET", "/big", big}, {"HEAD", "/big", ""}, {"GET", "/small", "GET /small"},
		{"GET", "/trailer", "t"}, {"GET", "/empty", ""}, {"HEAD", "/small", ""},
		{"GET", "/flushed", "f"}, {"POST", "/last", "POST /last"},
	}
	var raw strings.Builder
	for _, r := range reqs {
		raw.WriteString(r.method + " " + r.path + " HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	for _, s := range servers(t, h) {
		c := dial(t, s.addr)
		c.send(raw.String())
		for i, r := range reqs {
			a := c.mustRead(r.method)
			if a.body != r.body {
				t.Errorf("%s: answer %d to %s %s: %.30q, want %.30q", s.name, i, r.method, r.path, a.body, r.body)
			}
			if r.path == "/trailer" && a.Trailer.Get("X-T") != "end" {
				t.Errorf("%s: trailers %v", s.name, a.Trailer)
			}
		}
		if c.closed() {
			t.Errorf("%s: closed", s.name)
		}
	}
}
