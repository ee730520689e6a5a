package h1server_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeapi/gateway/h1server"
	"github.com/edgeapi/gateway/internal/testwait"
)

// waitFor bounds every wait of the tests.
const waitFor = 5 * time.Second

// serveH1 serves h with an h1server on a loopback port, after configure; the cleanup closes it
// and waits for Serve to return.
func serveH1(t testing.TB, h http.Handler, configure ...func(*h1server.Server)) (*h1server.Server, string) {
	t.Helper()
	s := &h1server.Server{Handler: h, ReadHeaderTimeout: waitFor}
	for _, f := range configure {
		f(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		_ = s.Close()
		select {
		case err := <-done:
			if !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
			}
		case <-time.After(waitFor):
			t.Error("Serve did not return after Close")
		}
	})
	return s, ln.Addr().String()
}

// serveStd serves h with net/http's server on a loopback port.
func serveStd(t testing.TB, h http.Handler) string {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.Start()
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// servers runs h on both servers, for tests that compare them: name → address.
func servers(t testing.TB, h http.Handler, configure ...func(*h1server.Server)) []namedAddr {
	t.Helper()
	_, h1 := serveH1(t, h, configure...)
	return []namedAddr{{"h1server", h1}, {"net/http", serveStd(t, h)}}
}

type namedAddr struct{ name, addr string }

// client is a raw connection to a server, every wait bounded by waitFor.
type client struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, waitFor)
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.SetDeadline(time.Now().Add(waitFor))
	t.Cleanup(func() { _ = nc.Close() })
	return &client{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *client) send(raw string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, raw); err != nil {
		c.t.Fatalf("sending %q: %v", raw, err)
	}
}

// answer is a response read from the wire, its body and trailers included.
type answer struct {
	*http.Response
	body    string
	bodyErr error
}

// read reads the next answer to a request with the given method (1xx answers included).
func (c *client) read(method string) (answer, error) {
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		return answer{}, err
	}
	b, err := io.ReadAll(resp.Body)
	return answer{Response: resp, body: string(b), bodyErr: err}, nil
}

func (c *client) mustRead(method string) answer {
	c.t.Helper()
	a, err := c.read(method)
	if err != nil {
		c.t.Fatalf("reading an answer: %v", err)
	}
	if a.bodyErr != nil {
		c.t.Fatalf("reading the body of a %d answer: %v", a.StatusCode, a.bodyErr)
	}
	return a
}

// final reads answers until a final (non-1xx) one and returns it with the 1xx codes before it.
func (c *client) final(method string) (answer, []int) {
	c.t.Helper()
	var interim []int
	for {
		a := c.mustRead(method)
		if a.StatusCode >= 200 || a.StatusCode == http.StatusSwitchingProtocols {
			return a, interim
		}
		interim = append(interim, a.StatusCode)
	}
}

// closed reports whether the server closed the connection: it sends one more request and
// sees whether it is answered. The request is "OPTIONS *", which both servers answer without
// the handler.
func (c *client) closed() bool {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, "OPTIONS * HTTP/1.1\r\nHost: probe\r\n\r\n"); err != nil {
		return true
	}
	a, err := c.read(http.MethodGet)
	switch {
	case err == nil && a.bodyErr == nil:
		return false
	case isTimeout(err):
		c.t.Fatal("no answer and no close within the wait")
	}
	return true
}

// eof waits for the server to close the connection, reading and discarding what comes.
func (c *client) eof() error {
	_, err := io.Copy(io.Discard, c.br)
	if isTimeout(err) {
		return err
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// eventually polls cond until it holds or waitFor passed.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testwait.Until(t, waitFor, what, cond)
}

// logBuffer collects a server's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }
