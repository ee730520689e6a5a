package api_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/edgeapi/gateway/handler/api"
	apipb "github.com/edgeapi/gateway/proto/api"
	"github.com/edgeapi/gateway/router"
	"github.com/edgeapi/gateway/trust"
)

func values(m map[string]*apipb.Pair, k string) []string {
	if p, ok := m[k]; ok {
		return p.GetValues()
	}
	return nil
}

func TestBackendReceivesTheWholeRequest(t *testing.T) {
	g, addr := startGreeter(t)
	gw := newGateway(t, api.Config{}, addr)
	host := strings.TrimPrefix(gw, "http://")

	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	_ = mw.WriteField("title", "hello")
	_ = mw.WriteField("tag", "a")
	_ = mw.WriteField("tag", "b")
	fw, _ := mw.CreateFormFile("file", "f.bin")
	_, _ = fw.Write([]byte{0, 1, 2})
	_ = mw.Close()

	cases := []struct {
		name, method, path, contentType string
		body                            []byte
		wantPath                        string
		wantGet, wantPost               map[string][]string
	}{
		{
			name: "GET with query, default handler", method: http.MethodGet, path: "/greeter/call?name=ada&x=1&x=2",
			wantPath: "/greeter/call", wantGet: map[string][]string{"name": {"ada"}, "x": {"1", "2"}},
		},
		{
			name: "POST urlencoded form", method: http.MethodPost, path: "/greeter/call?q=z", contentType: "application/x-www-form-urlencoded",
			body: []byte("a=1&b=2&b=3&empty="), wantPath: "/greeter/call",
			wantGet: map[string][]string{"q": {"z"}}, wantPost: map[string][]string{"a": {"1"}, "b": {"2", "3"}, "empty": {""}},
		},
		{
			name: "POST multipart form", method: http.MethodPost, path: "/api/upload", contentType: mw.FormDataContentType(),
			body: mp.Bytes(), wantPath: "/api/upload", wantPost: map[string][]string{"title": {"hello"}, "tag": {"a", "b"}},
		},
		{
			name: "PUT JSON body, config route", method: http.MethodPut, path: "/api/items/7", contentType: "application/json",
			body: []byte(`{"name":"x","n":0}`), wantPath: "/api/items/7",
		},
		{
			name: "POST binary body", method: http.MethodPost, path: "/api/bin", contentType: "application/octet-stream",
			body: []byte{0, 0xff, 0xfe, '\n', 0}, wantPath: "/api/bin",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, gw+tc.path, bytes.NewReader(tc.body))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			req.Header.Set("Authorization", "Bearer t0k3n")
			req.Header.Set("X-Custom", "custom value")
			req.Header.Set("X-Forwarded-For", "203.0.113.9") // spoofed: the peer is not trusted
			resp, body := do(t, req)
			if resp.StatusCode != http.StatusOK || string(body) != `{"ok":true}` || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("%d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			c := g.lastCall(t)
			r := c.req
			if r.GetMethod() != tc.method || r.GetPath() != tc.wantPath {
				t.Errorf("method/path %s %s, want %s %s", r.GetMethod(), r.GetPath(), tc.method, tc.wantPath)
			}
			if want := "http://" + host + tc.path; r.GetUrl() != want {
				t.Errorf("url %q, want %q", r.GetUrl(), want)
			}
			if got := values(r.GetHeader(), "Host"); !slices.Equal(got, []string{host}) {
				t.Errorf("Host %q, want %q", got, host)
			}
			if got := values(r.GetHeader(), "X-Forwarded-For"); !slices.Equal(got, []string{"127.0.0.1"}) {
				t.Errorf("X-Forwarded-For %q, want the peer only", got)
			}
			if got := values(r.GetHeader(), "X-Custom"); !slices.Equal(got, []string{"custom value"}) {
				t.Errorf("X-Custom %q", got)
			}
			if got := values(r.GetHeader(), "Content-Type"); tc.contentType != "" && !slices.Equal(got, []string{tc.contentType}) {
				t.Errorf("Content-Type %q", got)
			}
			for k, p := range r.GetHeader() {
				if p.GetKey() != k {
					t.Errorf("header pair %q has key %q", k, p.GetKey())
				}
			}
			checkPairs(t, "get", r.GetGet(), tc.wantGet)
			checkPairs(t, "post", r.GetPost(), tc.wantPost)
			if !bytes.Equal(r.GetBody(), tc.body) {
				t.Errorf("body %q, want %q", r.GetBody(), tc.body)
			}
			// Metadata: the allow-list crosses.
			if got := c.md.Get("authorization"); !slices.Equal(got, []string{"Bearer t0k3n"}) {
				t.Errorf("authorization metadata %q", got)
			}
			if got := c.md.Get("x-request-id"); len(got) != 1 || got[0] != resp.Header.Get("X-Request-Id") {
				t.Errorf("x-request-id metadata %q, response %q", got, resp.Header.Get("X-Request-Id"))
			}
			if got := c.md.Get("x-custom"); len(got) != 0 {
				t.Errorf("x-custom crossed as metadata: %q", got)
			}
		})
	}
}

func checkPairs(t *testing.T, what string, got map[string]*apipb.Pair, want map[string][]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s has %d keys, want %d: %v", what, len(got), len(want), got)
	}
	for k, v := range want {
		if g := values(got, k); !slices.Equal(g, v) {
			t.Errorf("%s[%s] = %q, want %q", what, k, g, v)
		}
		if p := got[k]; p != nil && p.GetKey() != k {
			t.Errorf("%s[%s].key = %q", what, k, p.GetKey())
		}
	}
}

func TestForwardedForFromTrustedProxy(t *testing.T) {
	g, addr := startGreeter(t)
	trusted, err := trust.Parse([]string{"127.0.0.1/8"})
	if err != nil {
		t.Fatal(err)
	}
	gw := newGateway(t, api.Config{TrustedProxies: trusted}, addr)
	for _, tc := range []struct{ sent, want string }{
		{"203.0.113.9", "203.0.113.9, 127.0.0.1"},
		{"", "127.0.0.1"},
	} {
		req, _ := http.NewRequest(http.MethodGet, gw+"/api/x", nil)
		if tc.sent != "" {
			req.Header.Set("X-Forwarded-For", tc.sent)
		}
		if resp, body := do(t, req); resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if got := values(g.lastCall(t).req.GetHeader(), "X-Forwarded-For"); !slices.Equal(got, []string{tc.want}) {
			t.Errorf("sent %q: X-Forwarded-For %q, want %q", tc.sent, got, tc.want)
		}
	}
}

func TestResponseIsWritten(t *testing.T) {
	_, addr := startGreeter(t)
	gw := newGateway(t, api.Config{}, addr)

	t.Run("status 0 is 200 with JSON by default", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, gw+"/greeter/call", nil)
		resp, body := do(t, req)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || string(body) != `{"ok":true}` {
			t.Fatalf("%d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	})

	t.Run("status, headers and body from the backend, hop-by-hop dropped", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, gw+"/api/status", strings.NewReader("x"))
		resp, body := do(t, req)
		if resp.StatusCode != 201 || string(body) != "created" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		if got := resp.Header.Values("X-Custom"); !slices.Equal(got, []string{"one", "two"}) {
			t.Errorf("X-Custom %q", got)
		}
		if got := resp.Header.Get("Map-Key-Only"); got != "from the map key" {
			t.Errorf("a header given by its map key only: %q", got)
		}
		for _, h := range []string{"X-Named-Hop", "Keep-Alive", "Upgrade", "X-Injected", "Set-Cookie"} {
			if v, ok := resp.Header[h]; ok {
				t.Errorf("header %s reached the client: %q", h, v)
			}
		}
		if c := resp.Header.Get("Connection"); strings.Contains(strings.ToLower(c), "x-named-hop") {
			t.Errorf("the backend's Connection header reached the client: %q", c)
		}
		if resp.ContentLength != int64(len("created")) || len(resp.TransferEncoding) != 0 {
			t.Errorf("framing from the backend leaked: length %d, transfer encoding %q", resp.ContentLength, resp.TransferEncoding)
		}
	})

	for _, tc := range []struct {
		code string
		want int
	}{{"204", 204}, {"302", 302}, {"418", 418}, {"599", 599}, {"103", 502}, {"99", 502}, {"600", 502}, {"1000", 502}} {
		t.Run("backend status "+tc.code, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, gw+"/api/raw?code="+tc.code, nil)
			resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

func TestBackendErrorsMapToStatuses(t *testing.T) {
	_, addr := startGreeter(t)
	gw := newGateway(t, api.Config{}, addr)
	for _, tc := range []struct {
		code codes.Code
		want int
	}{
		{codes.InvalidArgument, 400}, {codes.Unauthenticated, 401}, {codes.PermissionDenied, 403},
		{codes.NotFound, 404}, {codes.AlreadyExists, 409}, {codes.ResourceExhausted, 429},
		{codes.Internal, 500}, {codes.Unimplemented, 501}, {codes.Unavailable, 503}, {codes.FailedPrecondition, 400},
	} {
		t.Run(tc.code.String(), func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, gw+"/api/error/"+itoa(int(tc.code)), nil)
			resp, body := do(t, req)
			e := wantError(t, resp, body, tc.want)
			if e.GRPCCode != tc.code.String() || e.Detail != "backend says no" || e.ID != "go.micro.api.greeter" {
				t.Errorf("error %+v", e)
			}
		})
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

func TestGatewayErrors(t *testing.T) {
	_, addr := startGreeter(t)
	gw := newGateway(t, api.Config{BodyLimit: 64}, addr,
		router.Route{Path: "/plain", Handler: "api", Service: "go.micro.api.greeter", Endpoint: "Greeter.Plain"},
		router.Route{Path: "/nope", Handler: "api", Service: "go.micro.api.greeter", Endpoint: "Greeter.Nope"},
		router.Route{Path: "/gone", Handler: "api", Service: "go.micro.api.gone", Endpoint: "Gone.Call"},
		router.Route{Path: "/slow/*", Handler: "api", Service: "go.micro.api.greeter", Endpoint: "Greeter.Call", Timeout: 100 * time.Millisecond},
	)
	cases := []struct {
		name, path string
		body       string
		hdr        map[string]string
		code       int
	}{
		{"body over the limit", "/api/x", strings.Repeat("x", 65), nil, http.StatusRequestEntityTooLarge},
		{"unknown method", "/nope", "", nil, http.StatusNotFound},
		{"method that does not take go.api.Request", "/plain", "", nil, http.StatusNotFound},
		{"unknown service", "/gone", "", nil, http.StatusNotFound},
		{"route timeout", "/slow/slow", "", nil, http.StatusGatewayTimeout},
		{"client timeout header", "/api/slow", "", map[string]string{"Timeout": "100ms"}, http.StatusGatewayTimeout},
		{"bad timeout header", "/api/x", "", map[string]string{"Grpc-Timeout": "soon"}, http.StatusBadRequest},
		{"bad form body", "/api/x", "a=%zz", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, http.StatusBadRequest},
		{"multipart without boundary", "/api/x", "--x--", map[string]string{"Content-Type": "multipart/form-data"}, http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, gw+tc.path, strings.NewReader(tc.body))
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			resp, body := do(t, req)
			wantError(t, resp, body, tc.code)
		})
	}
	// The body limit holds exactly.
	req, _ := http.NewRequest(http.MethodPost, gw+"/api/x", strings.NewReader(strings.Repeat("x", 64)))
	if resp, body := do(t, req); resp.StatusCode != 200 {
		t.Fatalf("a body at the limit: %d %s", resp.StatusCode, body)
	}
}

func TestBuildRequestDirectly(t *testing.T) {
	form := url.Values{"k": {"v1", "v2"}}.Encode()
	r, _ := http.NewRequest(http.MethodPost, "http://example.com/p?a=b", strings.NewReader(form))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	r.RemoteAddr = "192.0.2.1:5555"
	r.Host = "example.com"
	req, err := api.BuildRequest(r, "/p", 1<<20, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(values(req.GetPost(), "k"), []string{"v1", "v2"}) || string(req.GetBody()) != form ||
		!slices.Equal(values(req.GetHeader(), "X-Forwarded-For"), []string{"192.0.2.1"}) || req.GetUrl() != "http://example.com/p?a=b" {
		t.Fatalf("%v", req)
	}
	// A request without a body (as a client-side request may be) is an empty body.
	r, _ = http.NewRequest(http.MethodGet, "http://example.com/p", nil)
	r.Body = nil
	req, err = api.BuildRequest(r, "/p", 10, 10)
	if err != nil || len(req.GetBody()) != 0 {
		t.Fatalf("nil body: %v %v", req, err)
	}
}
