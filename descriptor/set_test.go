package descriptor

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
)

func TestSetMethodLookup(t *testing.T) {
	set, err := LoadProtoset("../examples/proto/order.protoset")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		endpoint, path, input, output string
	}{
		{"OrderSrv.GetOrder", "/order.OrderSrv/GetOrder", "order.OrderRequest", "order.OrderResponse"},
		{"order.OrderSrv.GetOrder", "/order.OrderSrv/GetOrder", "order.OrderRequest", "order.OrderResponse"},
		{"OrderSrv.ListOrders", "/order.OrderSrv/ListOrders", "order.ListOrdersRequest", "order.ListOrdersResponse"},
	}
	for _, tc := range cases {
		t.Run(tc.endpoint, func(t *testing.T) {
			m, err := set.Method(tc.endpoint)
			if err != nil {
				t.Fatal(err)
			}
			if m.Path != tc.path || string(m.Input.FullName()) != tc.input || string(m.Output.FullName()) != tc.output {
				t.Errorf("Method = %s %s -> %s, want %s %s -> %s", m.Path, m.Input.FullName(), m.Output.FullName(), tc.path, tc.input, tc.output)
			}
			if m.Desc.Name() != protoreflect.Name(tc.path[strings.LastIndexByte(tc.path, '/')+1:]) {
				t.Errorf("Desc = %s", m.Desc.FullName())
			}
			if m.ClientStreaming() || m.ServerStreaming() {
				t.Error("unary method reported as streaming")
			}
		})
	}
	// Both names give the same *Method.
	a, _ := set.Method("OrderSrv.GetOrder")
	b, _ := set.Method("order.OrderSrv.GetOrder")
	if a != b {
		t.Error("short and full name resolve to different Methods")
	}
}

func TestSetUnknownMethod(t *testing.T) {
	set, err := LoadProtoset("../examples/proto/order.protoset")
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range []string{"OrderSrv.Nope", "order.OrderSrv.Nope", "UserSrv.GetAccount", "GetOrder", "", ".", "orderSrv.GetOrder", "OrderSrv.getOrder", "x.order.OrderSrv.GetOrder"} {
		t.Run(ep, func(t *testing.T) {
			_, err := set.Method(ep)
			var me *MethodError
			if !errors.As(err, &me) {
				t.Fatalf("Method(%q) = %v, want *MethodError", ep, err)
			}
			want := []string{"OrderSrv.GetOrder", "OrderSrv.ListOrders"}
			if me.Endpoint != ep || len(me.Candidates) != 0 || !slices.Equal(me.Methods, want) {
				t.Errorf("MethodError = %+v, want endpoint %q and methods %v", me, ep, want)
			}
			if !strings.Contains(err.Error(), "OrderSrv.GetOrder, OrderSrv.ListOrders") || !strings.Contains(err.Error(), `"`+ep+`"`) {
				t.Errorf("Error() = %q", err)
			}
		})
	}
}

func TestSetAmbiguousShortName(t *testing.T) {
	set := setOf(t,
		fileProto("a/svc.proto", "a", nil, svcProto{"Svc", []string{"Call"}}),
		fileProto("b/svc.proto", "b", nil, svcProto{"Svc", []string{"Call", "Other"}}, svcProto{"Solo", []string{"Do"}}),
	)
	for _, ep := range []string{"Svc.Call", "Svc.Other", "Svc.Nope"} {
		t.Run(ep, func(t *testing.T) {
			_, err := set.Method(ep)
			var me *MethodError
			if !errors.As(err, &me) {
				t.Fatalf("Method(%q) = %v, want *MethodError", ep, err)
			}
			if !slices.Equal(me.Candidates, []string{"a.Svc", "b.Svc"}) || me.Endpoint != ep {
				t.Errorf("MethodError = %+v, want candidates a.Svc and b.Svc", me)
			}
			if msg := err.Error(); !strings.Contains(msg, "ambiguous") || !strings.Contains(msg, "a.Svc and b.Svc") {
				t.Errorf("Error() = %q", msg)
			}
			// The candidates are the error's own: changing them does not change the Set.
			me.Candidates[0] = "x"
			_, err = set.Method(ep)
			if !errors.As(err, &me) || me.Candidates[0] != "a.Svc" {
				t.Error("MethodError shares its Candidates with the Set")
			}
		})
	}
	for ep, path := range map[string]string{
		"a.Svc.Call":  "/a.Svc/Call",
		"b.Svc.Call":  "/b.Svc/Call",
		"b.Svc.Other": "/b.Svc/Other",
		"Solo.Do":     "/b.Solo/Do",
		"b.Solo.Do":   "/b.Solo/Do",
	} {
		m, err := set.Method(ep)
		if err != nil || m.Path != path {
			t.Errorf("Method(%q) = %v, %v; want %s", ep, m, err, path)
		}
	}
	want := []string{"Solo.Do", "a.Svc.Call", "b.Svc.Call", "b.Svc.Other"}
	if got := set.MethodNames(); !slices.Equal(got, want) {
		t.Errorf("MethodNames() = %v, want %v", got, want)
	}
	_, err := set.Method("Solo.Nope")
	var me *MethodError
	if !errors.As(err, &me) || !slices.Equal(me.Methods, want) {
		t.Errorf("Method(Solo.Nope) = %v, want the method list %v", err, want)
	}
}

func TestSetRootPackageAndStreaming(t *testing.T) {
	set := setOf(t, fileProto("root.proto", "", nil, svcProto{"Root", []string{"Do", "Chat:cs", "Watch:ss", "Both:cs,ss"}}))
	cases := []struct {
		ep     string
		cs, ss bool
	}{{"Root.Do", false, false}, {"Root.Chat", true, false}, {"Root.Watch", false, true}, {"Root.Both", true, true}}
	for _, tc := range cases {
		m, err := set.Method(tc.ep)
		if err != nil {
			t.Fatalf("Method(%q): %v", tc.ep, err)
		}
		if m.ClientStreaming() != tc.cs || m.ServerStreaming() != tc.ss {
			t.Errorf("%s: streaming client %v server %v, want %v %v", tc.ep, m.ClientStreaming(), m.ServerStreaming(), tc.cs, tc.ss)
		}
		if want := "/Root/" + tc.ep[len("Root."):]; m.Path != want {
			t.Errorf("%s: Path %q, want %q", tc.ep, m.Path, want)
		}
	}
}

func TestNewSetNames(t *testing.T) {
	files := filesOf(t,
		fileProto("a/svc.proto", "a", nil, svcProto{"Svc", []string{"Call"}}, svcProto{"Other", []string{"Do"}}),
		fileProto("grpc/reflection/v1/reflection.proto", "grpc.reflection.v1", nil, svcProto{"ServerReflection", []string{"ServerReflectionInfo:cs,ss"}}),
	)
	t.Run("all services but reflection", func(t *testing.T) {
		set, err := NewSet(files, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, sd := range set.Services {
			got = append(got, string(sd.FullName()))
		}
		if !slices.Equal(got, []string{"a.Other", "a.Svc"}) {
			t.Errorf("Services = %v", got)
		}
		if set.Files != files || set.Types == nil {
			t.Error("Files or Types not set")
		}
		if _, err := set.Types.FindMessageByName("a.Msg"); err != nil {
			t.Errorf("Types cannot find a.Msg: %v", err)
		}
	})
	t.Run("named services only, input untouched", func(t *testing.T) {
		names := []protoreflect.FullName{"a.Svc", "grpc.reflection.v1.ServerReflection", "a.Svc"}
		orig := slices.Clone(names)
		set, err := NewSet(files, names)
		if err != nil {
			t.Fatal(err)
		}
		if len(set.Services) != 1 || set.Services[0].FullName() != "a.Svc" {
			t.Errorf("Services = %v", set.Services)
		}
		if !slices.Equal(names, orig) {
			t.Errorf("NewSet changed its argument: %v, was %v", names, orig)
		}
		if _, err := set.Method("Other.Do"); err == nil {
			t.Error("a service that was not named is callable")
		}
	})
	for name, names := range map[string][]protoreflect.FullName{
		"unknown service": {"a.Nope"},
		"not a service":   {"a.Msg"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewSet(files, names); err == nil || !strings.Contains(err.Error(), string(names[0])) {
				t.Errorf("NewSet(%v) = %v, want an error naming it", names, err)
			}
		})
	}
}
