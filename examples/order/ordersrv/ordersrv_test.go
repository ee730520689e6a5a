package ordersrv_test

import (
	"context"
	"sync"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/edgeapi/gateway/examples/order/ordersrv"
	"github.com/edgeapi/gateway/examples/proto/order"
	"github.com/edgeapi/gateway/examples/proto/user"
	"github.com/edgeapi/gateway/examples/user/usersrv"
)

// fakeUsers is a UserSrvClient answering from usersrv in-process, or failing with err.
type fakeUsers struct {
	srv *usersrv.Server
	err error

	mu           sync.Mutex
	calls        []int64
	sawDeadlines bool
}

func (f *fakeUsers) GetAccount(ctx context.Context, in *user.AccountRequest, _ ...grpc.CallOption) (*user.AccountResponse, error) {
	_, hasDeadline := ctx.Deadline()
	f.mu.Lock()
	f.calls = append(f.calls, in.GetId())
	f.sawDeadlines = hasDeadline
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return f.srv.GetAccount(ctx, in)
}

func TestGetOrder(t *testing.T) {
	users := &fakeUsers{srv: usersrv.New()}
	s := ordersrv.New(users)
	got, err := s.GetOrder(context.Background(), &order.OrderRequest{Id: 1})
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
	if !users.sawDeadlines {
		t.Error("the UserSrv call had no deadline")
	}
}

func TestGetOrderErrors(t *testing.T) {
	unavailable, _ := status.New(codes.Unavailable, "connection refused").
		WithDetails(&errdetails.RetryInfo{})
	tests := []struct {
		name      string
		id        int64
		usersErr  error
		wantCode  codes.Code
		wantField string
		wantRetry bool // the RetryInfo detail of the user service's error survives
	}{
		{name: "unknown order", id: 99, wantCode: codes.NotFound},
		{name: "zero id", id: 0, wantCode: codes.InvalidArgument, wantField: "id"},
		{name: "user service unavailable", id: 1, usersErr: unavailable.Err(), wantCode: codes.Unavailable, wantRetry: true},
		{name: "user not found", id: 1, usersErr: status.Error(codes.NotFound, "account 1 not found"), wantCode: codes.NotFound},
		{name: "user call timed out", id: 1, usersErr: status.Error(codes.DeadlineExceeded, "deadline"), wantCode: codes.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ordersrv.New(&fakeUsers{srv: usersrv.New(), err: tt.usersErr})
			_, err := s.GetOrder(context.Background(), &order.OrderRequest{Id: tt.id})
			st := status.Convert(err)
			if st.Code() != tt.wantCode {
				t.Fatalf("GetOrder(%d): %v, want code %v", tt.id, err, tt.wantCode)
			}
			var field string
			var retry bool
			for _, d := range st.Details() {
				switch d := d.(type) {
				case *errdetails.BadRequest:
					field = d.GetFieldViolations()[0].GetField()
				case *errdetails.RetryInfo:
					retry = true
				}
			}
			if field != tt.wantField || retry != tt.wantRetry {
				t.Errorf("details %v: field %q retry %v, want %q %v", st.Details(), field, retry, tt.wantField, tt.wantRetry)
			}
		})
	}
}

func TestListOrders(t *testing.T) {
	tests := []struct {
		name     string
		req      *order.ListOrdersRequest
		wantIDs  []int64
		wantCode codes.Code
	}{
		{name: "all", req: &order.ListOrdersRequest{}, wantIDs: []int64{1, 2, 3}},
		{name: "user 1", req: &order.ListOrdersRequest{UserId: 1}, wantIDs: []int64{1, 3}},
		{name: "user 2", req: &order.ListOrdersRequest{UserId: 2}, wantIDs: []int64{2}},
		{name: "user without orders", req: &order.ListOrdersRequest{UserId: 7}, wantIDs: nil},
		{name: "page", req: &order.ListOrdersRequest{PageSize: 2}, wantIDs: []int64{1, 2}},
		{name: "negative page", req: &order.ListOrdersRequest{PageSize: -1}, wantCode: codes.InvalidArgument},
		{name: "negative user", req: &order.ListOrdersRequest{UserId: -1}, wantCode: codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users := &fakeUsers{srv: usersrv.New()}
			res, err := ordersrv.New(users).ListOrders(context.Background(), tt.req)
			if status.Code(err) != tt.wantCode {
				t.Fatalf("ListOrders: %v, want code %v", err, tt.wantCode)
			}
			var ids []int64
			for _, o := range res.GetOrders() {
				ids = append(ids, o.GetId())
				if o.GetUsername() == "" {
					t.Errorf("order %d not joined with its user", o.GetId())
				}
			}
			if len(ids) != len(tt.wantIDs) {
				t.Fatalf("ids %v, want %v", ids, tt.wantIDs)
			}
			for i := range ids {
				if ids[i] != tt.wantIDs[i] {
					t.Fatalf("ids %v, want %v", ids, tt.wantIDs)
				}
			}
			seen := map[int64]bool{}
			for _, id := range users.calls {
				if seen[id] {
					t.Errorf("user %d asked for twice in one call", id)
				}
				seen[id] = true
			}
		})
	}
}
