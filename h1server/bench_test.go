package h1server_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// BenchmarkServe: keep-alive GETs, one at a time on one loopback connection, to h1server and
// to net/http's server running the same tiny handler. The client allocates nothing, so
// allocs/op are the server's.
func BenchmarkServe(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "hello")
	})
	for _, s := range servers(b, h) {
		b.Run(s.name, func(b *testing.B) {
			nc, err := net.Dial("tcp", s.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			_ = nc.SetDeadline(time.Now().Add(time.Minute))
			br := bufio.NewReader(nc)
			req := []byte("GET /hello HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := nc.Write(req); err != nil {
					b.Fatal(err)
				}
				if err := discardAnswer(br); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var contentLength = []byte("content-length:")

// discardAnswer reads a 200 answer framed by Content-Length.
func discardAnswer(br *bufio.Reader) error {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return &badAnswer{string(line)}
	}
	n := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		if len(line) > len(contentLength) && bytes.EqualFold(line[:len(contentLength)], contentLength) {
			if n, err = strconv.Atoi(string(bytes.TrimSpace(line[len(contentLength):]))); err != nil {
				return err
			}
		}
	}
	if n < 0 {
		return &badAnswer{"no Content-Length"}
	}
	_, err = br.Discard(n)
	return err
}

type badAnswer struct{ what string }

func (e *badAnswer) Error() string { return "unexpected answer: " + e.what }
