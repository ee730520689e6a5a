package resolver

import "testing"

func TestVPath(t *testing.T) {
	runOK(t, VPath{Namespace: testNS}, []okCase{
		{"two segments", "/v1/foo", "", "go.micro.api.v1.foo", ""},
		{"trailing slash", "/v1/foo/", "", "go.micro.api.v1.foo", ""},
		{"deep path", "/v1/foo/bar/baz", "", "go.micro.api.v1.foo", ""},
		{"big version", "/v42/order-svc/x", "", "go.micro.api.v42.order-svc", ""},
		{"host recorded", "/v2/foo", "gw.example", "go.micro.api.v2.foo", ""},
	})
	runOK(t, VPath{}, []okCase{
		{"empty namespace", "/v1/foo/bar", "", "v1.foo", ""},
	})
}

func TestVPathNoMatch(t *testing.T) {
	runErr(t, VPath{Namespace: testNS}, []errCase{
		{name: "root", path: "/"},
		{name: "empty", path: ""},
		{name: "version only", path: "/v1"},
		{name: "version slash", path: "/v1/"},
		{name: "not a version", path: "/foo/bar"},
		{name: "bare v", path: "/v/foo"},
		{name: "upper V", path: "/V1/foo"},
		{name: "version suffix", path: "/v1beta/foo"},
		{name: "empty name", path: "/v1//foo"},
		{name: "dot dot name", path: "/v1/../foo"},
		{name: "dot in name", path: "/v1/foo.bar"},
		{name: "dot dot later", path: "/v1/foo/../../x"},
		{name: "backslash", path: "/v1/foo/a\\b"},
		{name: "encoded slash in service", path: "/v1/foo/bar", raw: "/v1%2Ffoo/bar"},
		{name: "encoded name", path: "/v1/foo", raw: "/v1/%66oo"},
	})
}
