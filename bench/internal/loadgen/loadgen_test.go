package loadgen

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name       string
		raw        string
		wantStatus int
		wantClose  bool
		wantErr    bool
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, false, false},
		{"header case", "HTTP/1.1 202 Accepted\r\ncontent-LENGTH:  2\r\n\r\n{}", 202, false, false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\nTrailer: v\r\n\r\n", 200, false, false},
		{"connection close", "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 503, true, false},
		{"no body status", "HTTP/1.1 204 No Content\r\n\r\n", 204, false, false},
		{"until close", "HTTP/1.0 200 OK\r\n\r\nbody", 200, true, false},
		{"garbage", "SSH-2.0-OpenSSH\r\n\r\n", 0, true, true},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhello", 0, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Two responses back to back: the first must be consumed exactly.
			raw := tc.raw
			if !tc.wantErr {
				raw += "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
			}
			br := bufio.NewReader(strings.NewReader(raw))
			status, closeAfter, err := ReadResponse(br)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if status != tc.wantStatus || closeAfter != tc.wantClose {
				t.Fatalf("got %d close=%v, want %d close=%v", status, closeAfter, tc.wantStatus, tc.wantClose)
			}
			if closeAfter {
				return
			}
			if next, _, err := ReadResponse(br); err != nil || next != 201 {
				t.Fatalf("next response: %d %v (the first was not consumed exactly)", next, err)
			}
		})
	}
}

// TestRunBoundedByCount drives a real server and checks the count bound and the bookkeeping of
// both modes (no timing is asserted).
func TestRunBoundedByCount(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range []struct {
		name string
		path string
		rate float64
	}{
		{"closed loop", "/", 0},
		{"closed loop, server closes every connection", "/close", 0},
		{"open loop", "/", 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lg := &HTTP{Addr: addr, WantStatus: 200, Request: NewRequest("GET", addr, tc.path, nil, nil)}
			res, err := Run(context.Background(), Config{Conns: 4, Rate: tc.rate, Duration: time.Minute, MaxRequests: 40}, lg.Dial)
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests != 40 || res.Errors != 0 || len(res.Latencies) != 40 {
				t.Fatalf("requests %d, errors %d (%v), latencies %d; want 40, 0, 40", res.Requests, res.Errors, res.FirstErr, len(res.Latencies))
			}
			for i := 1; i < len(res.Latencies); i++ {
				if res.Latencies[i] < res.Latencies[i-1] {
					t.Fatal("latencies are not sorted")
				}
			}
		})
	}
}
