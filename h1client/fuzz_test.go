package h1client

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzReadResponse sends a request to a real loopback server that answers with the fuzzer's
// bytes and closes: the Transport must not panic or hang, and must return an error or a
// response whose body can be read (to an end or an error) and closed. head asks with HEAD,
// upgrade with an upgrade request. One Transport serves all inputs, so that connections the
// answers leave in the pool are checked and reused as well.
func FuzzReadResponse(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n2\r\nok\r\n0\r\nX-T: v\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nbytes",
		"HTTP/1.0 200 OK\r\n\r\nuntil the end",
		"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
		"HTTP/1.1 abc\r\n\r\n",
		"garbage",
		"",
	} {
		f.Add([]byte(seed), false, false)
	}
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), true, false)
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\n\r\n"), false, true)

	answers := make(chan []byte, 1)
	srv := newRawServer(f, func(_ int64, c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			select {
			case a := <-answers:
				_, _ = c.Write(a)
			case <-time.After(time.Second):
			}
			// One answer per connection: the close ends whatever it began.
			_ = c.(*net.TCPConn).CloseWrite()
			_, _ = io.Copy(io.Discard, br)
			return
		}
	})
	tr := New(Config{DialTimeout: time.Second})
	f.Cleanup(func() { _ = tr.Close() })

	f.Fuzz(func(t *testing.T, answer []byte, head, upgrade bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		method := http.MethodGet
		if head {
			method = http.MethodHead
		}
		req, err := http.NewRequestWithContext(ctx, method, srv.url()+"/f", nil)
		if err != nil {
			t.Fatal(err)
		}
		if upgrade {
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "echo")
		}
		// Drop an answer a failed exchange left unused, then queue this one.
		select {
		case <-answers:
		default:
		}
		answers <- answer
		resp, err := tr.RoundTrip(req)
		if err != nil {
			if resp != nil {
				t.Fatal("a response and an error")
			}
			return
		}
		if resp.Body == nil {
			t.Fatal("response without a body")
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			if _, ok := resp.Body.(io.ReadWriteCloser); !ok {
				t.Fatalf("101 body %T", resp.Body)
			}
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		if err := resp.Body.Close(); err != nil && !strings.Contains(err.Error(), "closed") {
			t.Fatalf("Close: %v", err)
		}
		if ctx.Err() != nil {
			t.Fatal("the exchange took the whole timeout")
		}
	})
}
