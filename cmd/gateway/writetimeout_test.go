package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWriteTimeout runs server.write_timeout end to end on both engines and under TLS: a
// client that asks for a proxied stream and never reads loses its connection, which frees the
// handler and the backend's request; a client that reads gets a large answer whole under the
// same bound.
func TestWriteTimeout(t *testing.T) {
	const size = 32 << 20
	// How the backend's answers ended, by path.
	outcomes := map[string]chan outcome{"/stream": make(chan outcome, 4), "/whole": make(chan outcome, 4)}
	// /stream is endless, so that it outgrows every socket buffer on the way whatever the
	// kernel's sizes: only the end of the gateway's request ends it. Anything else is a body
	// of size bytes.
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := math.MaxInt
		if r.URL.Path != "/stream" {
			limit = size
			w.Header().Set("Content-Length", strconv.Itoa(size))
		}
		chunk := make([]byte, 64<<10)
		n := 0
		var err error
		for n < limit && err == nil {
			var m int
			m, err = w.Write(chunk[:min(len(chunk), limit-n)])
			n += m
		}
		if c, ok := outcomes[r.URL.Path]; ok {
			c <- outcome{n, err}
		}
	}))
	t.Cleanup(backend.Close)

	pki := newHardPKI(t)
	for _, tc := range []struct {
		name, server string
		tls          bool // serve HTTPS (with net/http's server, whatever the engine)
	}{
		{"gateway", "  engine: gateway\n", false},
		{"stdlib", "  engine: stdlib\n", false},
		{"tls", fmt.Sprintf("  tls: {cert_file: %q, key_file: %q}\n", pki.certFile, pki.keyFile), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// rpc.timeout bounds only the wait for the backend's headers, never a body: nothing
			// but the write timeout can end the stalled exchange. 1s, not less: the client that
			// reads must never seem stalled, even on a loaded machine.
			yaml := gatewayYAML("server:\n"+tc.server+`  write_timeout: 1s
routes:
  - path: /big/*
    handler: http
    service: wt.web
    strip_prefix: /big
`, svc("wt.web", backend.Listener.Addr().String()))
			var g *testGateway
			dial := func() (net.Conn, error) { return net.Dial("tcp", strings.TrimPrefix(g.url, "http://")) }
			if tc.tls {
				g = hardStartTLS(t, yaml, hardTLSClient(pki.pool, tls.VersionTLS12, 0))
				dial = func() (net.Conn, error) {
					return tls.Dial("tcp", strings.TrimPrefix(g.url, "https://"), &tls.Config{RootCAs: pki.pool})
				}
			} else {
				g = startGateway(t, yaml)
			}

			t.Run("a client that never reads is disconnected", func(t *testing.T) {
				c, err := dial()
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if _, err := io.WriteString(c, "GET /big/stream HTTP/1.1\r\nHost: gateway\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				// The gateway gives up on the client and ends the backend's request, whose
				// endless answer then fails to write.
				if o := backendOutcome(t, outcomes["/stream"], "/stream"); o.err == nil {
					t.Fatalf("the backend's endless answer ended without an error after %d bytes", o.n)
				}
				// Reading now gets what the sockets held and then the end of the connection
				// (EOF or a reset), not more of the stream.
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				if n, err := io.Copy(io.Discard, c); errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("the gateway kept the connection open (read %d bytes in 10s)", n)
				}
			})

			t.Run("a client that reads gets everything", func(t *testing.T) {
				res, err := g.client.Get(g.url + "/big/whole")
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				n, err := io.Copy(io.Discard, res.Body)
				if err != nil || n != size || res.StatusCode != http.StatusOK {
					t.Fatalf("status %d, read %d of %d bytes: %v", res.StatusCode, n, size, err)
				}
				if o := backendOutcome(t, outcomes["/whole"], "/whole"); o.err != nil {
					t.Fatalf("backend: %v", o.err)
				}
			})
		})
	}
}

// outcome is how a backend's answer ended: the bytes it wrote and the error that stopped it.
type outcome struct {
	n   int
	err error
}

// backendOutcome waits for the backend to finish its answer to the request for path.
func backendOutcome(t *testing.T, outcomes <-chan outcome, path string) outcome {
	t.Helper()
	select {
	case o := <-outcomes:
		return o
	case <-time.After(20 * time.Second):
		t.Fatalf("the backend's answer to %s is still being written after 20s", path)
		return outcome{}
	}
}
