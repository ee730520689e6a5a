package hellosrv_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeapi/gateway/examples/hello/hellosrv"
)

// waitFor bounds every wait of these tests.
const waitFor = 10 * time.Second

func TestHello(t *testing.T) {
	srv := httptest.NewServer(hellosrv.New(hellosrv.Config{}))
	defer srv.Close()
	client := &http.Client{Timeout: waitFor}

	for _, tc := range []struct {
		name, method, path string
		xff                []string
		status             int
		message            string
		echo               string
	}{
		{name: "named", method: http.MethodGet, path: "/hello?name=x", status: 200, message: "Hello x"},
		{name: "escaped", method: http.MethodGet, path: "/hello?name=J%C3%BCrgen+M", status: 200, message: "Hello Jürgen M"},
		{name: "anonymous", method: http.MethodGet, path: "/hello", status: 200, message: "Hello world"},
		{name: "forwarded", method: http.MethodGet, path: "/hello?name=x", xff: []string{"203.0.113.7", "10.0.0.1"},
			status: 200, message: "Hello x", echo: "203.0.113.7, 10.0.0.1"},
		{name: "post", method: http.MethodPost, path: "/hello", status: http.StatusMethodNotAllowed},
		{name: "unknown path", method: http.MethodGet, path: "/goodbye", status: http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range tc.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if got := resp.Header.Get(hellosrv.EchoHeader); got != tc.echo {
				t.Errorf("%s = %q, want %q", hellosrv.EchoHeader, got, tc.echo)
			}
			if tc.status != http.StatusOK {
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var g hellosrv.Greeting
			if err := json.NewDecoder(resp.Body).Decode(&g); err != nil || g.Message != tc.message {
				t.Fatalf("body %+v (%v), want message %q", g, err, tc.message)
			}
		})
	}
}

// TestEventsAreFlushedOneByOne feeds the ticker by hand: each event must reach the client while
// the handler waits for the next tick, which only works if every event is flushed on its own.
func TestEventsAreFlushedOneByOne(t *testing.T) {
	ticks := make(chan time.Time)
	stopped := make(chan struct{})
	srv := httptest.NewServer(hellosrv.New(hellosrv.Config{
		NewTicker: func(time.Duration) (<-chan time.Time, func()) { return ticks, func() { close(stopped) } },
	}))
	defer srv.Close()

	resp, err := (&http.Client{Timeout: waitFor}).Get(srv.URL + "/hello/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	events := bufio.NewReader(resp.Body)
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for seq := 1; seq <= hellosrv.DefaultTicks; seq++ {
		at := base.Add(time.Duration(seq) * time.Second)
		select {
		case ticks <- at:
		case <-time.After(waitFor):
			t.Fatalf("the handler did not wait for tick %d", seq)
		}
		ev, err := readEvent(events)
		if err != nil {
			t.Fatalf("event %d: %v", seq, err)
		}
		var tick hellosrv.Tick
		if err := json.Unmarshal([]byte(ev["data"]), &tick); err != nil {
			t.Fatalf("event %d data %q: %v", seq, ev["data"], err)
		}
		if ev["event"] != "tick" || ev["id"] != strconv.Itoa(seq) || tick.Seq != seq || !tick.Time.Equal(at) {
			t.Fatalf("event %d = %v", seq, ev)
		}
	}
	if rest, err := io.ReadAll(resp.Body); err != nil || len(rest) != 0 {
		t.Fatalf("after the last event: %q, %v; want the end of the stream", rest, err)
	}
	select {
	case <-stopped:
	case <-time.After(waitFor):
		t.Fatal("ticker not stopped")
	}
}

func TestEventsStopWhenTheClientGoesAway(t *testing.T) {
	stopped := make(chan struct{})
	srv := httptest.NewServer(hellosrv.New(hellosrv.Config{
		NewTicker: func(time.Duration) (<-chan time.Time, func()) { return nil, func() { close(stopped) } },
	}))
	defer srv.Close()
	resp, err := (&http.Client{Timeout: waitFor}).Get(srv.URL + "/hello/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case <-stopped:
	case <-time.After(waitFor):
		t.Fatal("the handler kept waiting after the client left")
	}
}

// readEvent reads one server-sent event: its fields up to the blank line that ends it.
func readEvent(r *bufio.Reader) (map[string]string, error) {
	ev := map[string]string{}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return ev, nil
		}
		k, v, _ := strings.Cut(line, ":")
		ev[k] = strings.TrimPrefix(v, " ")
	}
}
