package selector_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/edgeapi/gateway/selector"
)

// refusedDial returns the error of dialing a port nobody listens on: a listener on port 0 is
// opened to get a free port, then closed.
func refusedDial(t *testing.T) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err == nil {
		conn.Close()
		t.Skip("something listens on the closed port")
	}
	return err
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestIsNodeFailure(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain error", errors.New("boom"), false},
		{"wrapped plain error", fmt.Errorf("call: %w", errors.New("boom")), false},

		{"grpc Unavailable", status.Error(codes.Unavailable, "down"), true},
		{"grpc DeadlineExceeded", status.Error(codes.DeadlineExceeded, "slow"), true},
		{"wrapped grpc Unavailable", fmt.Errorf("call: %w", status.Error(codes.Unavailable, "down")), true},
		{"grpc OK", status.Error(codes.OK, ""), false},
		{"grpc NotFound", status.Error(codes.NotFound, "no such thing"), false},
		{"grpc InvalidArgument", status.Error(codes.InvalidArgument, "bad"), false},
		{"grpc AlreadyExists", status.Error(codes.AlreadyExists, "dup"), false},
		{"grpc PermissionDenied", status.Error(codes.PermissionDenied, "no"), false},
		{"grpc Unauthenticated", status.Error(codes.Unauthenticated, "who"), false},
		{"grpc FailedPrecondition", status.Error(codes.FailedPrecondition, "state"), false},
		{"grpc ResourceExhausted", status.Error(codes.ResourceExhausted, "quota"), false},
		{"grpc Internal", status.Error(codes.Internal, "bug"), false},
		{"grpc Unknown", status.Error(codes.Unknown, "?"), false},
		{"grpc Unimplemented", status.Error(codes.Unimplemented, "nope"), false},
		{"grpc Canceled", status.Error(codes.Canceled, "gone"), false},
		{"grpc from context deadline", status.FromContextError(context.DeadlineExceeded).Err(), true},

		{"context.Canceled", context.Canceled, false},
		{"wrapped context.Canceled", fmt.Errorf("call: %w", context.Canceled), false},
		{"context.DeadlineExceeded", context.DeadlineExceeded, true},
		{"wrapped context.DeadlineExceeded", fmt.Errorf("call: %w", context.DeadlineExceeded), true},

		{"ECONNREFUSED", syscall.ECONNREFUSED, true},
		{"ECONNRESET", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"*net.OpError with ECONNREFUSED", refused, true},
		{"wrapped *net.OpError", fmt.Errorf("dial backend: %w", refused), true},
		{"*net.OpError timeout", &net.OpError{Op: "read", Net: "tcp", Err: timeoutError{}}, true},
		{"net.Error", timeoutError{}, true},
		{"*net.DNSError", &net.DNSError{Err: "no such host", Name: "backend", IsNotFound: true}, true},
		{"real refused dial", refusedDial(t), true},
		{"TLS certificate not trusted", fmt.Errorf("dial: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), true},
		{"TLS to a node without TLS", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := selector.IsNodeFailure(tt.err); got != tt.want {
				t.Fatalf("IsNodeFailure(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestIsClientCancel(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"context.Canceled", context.Canceled, true},
		{"wrapped context.Canceled", fmt.Errorf("call: %w", context.Canceled), true},
		{"grpc Canceled", status.Error(codes.Canceled, "gone"), true},
		{"grpc from context cancel", status.FromContextError(context.Canceled).Err(), true},
		{"context.DeadlineExceeded", context.DeadlineExceeded, false},
		{"grpc Unavailable", status.Error(codes.Unavailable, "down"), false},
		{"plain error", errors.New("canceled"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := selector.IsClientCancel(tt.err); got != tt.want {
				t.Fatalf("IsClientCancel(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
