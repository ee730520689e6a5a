package h1server_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/edgeapi/gateway/h1server"
)

// TestExpectContinue: "100 Continue" goes out when the handler first reads the body, once, and
// not when the handler answers without reading it.
func TestExpectContinue(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		interim []int // the 1xx answers before the final one
		status  int
		closed  bool
	}{
		{name: "read",
			handler: func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				_, _ = w.Write(b)
			},
			interim: []int{100}, status: 200},
		{name: "100 written by the handler",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusContinue)
				b, _ := io.ReadAll(r.Body)
				_, _ = w.Write(b)
			},
			interim: []int{100}, status: 200},
		{name: "not read",
			handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) },
			status:  401, closed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, s := range servers(t, tc.handler) {
				c := dial(t, s.addr)
				c.send("PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
				var interim []int
				for {
					a := c.mustRead(http.MethodPut)
					if a.StatusCode >= 200 {
						if a.StatusCode != tc.status || a.Close != tc.closed {
							t.Errorf("%s: %d close %v, want %d close %v", s.name, a.StatusCode, a.Close, tc.status, tc.closed)
						}
						if a.StatusCode == 200 && a.body != "body" {
							t.Errorf("%s: the handler read %q", s.name, a.body)
						}
						break
					}
					interim = append(interim, a.StatusCode)
					c.send("body") // as a client does once it has the 100
				}
				if len(interim) != len(tc.interim) {
					t.Errorf("%s: 1xx answers %v, want %v", s.name, interim, tc.interim)
				}
			}
		})
	}
}

// TestRejectWritingNothing: a Reject hook that writes nothing still refuses with the status.
func TestRejectWritingNothing(t *testing.T) {
	_, addr := serveH1(t, report, func(s *h1server.Server) {
		s.Reject = func(w http.ResponseWriter, status int, err error) {}
	})
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
	if a := c.mustRead(http.MethodGet); a.StatusCode != http.StatusBadRequest || !a.Close {
		t.Errorf("status %d close %v, want 400 and close", a.StatusCode, a.Close)
	}
	if err := c.eof(); err != nil {
		t.Error(err)
	}
}

// TestExpectContinueFullDuplex: a handler that reads the body on another goroutine (as a
// proxy's body writer does) while it answers on its own. "100 Continue", when it goes out at
// all, goes out whole and before the answer's head; run with -race, the two goroutines must
// not share the connection's buffer.
func TestExpectContinueFullDuplex(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = io.Copy(io.Discard, r.Body)
		}()
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "early answer")
		http.NewResponseController(w).Flush()
		<-done
	})
	_, addr := serveH1(t, h)
	for i := range 50 {
		c := dial(t, addr)
		// The body comes with the head, as from a client that does not wait for the 100: the
		// handler's answer and the reader's 100 Continue race for the connection.
		c.send("PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody")
		a, interim := c.final(http.MethodPut)
		if a.StatusCode != http.StatusOK || a.body != "early answer" || len(interim) > 1 {
			t.Fatalf("try %d: %v then %d %q, want at most one 100 then 200 \"early answer\"", i, interim, a.StatusCode, a.body)
		}
	}
}

// TestEarlyAnswerWhileBodyRead: a handler answers, and flushes, while its other goroutine is
// blocked reading a body the client sends only once it has the answer's head. The head must
// not wait for the body (it would never come), and the connection is not kept after it.
func TestEarlyAnswerWhileBodyRead(t *testing.T) {
	reading := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			close(reading)
			_, _ = io.Copy(io.Discard, r.Body)
		}()
		<-reading
		time.Sleep(20 * time.Millisecond) // let the reader block in its read
		_, _ = io.WriteString(w, "early")
		_ = http.NewResponseController(w).Flush()
		<-done
	})
	_, addr := serveH1(t, h)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(nc, "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no head while the body was being read: %v", err)
	}
	if _, err := io.WriteString(nc, "body"); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil || string(b) != "early" || resp.StatusCode != http.StatusOK || !resp.Close {
		t.Errorf("%d %q close %v (%v), want 200 \"early\" and close", resp.StatusCode, b, resp.Close, err)
	}
}
