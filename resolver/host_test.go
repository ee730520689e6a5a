package resolver

import "testing"

func TestHost(t *testing.T) {
	runOK(t, Host{Namespace: testNS}, []okCase{
		{"plain", "/x", "shop.example.com", "go.micro.api.shop.example.com", ""},
		{"port dropped", "/x", "shop.example.com:8443", "go.micro.api.shop.example.com", ""},
		{"empty port", "/x", "shop.example.com:", "go.micro.api.shop.example.com", ""},
		{"lower-cased", "/", "Shop.Example.COM", "go.micro.api.shop.example.com", ""},
		{"single label", "/", "localhost:8080", "go.micro.api.localhost", ""},
		{"trailing dot", "/", "shop.example.com.", "go.micro.api.shop.example.com", ""},
		{"dash and digits", "/a/b", "api-2.example.com", "go.micro.api.api-2.example.com", ""},
	})
	runOK(t, Host{}, []okCase{
		{"empty namespace", "/", "shop.example.com", "shop.example.com", ""},
	})
}

func TestHostNoMatch(t *testing.T) {
	long := ""
	for range 64 {
		long += "a"
	}
	longName := ""
	for range 51 {
		longName += "abcd."
	}
	runErr(t, Host{Namespace: testNS}, []errCase{
		{name: "empty", path: "/"},
		{name: "port only", path: "/", host: ":8080"},
		{name: "ipv4", path: "/", host: "10.0.0.1:80"},
		{name: "ipv6", path: "/", host: "[::1]:8080"},
		{name: "bad port", path: "/", host: "example.com:http"},
		{name: "empty label", path: "/", host: "shop..example.com"},
		{name: "leading dot", path: "/", host: ".example.com"},
		{name: "two trailing dots", path: "/", host: "example.com.."},
		{name: "leading dash", path: "/", host: "-shop.example.com"},
		{name: "trailing dash", path: "/", host: "shop-.example.com"},
		{name: "underscore", path: "/", host: "my_shop.example.com"},
		{name: "slash", path: "/", host: "shop/x"},
		{name: "userinfo", path: "/", host: "user@shop.example.com"},
		{name: "NUL", path: "/", host: "shop\x00.example.com"},
		{name: "unicode", path: "/", host: "bücher.example"},
		{name: "label too long", path: "/", host: long + ".example.com"},
		{name: "name too long", path: "/", host: longName + "com"},
	})
}
