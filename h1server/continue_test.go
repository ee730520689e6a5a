package h1server_test

import (
	"io"
	"net/http"
	"testing"

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
