// Package ordersrv is the order service of the examples: OrderSrv over orders held in memory,
// each answer joined with the account of the order's user, fetched from UserSrv. It is importable
// so that tests (of the examples and of the gateway) can serve it in-process; examples/order
// wraps it in a program that reaches UserSrv through the registry.
//
// Contract:
//   - GetOrder returns the order with its user's username, address and phone filled in. An id
//     <= 0 is codes.InvalidArgument with a google.rpc.BadRequest detail naming "id"; an unknown
//     id is codes.NotFound.
//   - ListOrders returns the orders of user_id (every user's when 0), ordered by id, at most
//     page_size of them (0: all). A negative user_id or page_size is codes.InvalidArgument.
//   - A failed UserSrv call fails the request with the same gRPC code (Unavailable stays
//     Unavailable, NotFound stays NotFound) and details, the message saying which user was asked.
//   - A UserSrv call without a deadline from the caller is bounded by UserTimeout.
package ordersrv

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/edgeapi/gateway/examples/proto/order"
	"github.com/edgeapi/gateway/examples/proto/user"
)

// Name is the registry name of the order service (/orderservice/OrderSrv/GetOrder in the
// gateway's micro resolver).
const Name = "go.micro.api.orderservice"

// UserTimeout bounds a UserSrv call when the incoming call has no deadline.
const UserTimeout = 5 * time.Second

// Order is an order as stored, without its user's details.
type Order struct {
	ID         int64
	Product    string
	Quantity   int64
	PriceCents int64
	UserID     int64
}

// Orders returns the seed orders served by New, keyed by id: orders 1 and 3 belong to user 1,
// order 2 to user 2.
func Orders() map[int64]Order {
	return map[int64]Order{
		1: {ID: 1, Product: "Coffee beans, 1 kg", Quantity: 2, PriceCents: 1850, UserID: 1},
		2: {ID: 2, Product: "Espresso cups, set of 4", Quantity: 1, PriceCents: 2400, UserID: 2},
		3: {ID: 3, Product: "Milk frother", Quantity: 1, PriceCents: 3999, UserID: 1},
	}
}

// Server implements order.OrderSrvServer. It is read-only and safe for concurrent use.
type Server struct {
	order.UnimplementedOrderSrvServer
	users  user.UserSrvClient
	orders map[int64]Order
	ids    []int64 // sorted keys of orders
}

var _ order.OrderSrvServer = (*Server)(nil)

// New returns a server holding the seed orders that asks users for account details.
func New(users user.UserSrvClient) *Server { return NewWith(users, Orders()) }

// NewWith returns a server holding orders (keyed by id; the map is not copied).
func NewWith(users user.UserSrvClient, orders map[int64]Order) *Server {
	return &Server{users: users, orders: orders, ids: slices.Sorted(maps.Keys(orders))}
}

// GetOrder implements order.OrderSrvServer.
func (s *Server) GetOrder(ctx context.Context, req *order.OrderRequest) (*order.OrderResponse, error) {
	id := req.GetId()
	if id <= 0 {
		return nil, invalid("id", fmt.Sprintf("must be a positive integer, got %d", id))
	}
	o, ok := s.orders[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "order %d not found", id)
	}
	acc, err := s.account(ctx, o.UserID)
	if err != nil {
		return nil, err
	}
	return joined(o, acc), nil
}

// ListOrders implements order.OrderSrvServer.
func (s *Server) ListOrders(ctx context.Context, req *order.ListOrdersRequest) (*order.ListOrdersResponse, error) {
	if req.GetUserId() < 0 {
		return nil, invalid("user_id", fmt.Sprintf("must not be negative, got %d", req.GetUserId()))
	}
	if req.GetPageSize() < 0 {
		return nil, invalid("page_size", fmt.Sprintf("must not be negative, got %d", req.GetPageSize()))
	}
	res := &order.ListOrdersResponse{}
	accounts := map[int64]*user.AccountResponse{} // one UserSrv call per user
	for _, id := range s.ids {
		if n := req.GetPageSize(); n > 0 && len(res.Orders) == int(n) {
			break
		}
		o := s.orders[id]
		if req.GetUserId() != 0 && o.UserID != req.GetUserId() {
			continue
		}
		acc, ok := accounts[o.UserID]
		if !ok {
			var err error
			if acc, err = s.account(ctx, o.UserID); err != nil {
				return nil, err
			}
			accounts[o.UserID] = acc
		}
		res.Orders = append(res.Orders, joined(o, acc))
	}
	return res, nil
}

// account asks UserSrv for one account, passing its error code and details on.
func (s *Server) account(ctx context.Context, userID int64) (*user.AccountResponse, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, UserTimeout)
		defer cancel()
	}
	acc, err := s.users.GetAccount(ctx, &user.AccountRequest{Id: userID})
	if err != nil {
		p := status.Convert(err).Proto()
		p.Message = fmt.Sprintf("user service: account %d: %s", userID, p.GetMessage())
		return nil, status.FromProto(p).Err()
	}
	return acc, nil
}

func joined(o Order, acc *user.AccountResponse) *order.OrderResponse {
	return &order.OrderResponse{
		Id:         o.ID,
		Product:    o.Product,
		Quantity:   o.Quantity,
		PriceCents: o.PriceCents,
		UserId:     o.UserID,
		Username:   acc.GetUsername(),
		Address:    acc.GetAddress(),
		Phone:      acc.GetPhone(),
	}
}

// invalid is InvalidArgument with a BadRequest detail naming field.
func invalid(field, why string) error {
	st := status.New(codes.InvalidArgument, field+" "+why)
	d, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{
		Field:       field,
		Description: why,
	}}})
	if err != nil {
		return st.Err()
	}
	return d.Err()
}
