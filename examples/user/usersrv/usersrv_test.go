package usersrv_test

import (
	"context"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/edgeapi/gateway/examples/proto/user"
	"github.com/edgeapi/gateway/examples/user/usersrv"
)

func TestGetAccount(t *testing.T) {
	tests := []struct {
		name     string
		id       int64
		want     *user.AccountResponse
		wantCode codes.Code
		badField string // the BadRequest field violation expected
	}{
		{name: "john", id: 1, want: &user.AccountResponse{Id: 1, Username: "john", Address: "1 Main St, Springfield", Phone: "+1-555-0100"}},
		{name: "jane", id: 2, want: &user.AccountResponse{Id: 2, Username: "jane", Address: "22 Elm St, Shelbyville", Phone: "+1-555-0199"}},
		{name: "unknown", id: 42, wantCode: codes.NotFound},
		{name: "zero", id: 0, wantCode: codes.InvalidArgument, badField: "id"},
		{name: "negative", id: -3, wantCode: codes.InvalidArgument, badField: "id"},
	}
	s := usersrv.New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.GetAccount(context.Background(), &user.AccountRequest{Id: tt.id})
			if tt.want != nil {
				if err != nil || !proto.Equal(got, tt.want) {
					t.Fatalf("GetAccount(%d) = %v, %v; want %v", tt.id, got, err, tt.want)
				}
				return
			}
			st := status.Convert(err)
			if st.Code() != tt.wantCode {
				t.Fatalf("GetAccount(%d) error %v, want code %v", tt.id, err, tt.wantCode)
			}
			if tt.badField == "" {
				return
			}
			var fields []string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						fields = append(fields, v.GetField())
					}
				}
			}
			if len(fields) != 1 || fields[0] != tt.badField {
				t.Errorf("BadRequest fields %v, want [%s]", fields, tt.badField)
			}
		})
	}
}

func TestGetAccountReturnsCopies(t *testing.T) {
	s := usersrv.New()
	a, _ := s.GetAccount(context.Background(), &user.AccountRequest{Id: 1})
	a.Username = "changed"
	b, _ := s.GetAccount(context.Background(), &user.AccountRequest{Id: 1})
	if b.GetUsername() != "john" {
		t.Fatalf("a caller changed the stored account: %v", b)
	}
}
