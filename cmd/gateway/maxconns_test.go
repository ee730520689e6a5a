package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMaxConns: with server.max_conns 1, a second client is not served while the first holds
// its keep-alive connection, and is served once the first leaves; both engines.
func TestMaxConns(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"gateway", "stdlib"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, gatewayYAML("server:\n  engine: "+engine+"\n  max_conns: 1\n"))
			addr := strings.TrimPrefix(g.url, "http://")
			live := "GET /health/live HTTP/1.1\r\nHost: gw\r\n\r\n"
			a, ar := rawClient(t, addr)
			if _, err := io.WriteString(a, live); err != nil {
				t.Fatal(err)
			}
			if code := readStatus(t, ar); code != http.StatusOK {
				t.Fatalf("first client: %d", code)
			}
			b, br := rawClient(t, addr) // connects: the kernel's backlog takes it
			if _, err := io.WriteString(b, live); err != nil {
				t.Fatal(err)
			}
			_ = b.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if _, err := br.Peek(1); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("second client answered while the first held the only connection: %v", err)
			}
			_ = a.Close()
			_ = b.SetReadDeadline(time.Now().Add(10 * time.Second))
			if code := readStatus(t, br); code != http.StatusOK {
				t.Fatalf("second client after the first left: %d", code)
			}
		})
	}
}

func rawClient(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

func readStatus(t *testing.T, br *bufio.Reader) int {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
