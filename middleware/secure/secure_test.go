package secure

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// seen is what the next handler received.
type seen struct {
	called      bool
	path        string
	rawPath     string
	requestURI  string
	escapedPath string
	query       string
	header      http.Header
}

func recordNext(s *seen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*s = seen{true, r.URL.Path, r.URL.RawPath, r.RequestURI, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone()}
		w.WriteHeader(http.StatusNoContent)
	})
}

type errorBody struct {
	ID     string `json:"id"`
	Code   int    `json:"code"`
	Detail string `json:"detail"`
	Status string `json:"status"`
}

// wantRefused checks the gateway's JSON error with code, "Connection: close" and a detail
// containing fragment.
func wantRefused(t *testing.T, w *httptest.ResponseRecorder, code int, fragment string) {
	t.Helper()
	if w.Code != code {
		t.Fatalf("status %d, want %d: %s", w.Code, code, w.Body)
	}
	var e errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if e.ID != "gateway" || e.Code != code || !strings.Contains(e.Detail, fragment) {
		t.Errorf("body %+v, want code %d and a detail containing %q", e, code, fragment)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if c := w.Header().Get("Connection"); c != "close" {
		t.Errorf("Connection %q, want close", c)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Config{MaxPathBytes: -1}); err == nil {
		t.Error("negative MaxPathBytes accepted")
	}
	if _, err := New(Config{}); err != nil {
		t.Errorf("zero Config: %v", err)
	}
}

// TestRewrite: the next handler sees the normalised path in URL.Path, URL.RawPath and
// RequestURI, consistently, with the query untouched.
func TestRewrite(t *testing.T) {
	mw, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name        string
		requestURI  string
		path        string // URL.Path the handler must see
		rawPath     string // URL.RawPath
		wantURI     string // RequestURI
		wantQuery   string
		escapedPath string
	}{
		{"clean", "/a/b?x=1", "/a/b", "", "/a/b?x=1", "x=1", "/a/b"},
		{"dot dot", "/a/b/../c", "/a/c", "", "/a/c", "", "/a/c"},
		{"double slash", "//evil.example/x", "/evil.example/x", "", "/evil.example/x", "", "/evil.example/x"},
		{"unreserved decoded", "/%61pi/%7Eu", "/api/~u", "", "/api/~u", "", "/api/~u"},
		{"space", "/a%20b", "/a b", "", "/a%20b", "", "/a%20b"},
		{"reserved kept", "/a%3bb?q=%2F", "/a;b", "/a%3Bb", "/a%3Bb?q=%2F", "q=%2F", "/a%3Bb"},
		{"utf-8", "/caf%c3%a9", "/café", "", "/caf%C3%A9", "", "/caf%C3%A9"},
		{"query with dots untouched", "/a?p=../../etc", "/a", "", "/a?p=../../etc", "p=../../etc", "/a"},
		{"empty query dropped", "/a/./?", "/a/", "", "/a/", "", "/a/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got seen
			r := httptest.NewRequest(http.MethodGet, "http://gw"+tc.requestURI, nil)
			r.RequestURI = tc.requestURI
			w := httptest.NewRecorder()
			mw(recordNext(&got)).ServeHTTP(w, r)
			if !got.called {
				t.Fatalf("next not called: %d %s", w.Code, w.Body)
			}
			if got.path != tc.path || got.rawPath != tc.rawPath || got.requestURI != tc.wantURI ||
				got.query != tc.wantQuery || got.escapedPath != tc.escapedPath {
				t.Errorf("got Path %q RawPath %q RequestURI %q RawQuery %q EscapedPath %q\nwant %q %q %q %q %q",
					got.path, got.rawPath, got.requestURI, got.query, got.escapedPath,
					tc.path, tc.rawPath, tc.wantURI, tc.wantQuery, tc.escapedPath)
			}
			if r.RequestURI != tc.requestURI {
				t.Errorf("the caller's request was modified: RequestURI %q", r.RequestURI)
			}
		})
	}
}

// TestInProcessRequest: a request built without RequestURI is judged by its URL.
func TestInProcessRequest(t *testing.T) {
	mw, _ := New(Config{})
	var got seen
	r := &http.Request{Method: "GET", URL: &url.URL{Path: "/a/../b"}, Header: http.Header{}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
	w := httptest.NewRecorder()
	mw(recordNext(&got)).ServeHTTP(w, r)
	if !got.called || got.path != "/b" || got.requestURI != "/b" {
		t.Fatalf("got %+v, %d %s", got, w.Code, w.Body)
	}
	r = &http.Request{Method: "GET", URL: &url.URL{Scheme: "http", Host: "evil", Path: "/"}, Header: http.Header{}}
	w = httptest.NewRecorder()
	mw(recordNext(&got)).ServeHTTP(w, r)
	wantRefused(t, w, 400, "origin-form")
}

func TestRefusals(t *testing.T) {
	cases := []struct {
		name   string
		cfg    Config
		method string
		uri    string
		proto  string // "" for HTTP/1.1
		header http.Header
		te     []string
		code   int
		detail string
	}{
		{"connect", Config{}, "CONNECT", "evil:443", "", nil, nil, 405, "CONNECT"},
		{"trace", Config{}, "TRACE", "/", "", nil, nil, 405, "TRACE"},
		{"pri", Config{}, "PRI", "*", "HTTP/2.0", nil, nil, 405, "PRI"},
		{"absolute form", Config{}, "GET", "http://evil/admin", "", nil, nil, 400, "origin-form"},
		{"absolute form, same host", Config{}, "GET", "http://gw/a", "", nil, nil, 400, "origin-form"},
		{"asterisk", Config{}, "GET", "*", "", nil, nil, 400, "origin-form"},
		{"too long", Config{MaxPathBytes: 8}, "GET", "/123456789", "", nil, nil, 414, "longer than 8 bytes"},
		{"default limit", Config{}, "GET", "/" + strings.Repeat("a", DefaultMaxPathBytes), "", nil, nil, 414, "8192"},
		{"encoded slash", Config{}, "GET", "/a%2Fb", "", nil, nil, 400, "encoded slash"},
		{"above root", Config{}, "GET", "/../etc/passwd", "", nil, nil, 400, "above the root"},
		{"h2c", Config{}, "GET", "/", "", http.Header{"Upgrade": {"h2c"}, "Http2-Settings": {"AAA"}}, nil, 400, `not "h2c"`},
		{"websocket and h2c", Config{}, "GET", "/", "", http.Header{"Upgrade": {"websocket, h2c"}}, nil, 400, "websocket"},
		{"two upgrade headers", Config{}, "GET", "/", "", http.Header{"Upgrade": {"websocket", "h2c"}}, nil, 400, "websocket"},
		{"tls upgrade", Config{}, "GET", "/", "", http.Header{"Upgrade": {"TLS/1.2"}}, nil, 400, "TLS/1.2"},
		{"empty upgrade", Config{}, "GET", "/", "", http.Header{"Upgrade": {""}}, nil, 400, "websocket"},
		{"websocket on POST", Config{}, "POST", "/", "", http.Header{"Upgrade": {"websocket"}}, nil, 400, "GET over HTTP/1.1"},
		{"websocket on HTTP/1.0", Config{}, "GET", "/", "HTTP/1.0", http.Header{"Upgrade": {"websocket"}}, nil, 400, "GET over HTTP/1.1"},
		{"websocket denied", Config{DenyWebSocket: true}, "GET", "/", "", http.Header{"Upgrade": {"websocket"}}, nil, 400, "not allowed"},
		{"cl and te", Config{}, "POST", "/", "", http.Header{"Content-Length": {"5"}}, []string{"chunked"}, 400, "together"},
		{"two content lengths", Config{}, "POST", "/", "", http.Header{"Content-Length": {"5", "6"}}, nil, 400, "more than one"},
		{"bad content length", Config{}, "POST", "/", "", http.Header{"Content-Length": {"+5"}}, nil, 400, "malformed"},
		{"te not chunked", Config{}, "POST", "/", "", nil, []string{"gzip"}, 400, "exactly"},
		{"te list", Config{}, "POST", "/", "", nil, []string{"gzip", "chunked"}, 400, "exactly"},
		{"raw te header", Config{}, "POST", "/", "", http.Header{"Transfer-Encoding": {"chunked"}}, nil, 400, "Transfer-Encoding"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mw, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := request(tc.method, tc.uri, tc.proto)
			for k, v := range tc.header {
				r.Header[k] = v
			}
			r.TransferEncoding = tc.te
			var got seen
			w := httptest.NewRecorder()
			mw(recordNext(&got)).ServeHTTP(w, r)
			if got.called {
				t.Fatalf("next called with %+v", got)
			}
			wantRefused(t, w, tc.code, tc.detail)
			if tc.code == 405 && w.Header().Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
}

func TestPasses(t *testing.T) {
	cases := []struct {
		name      string
		method    string
		proto     string
		header    http.Header
		te        []string
		wantClose bool
		absent    string // a request header the next handler must not see
	}{
		{"plain get", "GET", "", nil, nil, false, ""},
		{"websocket", "GET", "", http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}}, nil, false, ""},
		{"websocket, case and spaces", "GET", "", http.Header{"Upgrade": {" WebSocket "}}, nil, false, ""},
		{"http2-settings stripped", "GET", "", http.Header{"Http2-Settings": {"AAMAAABkAAQAAP__"}}, nil, false, "Http2-Settings"},
		{"content length", "POST", "", http.Header{"Content-Length": {"5"}}, nil, false, ""},
		{"chunked closes the connection", "POST", "", nil, []string{"chunked"}, true, ""},
		{"http/1.0 closes the connection", "GET", "HTTP/1.0", nil, nil, true, ""},
		{"options", "OPTIONS", "", nil, nil, false, ""},
		{"custom method", "PROPFIND", "", nil, nil, false, ""},
	}
	mw, _ := New(Config{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := request(tc.method, "/a", tc.proto)
			for k, v := range tc.header {
				r.Header[k] = v
			}
			r.TransferEncoding = tc.te
			var got seen
			w := httptest.NewRecorder()
			mw(recordNext(&got)).ServeHTTP(w, r)
			if !got.called {
				t.Fatalf("refused: %d %s", w.Code, w.Body)
			}
			if c := w.Header().Get("Connection") == "close"; c != tc.wantClose {
				t.Errorf("Connection: close = %v, want %v", c, tc.wantClose)
			}
			if tc.absent != "" && got.header.Get(tc.absent) != "" {
				t.Errorf("next saw %s", tc.absent)
			}
		})
	}
}

func request(method, uri, proto string) *http.Request {
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		u = &url.URL{Opaque: uri}
	}
	if method == "CONNECT" {
		u = &url.URL{Host: uri}
	}
	r := &http.Request{Method: method, URL: u, RequestURI: uri, Header: http.Header{}, Host: "gw",
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Body: http.NoBody}
	if proto != "" {
		r.Proto = proto
		r.ProtoMajor, r.ProtoMinor, _ = http.ParseHTTPVersion(proto)
	}
	return r
}

// TestHTTP2 sends requests over a real HTTP/2 connection: the :path is judged like an HTTP/1
// request target, and a refusal does not ask to close the connection (on HTTP/2 that would
// send GOAWAY to every stream of a possibly shared connection).
func TestHTTP2(t *testing.T) {
	mw, _ := New(Config{})
	be := &backend{}
	srv := httptest.NewUnstartedServer(mw(be))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	client := srv.Client()
	cases := []struct {
		path   string // sent verbatim as :path
		status int
		seen   string // RequestURI the backend saw; "" for none
	}{
		{"/a/b/../c?x=1", 200, "/a/c?x=1"},
		{"//a/./b", 200, "/a/b"},
		{"/a/%2e%2e/admin", 400, ""},
		{"/a%2Fb", 400, ""},
		{"/../admin", 400, ""},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			be.mu.Lock()
			be.reqs = nil
			be.mu.Unlock()
			req, err := http.NewRequest("GET", srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.URL.Opaque = "//" + req.URL.Host + tc.path // sent as is
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Fatalf("protocol %s", resp.Proto)
			}
			if resp.StatusCode != tc.status || resp.Header.Get("Connection") != "" {
				t.Errorf("status %d Connection %q, want %d and none", resp.StatusCode, resp.Header.Get("Connection"), tc.status)
			}
			var got []string
			for _, r := range be.lines() {
				got = append(got, strings.TrimPrefix(r, "GET "))
			}
			if tc.seen == "" && len(got) != 0 || tc.seen != "" && (len(got) != 1 || got[0] != tc.seen) {
				t.Errorf("the backend saw %q, want %q", got, tc.seen)
			}
		})
	}
}
