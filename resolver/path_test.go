package resolver

import "testing"

func TestPath(t *testing.T) {
	runOK(t, Path{Namespace: testNS}, []okCase{
		{"one segment", "/foo", "", "go.micro.api.foo", ""},
		{"trailing slash", "/foo/", "", "go.micro.api.foo", ""},
		{"deep path", "/foo/bar/baz", "", "go.micro.api.foo", ""},
		{"version is a name", "/v1/foo", "", "go.micro.api.v1", ""},
		{"dots in file name", "/web/static/app.min.js", "", "go.micro.api.web", ""},
		{"empty inner segment", "/foo//bar", "", "go.micro.api.foo", ""},
		{"dotted segment", "/foo/.well-known/x", "", "go.micro.api.foo", ""},
		{"host recorded", "/foo/bar", "gw.example", "go.micro.api.foo", ""},
	})
	runOK(t, Path{}, []okCase{
		{"empty namespace", "/foo/bar", "", "foo", ""},
	})
}

func TestPathNoMatch(t *testing.T) {
	runErr(t, Path{Namespace: testNS}, []errCase{
		{name: "root", path: "/"},
		{name: "empty", path: ""},
		{name: "relative", path: "foo"},
		{name: "empty first segment", path: "//foo"},
		{name: "dot first", path: "/./foo"},
		{name: "dot dot first", path: "/../foo"},
		{name: "dot dot later", path: "/foo/../bar"},
		{name: "dot dot last", path: "/foo/.."},
		{name: "dot later", path: "/foo/./bar"},
		{name: "dot in first segment", path: "/foo.bar/x"},
		{name: "NUL", path: "/foo/a\x00b"},
		{name: "backslash", path: "/foo/..\\..\\etc"},
		{name: "encoded slash in service", path: "/foo/bar/x", raw: "/foo%2Fbar/x"},
		{name: "needless encoding of service", path: "/foo/x", raw: "/f%6Fo/x"},
	})
}

// TestPathRawRest accepts percent-encoding after the service segment: the proxy forwards it.
func TestPathRawRest(t *testing.T) {
	ep, err := Path{Namespace: testNS}.Resolve(req("/foo/a/b", "/foo/a%2Fb", ""))
	if err != nil || ep.Service != "go.micro.api.foo" {
		t.Fatalf("got %+v, %v", ep, err)
	}
}
