package h1server_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/gob"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/edgeapi/gateway/h1server"
)

// fuzzSeen is what fuzzReport's handler saw, sent back in the X-Report header.
type fuzzSeen struct {
	Method, RequestURI, Host string
	Header                   http.Header
	ContentLength            int64
	Close                    bool
	Body                     string
	BodyErr                  bool
	Trailer                  http.Header
	global                   bool // "OPTIONS *", which the server answers itself
}

// fuzzReport reads the body and reports the request in a header, with an explicit empty body
// so that answers to HEAD are framed like the others.
var fuzzReport = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var j bytes.Buffer // gob: byte for byte, where JSON would mend invalid UTF-8
	_ = gob.NewEncoder(&j).Encode(fuzzSeen{
		Method: r.Method, RequestURI: r.RequestURI, Host: r.Host, Header: r.Header,
		ContentLength: r.ContentLength, Close: r.Close, Body: string(body), BodyErr: err != nil,
		Trailer: r.Trailer,
	})
	w.Header().Set("X-Report", base64.StdEncoding.EncodeToString(j.Bytes()))
	w.Header().Set("Content-Length", "0")
})

// FuzzRequest sends the fuzzer's bytes as a request stream to a loopback h1server, then ends
// its side. The server must neither panic nor hang; every answer must be well-formed HTTP; a
// refusal, or a body the handler could not read, must end the connection. Every request the
// handler saw, net/http's http.ReadRequest must read from the same bytes alike: same method,
// target, Host, headers, framing and body.
func FuzzRequest(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a?b HTTP/1.1\r\nHost: x\r\n\r\nHEAD /c HTTP/1.1\r\nHost: x\r\n\r\nGET /d HTTP/1.0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n5;e=1\r\nhello\r\n0\r\nX-T: t\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\na",
		"GET http://h/p HTTP/1.1\r\nHost: x\r\nPragma: no-cache\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\nX: a\r\n b\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nabGET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\nHost: x\n\n",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
		"GET / HTTP/2.0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1 ;a\r\nx\r\n0\r\n\r\n",
		// Found by the fuzzer: a trailer section ended by a bare LF.
		"0 * HTTP/1.1\r\nHost:0\nTrAnsfer-EnCoding:Chunked \n0000000:00\n\r\n00\r\n\n0000000000",
	} {
		f.Add(seed)
	}
	// Trailers within 4 KiB, as net/http's ReadRequest takes them.
	_, addr := serveH1(f, fuzzReport, func(s *h1server.Server) { s.MaxHeaderBytes = 4 << 10 })
	f.Fuzz(func(t *testing.T, data string) {
		c := dial(t, addr)
		go func() {
			_, _ = io.WriteString(c.nc, data)
			_ = c.nc.(*net.TCPConn).CloseWrite()
		}()
		var seen []fuzzSeen
		for i := 0; ; i++ {
			if _, err := c.br.Peek(1); err != nil {
				if isTimeout(err) {
					t.Fatalf("answer %d: the server hangs: %v", i, err)
				}
				if err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("answer %d: %v", i, err)
				}
				break
			}
			resp, err := http.ReadResponse(c.br, nil)
			if err != nil {
				t.Fatalf("answer %d: malformed: %v", i, err)
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				t.Fatalf("answer %d (%d): body: %v", i, resp.StatusCode, err)
			}
			if resp.StatusCode == http.StatusContinue {
				continue
			}
			report := resp.Header.Get("X-Report")
			switch {
			case report != "":
				var s fuzzSeen
				j, _ := base64.StdEncoding.DecodeString(report)
				if err := gob.NewDecoder(bytes.NewReader(j)).Decode(&s); err != nil {
					t.Fatalf("answer %d: report %q: %v", i, j, err)
				}
				seen = append(seen, s)
				if s.BodyErr {
					expectEnd(t, c, "a body that could not be read")
				}
			case resp.StatusCode == http.StatusOK:
				seen = append(seen, fuzzSeen{Method: http.MethodOptions, RequestURI: "*", global: true})
			default:
				if resp.StatusCode < 400 || !resp.Close {
					t.Fatalf("answer %d: %d, close %v: want a refusal that closes", i, resp.StatusCode, resp.Close)
				}
				expectEnd(t, c, "a refusal")
			}
		}
		sameAsReadRequest(t, data, seen)
	})
}

// expectEnd checks that nothing follows on the connection.
func expectEnd(t *testing.T, c *client, after string) {
	t.Helper()
	n, err := io.Copy(io.Discard, c.br)
	if n > 0 || isTimeout(err) {
		t.Fatalf("the connection went on after %s: %d bytes, %v", after, n, err)
	}
}

// framingTrailers are the trailers h1server drops.
var framingTrailers = []string{"Content-Length", "Transfer-Encoding", "Trailer", "Host", "Content-Type", "Connection"}

// sameAsReadRequest checks that http.ReadRequest reads the requests the handler saw alike.
func sameAsReadRequest(t *testing.T, data string, seen []fuzzSeen) {
	t.Helper()
	br := bufio.NewReader(strings.NewReader(data))
	for i, s := range seen {
		req, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("request %d, %s %s, refused by net/http: %v", i, s.Method, s.RequestURI, err)
		}
		if s.global {
			if req.Method != s.Method || req.RequestURI != s.RequestURI {
				t.Fatalf("request %d: net/http reads %s %s, h1server answered OPTIONS *", i, req.Method, req.RequestURI)
			}
			if _, err := io.Copy(io.Discard, req.Body); err != nil {
				return
			}
			continue
		}
		body, err := io.ReadAll(req.Body)
		if s.BodyErr {
			return // h1server ends the connection there
		}
		if err != nil {
			t.Fatalf("request %d: h1server read the body %q, net/http fails: %v", i, s.Body, err)
		}
		delete(req.Header, "Host")
		got := fuzzSeen{
			Method: req.Method, RequestURI: req.RequestURI, Host: req.Host, Header: req.Header,
			ContentLength: req.ContentLength, Close: req.Close, Body: string(body),
			Trailer: withValues(req.Trailer, framingTrailers...),
		}
		s.Trailer = withValues(s.Trailer)
		if len(got.Header) == 0 && len(s.Header) == 0 {
			got.Header, s.Header = nil, nil
		}
		if !reflect.DeepEqual(s, got) {
			t.Fatalf("request %d:\nh1server: %+v\nnet/http: %+v", i, s, got)
		}
	}
}

// withValues is h without the fields that have no value and those named in drop; nil if none
// is left.
func withValues(h http.Header, drop ...string) http.Header {
	var out http.Header
	for k, vs := range h {
		if len(vs) == 0 || slices.Contains(drop, k) {
			continue
		}
		if out == nil {
			out = make(http.Header)
		}
		out[k] = vs
	}
	return out
}
