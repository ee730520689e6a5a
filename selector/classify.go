package selector

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"syscall"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// IsNodeFailure reports whether err says the node itself is unhealthy: it could not be reached,
// refused the connection, was unavailable or did not answer in time. Errors the application
// returned on purpose are not node failures, nor is a call the client cancelled. A TLS
// handshake the node failed (a certificate the gateway does not trust, no TLS at all) makes the
// node as unreachable as a refused connection; gRPC reports it as Unavailable, the http and
// web handlers as the crypto/tls error.
func IsNodeFailure(err error) bool {
	if err == nil || IsClientCancel(err) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) {
		return true
	}
	var cert *tls.CertificateVerificationError
	var rec tls.RecordHeaderError
	if errors.As(err, &cert) || errors.As(err, &rec) {
		return true
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			return true
		}
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

// IsClientCancel reports whether err comes from the caller giving up (context.Canceled), which
// says nothing about the node.
func IsClientCancel(err error) bool {
	if errors.Is(err, context.Canceled) {
		return true
	}
	if st, ok := status.FromError(err); ok && st.Code() == codes.Canceled {
		return true
	}
	return false
}
