package resolver

import (
	"net/http/httptest"
	"testing"
)

func TestMicro(t *testing.T) {
	runOK(t, Micro{Namespace: testNS}, []okCase{
		{"one segment", "/foo", "", "go.micro.api.foo", "Foo.Call"},
		{"two segments", "/foo/bar", "", "go.micro.api.foo", "Foo.Bar"},
		{"three segments", "/foo/bar/baz", "", "go.micro.api.foo", "Bar.Baz"},
		{"four segments", "/foo/bar/baz/cat", "", "go.micro.api.foo.bar", "Baz.Cat"},
		{"five segments", "/a/b/c/d/e", "", "go.micro.api.a.b.c", "D.E"},
		{"version", "/v1/foo/bar", "", "go.micro.api.v1.foo", "Foo.Bar"},
		{"version one more", "/v1/foo", "", "go.micro.api.v1.foo", "Foo.Call"},
		{"version four", "/v2/foo/bar/baz", "", "go.micro.api.v2.foo", "Bar.Baz"},
		{"version five", "/v10/foo/bar/baz/cat", "", "go.micro.api.v10.foo.bar", "Baz.Cat"},
		{"lone version is a name", "/v1", "", "go.micro.api.v1", "V1.Call"},
		{"not a version", "/va/foo/bar", "", "go.micro.api.va", "Foo.Bar"},
		{"upper V not a version", "/V1/foo/bar", "", "go.micro.api.V1", "Foo.Bar"},
		{"order service", "/orderservice/OrderSrv/GetOrder", "", "go.micro.api.orderservice", "OrderSrv.GetOrder"},
		{"dash camel case", "/greeter/say-hello", "", "go.micro.api.greeter", "Greeter.SayHello"},
		{"dash camel case both", "/foo/hello-world/say-hello", "", "go.micro.api.foo", "HelloWorld.SayHello"},
		{"dash in one-segment method", "/say-hello", "", "go.micro.api.say-hello", "SayHello.Call"},
		{"dashed service kept", "/my-svc/a-b/c-d", "", "go.micro.api.my-svc", "AB.CD"},
		{"upper first letter", "/foo/getOrder", "", "go.micro.api.foo", "Foo.GetOrder"},
		{"service case kept", "/Foo/bar", "", "go.micro.api.Foo", "Foo.Bar"},
		{"underscore and digits", "/foo_1/bar_2", "", "go.micro.api.foo_1", "Foo_1.Bar_2"},
		{"trailing slash", "/foo/bar/", "", "go.micro.api.foo", "Foo.Bar"},
		{"host recorded", "/foo", "api.example.com", "go.micro.api.foo", "Foo.Call"},
	})
}

func TestMicroEmptyNamespace(t *testing.T) {
	runOK(t, Micro{}, []okCase{
		{"one segment", "/foo", "", "foo", "Foo.Call"},
		{"two segments", "/foo/bar", "", "foo", "Foo.Bar"},
		{"four segments", "/foo/bar/baz/cat", "", "foo.bar", "Baz.Cat"},
		{"version", "/v1/foo/bar", "", "v1.foo", "Foo.Bar"},
	})
}

func TestMicroNoMatch(t *testing.T) {
	runErr(t, Micro{Namespace: testNS}, []errCase{
		{name: "root", path: "/"},
		{name: "empty", path: ""},
		{name: "relative", path: "foo/bar"},
		{name: "double slash root", path: "//"},
		{name: "empty first segment", path: "//foo"},
		{name: "empty inner segment", path: "/foo//bar"},
		{name: "two trailing slashes", path: "/foo/bar//"},
		{name: "dot", path: "/./foo"},
		{name: "dot dot", path: "/../foo"},
		{name: "dot dot inner", path: "/foo/../bar/baz"},
		{name: "dot dot service", path: "/a/../b/c"},
		{name: "dot in segment", path: "/foo.bar/baz"},
		{name: "percent", path: "/foo%2e/bar"},
		{name: "encoded slash", path: "/foo/bar", raw: "/foo%2Fbar"},
		{name: "needless encoding", path: "/foo", raw: "/%66oo"},
		{name: "NUL", path: "/foo\x00/bar"},
		{name: "backslash", path: "/foo\\bar"},
		{name: "space", path: "/foo bar"},
		{name: "unicode", path: "/föö"},
		{name: "method starts with digit", path: "/foo/1bar"},
		{name: "one segment digit", path: "/123"},
		{name: "method starts with underscore", path: "/foo/_bar"},
		{name: "method leading dash", path: "/foo/-bar"},
		{name: "method trailing dash", path: "/foo/bar-"},
		{name: "method double dash", path: "/foo/say--hello"},
		{name: "version then root", path: "/v1//"},
		{name: "method lone dash", path: "/foo/bar/-"},
	})
}

// TestMicroParsedRequest goes through real URL parsing, as the server does.
func TestMicroParsedRequest(t *testing.T) {
	res := Micro{Namespace: testNS}
	ep, err := res.Resolve(httptest.NewRequest("GET", "http://gw.example/foo/bar?x=1", nil))
	if err != nil || ep.Service != "go.micro.api.foo" || ep.Method != "Foo.Bar" || ep.Host != "gw.example" {
		t.Fatalf("got %+v, %v", ep, err)
	}
	for _, target := range []string{"/foo%2Fbar/baz", "/foo/%2e%2e/bar", "/%2e%2e/x", "/foo%00/bar"} {
		t.Run(target, func(t *testing.T) {
			r := httptest.NewRequest("GET", target, nil)
			if _, err := res.Resolve(r); err == nil {
				t.Fatalf("Resolve(%q) succeeded", target)
			}
		})
	}
}

func TestMicroErrorMessage(t *testing.T) {
	_, err := Micro{Namespace: testNS}.Resolve(req("/foo//bar", "", ""))
	const want = `resolver micro: no service matches the request: "/foo//bar": empty path segment`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
}

func TestMicroAllocs(t *testing.T) {
	res := Micro{Namespace: testNS}
	r := req("/orderservice/OrderSrv/GetOrder", "", "")
	if n := testing.AllocsPerRun(100, func() { _, _ = res.Resolve(r) }); n > 1 {
		t.Errorf("Resolve allocates %v times, want at most 1", n)
	}
}

func BenchmarkMicro(b *testing.B) {
	var res Resolver = Micro{Namespace: testNS}
	for _, bc := range []struct{ name, path string }{
		{"one", "/foo"},
		{"three", "/orderservice/OrderSrv/GetOrder"},
		{"version-dash", "/v1/foo/say-hello"},
		{"four", "/foo/bar/baz/cat"},
	} {
		r := req(bc.path, "", "gw.example")
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := res.Resolve(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
