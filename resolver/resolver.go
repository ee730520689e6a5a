// Package resolver turns an HTTP request into the backend Endpoint it addresses.
//
// A Resolver is a pure function of the request: no I/O, no registry lookups. It answers which
// service (fully qualified, inside the configured namespace) and which method the request means.
// When a request cannot be resolved it returns an error wrapping ErrNoMatch.
//
// Implementations: Micro (the default, micro api's conventions), Path, Host, GRPC and VPath;
// New builds one from a configured kind and namespace. With namespace "go.micro.api":
//
//	resolver  request                          Service                         Method
//	micro     /foo                             go.micro.api.foo                Foo.Call
//	micro     /foo/bar                         go.micro.api.foo                Foo.Bar
//	micro     /foo/bar/baz                     go.micro.api.foo                Bar.Baz
//	micro     /foo/bar/baz/cat                 go.micro.api.foo.bar            Baz.Cat
//	micro     /v1/foo/bar                      go.micro.api.v1.foo             Foo.Bar
//	micro     /greeter/say-hello               go.micro.api.greeter            Greeter.SayHello
//	path      /foo/bar/baz                     go.micro.api.foo                (none)
//	vpath     /v1/foo/bar                      go.micro.api.v1.foo             (none)
//	host      Host: shop.example.com:8080      go.micro.api.shop.example.com   (none)
//	grpc      /order.OrderSrv/GetOrder         go.micro.api.order              order.OrderSrv.GetOrder
//
// Whatever the input, a resolved Service is inside the namespace: it starts with the
// namespace and a dot (no prefix when the namespace is empty), and its dot-separated labels
// are non-empty and made of [A-Za-z0-9_-]. Inputs that would break this ("..", "%2F",
// empty segments, stray characters) are refused with ErrNoMatch, never cleaned up.
package resolver

import (
	"context"
	"errors"
	"net/http"
)

// ErrNoMatch is wrapped by every "this request names no service" error.
var ErrNoMatch = errors.New("no service matches the request")

// Endpoint is what a request resolved to.
type Endpoint struct {
	// Service is the full registry name, e.g. "go.micro.api.orderservice".
	Service string
	// Method is "Service.Method" as the backend knows it, e.g. "OrderSrv.GetOrder". Empty for
	// handlers that do not call a method (http, web).
	Method string
	// Path is the request path to forward (after any prefix strip).
	Path string
	// Host is the request host, when the resolver used it.
	Host string
	// Vars are path variables captured by a route template ("{id}" -> "1").
	Vars map[string]string
}

// Resolver maps a request to an Endpoint.
type Resolver interface {
	Resolve(r *http.Request) (Endpoint, error)
}

type ctxKey struct{}

// WithEndpoint returns ctx carrying ep, for handlers downstream of the router.
func WithEndpoint(ctx context.Context, ep *Endpoint) context.Context {
	return context.WithValue(ctx, ctxKey{}, ep)
}

// EndpointFrom returns the Endpoint the router put in ctx (with WithEndpoint or a Slot), or nil.
func EndpointFrom(ctx context.Context) *Endpoint {
	ep, _ := ctx.Value(ctxKey{}).(*Endpoint)
	return ep
}

// Slot lets a request-scoped context value owned by someone else (the router's per-request
// state) carry the request's Endpoint, set once routing has resolved it: the Endpoint then
// costs neither a context value of its own nor a copy of the request, as WithEndpoint does.
//
// The owner's context.Context implementation consults the slot from its Value method:
//
//	func (s *state) Value(key any) any {
//		if v := s.slot.Value(key); v != nil {
//			return v
//		}
//		return s.Context.Value(key)
//	}
//
// and EndpointFrom on that context, or on any context derived from it, returns what Set gave.
// The zero Slot is empty. A Slot belongs to one request; it is not safe for concurrent Set.
type Slot struct {
	ep *Endpoint
}

// Set makes ep the Endpoint of the contexts that consult s.
func (s *Slot) Set(ep *Endpoint) { s.ep = ep }

// Value returns the Endpoint set when key is EndpointFrom's key, and nil otherwise or while
// the slot is empty (so that the lookup goes on to the parent context).
func (s *Slot) Value(key any) any {
	if _, ok := key.(ctxKey); ok && s.ep != nil {
		return s.ep
	}
	return nil
}
