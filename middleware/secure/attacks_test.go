package secure

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// An attack is one file of testdata/attacks: metadata lines, a line "--", then the raw bytes
// sent on a fresh TCP connection.
//
// Metadata ("#" lines are comments):
//
//	status: 400          statuses of the responses read until the server closes ("none": no response)
//	seen: POST /a        one line per request the backend saw behind the gateway, in order
//	                     ("METHOD RequestURI"); "seen: none" for nothing
//	bare-seen: ...       the same for net/http alone, without the middleware: documents which
//	                     attacks net/http already stops by itself
//	never: /admin        no request the backend saw behind the gateway contains this
//	absent: Header       no request the backend saw behind the gateway carries this header
//	closes: yes          the server must close the connection by itself after answering
//	                     (implied by any status >= 400); otherwise the test half-closes
//	engine-status: 400   the status (and engine-calls: the backend calls) of the gateway
//	                     behind its own HTTP/1.1 server, where it differs from net/http's
//
// In the raw request, each line ends in CR LF, except a line ending in "{LF}" (a bare LF) or
// "{NOEOL}" (nothing). "{xHH}" is the byte 0xHH, anywhere, metadata included.
type attack struct {
	name     string
	status   []int
	seen     []string
	bareSeen []string
	never    []string
	absent   []string
	closes   bool
	raw      []byte
}

func loadAttacks(t *testing.T) []attack {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "attacks", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no attack corpus: %v", err)
	}
	var out []attack
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		a, err := parseAttack(strings.TrimSuffix(filepath.Base(f), ".txt"), string(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, a)
	}
	return out
}

func parseAttack(name, text string) (attack, error) {
	a := attack{name: name}
	meta, raw, ok := strings.Cut(text, "\n--\n")
	if !ok {
		return a, errors.New(`no "--" line`)
	}
	var haveStatus, haveSeen, haveBare bool
	for line := range strings.SplitSeq(meta, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, ": ")
		if !ok {
			return a, errors.New("bad metadata line " + strconv.Quote(line))
		}
		val = expandBytes(val)
		switch key {
		case "status":
			haveStatus = true
			if val == "none" {
				continue
			}
			for f := range strings.FieldsSeq(val) {
				n, err := strconv.Atoi(f)
				if err != nil {
					return a, err
				}
				a.status = append(a.status, n)
			}
		case "seen", "bare-seen":
			list := &a.seen
			if key == "seen" {
				haveSeen = true
			} else {
				haveBare = true
				list = &a.bareSeen
			}
			if val != "none" {
				*list = append(*list, val)
			}
		case "never":
			a.never = append(a.never, val)
		case "absent":
			a.absent = append(a.absent, val)
		case "closes":
			a.closes = val == "yes"
		case "engine-status", "engine-calls":
			// What the gateway's own server (h1server) answers where it is stricter than
			// net/http's; cmd/gateway's hardening test reads them, this test runs net/http.
		default:
			return a, errors.New("unknown key " + key)
		}
	}
	if !haveStatus || !haveSeen || !haveBare {
		return a, errors.New("status, seen and bare-seen are required")
	}
	for _, s := range a.status {
		if s >= 400 {
			a.closes = true
		}
	}
	raw = strings.ReplaceAll(raw, "{NOEOL}\n", "")
	raw = strings.ReplaceAll(raw, "{LF}\n", "{x0A}")
	raw = strings.ReplaceAll(raw, "\n", "\r\n")
	a.raw = []byte(expandBytes(raw))
	return a, nil
}

// expandBytes replaces each {xHH} by the byte 0xHH.
func expandBytes(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "{x")
		if i < 0 || i+5 > len(s) || s[i+4] != '}' {
			b.WriteString(s)
			return b.String()
		}
		n, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
		if err != nil {
			b.WriteString(s[:i+2])
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		b.WriteByte(byte(n))
		s = s[i+5:]
	}
}

// backend records every request it is handed.
type backend struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	b.mu.Lock()
	b.reqs = append(b.reqs, r)
	b.mu.Unlock()
	_, _ = io.WriteString(w, "ok\n")
}

func (b *backend) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, r := range b.reqs {
		out = append(out, r.Method+" "+r.RequestURI)
	}
	return out
}

type response struct {
	status      int
	contentType string
	body        string
}

// exchange sends raw on a new connection to addr and reads responses until the server closes
// the connection. With halfClose the client closes its sending side after the request, so a
// keep-alive server ends the connection once it has answered everything; without it, a server
// that keeps the connection open is reported (open) at the deadline.
func exchange(t *testing.T, addr string, raw []byte, halfClose bool) (out []response, open bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(raw); err != nil {
		t.Fatal(err)
	}
	if halfClose {
		if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
	}
	br := bufio.NewReader(conn)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			var ne net.Error
			// EOF or reset: the server closed the connection.
			return out, errors.As(err, &ne) && ne.Timeout()
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, response{resp.StatusCode, resp.Header.Get("Content-Type"), string(body)})
	}
}

// TestAttacks sends each request of the corpus over a real TCP connection to a net/http server,
// once with the middleware in front of a recording backend and once without it, and checks the
// statuses and exactly which requests reached the backend.
func TestAttacks(t *testing.T) {
	mw, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range loadAttacks(t) {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			t.Run("gateway", func(t *testing.T) {
				be := &backend{}
				srv := httptest.NewServer(mw(be))
				defer srv.Close()
				resps, open := exchange(t, srv.Listener.Addr().String(), a.raw, !a.closes)
				if open {
					t.Errorf("the server kept the connection open after %d responses", len(resps))
				}
				var statuses []int
				for _, r := range resps {
					statuses = append(statuses, r.status)
				}
				if !slices.Equal(statuses, a.status) {
					t.Errorf("statuses %v, want %v (bodies %v)", statuses, a.status, resps)
				}
				if got := be.lines(); !slices.Equal(got, a.seen) {
					t.Errorf("the backend saw %q, want %q", got, a.seen)
				}
				for _, line := range be.lines() {
					for _, n := range a.never {
						if strings.Contains(line, n) {
							t.Errorf("the backend saw %q, which contains %q", line, n)
						}
					}
				}
				be.mu.Lock()
				for _, r := range be.reqs {
					for _, h := range a.absent {
						if _, ok := r.Header[http.CanonicalHeaderKey(h)]; ok {
							t.Errorf("the backend saw header %s", h)
						}
					}
				}
				be.mu.Unlock()
				// A refusal of something net/http lets through is the middleware's: JSON.
				if len(resps) > 0 && resps[0].status >= 400 && len(a.bareSeen) > 0 {
					if resps[0].contentType != "application/json" || !strings.Contains(resps[0].body, `"id":"gateway"`) {
						t.Errorf("refusal is not the gateway's JSON error: %q %q", resps[0].contentType, resps[0].body)
					}
				}
			})
			t.Run("net/http alone", func(t *testing.T) {
				be := &backend{}
				srv := httptest.NewServer(be)
				defer srv.Close()
				exchange(t, srv.Listener.Addr().String(), a.raw, true)
				if got := be.lines(); !slices.Equal(got, a.bareSeen) {
					t.Errorf("without the middleware the backend saw %q; the corpus says %q", got, a.bareSeen)
				}
			})
		})
	}
}
