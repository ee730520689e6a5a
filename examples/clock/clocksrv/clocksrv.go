// Package clocksrv is the clock service of the examples: Clock.Now, and Clock.Tick, a server
// stream. It is importable so that tests (of the examples and of the gateway's streaming) can
// serve it in-process; examples/clock wraps it in a program.
//
// Contract:
//   - Tick sends count ticks numbered 1..count in order, the first at once and each next one an
//     interval later, then ends the stream with OK.
//   - count <= 0 or > MaxCount is codes.InvalidArgument, and so is a negative interval_ms; both
//     carry a google.rpc.BadRequest detail naming the field. interval_ms 0 means
//     DefaultInterval; other values are bounded to MinInterval..MaxInterval.
//   - When the caller goes away (cancel or deadline) Tick stops at once and returns the
//     context's status (Canceled or DeadlineExceeded).
package clocksrv

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgeapi/gateway/examples/proto/clock"
)

// Name is the registry name of the clock service (/clock/Clock/Tick in the gateway's micro
// resolver).
const Name = "go.micro.api.clock"

// Limits of Tick.
const (
	MaxCount        = 1000
	DefaultInterval = time.Second
	MinInterval     = 10 * time.Millisecond
	MaxInterval     = 10 * time.Second
)

// Server implements clock.ClockServer. It holds no state and is safe for concurrent use.
type Server struct {
	clock.UnimplementedClockServer
	now func() time.Time
}

var _ clock.ClockServer = (*Server)(nil)

// New returns the clock service reading the system clock.
func New() *Server { return &Server{now: time.Now} }

// Now implements clock.ClockServer.
func (s *Server) Now(context.Context, *clock.NowRequest) (*clock.NowResponse, error) {
	return &clock.NowResponse{Time: timestamppb.New(s.now())}, nil
}

// Tick implements clock.ClockServer.
func (s *Server) Tick(req *clock.TickRequest, stream grpc.ServerStreamingServer[clock.TickResponse]) error {
	if c := req.GetCount(); c <= 0 || c > MaxCount {
		return invalid("count", fmt.Sprintf("must be between 1 and %d, got %d", MaxCount, c))
	}
	interval, err := Interval(req.GetIntervalMs())
	if err != nil {
		return err
	}
	ctx := stream.Context()
	t := time.NewTicker(interval)
	defer t.Stop()
	for seq := int32(1); ; seq++ {
		if err := stream.Send(&clock.TickResponse{Seq: seq, Time: timestamppb.New(s.now())}); err != nil {
			return err
		}
		if seq == req.GetCount() {
			return nil
		}
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-t.C:
		}
	}
}

// Interval turns interval_ms into the tick interval: 0 is DefaultInterval, a negative value is
// InvalidArgument, others are bounded to MinInterval..MaxInterval.
func Interval(ms int32) (time.Duration, error) {
	switch {
	case ms < 0:
		return 0, invalid("interval_ms", fmt.Sprintf("must not be negative, got %d", ms))
	case ms == 0:
		return DefaultInterval, nil
	}
	return min(max(time.Duration(ms)*time.Millisecond, MinInterval), MaxInterval), nil
}

// invalid is InvalidArgument with a BadRequest detail naming field.
func invalid(field, why string) error {
	st := status.New(codes.InvalidArgument, field+" "+why)
	if d, err := st.WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: why}},
	}); err == nil {
		st = d
	}
	return st.Err()
}
