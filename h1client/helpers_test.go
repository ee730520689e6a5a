package h1client

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeapi/gateway/internal/testwait"
)

// waitFor bounds every wait of the tests.
const waitFor = 10 * time.Second

// counted is a real loopback HTTP server that counts the connections it accepted.
type counted struct {
	*httptest.Server
	conns  atomic.Int64
	closed atomic.Int64
}

func newCounted(t testing.TB, h http.Handler) *counted {
	t.Helper()
	s := &counted{Server: httptest.NewUnstartedServer(h)}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			s.closed.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func newTransport(t testing.TB, cfg Config) *Transport {
	t.Helper()
	tr := New(cfg)
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// rawServer accepts loopback connections and hands each, with a reader over it, to handle on
// its own goroutine; the cleanup closes the listener and the connections and waits for them.
type rawServer struct {
	ln    net.Listener
	conns atomic.Int64
	wg    sync.WaitGroup
	mu    sync.Mutex
	open  []net.Conn
}

func newRawServer(t testing.TB, handle func(n int64, c net.Conn, br *bufio.Reader)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := s.conns.Add(1)
			s.mu.Lock()
			s.open = append(s.open, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				handle(n, c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		for _, c := range s.open {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *rawServer) url() string { return "http://" + s.ln.Addr().String() }

// readRequest reads one request from br, its body included; nil when the client is gone.
func readRequest(br *bufio.Reader) *http.Request {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil
	}
	var sink [4096]byte
	for {
		if _, err := req.Body.Read(sink[:]); err != nil {
			break
		}
	}
	return req
}

// eventually polls cond until it holds or waitFor passed.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testwait.Until(t, waitFor, what, cond)
}
