package resolver_test

import (
	"fmt"
	"net/http/httptest"

	"github.com/edgeapi/gateway/resolver"
)

func ExampleMicro() {
	res := resolver.Micro{Namespace: "go.micro.api"}
	for _, p := range []string{"/foo", "/foo/bar", "/foo/bar/baz", "/foo/bar/baz/cat", "/v1/foo/bar", "/greeter/say-hello"} {
		ep, err := res.Resolve(httptest.NewRequest("GET", p, nil))
		if err != nil {
			panic(err)
		}
		fmt.Printf("%-20s %-25s %s\n", p, ep.Service, ep.Method)
	}
	// Output:
	// /foo                 go.micro.api.foo          Foo.Call
	// /foo/bar             go.micro.api.foo          Foo.Bar
	// /foo/bar/baz         go.micro.api.foo          Bar.Baz
	// /foo/bar/baz/cat     go.micro.api.foo.bar      Baz.Cat
	// /v1/foo/bar          go.micro.api.v1.foo       Foo.Bar
	// /greeter/say-hello   go.micro.api.greeter      Greeter.SayHello
}

func ExampleGRPC() {
	res := resolver.GRPC{Namespace: "go.micro.api"}
	ep, _ := res.Resolve(httptest.NewRequest("POST", "/order.OrderSrv/GetOrder", nil))
	fmt.Println(ep.Service, ep.Method)
	// Output: go.micro.api.order order.OrderSrv.GetOrder
}

func ExampleNew() {
	res, err := resolver.New("vpath", "go.micro.api")
	if err != nil {
		panic(err)
	}
	ep, _ := res.Resolve(httptest.NewRequest("GET", "/v2/shop/cart/items", nil))
	fmt.Println(ep.Service, ep.Path)
	// Output: go.micro.api.v2.shop /v2/shop/cart/items
}
