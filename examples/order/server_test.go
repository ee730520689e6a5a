package main

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/edgeapi/gateway/examples/order/ordersrv"
	"github.com/edgeapi/gateway/examples/proto/order"
	"github.com/edgeapi/gateway/examples/proto/user"
	"github.com/edgeapi/gateway/examples/user/usersrv"
	"github.com/edgeapi/gateway/internal/testwait"
	"github.com/edgeapi/gateway/registry/memory"
	"github.com/edgeapi/gateway/service"
)

// background runs fn(ctx) until stop, which cancels and returns fn's error.
func background(t *testing.T, fn func(context.Context) error) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg  sync.WaitGroup
		err error
	)
	wg.Go(func() { err = fn(ctx) })
	var once sync.Once
	stop = func() error {
		once.Do(func() {
			cancel()
			wg.Wait()
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// address waits until name has a node in reg and returns its address.
func address(t *testing.T, reg *memory.Registry, name string) string {
	t.Helper()
	var addr string
	testwait.Until(t, 10*time.Second, name+" in the registry", func() bool {
		svc, err := reg.GetService(context.Background(), name)
		if err != nil || len(svc.Nodes) == 0 {
			return false
		}
		addr = svc.Nodes[0].Address
		return true
	})
	return addr
}

func TestOrderJoinsUserThroughRegistry(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	reg := memory.New()

	// A real user service on a free port, registered in the memory registry.
	gs := grpc.NewServer()
	user.RegisterUserSrvServer(gs, usersrv.New())
	stopUsers := background(t, func(ctx context.Context) error {
		return service.Run(ctx, service.Options{Server: gs, Name: usersrv.Name, Registrar: reg, Logger: log})
	})
	// The order service as its main runs it.
	stopOrders := background(t, func(ctx context.Context) error { return serve(ctx, reg, "127.0.0.1:0", log) })

	cc, err := grpc.NewClient(address(t, reg, ordersrv.Name), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	orders := order.NewOrderSrvClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	got, err := orders.GetOrder(ctx, &order.OrderRequest{Id: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := &order.OrderResponse{
		Id: 1, Product: "Coffee beans, 1 kg", Quantity: 2, PriceCents: 1850, UserId: 1,
		Username: "john", Address: "1 Main St, Springfield", Phone: "+1-555-0100",
	}
	if !proto.Equal(got, want) {
		t.Fatalf("GetOrder(1) = %v, want %v", got, want)
	}

	list, err := orders.ListOrders(ctx, &order.ListOrdersRequest{UserId: 1})
	if err != nil || len(list.GetOrders()) != 2 || list.GetOrders()[1].GetPhone() != "+1-555-0100" {
		t.Fatalf("ListOrders(user 1) = %v, %v", list, err)
	}

	for _, tt := range []struct {
		id   int64
		code codes.Code
	}{{99, codes.NotFound}, {0, codes.InvalidArgument}} {
		if _, err := orders.GetOrder(ctx, &order.OrderRequest{Id: tt.id}); status.Code(err) != tt.code {
			t.Errorf("GetOrder(%d): %v, want %v", tt.id, err, tt.code)
		}
	}

	// The user service goes away (and deregisters): Unavailable is passed on, promptly.
	if err := stopUsers(); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 10*time.Second, "Unavailable from the order service", func() bool {
		_, err := orders.GetOrder(ctx, &order.OrderRequest{Id: 1})
		return status.Code(err) == codes.Unavailable
	})

	if err := stopOrders(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := reg.GetService(context.Background(), ordersrv.Name); err == nil {
		t.Fatal("order service still registered after stop")
	}
}
