// Package apierror is the gateway's one error writer: every failure the gateway itself produces,
// in every handler, becomes the same JSON body with the right HTTP status.
//
// Body (Content-Type application/json, headers set before the status line):
//
//	{"id":"<service or gateway>","code":404,"detail":"<human sentence>","status":"Not Found"}
//
// plus "grpc_code" and "details" (google.rpc.Status details as JSON) when a backend answered with
// a gRPC status. Status selection (From) is the only place errors become statuses, by errors.Is and
// errors.As, never by reading an error's text:
//
//	*Error                       its Code
//	registry.ErrNotFound         404  unknown service
//	resolver.ErrNoMatch          404  path names no service
//	*descriptor.MethodError      404  unknown method (400 when ambiguous)
//	selector.ErrNoNodes          503  no live node
//	selector.ErrAllOpen          503  breaker open on every node
//	context.DeadlineExceeded     504
//	context.Canceled             499  client went away
//	*DialError, net errors       502  backend unreachable
//	gRPC status                  by code, as grpc-gateway's HTTPStatusFromCode
//	anything else                500
package apierror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/edgeapi/gateway/descriptor"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/resolver"
	"github.com/edgeapi/gateway/selector"
)

// StatusClientClosedRequest is the de-facto status (nginx's) for a client that went away.
const StatusClientClosedRequest = 499

// GatewayID is the id used when an error is the gateway's own rather than a service's.
const GatewayID = "gateway"

// Error is an error with its HTTP answer already decided.
type Error struct {
	ID       string            `json:"id"`
	Code     int               `json:"code"`
	Detail   string            `json:"detail"`
	Status   string            `json:"status"`
	GRPCCode string            `json:"grpc_code,omitempty"`
	Details  []json.RawMessage `json:"details,omitempty"`
	// Header holds extra response headers (e.g. Allow for 405).
	Header http.Header `json:"-"`
	cause  error
}

func (e *Error) Error() string { return e.Detail }

// Unwrap returns the error this one was built from, if any.
func (e *Error) Unwrap() error { return e.cause }

// New returns an *Error with code and a formatted detail.
func New(code int, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// BadRequest is a 400 that names the offending field (empty when it is the body as a whole).
func BadRequest(field string, err error) *Error {
	detail := err.Error()
	if field != "" {
		detail = fmt.Sprintf("field %q: %v", field, err)
	}
	return &Error{Code: http.StatusBadRequest, Detail: detail, cause: err}
}

// DialError says the gateway could not reach a backend node.
type DialError struct {
	Address string
	Err     error
}

func (e *DialError) Error() string { return fmt.Sprintf("cannot reach %s: %v", e.Address, e.Err) }
func (e *DialError) Unwrap() error { return e.Err }

// BodyTooLarge is the 413 for a request body over limit bytes.
func BodyTooLarge(limit int64) *Error {
	return New(http.StatusRequestEntityTooLarge, "request body exceeds the limit of %d bytes", limit)
}

// From classifies err into an *Error. id names who failed (the service, or GatewayID).
func From(id string, err error) *Error {
	if err == nil {
		return &Error{ID: id, Code: http.StatusInternalServerError, Detail: "unknown error", Status: statusText(http.StatusInternalServerError)}
	}
	var tooBig *http.MaxBytesError // a body limit set by http.MaxBytesReader anywhere
	if errors.As(err, &tooBig) {
		out := BodyTooLarge(tooBig.Limit)
		out.ID, out.Status, out.cause = id, statusText(out.Code), err
		return out
	}
	var e *Error
	if errors.As(err, &e) {
		out := *e
		if out.ID == "" {
			out.ID = id
		}
		if out.Code < 100 || out.Code > 999 {
			// Not a status net/http can send (WriteHeader would panic): the error is ours.
			out.Code, out.Status = http.StatusInternalServerError, ""
		}
		if out.Status == "" {
			out.Status = statusText(out.Code)
		}
		return &out
	}
	code, detail := http.StatusInternalServerError, err.Error()
	var dial *DialError
	var method *descriptor.MethodError
	var netErr net.Error
	out := &Error{ID: id, cause: err}
	switch {
	case errors.Is(err, registry.ErrNotFound), errors.Is(err, resolver.ErrNoMatch):
		code = http.StatusNotFound
	case errors.As(err, &method):
		code = http.StatusNotFound
		if len(method.Candidates) > 0 {
			code = http.StatusBadRequest
		}
	case errors.Is(err, selector.ErrNoNodes), errors.Is(err, selector.ErrAllOpen):
		code = http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		code, detail = http.StatusGatewayTimeout, "the backend did not answer in time: "+detail
	case errors.Is(err, context.Canceled):
		code, detail = StatusClientClosedRequest, "the client closed the request"
	case errors.As(err, &dial):
		code = http.StatusBadGateway
	default:
		if st, ok := status.FromError(err); ok {
			code, detail = HTTPStatusFromCode(st.Code()), st.Message()
			out.GRPCCode = st.Code().String()
			out.Details = detailsJSON(st)
		} else if errors.As(err, &netErr) {
			code = http.StatusBadGateway
		}
	}
	out.Code, out.Detail, out.Status = code, detail, statusText(code)
	return out
}

// Write sends err as the JSON error body. id names who failed (the service, or GatewayID).
func Write(w http.ResponseWriter, id string, err error) {
	e := From(id, err)
	h := w.Header()
	for k, v := range e.Header {
		h[k] = v
	}
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	body, merr := json.Marshal(e)
	if merr != nil {
		body = []byte(`{"id":"gateway","code":500,"detail":"error body could not be encoded","status":"Internal Server Error"}`)
	}
	w.WriteHeader(e.Code)
	_, _ = w.Write(append(body, '\n'))
}

func statusText(code int) string {
	if code == StatusClientClosedRequest {
		return "Client Closed Request"
	}
	return http.StatusText(code)
}

// HTTPStatusFromCode maps a gRPC code to an HTTP status the way grpc-gateway does.
func HTTPStatusFromCode(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.Canceled:
		return StatusClientClosedRequest
	case codes.Unknown:
		return http.StatusInternalServerError
	case codes.InvalidArgument:
		return http.StatusBadRequest
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.FailedPrecondition:
		// grpc-gateway deliberately maps this to 400, not 412.
		return http.StatusBadRequest
	case codes.Aborted:
		return http.StatusConflict
	case codes.OutOfRange:
		return http.StatusBadRequest
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Internal:
		return http.StatusInternalServerError
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.DataLoss:
		return http.StatusInternalServerError
	}
	return http.StatusInternalServerError
}
