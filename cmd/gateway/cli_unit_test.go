package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeapi/gateway/descriptor"
	"github.com/edgeapi/gateway/registry"
)

// TestMicroPath: the path --gateway posts to is the one the micro resolver maps back to the
// service and endpoint.
func TestMicroPath(t *testing.T) {
	cases := []struct {
		ns, service, endpoint, want, err string
	}{
		{"go.micro.api", "go.micro.api.orderservice", "OrderSrv.GetOrder", "/orderservice/OrderSrv/GetOrder", ""},
		{"go.micro.api", "go.micro.api.foo.bar", "Baz.Cat", "/foo/bar/Baz/Cat", ""},
		{"go.micro.api", "go.micro.api.v1.foo", "Foo.Bar", "/v1/foo/Foo/Bar", ""},
		{"", "orderservice", "OrderSrv.GetOrder", "/orderservice/OrderSrv/GetOrder", ""},
		{"com.example", "com.example.greeter", "Greeter.SayHello", "/greeter/Greeter/SayHello", ""},
		{"go.micro.api", "com.example.greeter", "Greeter.Hello", "", "outside the gateway's namespace"},
		{"go.micro.api", "go.micro.api.order", "order.OrderSrv.GetOrder", "", "use OrderSrv.GetOrder"},
		{"go.micro.api", "go.micro.api.order", "orderSrv.getOrder", "", "has no path"},
		{"go.micro.api", "go.micro.api.v1", "Foo.Bar", "", "has no path"},
	}
	for _, tc := range cases {
		got, err := microPath(tc.ns, tc.service, tc.endpoint)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("microPath(%q, %q, %q) = %q, %v; want an error containing %q", tc.ns, tc.service, tc.endpoint, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("microPath(%q, %q, %q) = %q, %v; want %q", tc.ns, tc.service, tc.endpoint, got, err, tc.want)
		}
	}
}

// TestParseInterspersed: flags may sit among the positional arguments; "--" ends them.
func TestParseInterspersed(t *testing.T) {
	cases := []struct {
		args     []string
		pos      []string
		metadata []string
	}{
		{[]string{"a", "b"}, []string{"a", "b"}, nil},
		{[]string{"--metadata", "k=v", "a", "b"}, []string{"a", "b"}, []string{"k=v"}},
		{[]string{"a", "--metadata=k=v", "b", "-metadata", "x=y"}, []string{"a", "b"}, []string{"k=v", "x=y"}},
		{[]string{"a", "-", "--metadata", "k=v"}, []string{"a", "-"}, []string{"k=v"}},
		{[]string{"a", "--", "--metadata", "k=v"}, []string{"a", "--metadata", "k=v"}, nil},
	}
	for _, tc := range cases {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		var md multiFlag
		fs.Var(&md, "metadata", "")
		pos, err := parseInterspersed(fs, tc.args)
		if err != nil || strings.Join(pos, "|") != strings.Join(tc.pos, "|") || strings.Join(md, "|") != strings.Join(tc.metadata, "|") {
			t.Errorf("parseInterspersed(%q) = %q, metadata %q, %v; want %q, %q", tc.args, pos, md, err, tc.pos, tc.metadata)
		}
	}
}

// TestWriteJSON: compact output is one line with protojson's unstable spacing removed; pretty
// output is indented.
func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	_ = writeJSON(&b, []byte(`{"a":  1, "b": [1,  2]}`), false)
	if b.String() != "{\"a\":1,\"b\":[1,2]}\n" {
		t.Errorf("compact: %q", b.String())
	}
	b.Reset()
	_ = writeJSON(&b, []byte(`{"a":1,"b":[1,2]}`), true)
	if b.String() != "{\n  \"a\": 1,\n  \"b\": [\n    1,\n    2\n  ]\n}\n" {
		t.Errorf("pretty: %q", b.String())
	}
	b.Reset()
	_ = writeJSON(&b, []byte("<html>oops</html>\n"), false)
	if b.String() != "<html>oops</html>\n" {
		t.Errorf("not JSON: %q", b.String())
	}
	if isTerminal(&b) {
		t.Error("a buffer is not a terminal")
	}
}

// TestDescribeShapes renders message shapes the test services do not have (oneofs, optional,
// maps of messages and enums, recursion, nested and well-known types) from a compiled .proto,
// as text and as JSON.
func TestDescribeShapes(t *testing.T) {
	set, err := descriptor.CompileProtos(context.Background(), []string{filepath.Join("testdata", "cli")}, []string{"shapes.proto"})
	if err != nil {
		t.Fatal(err)
	}
	svc := &registry.Service{Name: "go.micro.api.shapes", Nodes: []registry.Node{{ID: "a", Address: "10.0.0.1:9000"}, {ID: "b", Address: "10.0.0.2:9000"}}}
	var b strings.Builder
	describer{}.text(&b, svc, set)
	compareGolden(t, "describe_shapes", b.String())

	b.Reset()
	doc, err := json.MarshalIndent(describer{protoNames: true}.document(svc, set), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, "describe_shapes_json", string(doc)+"\n")
}
