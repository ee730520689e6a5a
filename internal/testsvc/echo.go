package testsvc

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	testsvcv1 "github.com/edgeapi/gateway/internal/testsvc/proto/testsvc/v1"
	testsvcv2 "github.com/edgeapi/gateway/internal/testsvc/proto/testsvc/v2"
)

type echoV1 struct {
	testsvcv1.UnimplementedEchoServer
	s *Server
}

func (e *echoV1) Unary(ctx context.Context, req *testsvcv1.EchoRequest) (*testsvcv1.EchoResponse, error) {
	resp := &testsvcv1.EchoResponse{Request: req, Node: e.s.Name, Metadata: map[string]string{}}
	md, _ := metadata.FromIncomingContext(ctx)
	for k, vs := range md {
		resp.Metadata[k] = strings.Join(vs, ",")
	}
	if dl, ok := ctx.Deadline(); ok {
		resp.DeadlineMillis = time.Until(dl).Milliseconds()
	}
	return resp, nil
}

func (e *echoV1) Fail(_ context.Context, req *testsvcv1.FailRequest) (*testsvcv1.FailResponse, error) {
	code, ok := parseCode(req.GetCode())
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "unknown code %q", req.GetCode())
	}
	st := status.New(code, req.GetMessage())
	if req.GetBadRequestDetail() {
		d, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: "name", Description: req.GetMessage()},
		}})
		if err != nil {
			return nil, status.Errorf(codes.Internal, "attaching the detail: %v", err)
		}
		st = d
	}
	return &testsvcv1.FailResponse{}, st.Err()
}

// parseCode accepts a code's number or its name as in the gRPC spec ("NOT_FOUND").
func parseCode(s string) (codes.Code, bool) {
	var c codes.Code
	if _, err := strconv.ParseUint(s, 10, 32); err == nil {
		return c, c.UnmarshalJSON([]byte(s)) == nil
	}
	return c, c.UnmarshalJSON([]byte(strconv.Quote(strings.ToUpper(s)))) == nil
}

func (e *echoV1) Slow(ctx context.Context, req *testsvcv1.SlowRequest) (*testsvcv1.SlowResponse, error) {
	start := time.Now()
	t := time.NewTimer(time.Duration(req.GetMillis()) * time.Millisecond)
	defer t.Stop()
	signal(e.s.slowStarted)
	select {
	case <-t.C:
		return &testsvcv1.SlowResponse{SleptMillis: time.Since(start).Milliseconds()}, nil
	case <-ctx.Done():
		e.s.cancels.Add(1)
		signal(e.s.slowCancel)
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

func (e *echoV1) SetHeaders(ctx context.Context, req *testsvcv1.SetHeadersRequest) (*testsvcv1.SetHeadersResponse, error) {
	if err := grpc.SetHeader(ctx, metadata.New(req.GetHeader())); err != nil {
		return nil, err
	}
	if err := grpc.SetTrailer(ctx, metadata.New(req.GetTrailer())); err != nil {
		return nil, err
	}
	return &testsvcv1.SetHeadersResponse{}, nil
}

func (e *echoV1) Count(req *testsvcv1.CountRequest, stream grpc.ServerStreamingServer[testsvcv1.CountResponse]) error {
	for n := int32(1); n <= req.GetTo(); n++ {
		if n == req.GetFailAt() {
			return status.Errorf(codes.FailedPrecondition, "count failed at %d", n)
		}
		if err := stream.Send(&testsvcv1.CountResponse{N: n}); err != nil {
			return err
		}
		if n == req.GetHoldAfter() {
			select {
			case <-e.s.release:
			case <-stream.Context().Done():
				e.s.holdsCancelled.Add(1)
				return stream.Context().Err()
			}
		}
	}
	return nil
}

func (e *echoV1) Sum(stream grpc.ClientStreamingServer[testsvcv1.SumRequest, testsvcv1.SumResponse]) error {
	resp := &testsvcv1.SumResponse{}
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(resp)
		}
		if err != nil {
			return err
		}
		resp.Total += req.GetValue()
		resp.Count++
	}
}

func (e *echoV1) Chat(stream grpc.BidiStreamingServer[testsvcv1.ChatMessage, testsvcv1.ChatMessage]) error {
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if msg.GetFail() {
			return status.Error(codes.FailedPrecondition, "chat asked to fail")
		}
		if err := stream.Send(&testsvcv1.ChatMessage{Text: strings.ToUpper(msg.GetText())}); err != nil {
			return err
		}
	}
}

type echoV2 struct {
	testsvcv2.UnimplementedEchoServer
}

func (echoV2) Unary(_ context.Context, req *testsvcv2.EchoRequest) (*testsvcv2.EchoResponse, error) {
	return &testsvcv2.EchoResponse{Text: req.GetText(), Version: "v2"}, nil
}
