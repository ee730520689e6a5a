// Package usersrv is the user service of the examples: UserSrv over a fixed set of accounts held
// in memory. It is importable so that tests (of the examples and of the gateway) can serve it
// in-process; examples/user wraps it in a program.
//
// Contract: GetAccount returns the account with the requested id; an id <= 0 is
// codes.InvalidArgument with a google.rpc.BadRequest detail naming the field "id"; an id with no
// account is codes.NotFound.
package usersrv

import (
	"context"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/edgeapi/gateway/examples/proto/user"
)

// Name is the registry name of the user service (/userservices/... in the gateway's micro
// resolver).
const Name = "go.micro.api.userservices"

// Server implements user.UserSrvServer. It is read-only and safe for concurrent use.
type Server struct {
	user.UnimplementedUserSrvServer
	accounts map[int64]*user.AccountResponse
}

var _ user.UserSrvServer = (*Server)(nil)

// Accounts returns the seed accounts served by New, keyed by id. Each call returns fresh copies.
func Accounts() map[int64]*user.AccountResponse {
	return map[int64]*user.AccountResponse{
		1: {Id: 1, Username: "john", Address: "1 Main St, Springfield", Phone: "+1-555-0100"},
		2: {Id: 2, Username: "jane", Address: "22 Elm St, Shelbyville", Phone: "+1-555-0199"},
	}
}

// New returns a server holding the seed accounts.
func New() *Server { return NewWith(Accounts()) }

// NewWith returns a server holding accounts (keyed by id); the map is not copied.
func NewWith(accounts map[int64]*user.AccountResponse) *Server {
	return &Server{accounts: accounts}
}

// GetAccount implements user.UserSrvServer.
func (s *Server) GetAccount(_ context.Context, req *user.AccountRequest) (*user.AccountResponse, error) {
	id := req.GetId()
	if id <= 0 {
		return nil, invalid("id", fmt.Sprintf("must be a positive integer, got %d", id))
	}
	a, ok := s.accounts[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "account %d not found", id)
	}
	return proto.CloneOf(a), nil
}

// invalid is InvalidArgument with a BadRequest detail naming field.
func invalid(field, why string) error {
	st := status.New(codes.InvalidArgument, field+" "+why)
	d, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{
		Field:       field,
		Description: why,
	}}})
	if err != nil {
		return st.Err() // only if the detail cannot be marshalled
	}
	return d.Err()
}
