package h2grpc

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// unsentError is a status error for a call the node provably never saw.
type unsentError struct{ st *status.Status }

func (e *unsentError) Error() string              { return e.st.Err().Error() }
func (e *unsentError) GRPCStatus() *status.Status { return e.st }

// NeverSent reports whether err is Invoke's report of a call that never reached the node: the
// dial failed, the server refused the stream (REFUSED_STREAM), its id was above the last one a
// GOAWAY let through, or the connection was dead before the call's HEADERS left.
func NeverSent(err error) bool {
	var u *unsentError
	return errors.As(err, &u)
}

func unsent(c codes.Code, msg string) error { return &unsentError{st: status.New(c, msg)} }

// unsentCtx is the status of a call whose context ended before it was sent.
func unsentCtx(err error) error {
	return &unsentError{st: status.FromContextError(err)}
}

// ctxError is the status of a call whose context ended while it ran.
func ctxError(ctx context.Context) error { return status.FromContextError(ctx.Err()).Err() }

// rstCode maps an RST_STREAM code as grpc-go's http2 error conversion does.
func rstCode(c http2.ErrCode) codes.Code {
	switch c {
	case http2.ErrCodeFlowControl, http2.ErrCodeEnhanceYourCalm:
		return codes.ResourceExhausted
	case http2.ErrCodeRefusedStream:
		return codes.Unavailable
	case http2.ErrCodeCancel:
		return codes.Canceled
	case http2.ErrCodeInadequateSecurity:
		return codes.PermissionDenied
	}
	return codes.Internal // NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FRAME_SIZE_ERROR and unknown codes
}

// httpCode maps the HTTP status of a non-gRPC answer as grpc-go does.
func httpCode(s int) codes.Code {
	switch s {
	case http.StatusBadRequest:
		return codes.Internal
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.Unimplemented
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return codes.Unavailable
	}
	return codes.Unknown
}

// isGRPCContentType reports whether v is application/grpc, optionally with a subtype
// ("+proto") or parameters.
func isGRPCContentType(v string) bool {
	const base = "application/grpc"
	if len(v) < len(base) || !strings.EqualFold(v[:len(base)], base) {
		return false
	}
	return len(v) == len(base) || v[len(base)] == '+' || v[len(base)] == ';'
}

// appendTimeout appends d in grpc-timeout's form: at most 8 digits and a unit, the finest unit
// that fits, rounded up so that the server never sees less time than the caller has.
func appendTimeout(b []byte, d time.Duration) []byte {
	if d <= 0 {
		return append(b, '1', 'n')
	}
	const maxValue = 99999999
	units := [...]struct {
		d time.Duration
		c byte
	}{{time.Nanosecond, 'n'}, {time.Microsecond, 'u'}, {time.Millisecond, 'm'}, {time.Second, 'S'}, {time.Minute, 'M'}, {time.Hour, 'H'}}
	for _, u := range units {
		v := d / u.d
		if d%u.d != 0 {
			v++
		}
		if v <= maxValue {
			return append(strconv.AppendInt(b, int64(v), 10), u.c)
		}
	}
	return append(b, "99999999H"...)
}

// decodeMessage undoes grpc-message's percent-encoding; a malformed escape stays as it is, as
// in grpc-go.
func decodeMessage(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// decodeBinary decodes a "-bin" value, padded or not, as grpc accepts both.
func decodeBinary(v string) (string, error) {
	if len(v)%4 == 0 {
		b, err := base64.StdEncoding.DecodeString(v)
		return string(b), err
	}
	b, err := base64.RawStdEncoding.DecodeString(v)
	return string(b), err
}

// reservedKey reports whether a metadata key is gRPC's or HTTP/2's own and never crosses as
// metadata (grpc-go's list, plus the connection-specific headers HTTP/2 forbids).
func reservedKey(k string) bool {
	if k == "" || k[0] == ':' {
		return true
	}
	switch k {
	case "content-type", "user-agent", "grpc-message-type", "grpc-encoding", "grpc-message",
		"grpc-status", "grpc-timeout", "grpc-status-details-bin", "grpc-accept-encoding", "te",
		"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host":
		return true
	}
	return false
}

// validKey reports whether k can go on the wire as a header name.
func validKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return k != ""
}

// validValue reports whether a text metadata value can go on the wire.
func validValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

// trailerStatus builds the call's status from the trailers' grpc-status, grpc-message and
// grpc-status-details-bin (already base64-decoded).
func trailerStatus(code codes.Code, msg string, details string, haveDetails bool) *status.Status {
	if !haveDetails {
		return status.New(code, msg)
	}
	p := &spb.Status{}
	if err := proto.Unmarshal([]byte(details), p); err != nil {
		return status.New(codes.Internal, "h2grpc: malformed grpc-status-details-bin: "+err.Error())
	}
	if codes.Code(p.Code) != code {
		return status.New(codes.Internal, "h2grpc: grpc-status-details-bin's code "+strconv.Itoa(int(p.Code))+" does not match grpc-status "+strconv.Itoa(int(code)))
	}
	return status.FromProto(p)
}
