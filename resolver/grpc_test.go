package resolver

import "testing"

func TestGRPC(t *testing.T) {
	runOK(t, GRPC{Namespace: testNS}, []okCase{
		{"package", "/order.OrderSrv/GetOrder", "", "go.micro.api.order", "order.OrderSrv.GetOrder"},
		{"dotted package", "/acme.order.v1.Orders/Get", "", "go.micro.api.acme.order.v1", "acme.order.v1.Orders.Get"},
		{"no package lower-cased", "/Greeter/SayHello", "", "go.micro.api.greeter", "Greeter.SayHello"},
		{"package case kept", "/Acme.Svc/Do", "", "go.micro.api.Acme", "Acme.Svc.Do"},
		{"underscores", "/my_pkg._Svc/do_it", "", "go.micro.api.my_pkg", "my_pkg._Svc.do_it"},
		{"trailing slash", "/order.OrderSrv/GetOrder/", "", "go.micro.api.order", "order.OrderSrv.GetOrder"},
		{"host recorded", "/health.Health/Check", "gw.example", "go.micro.api.health", "health.Health.Check"},
	})
	runOK(t, GRPC{}, []okCase{
		{"empty namespace", "/order.OrderSrv/GetOrder", "", "order", "order.OrderSrv.GetOrder"},
		{"empty namespace no package", "/Greeter/SayHello", "", "greeter", "Greeter.SayHello"},
	})
}

func TestGRPCNoMatch(t *testing.T) {
	runErr(t, GRPC{Namespace: testNS}, []errCase{
		{name: "root", path: "/"},
		{name: "empty", path: ""},
		{name: "relative", path: "order.OrderSrv/GetOrder"},
		{name: "no method", path: "/order.OrderSrv"},
		{name: "empty method", path: "/order.OrderSrv/"},
		{name: "empty service", path: "//GetOrder"},
		{name: "extra segment", path: "/order.OrderSrv/Get/Order"},
		{name: "double slash", path: "/order.OrderSrv//GetOrder"},
		{name: "leading dot", path: "/.OrderSrv/GetOrder"},
		{name: "trailing dot", path: "/order./GetOrder"},
		{name: "double dot", path: "/order..OrderSrv/GetOrder"},
		{name: "dot dot", path: "/../GetOrder"},
		{name: "dash", path: "/my-pkg.Svc/Get"},
		{name: "digit first", path: "/1pkg.Svc/Get"},
		{name: "method digit first", path: "/pkg.Svc/1Get"},
		{name: "method with dot", path: "/pkg.Svc/Get.Order"},
		{name: "NUL", path: "/pkg.Svc/Get\x00"},
		{name: "encoded", path: "/pkg.Svc/Get", raw: "/pkg.Svc%2FGet"},
	})
}
