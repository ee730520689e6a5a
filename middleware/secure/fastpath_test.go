package secure

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// passedOn returns the request the guard hands to the next handler for r, or nil if it refused.
func passedOn(t testing.TB, r *http.Request) *http.Request {
	t.Helper()
	mw, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	var got *http.Request
	mw(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r })).ServeHTTP(httptest.NewRecorder(), r)
	return got
}

// checkAsCopied: whatever the guard passes on, on its fast path or not, carries the URL and
// RequestURI that withPath would give it.
func checkAsCopied(t testing.TB, r *http.Request) {
	t.Helper()
	orig := *r.URL
	uri := r.RequestURI
	got := passedOn(t, r)
	if got == nil {
		return
	}
	rawPath, rawQuery, ok := target(&http.Request{RequestURI: uri, URL: &orig})
	if !ok {
		t.Fatalf("%q passed although its target is refused", uri)
	}
	clean, err := NormalizePath(rawPath)
	if err != nil {
		t.Fatalf("%q passed although NormalizePath refuses it: %v", uri, err)
	}
	want := withPath(&http.Request{RequestURI: uri, URL: &orig}, clean, rawQuery)
	if !reflect.DeepEqual(*got.URL, *want.URL) || got.RequestURI != want.RequestURI {
		t.Fatalf("target %q (URL %#v):\npassed on %#v %q\nwant      %#v %q", uri, orig, *got.URL, got.RequestURI, *want.URL, want.RequestURI)
	}
	if got.URL.EscapedPath() != want.URL.EscapedPath() {
		t.Fatalf("target %q: escaped path %q, want %q", uri, got.URL.EscapedPath(), want.URL.EscapedPath())
	}
}

// readRequest parses target the way net/http's server does.
func readRequest(target string) (*http.Request, error) {
	return http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n")))
}

func TestFastPathMatchesCopy(t *testing.T) {
	targets := []string{
		"/", "/orders/1", "/orders/1?x=1&y=2", "/orders/", "/a?", "/a?#", "/a:b@c", "/a!b", "/a'b", "/a(b)*",
		"/a$b&c+d,e;f=g", "/a%41", "/a%20b", "/caf%C3%A9", "/a//b", "/a/./b", "/a/../b?q", "/%7Euser", "/~user",
		"/a?x=%2F", "/a.b/.well-known", "/a?x?y",
	}
	for _, target := range targets {
		r, err := readRequest(target)
		if err != nil {
			t.Fatalf("%q: %v", target, err)
		}
		checkAsCopied(t, r)
	}
	// A clean request is passed on as it is.
	r, _ := readRequest("/orders/1?x=1")
	if got := passedOn(t, r); got != r {
		t.Error("a clean request was copied")
	}
	// Hand-built requests whose fields disagree take the copy.
	for _, r := range []*http.Request{
		{Method: "GET", RequestURI: "/a!b", URL: &url.URL{Path: "/a!b"}, Header: http.Header{}, ProtoMajor: 1, ProtoMinor: 1},
		{Method: "GET", RequestURI: "/a", URL: &url.URL{Path: "/a", RawQuery: "x"}, Header: http.Header{}, ProtoMajor: 1, ProtoMinor: 1},
		{Method: "GET", RequestURI: "/a?x", URL: &url.URL{Path: "/a", RawQuery: "y"}, Header: http.Header{}, ProtoMajor: 1, ProtoMinor: 1},
		{Method: "GET", RequestURI: "/a?x", URL: &url.URL{Path: "/b", RawQuery: "x"}, Header: http.Header{}, ProtoMajor: 1, ProtoMinor: 1},
		{Method: "GET", URL: &url.URL{Path: "/a"}, Header: http.Header{}, ProtoMajor: 1, ProtoMinor: 1},
	} {
		checkAsCopied(t, r)
	}
}

// FuzzFastPathMatchesCopy: for any request target net/http accepts, the request the guard
// passes on has the URL and RequestURI of the copy withPath makes.
func FuzzFastPathMatchesCopy(f *testing.F) {
	for _, s := range []string{"/", "/a?b", "/a!b", "/a%41?x", "/a//b", "/a?", "/a;b=c", "/a'b?c'd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		if strings.ContainsAny(target, " \r\n") {
			return
		}
		r, err := readRequest(target)
		if err != nil {
			return
		}
		checkAsCopied(t, r)
	})
}
