package h1server

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"reflect"
	"testing"
)

// FuzzChunked reads the fuzzer's bytes as a chunked request body, size+1 bytes a read. It must
// not panic; its end must stick; and a body it accepts net/http must read alike: the same data
// and trailers (less those h1server drops), ending at the same byte.
func FuzzChunked(f *testing.F) {
	for _, seed := range []string{
		"5\r\nhello\r\n0\r\n\r\n",
		"5;a=b;c\r\nhello\r\n6 \r\n world\r\n0\r\nX-T: t\r\nX-U: u\r\n\r\nnext request",
		"0\r\nContent-Length: 5\r\nHost: h\r\nX-T: t\r\n\r\n",
		"0\r\n\n",
		"5\nhello\r\n0\r\n\r\n",
		"5\r\nhelloXX0\r\n\r\n",
		"5 ;a\r\nhello\r\n0\r\n\r\n",
		"fffffffffffffff\r\n",
		"0000000000000001\r\nx\r\n0\r\n\r\n",
		"1;" + string(bytes.Repeat([]byte("e"), 100)) + "\r\nx\r\n0\r\n\r\n",
		"1\r\nx\r\n0\r\nX-T: a\r\n b\r\n\r\n",
		"a\r\n0123456789\r\n0\r\nX-T:\x01\r\n\r\n",
		"3\r\nabc\r\n0;\r\n\r\n",
	} {
		f.Add([]byte(seed), uint8(255))
		f.Add([]byte(seed), uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, size uint8) {
		src := bytes.NewReader(data)
		c := &conn{s: &Server{MaxHeaderBytes: 1 << 10}}
		c.br = bufio.NewReaderSize(src, 4<<10)
		req := &http.Request{}
		b := &body{c: c, req: req, chunked: true}
		var got []byte
		buf := make([]byte, int(size)+1)
		var err error
		for err == nil {
			var n int
			n, err = b.Read(buf)
			if n < 0 || n > len(buf) {
				t.Fatalf("Read returned %d for a buffer of %d", n, len(buf))
			}
			got = append(got, buf[:n]...)
		}
		if n, again := b.Read(buf); n != 0 || again != err {
			t.Fatalf("a read after %v: %d, %v", err, n, again)
		}
		if err != io.EOF {
			return
		}
		used := len(data) - src.Len() - c.br.Buffered()

		br := bufio.NewReaderSize(bytes.NewReader(data), 4<<10)
		want, err := io.ReadAll(httputil.NewChunkedReader(br))
		if err != nil {
			t.Fatalf("h1server read %q, net/http fails: %v", got, err)
		}
		trailer, err := textproto.NewReader(br).ReadMIMEHeader()
		if err != nil {
			t.Fatalf("h1server read the trailers %v, net/http fails: %v", req.Trailer, err)
		}
		rest, _ := io.ReadAll(br)
		if !bytes.Equal(got, want) {
			t.Fatalf("h1server read %q, net/http %q", got, want)
		}
		if wantUsed := len(data) - len(rest); used != wantUsed {
			t.Fatalf("h1server's body ends at byte %d, net/http's at %d", used, wantUsed)
		}
		for _, k := range []string{"Content-Length", "Transfer-Encoding", "Trailer", "Host", "Content-Type", "Connection"} {
			delete(trailer, k)
		}
		if len(trailer) == 0 {
			trailer = nil
		}
		if !reflect.DeepEqual(req.Trailer, http.Header(trailer)) {
			t.Fatalf("trailers: h1server %v, net/http %v", req.Trailer, trailer)
		}
	})
}
