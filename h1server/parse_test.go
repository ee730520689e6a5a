package h1server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/edgeapi/gateway/h1server"
)

// seen is what a handler was given, as report answers it.
type seen struct {
	Method           string
	RequestURI       string
	URL              string
	Host             string
	Proto            string
	Header           http.Header
	ContentLength    int64
	TransferEncoding []string
	Close            bool
	Body             string
	BodyErr          bool
	Trailer          http.Header
	Raw              string `json:"-"` // an answer that was not report's
}

// report answers what the handler saw, the body and trailers read; 400 when the body could
// not be read.
var report = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	s := seen{
		Method: r.Method, RequestURI: r.RequestURI, URL: r.URL.String(), Host: r.Host,
		Proto: r.Proto, Header: r.Header, ContentLength: r.ContentLength,
		TransferEncoding: r.TransferEncoding, Close: r.Close,
		Body: string(body), BodyErr: err != nil, Trailer: r.Trailer,
	}
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
	}
	_ = json.NewEncoder(w).Encode(s)
})

// outcome is what a client got for a raw request stream.
type outcome struct {
	Status []int // 1xx included
	Seen   []seen
	Open   bool // the connection served another request after them
}

// exchange sends raw and reads n final answers to it (methods[i] for the i-th, GET when
// absent), then checks whether the connection is still open.
func exchange(t *testing.T, addr, raw string, n int, methods ...string) outcome {
	t.Helper()
	c := dial(t, addr)
	c.send(raw)
	var o outcome
	for i := range n {
		method := http.MethodGet
		if i < len(methods) {
			method = methods[i]
		}
		a, interim := c.final(method)
		o.Status = append(append(o.Status, interim...), a.StatusCode)
		if method == http.MethodHead {
			continue
		}
		var s seen
		if err := json.Unmarshal([]byte(a.body), &s); err != nil {
			s = seen{Raw: a.body}
		}
		o.Seen = append(o.Seen, s)
	}
	o.Open = !c.closed()
	return o
}

// TestParseLikeNetHTTP sends the same bytes to both servers: the handler must see the same
// request, the answers must come in order and the connection must stay open or close alike.
func TestParseLikeNetHTTP(t *testing.T) {
	h1 := servers(t, report)
	for _, tc := range []struct {
		name    string
		raw     string
		n       int      // answers
		methods []string // of the answers, GET when absent
		open    bool
		// stdOpen, when set, is why net/http keeps or closes the connection otherwise.
		stdOpen string
		check   func(t *testing.T, s []seen)
	}{
		{name: "get", n: 1, open: true,
			raw: "GET /a/b?c=d&e=%2F HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n"},
		{name: "post with length", n: 1, open: true,
			raw: "POST /submit HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world",
			check: func(t *testing.T, s []seen) {
				if s[0].Body != "hello world" || s[0].ContentLength != 11 {
					t.Errorf("body %q (%d), want hello world (11)", s[0].Body, s[0].ContentLength)
				}
			}},
		{name: "keep-alive pipelined in order", n: 3, open: true,
			raw: "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n" +
				"POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" +
				"GET /3 HTTP/1.1\r\nHost: x\r\n\r\n",
			check: func(t *testing.T, s []seen) {
				for i, want := range []string{"/1", "/2", "/3"} {
					if s[i].RequestURI != want {
						t.Errorf("answer %d is for %s, want %s", i, s[i].RequestURI, want)
					}
				}
			}},
		{name: "head then get", n: 2, methods: []string{http.MethodHead}, open: true,
			raw: "HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n"},
		{name: "http/1.0", n: 1, open: false,
			raw: "GET / HTTP/1.0\r\n\r\n",
			check: func(t *testing.T, s []seen) {
				if !s[0].Close {
					t.Error("Close false for an HTTP/1.0 request without keep-alive")
				}
			}},
		{name: "http/1.0 keep-alive", n: 2, open: true,
			raw: "GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nPOST /2 HTTP/1.0\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nhi"},
		{name: "http/1.0 keep-alive and close", n: 1, open: false,
			stdOpen: "net/http sets Close but answers with keep-alive all the same",
			raw:     "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"},
		{name: "absolute-form", n: 1, open: true,
			raw: "GET http://other.example:8080/p?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
			check: func(t *testing.T, s []seen) {
				if s[0].Host != "other.example:8080" {
					t.Errorf("Host %q, want the target's", s[0].Host)
				}
			}},
		{name: "asterisk-form", n: 1, open: true,
			raw: "OPTIONS * HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
			check: func(t *testing.T, s []seen) {
				if s[0].Raw != "" || s[0].Method != "" {
					t.Errorf("the handler saw OPTIONS *: %+v", s[0])
				}
			}},
		{name: "options", n: 1, open: true,
			raw: "OPTIONS /a HTTP/1.1\r\nHost: x\r\n\r\n"},
		{name: "chunked with extensions and trailers", n: 1, open: true,
			raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum, x-other\r\n\r\n" +
				"5;ext=1\r\nhello\r\n6;a=\"b c\";x\r\n world\r\nA\r\n0123456789\r\n0;last\r\nX-Sum: 42\r\nX-Other: o\r\nX-Undeclared: u\r\n\r\n",
			check: func(t *testing.T, s []seen) {
				if s[0].Body != "hello world0123456789" || s[0].Trailer.Get("X-Sum") != "42" {
					t.Errorf("body %q, trailer %v", s[0].Body, s[0].Trailer)
				}
			}},
		{name: "chunked declared trailer not sent", n: 1, open: true,
			raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\nTrailer: X-Sum\r\n\r\n1\r\na\r\n0\r\n\r\n"},
		{name: "chunked then pipelined", n: 2, open: true,
			raw: "POST /1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
				"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n"},
		{name: "expect 100-continue", n: 1, open: true,
			raw: "PUT /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody"},
		{name: "expect 100-continue without a body", n: 1, open: true,
			raw: "GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\n\r\n"},
		{name: "expect 100-continue on http/1.0 is ignored", n: 1, open: true,
			raw: "PUT /up HTTP/1.0\r\nConnection: keep-alive\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody"},
		{name: "header canonicalisation", n: 1, open: true,
			raw: "GET / HTTP/1.1\r\nhost: x\r\nx-foo-bar: 1\r\nCONTENT-TYPE: text/plain\r\nx_under_score: u\r\nX-1-A: n\r\n\r\n",
			check: func(t *testing.T, s []seen) {
				for _, k := range []string{"X-Foo-Bar", "Content-Type", "X_under_score", "X-1-A"} {
					if _, ok := s[0].Header[k]; !ok {
						t.Errorf("no %s in %v", k, s[0].Header)
					}
				}
			}},
		{name: "repeated headers", n: 1, open: true,
			raw: "GET / HTTP/1.1\r\nHost: x\r\nAccept: a\r\nCookie: c=1\r\naccept: b\r\nCookie: d=2\r\nX-Empty:\r\n\r\n",
			check: func(t *testing.T, s []seen) {
				if got := s[0].Header["Accept"]; !reflect.DeepEqual(got, []string{"a", "b"}) {
					t.Errorf("Accept %q, want [a b]", got)
				}
			}},
		{name: "value whitespace and obs-text", n: 1, open: true,
			raw: "GET / HTTP/1.1\r\nHost: x\r\nX-A: \t spaced out \t \r\nX-B: caf\xc3\xa9\r\nX-C:tight\r\n\r\n"},
		{name: "connection close", n: 1, open: false,
			raw: "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\nHost: x\r\n\r\n"},
		{name: "connection close among tokens", n: 1, open: false,
			raw: "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, Close\r\n\r\n"},
		{name: "identical content-lengths", n: 1, open: true,
			raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"},
		{name: "pragma no-cache", n: 1, open: true,
			raw: "GET / HTTP/1.1\r\nHost: x\r\nPragma: no-cache\r\n\r\n"},
		{name: "bare LF line ends in the head", n: 1, open: true,
			raw: "GET /lf HTTP/1.1\nHost: x\nX-A: 1\n\n"},
		{name: "empty host", n: 1, open: true,
			raw: "GET / HTTP/1.1\r\nHost:\r\n\r\n"},
		{name: "lowercase method", n: 1, open: true,
			raw: "get / HTTP/1.1\r\nHost: x\r\n\r\n"},
		{name: "large body", n: 1, open: true,
			raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("0123456789", 10000)},
		{name: "broken chunk ends the connection", n: 1, open: false,
			raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n" +
				"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
			check: func(t *testing.T, s []seen) {
				if !s[0].BodyErr {
					t.Error("no error reading a chunk without its CRLF")
				}
			}},
		{name: "space before chunk extension ends the connection", n: 1, open: false,
			raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3 ;a\r\nabc\r\n0\r\n\r\n"},
		{name: "trailing space after chunk size", n: 1, open: true,
			raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3 \t\r\nabc\r\n0\r\n\r\n"},
		{name: "overlong chunk line ends the connection", n: 1, open: false,
			raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;" + strings.Repeat("e", 5000) + "\r\nx\r\n0\r\n\r\n"},
		{name: "bare LF after chunk size ends the connection", n: 1, open: false,
			raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n" +
				"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []outcome
			for _, s := range h1 {
				got = append(got, exchange(t, s.addr, tc.raw, tc.n, tc.methods...))
			}
			if tc.stdOpen != "" {
				got[1].Open = got[0].Open
			}
			if g, w := got[0], got[1]; !reflect.DeepEqual(g, w) {
				gj, _ := json.MarshalIndent(g, "", " ")
				wj, _ := json.MarshalIndent(w, "", " ")
				t.Errorf("h1server:\n%s\nnet/http:\n%s", gj, wj)
			}
			if got[0].Open != tc.open {
				t.Errorf("connection open %v, want %v", got[0].Open, tc.open)
			}
			if tc.check != nil {
				tc.check(t, got[0].Seen)
			}
		})
	}
}

// TestRefuseAmbiguousRequests: requests whose framing or routing parsers could disagree on
// are refused before any handler runs, through Reject, and the connection is closed.
func TestRefuseAmbiguousRequests(t *testing.T) {
	var handled atomic.Int32
	type rejection struct {
		status int
		err    error
	}
	rejected := make(chan rejection, 1)
	_, addr := serveH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handled.Add(1)
	}), func(s *h1server.Server) {
		s.MaxHeaderBytes = 4 << 10
		s.Reject = func(w http.ResponseWriter, status int, err error) {
			rejected <- rejection{status, err}
			w.Header().Set("X-Rejected", "yes")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, "refused")
		}
	})
	const host = "Host: x\r\n"
	for _, tc := range []struct {
		name   string
		raw    string
		status int
	}{
		{"content-length and chunked", "POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"chunked and content-length", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc", 400},
		{"transfer-encoding on http/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
		{"differing content-lengths", "POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
		{"content-length list", "POST / HTTP/1.1\r\n" + host + "Content-Length: 3, 3\r\n\r\nabc", 400},
		{"signed content-length", "POST / HTTP/1.1\r\n" + host + "Content-Length: +3\r\n\r\nabc", 400},
		{"negative content-length", "POST / HTTP/1.1\r\n" + host + "Content-Length: -1\r\n\r\n", 400},
		{"huge content-length", "POST / HTTP/1.1\r\n" + host + "Content-Length: 99999999999999999999\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\n" + host + "X-A: 1\r\n  folded\r\n\r\n", 400},
		{"obs-fold first line", "GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\n" + host + "Transfer-Encoding : chunked\r\n\r\n", 400},
		{"control char in value", "GET / HTTP/1.1\r\n" + host + "X-A: a\x01b\r\n\r\n", 400},
		{"CR in value", "GET / HTTP/1.1\r\n" + host + "X-A: a\rb\r\n\r\n", 400},
		{"NUL in value", "GET / HTTP/1.1\r\n" + host + "X-A: a\x00b\r\n\r\n", 400},
		{"DEL in value", "GET / HTTP/1.1\r\n" + host + "X-A: a\x7fb\r\n\r\n", 400},
		{"invalid name", "GET / HTTP/1.1\r\n" + host + "X(A): 1\r\n\r\n", 400},
		{"empty name", "GET / HTTP/1.1\r\n" + host + ": 1\r\n\r\n", 400},
		{"no colon", "GET / HTTP/1.1\r\n" + host + "X-A\r\n\r\n", 400},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"two hosts on http/1.0", "GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", 400},
		{"missing host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"malformed host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"bad trailer declaration", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n0\r\n\r\n", 400},
		{"malformed request line", "GET /\r\n" + host + "\r\n", 400},
		{"extra space in request line", "GET  / HTTP/1.1\r\n" + host + "\r\n", 400},
		{"CR in request line", "GET /a\rb HTTP/1.1\r\n" + host + "\r\n", 400},
		{"control char in target", "GET /a\x01b HTTP/1.1\r\n" + host + "\r\n", 400},
		{"relative target", "GET a/b HTTP/1.1\r\n" + host + "\r\n", 400},
		{"invalid method", "G(T / HTTP/1.1\r\n" + host + "\r\n", 400},
		{"empty request line", "\r\nGET / HTTP/1.1\r\n" + host + "\r\n", 400},
		{"lowercase version", "GET / http/1.1\r\n" + host + "\r\n", 400},
		{"http/2.0", "GET / HTTP/2.0\r\n" + host + "\r\n", 505},
		{"h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
		{"http/1.2", "GET / HTTP/1.2\r\n" + host + "\r\n", 505},
		{"connect", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405},
		{"gzip coding", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip\r\n\r\n", 501},
		{"chunked twice", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501},
		{"gzip then chunked", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
		{"identity coding", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: identity\r\nContent-Length: 1\r\n\r\na", 501},
		{"expect other", "POST / HTTP/1.1\r\n" + host + "Expect: 200-ok\r\nContent-Length: 1\r\n\r\na", 417},
		{"expect twice", "POST / HTTP/1.1\r\n" + host + "Expect: 100-continue\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\na", 417},
		{"head too large", "GET / HTTP/1.1\r\n" + host + "X-Big: " + strings.Repeat("a", 5<<10) + "\r\n\r\n", 431},
		{"too many fields", "GET / HTTP/1.1\r\n" + host + strings.Repeat("X-A: 1\r\n", 1000) + "\r\n", 431},
		{"request line too long", "GET /" + strings.Repeat("a", 5<<10) + " HTTP/1.1\r\n" + host + "\r\n", 414},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := handled.Load()
			c := dial(t, addr)
			c.send(tc.raw + "GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
			a := c.mustRead(http.MethodGet)
			if a.StatusCode != tc.status {
				t.Errorf("status %d, want %d (%s)", a.StatusCode, tc.status, a.body)
			}
			if a.Header.Get("X-Rejected") != "yes" || a.body != "refused" {
				t.Errorf("the answer did not come from Reject: %v %q", a.Header, a.body)
			}
			if !a.Close {
				t.Error("no Connection: close on a refusal")
			}
			select {
			case r := <-rejected:
				if r.status != tc.status || r.err == nil {
					t.Errorf("Reject(%d, %v), want status %d and an error", r.status, r.err, tc.status)
				}
			default:
				t.Error("Reject was not called")
			}
			if err := c.eof(); err != nil {
				t.Errorf("the connection stayed open after a refusal: %v", err)
			}
			if n := handled.Load() - before; n != 0 {
				t.Errorf("the handler ran %d times", n)
			}
		})
	}
}

// TestRefuseWithoutReject: the default refusal is a plain-text answer naming the status.
func TestRefuseWithoutReject(t *testing.T) {
	_, addr := serveH1(t, report)
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
	a := c.mustRead(http.MethodGet)
	if a.StatusCode != http.StatusBadRequest || !strings.HasPrefix(a.body, "400 Bad Request") {
		t.Errorf("got %d %q, want 400 with a text body", a.StatusCode, a.body)
	}
	if ct := a.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if a.ContentLength != int64(len(a.body)) {
		t.Errorf("Content-Length %d for a body of %d", a.ContentLength, len(a.body))
	}
	if err := c.eof(); err != nil {
		t.Error(err)
	}
}

// TestRefuseAHugeHeadWhileItIsSent: a client still sending an oversize head reads the 431.
func TestRefuseAHugeHeadWhileItIsSent(t *testing.T) {
	_, addr := serveH1(t, report, func(s *h1server.Server) { s.MaxHeaderBytes = 1 << 10 })
	c := dial(t, addr)
	go func() {
		// Far more than the server reads; the write fails once the server has closed.
		_, _ = io.WriteString(c.nc, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 4<<20))
	}()
	a := c.mustRead(http.MethodGet)
	if a.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", a.StatusCode)
	}
}

// TestTrailerSectionNeedsCRLF: a trailer section ended by a bare LF is refused, where net/http
// would take it for the end of the body when a CRLF CRLF follows later (the next request's).
func TestTrailerSectionNeedsCRLF(t *testing.T) {
	var smuggled atomic.Int32
	_, addr := serveH1(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/smuggled" {
			smuggled.Add(1)
		}
		report(w, r)
	}))
	for _, trailers := range []string{"\n", "X-T: 1\n\n", "X-T: 1\n\r\n", "X-T: 1\r\n\n"} {
		c := dial(t, addr)
		c.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n" + trailers +
			"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
		if a := c.mustRead(http.MethodPost); a.StatusCode != http.StatusBadRequest {
			t.Errorf("trailers %q: status %d, want the handler's 400 for a body error", trailers, a.StatusCode)
		}
		if err := c.eof(); err != nil {
			t.Errorf("trailers %q: %v", trailers, err)
		}
	}
	if n := smuggled.Load(); n > 0 {
		t.Errorf("the request after the body was served %d times", n)
	}
}
