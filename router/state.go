package router

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/edgeapi/gateway/resolver"
)

// requestState is everything the router learns about one request: its id, where it was routed,
// its status recorder, its chi routing context and its resolved Endpoint. It is the request's
// context itself (a context.Context wrapping the one the request came with), installed once by
// the outermost router middleware with a single Request.WithContext; the layers after it
// fill it in place instead of each adding a context.WithValue and copying the request again.
//
// The getters (RequestIDFrom, RouteInfoFrom, chi.RouteContext, resolver.EndpointFrom) read it
// through Value, so they work unchanged on the request's context and on any context derived
// from it. A requestState belongs to one request and is never reused: a context a handler
// keeps after it returned still reads that request's values.
type requestState struct {
	context.Context // the request's context before the state

	id   string
	info RouteInfo
	rec  statusRecorder
	// rctx is chi's routing context, from the Router's pool; nil outside a Router (the
	// middleware used on its own), where chi makes its own.
	rctx *chi.Context
	slot resolver.Slot
	// ep is the storage of the Endpoint routing resolved, so that it needs no allocation of
	// its own; slot points at it once routing has filled it in.
	ep resolver.Endpoint
}

type stateKey struct{}

// Value answers the keys the state carries and passes the others to the parent context.
func (s *requestState) Value(key any) any {
	switch key {
	case stateKey{}:
		return s
	case chi.RouteCtxKey:
		if s.rctx != nil {
			return s.rctx
		}
	}
	if v := s.slot.Value(key); v != nil {
		return v
	}
	return s.Context.Value(key)
}

// stateFrom returns the request state in ctx, or nil.
func stateFrom(ctx context.Context) *requestState {
	s, _ := ctx.Value(stateKey{}).(*requestState)
	return s
}

// withState returns r's request state and r, or, when r has none yet (the middleware used
// outside a Router), a new state and a copy of r carrying it.
func withState(r *http.Request) (*requestState, *http.Request) {
	if s := stateFrom(r.Context()); s != nil {
		return s, r
	}
	s := &requestState{Context: r.Context()}
	return s, r.WithContext(s)
}

// endpointFor returns where routing writes r's Endpoint before passing it to setEndpoint: the
// storage in r's request state, or a new Endpoint when r has no state.
func endpointFor(r *http.Request) *resolver.Endpoint {
	if s := stateFrom(r.Context()); s != nil {
		return &s.ep
	}
	return new(resolver.Endpoint)
}

// setEndpoint gives r the Endpoint routing resolved into ep (from endpointFor): through r's
// request state's slot (no allocation, no copy of r), else as a context value on a copy of r.
func setEndpoint(r *http.Request, ep *resolver.Endpoint) *http.Request {
	if s := stateFrom(r.Context()); s != nil && ep == &s.ep {
		s.slot.Set(ep)
		return r
	}
	return r.WithContext(resolver.WithEndpoint(r.Context(), ep))
}
