package rpc

import (
	"net/http"

	"github.com/edgeapi/gateway/descriptor"
	"github.com/edgeapi/gateway/retry"
	"google.golang.org/grpc"
)

// WithRetry returns a handler like h whose calls follow p (a route's own retry policy).
func (h *Handler) WithRetry(p *retry.Policy) http.Handler {
	c := *h
	c.caller = h.caller.WithRetry(p)
	return &c
}

// retryOption tells the caller whether m may be repeated once it may have reached a node.
func retryOption(m *descriptor.Method) grpc.CallOption {
	if m.Idempotent() {
		return Idempotent()
	}
	return grpc.EmptyCallOption{}
}
