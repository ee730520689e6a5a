package apierror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/edgeapi/gateway/descriptor"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/resolver"
	"github.com/edgeapi/gateway/selector"
)

func TestFrom(t *testing.T) {
	dial := &DialError{Address: "10.0.0.1:9000", Err: syscall.ECONNREFUSED}
	opErr := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	cases := []struct {
		name     string
		err      error
		code     int
		detail   string // a fragment
		grpcCode string
	}{
		{"registry.ErrNotFound", fmt.Errorf("%q: %w", "go.micro.api.nope", registry.ErrNotFound), 404, `"go.micro.api.nope": service not found`, ""},
		{"resolver.ErrNoMatch", fmt.Errorf("/a//b: %w", resolver.ErrNoMatch), 404, "/a//b: no service matches", ""},
		{"unknown method", &descriptor.MethodError{Endpoint: "Svc.Nope", Methods: []string{"Svc.Call"}}, 404, "the service offers: Svc.Call", ""},
		{"ambiguous method", fmt.Errorf("wrapped: %w", &descriptor.MethodError{Endpoint: "Svc.Call", Candidates: []string{"a.Svc", "b.Svc"}}), 400, "a.Svc and b.Svc", ""},
		{"selector.ErrNoNodes", fmt.Errorf("%q: %w", "svc", selector.ErrNoNodes), 503, "no live node", ""},
		{"selector.ErrAllOpen", fmt.Errorf("%q: %w", "svc", selector.ErrAllOpen), 503, "circuit breaker open", ""},
		{"context.DeadlineExceeded", fmt.Errorf("calling: %w", context.DeadlineExceeded), 504, "did not answer in time", ""},
		{"context.Canceled", context.Canceled, 499, "the client closed the request", ""},
		{"DialError", dial, 502, "cannot reach 10.0.0.1:9000", ""},
		{"wrapped DialError", fmt.Errorf("svc: %w", dial), 502, "cannot reach", ""},
		{"net.OpError", opErr, 502, "dial tcp", ""},
		{"net.DNSError", &net.DNSError{Err: "no such host", Name: "x.invalid"}, 502, "no such host", ""},
		{"os deadline is a net error", os.ErrDeadlineExceeded, 502, "timeout", ""},
		{"unknown error", errors.New("something broke"), 500, "something broke", ""},
		{"gRPC status", status.Error(codes.NotFound, "no order 7"), 404, "no order 7", "NotFound"},
		{"wrapped gRPC status", fmt.Errorf("reflection: %w", status.Error(codes.Unimplemented, "no reflection")), 501, "no reflection", "Unimplemented"},
		{"*Error as is", New(http.StatusTeapot, "short and %s", "stout"), 418, "short and stout", ""},
		{"wrapped *Error", fmt.Errorf("ctx: %w", New(http.StatusRequestEntityTooLarge, "too big")), 413, "too big", ""},
		{"BadRequest", BadRequest("user.id", errors.New("invalid int64")), 400, `field "user.id": invalid int64`, ""},
		{"body over a MaxBytesReader", fmt.Errorf("reading: %w", &http.MaxBytesError{Limit: 64}), 413, "request body exceeds the limit of 64 bytes", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := From("svc", tc.err)
			if e.Code != tc.code || e.Status != statusText(tc.code) || e.ID != "svc" {
				t.Errorf("From = %d %q id %q, want %d %q id svc", e.Code, e.Status, e.ID, tc.code, statusText(tc.code))
			}
			if !strings.Contains(e.Detail, tc.detail) {
				t.Errorf("Detail = %q, want it to contain %q", e.Detail, tc.detail)
			}
			if e.GRPCCode != tc.grpcCode {
				t.Errorf("GRPCCode = %q, want %q", e.GRPCCode, tc.grpcCode)
			}
			if e.Error() != e.Detail {
				t.Errorf("Error() = %q, Detail %q", e.Error(), e.Detail)
			}
			if orig := (*Error)(nil); !errors.As(tc.err, &orig) && !errors.Is(e, tc.err) {
				t.Errorf("From does not keep %v as its cause", tc.err)
			}
		})
	}
}

func TestFromGRPCCodes(t *testing.T) {
	// grpc-gateway's runtime.HTTPStatusFromCode.
	want := map[codes.Code]int{
		codes.OK:                 200,
		codes.Canceled:           499,
		codes.Unknown:            500,
		codes.InvalidArgument:    400,
		codes.DeadlineExceeded:   504,
		codes.NotFound:           404,
		codes.AlreadyExists:      409,
		codes.PermissionDenied:   403,
		codes.Unauthenticated:    401,
		codes.ResourceExhausted:  429,
		codes.FailedPrecondition: 400,
		codes.Aborted:            409,
		codes.OutOfRange:         400,
		codes.Unimplemented:      501,
		codes.Internal:           500,
		codes.Unavailable:        503,
		codes.DataLoss:           500,
		codes.Code(99):           500,
	}
	for c, code := range want {
		t.Run(c.String(), func(t *testing.T) {
			if got := HTTPStatusFromCode(c); got != code {
				t.Errorf("HTTPStatusFromCode(%v) = %d, want %d", c, got, code)
			}
			if c == codes.OK {
				return // status.Error(OK) is nil
			}
			e := From("svc", status.Error(c, "msg"))
			if e.Code != code || e.GRPCCode != c.String() || e.Detail != "msg" || e.Status != statusText(code) {
				t.Errorf("From(%v) = %+v, want %d", c, e, code)
			}
		})
	}
}

func TestFromErrorFields(t *testing.T) {
	e := &Error{ID: "orders", Code: http.StatusMethodNotAllowed, Detail: "no", Header: http.Header{"Allow": {"GET"}}}
	got := From(GatewayID, e)
	if got == e {
		t.Error("From returned its argument, not a copy")
	}
	if got.ID != "orders" || got.Status != "Method Not Allowed" || got.Header.Get("Allow") != "GET" {
		t.Errorf("From = %+v", got)
	}
	if From(GatewayID, New(404, "x")).ID != GatewayID {
		t.Error("an *Error without id did not get the caller's")
	}
	if got := From("svc", &Error{Code: 404, Status: "Custom"}); got.Status != "Custom" {
		t.Errorf("Status = %q, want the one given", got.Status)
	}
	for _, code := range []int{0, 42, 1000, -1} {
		if got := From("svc", &Error{Code: code, Detail: "x"}); got.Code != 500 || got.Status != "Internal Server Error" {
			t.Errorf("From(*Error with code %d) = %d %q, want 500", code, got.Code, got.Status)
		}
	}
	if got := From("svc", nil); got.Code != 500 || got.ID != "svc" {
		t.Errorf("From(nil) = %+v", got)
	}
}

func TestBadRequestAndDialError(t *testing.T) {
	cause := errors.New("invalid JSON")
	if e := BadRequest("", cause); e.Code != 400 || e.Detail != "invalid JSON" || !errors.Is(e, cause) {
		t.Errorf("BadRequest(\"\") = %+v", e)
	}
	if e := BadRequest("items[1].price", cause); e.Detail != `field "items[1].price": invalid JSON` {
		t.Errorf("BadRequest(field) = %q", e.Detail)
	}
	d := &DialError{Address: "h:1", Err: syscall.ECONNREFUSED}
	if !errors.Is(d, syscall.ECONNREFUSED) || !strings.HasPrefix(d.Error(), "cannot reach h:1: ") {
		t.Errorf("DialError = %v", d)
	}
	if statusText(StatusClientClosedRequest) != "Client Closed Request" {
		t.Error("499 has no status text")
	}
}

// headerAtWriteHeader records the headers as they stood when the status line was written.
type headerAtWriteHeader struct {
	*httptest.ResponseRecorder
	atStatus http.Header
}

func (w *headerAtWriteHeader) WriteHeader(code int) {
	w.atStatus = w.Header().Clone()
	w.ResponseRecorder.WriteHeader(code)
}

func TestWrite(t *testing.T) {
	cases := []struct {
		name string
		err  error
		code int
		keys []string
	}{
		{"gateway error", fmt.Errorf("x: %w", registry.ErrNotFound), 404, []string{"id", "code", "detail", "status"}},
		{"client gone", context.Canceled, 499, []string{"id", "code", "detail", "status"}},
		{"gRPC error", status.Error(codes.PermissionDenied, "no"), 403, []string{"id", "code", "detail", "status", "grpc_code"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := &headerAtWriteHeader{ResponseRecorder: httptest.NewRecorder()}
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", "3")
			Write(w, "go.micro.api.orders", tc.err)
			if w.Code != tc.code {
				t.Errorf("status %d, want %d", w.Code, tc.code)
			}
			for k, want := range map[string]string{"Content-Type": "application/json", "X-Content-Type-Options": "nosniff", "Content-Length": ""} {
				if got := w.atStatus.Get(k); got != want {
					t.Errorf("at the status line %s = %q, want %q", k, got, want)
				}
			}
			if got := w.Result().Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q", got)
			}
			var body map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			var keys []string
			for k := range body {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			want := slices.Sorted(slices.Values(tc.keys))
			if !slices.Equal(keys, want) {
				t.Errorf("body keys %v, want %v", keys, want)
			}
			if body["id"] != "go.micro.api.orders" || body["code"] != float64(tc.code) || body["status"] != statusText(tc.code) || body["detail"] == "" {
				t.Errorf("body %v", body)
			}
			if !strings.HasSuffix(w.Body.String(), "}\n") {
				t.Errorf("body %q does not end in a newline", w.Body)
			}
		})
	}
	t.Run("extra headers", func(t *testing.T) {
		w := httptest.NewRecorder()
		Write(w, GatewayID, &Error{Code: 405, Detail: "no", Header: http.Header{"Allow": {"GET, HEAD"}}})
		if w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("status %d, Allow %q", w.Code, w.Header().Get("Allow"))
		}
	})
	t.Run("code zero does not panic", func(t *testing.T) {
		w := httptest.NewRecorder()
		Write(w, GatewayID, &Error{Detail: "forgot the code"})
		if w.Code != 500 {
			t.Errorf("status %d, want 500", w.Code)
		}
	})
}

func TestWriteOverHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html") // whatever a handler had set is replaced
		Write(w, "go.micro.api.orders", status.Error(codes.Unavailable, "backend down"))
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("status %d, Content-Type %q, nosniff %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("X-Content-Type-Options"))
	}
	var e Error
	if err := json.Unmarshal(b, &e); err != nil || e.ID != "go.micro.api.orders" || e.Code != 503 || e.Detail != "backend down" ||
		e.Status != "Service Unavailable" || e.GRPCCode != "Unavailable" {
		t.Errorf("body %s (%v)", b, err)
	}
	if resp.ContentLength != int64(len(b)) && resp.ContentLength != -1 {
		t.Errorf("Content-Length %d for %d bytes", resp.ContentLength, len(b))
	}
}
