package testsvc_test

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"

	"github.com/edgeapi/gateway/internal/testsvc"
	testsvcv1 "github.com/edgeapi/gateway/internal/testsvc/proto/testsvc/v1"
	testsvcv2 "github.com/edgeapi/gateway/internal/testsvc/proto/testsvc/v2"
)

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

func TestEcho(t *testing.T) {
	s := testsvc.Start(t, "node-a", testsvc.WithV2())
	cc := dial(t, s.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	echo := testsvcv1.NewEchoClient(cc)

	md := metadata.Pairs("x-k", "1", "x-k", "2")
	resp, err := echo.Unary(metadata.NewOutgoingContext(ctx, md), &testsvcv1.EchoRequest{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetNode() != "node-a" || resp.GetRequest().GetName() != "x" || resp.GetMetadata()["x-k"] != "1,2" || resp.GetDeadlineMillis() <= 0 {
		t.Errorf("Unary = %v", resp)
	}
	if s.Calls() != 1 {
		t.Errorf("Calls = %d", s.Calls())
	}

	_, err = echo.Fail(ctx, &testsvcv1.FailRequest{Code: "permission_denied", Message: "no", BadRequestDetail: true})
	st := status.Convert(err)
	if st.Code() != codes.PermissionDenied || st.Message() != "no" || len(st.Details()) != 1 {
		t.Errorf("Fail = %v %v", st, st.Details())
	} else if br, ok := st.Details()[0].(*errdetails.BadRequest); !ok || br.GetFieldViolations()[0].GetField() != "name" {
		t.Errorf("detail %v", st.Details()[0])
	}
	if _, err := echo.Fail(ctx, &testsvcv1.FailRequest{Code: "5"}); status.Code(err) != codes.NotFound {
		t.Errorf("Fail(5) = %v", err)
	}

	var header, trailer metadata.MD
	if _, err := echo.SetHeaders(ctx, &testsvcv1.SetHeadersRequest{Header: map[string]string{"h": "1"}, Trailer: map[string]string{"t": "2"}},
		grpc.Header(&header), grpc.Trailer(&trailer)); err != nil {
		t.Fatal(err)
	}
	if header.Get("h")[0] != "1" || trailer.Get("t")[0] != "2" {
		t.Errorf("header %v trailer %v", header, trailer)
	}

	stream, err := echo.Count(ctx, &testsvcv1.CountRequest{To: 3})
	if err != nil {
		t.Fatal(err)
	}
	var ns []int32
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ns = append(ns, m.GetN())
	}
	if len(ns) != 3 || ns[2] != 3 {
		t.Errorf("Count = %v", ns)
	}

	if r, err := testsvcv2.NewEchoClient(cc).Unary(ctx, &testsvcv2.EchoRequest{Text: "t"}); err != nil || r.GetVersion() != "v2" {
		t.Errorf("v2 Unary = %v, %v", r, err)
	}
}

func TestSlowCancel(t *testing.T) {
	s := testsvc.Start(t, "n")
	echo := testsvcv1.NewEchoClient(dial(t, s.Addr))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := echo.Slow(ctx, &testsvcv1.SlowRequest{Millis: 10000})
		errc <- err
	}()
	<-s.SlowStarted()
	cancel()
	select {
	case <-s.SlowCancelled():
	case <-time.After(5 * time.Second):
		t.Fatal("cancellation not observed")
	}
	if status.Code(<-errc) != codes.Canceled || s.SlowCancels() != 1 {
		t.Errorf("SlowCancels = %d", s.SlowCancels())
	}
}

func TestReflectionCountAndRestart(t *testing.T) {
	s := testsvc.Start(t, "first")
	cc := dial(t, s.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v1, err := reflectionv1.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := v1.Send(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := v1.Recv(); err != nil {
		t.Fatal(err)
	}
	alpha, err := reflectionv1alpha.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := alpha.Send(&reflectionv1alpha.ServerReflectionRequest{MessageRequest: &reflectionv1alpha.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := alpha.Recv(); err != nil {
		t.Fatal(err)
	}
	if n := s.Reflections(); n != 2 {
		t.Errorf("Reflections = %d, want 2", n)
	}

	s.Kill()
	s.Kill() // twice is fine
	s.Stop()
	again := testsvc.Start(t, "second", testsvc.WithAddress(s.Addr))
	if again.Addr != s.Addr {
		t.Fatalf("restarted on %s, want %s", again.Addr, s.Addr)
	}
	resp, err := testsvcv1.NewEchoClient(dial(t, again.Addr)).Unary(ctx, &testsvcv1.EchoRequest{}, grpc.WaitForReady(true))
	if err != nil || resp.GetNode() != "second" {
		t.Errorf("Unary after restart = %v, %v", resp, err)
	}
}

func TestWriteDescriptors(t *testing.T) {
	d := testsvc.WriteDescriptors(t)
	for _, p := range []string{d.ImportPath + "/" + d.V1Proto, d.ImportPath + "/" + d.V2Proto, d.V1Protoset, d.AllProtoset} {
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", p, err)
		}
	}
}
