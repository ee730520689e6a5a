package main

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/edgeapi/gateway/examples/proto/user"
	"github.com/edgeapi/gateway/examples/user/usersrv"
	"github.com/edgeapi/gateway/registry/memory"
)

func TestServeRegistersUserService(t *testing.T) {
	reg := memory.New()
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg       sync.WaitGroup
		serveErr error
	)
	wg.Go(func() { serveErr = serve(ctx, reg, "127.0.0.1:0", slog.New(slog.DiscardHandler)) })
	defer func() {
		cancel()
		wg.Wait()
	}()

	var addr string
	deadline := time.Now().Add(10 * time.Second)
	for {
		if svc, err := reg.GetService(context.Background(), usersrv.Name); err == nil && len(svc.Nodes) == 1 {
			addr = svc.Nodes[0].Address
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("user service never registered")
		}
		time.Sleep(10 * time.Millisecond)
	}

	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()

	users := user.NewUserSrvClient(cc)
	acc, err := users.GetAccount(cctx, &user.AccountRequest{Id: 1})
	if err != nil || acc.GetUsername() != "john" || acc.GetPhone() != "+1-555-0100" {
		t.Fatalf("GetAccount(1) = %v, %v", acc, err)
	}
	if _, err := users.GetAccount(cctx, &user.AccountRequest{Id: 42}); status.Code(err) != codes.NotFound {
		t.Errorf("GetAccount(42): %v, want NotFound", err)
	}
	_, err = users.GetAccount(cctx, &user.AccountRequest{Id: 0})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument || len(st.Details()) != 1 {
		t.Fatalf("GetAccount(0): %v with details %v, want InvalidArgument with a BadRequest", err, st.Details())
	}
	if br, ok := st.Details()[0].(*errdetails.BadRequest); !ok || br.GetFieldViolations()[0].GetField() != "id" {
		t.Errorf("detail %v, want a BadRequest naming id", st.Details()[0])
	}
	res, err := healthpb.NewHealthClient(cc).Check(cctx, &healthpb.HealthCheckRequest{Service: "user.UserSrv"})
	if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health of user.UserSrv: %v, %v", res, err)
	}

	cancel()
	wg.Wait()
	if serveErr != nil {
		t.Fatalf("serve: %v", serveErr)
	}
	if _, err := reg.GetService(context.Background(), usersrv.Name); err == nil {
		t.Fatal("still registered after stop")
	}
}
