package api

import (
	"net/http"

	"github.com/edgeapi/gateway/handler/rpc"
	"github.com/edgeapi/gateway/retry"
	"google.golang.org/grpc"
)

// WithRetry returns a handler like h whose calls follow p (a route's own retry policy). The
// whole HTTP request travels in one message, so a call counts as idempotent when its HTTP method
// is (retry.IdempotentMethod).
func (h *Handler) WithRetry(p *retry.Policy) http.Handler {
	c := *h
	c.caller = h.caller.WithRetry(p)
	return &c
}

// retryOption marks a call whose HTTP method is idempotent.
func retryOption(method string) grpc.CallOption {
	if retry.IdempotentMethod(method) {
		return rpc.Idempotent()
	}
	return grpc.EmptyCallOption{}
}
