package h1client

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// readBoth reads the answer in raw with readSimple and with http.ReadResponse, each from its
// own reader. When readSimple takes it, the two must agree on every field, on the body and on
// where the answer ended (what is left in the reader); when it does not, it must have
// consumed nothing.
func readBoth(t *testing.T, raw []byte, method string) (taken bool) {
	t.Helper()
	req := &http.Request{Method: method}
	fast := bufio.NewReaderSize(bytes.NewReader(raw), 4096)
	resp, ok := readSimple(fast, req)
	if !ok {
		if fast.Buffered() > 0 {
			rest, _ := io.ReadAll(fast)
			if !bytes.Equal(rest, raw) {
				t.Fatalf("readSimple declined %q but consumed part of it", raw)
			}
		}
		return false
	}
	slow := bufio.NewReaderSize(bytes.NewReader(raw), 4096)
	want, err := http.ReadResponse(slow, req)
	if err != nil {
		t.Fatalf("readSimple took %q, http.ReadResponse refused it: %v", raw, err)
	}
	if resp.Status != want.Status || resp.StatusCode != want.StatusCode || resp.Proto != want.Proto ||
		resp.ProtoMajor != want.ProtoMajor || resp.ProtoMinor != want.ProtoMinor ||
		resp.ContentLength != want.ContentLength || resp.Close != want.Close ||
		len(resp.TransferEncoding) != len(want.TransferEncoding) || len(resp.Trailer) != len(want.Trailer) {
		t.Fatalf("%q:\nreadSimple    %s %d %s cl=%d close=%v te=%v\nReadResponse %s %d %s cl=%d close=%v te=%v", raw,
			resp.Status, resp.StatusCode, resp.Proto, resp.ContentLength, resp.Close, resp.TransferEncoding,
			want.Status, want.StatusCode, want.Proto, want.ContentLength, want.Close, want.TransferEncoding)
	}
	if !reflect.DeepEqual(resp.Header, want.Header) {
		t.Fatalf("%q: headers differ:\nreadSimple    %v\nReadResponse %v", raw, resp.Header, want.Header)
	}
	if (resp.Body == http.NoBody) != (want.Body == http.NoBody) {
		t.Fatalf("%q: one body is http.NoBody, the other not", raw)
	}
	got, gerr := io.ReadAll(resp.Body)
	exp, werr := io.ReadAll(want.Body)
	if !bytes.Equal(got, exp) || !errors.Is(gerr, werr) && !(gerr != nil && werr != nil) {
		t.Fatalf("%q: bodies differ: %q (%v) vs %q (%v)", raw, got, gerr, exp, werr)
	}
	restFast, _ := io.ReadAll(fast)
	restSlow, _ := io.ReadAll(slow)
	if !bytes.Equal(restFast, restSlow) {
		t.Fatalf("%q: the answers end at different bytes: left %q vs %q", raw, restFast, restSlow)
	}
	return true
}

func TestReadSimple(t *testing.T) {
	tests := []struct {
		name, raw, method string
		taken             bool
	}{
		{"common", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", "GET", true},
		{"next answer left", "HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\n", "POST", true},
		{"empty body", "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "GET", true},
		{"repeated header", "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nContent-Length: 0\r\n\r\n", "GET", true},
		{"values trimmed", "HTTP/1.1 200 OK\r\nX-A: \t v \t\r\nContent-Length:  3 \r\n\r\nabc", "GET", true},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "GET", true},
		{"no length", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nabc", "GET", false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n", "GET", false},
		{"close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", "GET", false},
		{"HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", "HEAD", false},
		{"204", "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", "GET", false},
		{"1xx", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "GET", false},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", "GET", false},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", "GET", false},
		{"obs-fold", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n", "GET", false},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", "GET", false},
		{"signed length", "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx", "GET", false},
		{"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\nx", "GET", false},
		{"no reason", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", "GET", false},
		{"Pragma", "HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 0\r\n\r\n", "GET", false},
		{"NUL", "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n", "GET", false},
		{"head cut", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n", "GET", false},
		{"head larger than the buffer", "HTTP/1.1 200 OK\r\nX-A: " + strings.Repeat("a", 5000) + "\r\nContent-Length: 0\r\n\r\n", "GET", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readBoth(t, []byte(tt.raw), tt.method); got != tt.taken {
				t.Errorf("readSimple took it: %v, want %v", got, tt.taken)
			}
		})
	}
}

// FuzzReadSimple: whatever a node sends, readSimple either leaves it to http.ReadResponse
// untouched or reads it exactly as http.ReadResponse does.
func FuzzReadSimple(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1 200 OK\r\n"), false)
	f.Add([]byte("HTTP/1.1 500 Internal Server Error\r\nx-a: 1\r\nX-A: 2\r\nContent-Length: 0\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"), true)
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), false)
	f.Fuzz(func(t *testing.T, raw []byte, head bool) {
		method := "GET"
		if head {
			method = "HEAD"
		}
		readBoth(t, raw, method)
	})
}
