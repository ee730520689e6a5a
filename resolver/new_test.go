package resolver

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	want := map[string]Resolver{
		KindMicro: Micro{Namespace: testNS},
		KindPath:  Path{Namespace: testNS},
		KindHost:  Host{Namespace: testNS},
		KindGRPC:  GRPC{Namespace: testNS},
		KindVPath: VPath{Namespace: testNS},
	}
	for _, kind := range Kinds() {
		t.Run(kind, func(t *testing.T) {
			res, err := New(kind, testNS)
			if err != nil {
				t.Fatal(err)
			}
			if res != want[kind] {
				t.Errorf("New(%q) = %#v, want %#v", kind, res, want[kind])
			}
		})
	}
	if len(Kinds()) != len(want) {
		t.Errorf("Kinds() = %v, want %d kinds", Kinds(), len(want))
	}
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		name, kind, ns, want string
	}{
		{"unknown kind", "regex", testNS, `"regex"`},
		{"empty kind", "", testNS, `""`},
		{"case matters", "Micro", testNS, `"Micro"`},
		{"namespace leading dot", "micro", ".go.micro", `".go.micro"`},
		{"namespace trailing dot", "micro", "go.micro.", `"go.micro."`},
		{"namespace double dot", "micro", "go..micro", `"go..micro"`},
		{"namespace slash", "micro", "go/micro", `"go/micro"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := New(tc.kind, tc.ns)
			if err == nil {
				t.Fatalf("New(%q, %q) = %#v, want error", tc.kind, tc.ns, res)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %s", err, tc.want)
			}
		})
	}
}

func TestNewEmptyNamespace(t *testing.T) {
	res, err := New(KindMicro, "")
	if err != nil {
		t.Fatal(err)
	}
	ep, err := res.Resolve(req("/foo/bar", "", ""))
	if err != nil || ep.Service != "foo" || ep.Method != "Foo.Bar" {
		t.Fatalf("got %+v, %v", ep, err)
	}
}

func TestValidateNamespace(t *testing.T) {
	for _, ns := range []string{"", "go.micro.api", "acme", "my-org.api_v1"} {
		if err := ValidateNamespace(ns); err != nil {
			t.Errorf("ValidateNamespace(%q) = %v", ns, err)
		}
	}
}

func TestEndpointContext(t *testing.T) {
	ctx := context.Background()
	if ep := EndpointFrom(ctx); ep != nil {
		t.Fatalf("EndpointFrom(empty) = %+v", ep)
	}
	want := &Endpoint{Service: "go.micro.api.foo", Method: "Foo.Call"}
	if got := EndpointFrom(WithEndpoint(ctx, want)); got != want {
		t.Fatalf("EndpointFrom = %p, want %p", got, want)
	}
}

func TestErrNoMatchWrapped(t *testing.T) {
	err := noMatch("micro", strings.Repeat("x", 1000), "reason")
	if !errors.Is(err, ErrNoMatch) {
		t.Fatal("noMatch does not wrap ErrNoMatch")
	}
	if len(err.Error()) > 250 {
		t.Errorf("error message not truncated: %d bytes", len(err.Error()))
	}
}
