package resolver

import (
	"errors"
	"strings"
	"testing"
)

// fuzzNamespaces are the namespaces fuzz inputs pick from by index.
var fuzzNamespaces = [...]string{testNS, "", "acme"}

func fuzzNS(i uint8) string { return fuzzNamespaces[int(i)%len(fuzzNamespaces)] }

// checkMethodIdents fails t unless method is "A.B" with A and B protobuf identifiers that
// start with a letter, as the Micro resolver promises.
func checkMethodIdents(t *testing.T, method string) {
	t.Helper()
	svc, m, ok := strings.Cut(method, ".")
	if !ok || strings.Contains(m, ".") || !validIdent(svc) || !validIdent(m) || !isLetter(svc[0]) || !isLetter(m[0]) {
		t.Fatalf("method %q is not Service.Method", method)
	}
}

func FuzzMicro(f *testing.F) {
	for _, p := range []string{
		"/", "", "/foo", "/foo/bar", "/foo/bar/baz", "/foo/bar/baz/cat", "/v1/foo/bar", "/v1",
		"/orderservice/OrderSrv/GetOrder", "/greeter/say-hello", "/foo/bar/", "//", "/foo//bar",
		"/../x", "/foo/../../etc/passwd", "/foo%2Fbar", "/foo\x00", "/a\\b", "/v1//", "/foo/-",
		"/foo/a--b", "/ä/ö",
	} {
		f.Add(p, "", uint8(0))
		f.Add(p, p, uint8(1))
	}
	f.Add("/foo/bar", "/foo%2Fbar", uint8(2))
	f.Fuzz(func(t *testing.T, path, raw string, nsi uint8) {
		ns := fuzzNS(nsi)
		r := req(path, raw, "gw.example")
		ep, err := Micro{Namespace: ns}.Resolve(r)
		if err != nil {
			if !errors.Is(err, ErrNoMatch) {
				t.Fatalf("error %v does not wrap ErrNoMatch", err)
			}
			return
		}
		checkService(t, ns, ep.Service)
		checkMethodIdents(t, ep.Method)
		if ep.Path != path || ep.Host != "gw.example" {
			t.Fatalf("Path, Host = %q, %q; want %q, gw.example", ep.Path, ep.Host, path)
		}
		// The namespace is a pure prefix: resolving without it gives the same name.
		bare, err := Micro{}.Resolve(r)
		if err != nil {
			t.Fatalf("resolves with namespace %q but not without: %v", ns, err)
		}
		if want := strings.TrimPrefix(ep.Service, ns+"."); ns != "" && bare.Service != want || bare.Method != ep.Method {
			t.Fatalf("without namespace: %q %q, with %q: %q %q", bare.Service, bare.Method, ns, ep.Service, ep.Method)
		}
	})
}

func FuzzResolvers(f *testing.F) {
	seeds := []struct{ path, raw, host string }{
		{"/", "", ""},
		{"/foo/bar", "", "shop.example.com:8080"},
		{"/v1/foo/bar", "", "Shop.Example.com."},
		{"/order.OrderSrv/GetOrder", "", "10.0.0.1"},
		{"/Greeter/SayHello/", "", "[::1]:80"},
		{"/v1/../x", "", "a..b"},
		{"/foo/a%2Fb", "/foo/a%2Fb", "-a.com"},
		{"/foo/./x", "", "a_b.com"},
		{"//", "", ":"},
		{"/v1//", "", "."},
		{"/a\\b/c", "", "a.b\x00"},
	}
	kinds := Kinds()
	for i, s := range seeds {
		f.Add(uint8(i%len(kinds)), s.path, s.raw, s.host, uint8(i))
	}
	f.Fuzz(func(t *testing.T, ki uint8, path, raw, host string, nsi uint8) {
		kind := kinds[int(ki)%len(kinds)]
		ns := fuzzNS(nsi)
		res, err := New(kind, ns)
		if err != nil {
			t.Fatal(err)
		}
		ep, err := res.Resolve(req(path, raw, host))
		if err != nil {
			if !errors.Is(err, ErrNoMatch) {
				t.Fatalf("%s: error %v does not wrap ErrNoMatch", kind, err)
			}
			return
		}
		checkService(t, ns, ep.Service)
		if ep.Host != host {
			t.Fatalf("%s: Host = %q, want %q", kind, ep.Host, host)
		}
		if ep.Path != path {
			t.Fatalf("%s: Path = %q, want %q", kind, ep.Path, path)
		}
		switch kind {
		case KindPath, KindVPath:
			if ep.Method != "" {
				t.Fatalf("%s: Method = %q, want empty", kind, ep.Method)
			}
			if why := forwardable(path); why != "" {
				t.Fatalf("%s: accepted unforwardable path %q: %s", kind, path, why)
			}
		case KindHost:
			if ep.Method != "" {
				t.Fatalf("%s: Method = %q, want empty", kind, ep.Method)
			}
		case KindMicro:
			checkMethodIdents(t, ep.Method)
		case KindGRPC:
			i := strings.LastIndexByte(ep.Method, '.')
			if i < 0 || !validQualified(ep.Method[:i]) || !validIdent(ep.Method[i+1:]) {
				t.Fatalf("%s: Method %q is not <package.Service>.<Method>", kind, ep.Method)
			}
		}
	})
}
