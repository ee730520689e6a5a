package api

import (
	"net/http"

	"github.com/edgeapi/gateway/handler/rpc"
	"github.com/edgeapi/gateway/retry"
	"google.golang.org/grpc"
)

// WithRetry returns a handler like h whose calls follow p (a route's own retry policy). The
// whole HTTP request travels in one message, so a call counts as idempotent when its HTTP method
// is (GET, HEAD, OPTIONS, PUT, DELETE).
func (h *Handler) WithRetry(p *retry.Policy) http.Handler {
	c := *h
	c.caller = h.caller.WithRetry(p)
	return &c
}

// retryOption marks a call whose HTTP method is idempotent (RFC 9110 9.2.2).
func retryOption(method string) grpc.CallOption {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return rpc.Idempotent()
	}
	return grpc.EmptyCallOption{}
}
