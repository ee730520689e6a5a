package apierror

import (
	"encoding/json"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/edgeapi/gateway/descriptor"
)

func TestDetailsBadRequest(t *testing.T) {
	st, err := status.New(codes.InvalidArgument, "id must be positive").WithDetails(
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "id", Description: "must be > 0"}}},
		&errdetails.RetryInfo{RetryDelay: durationpb.New(1500 * 1e6)},
	)
	if err != nil {
		t.Fatal(err)
	}
	e := From("go.micro.api.userservices", st.Err())
	if e.Code != 400 || e.GRPCCode != "InvalidArgument" || len(e.Details) != 2 {
		t.Fatalf("From = %+v", e)
	}
	var bad struct {
		Type            string `json:"@type"`
		FieldViolations []struct {
			Field, Description string
		} `json:"fieldViolations"`
	}
	if err := json.Unmarshal(e.Details[0], &bad); err != nil {
		t.Fatalf("details[0] %s: %v", e.Details[0], err)
	}
	if bad.Type != "type.googleapis.com/google.rpc.BadRequest" || len(bad.FieldViolations) != 1 ||
		bad.FieldViolations[0].Field != "id" || bad.FieldViolations[0].Description != "must be > 0" {
		t.Errorf("details[0] = %s", e.Details[0])
	}
	var retry map[string]any
	if err := json.Unmarshal(e.Details[1], &retry); err != nil || retry["@type"] != "type.googleapis.com/google.rpc.RetryInfo" || retry["retryDelay"] != "1.500s" {
		t.Errorf("details[1] = %s (%v)", e.Details[1], err)
	}

	// The whole body, as a client reads it: details are JSON objects, not strings.
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Details []map[string]any `json:"details"`
	}
	if err := json.Unmarshal(b, &body); err != nil || len(body.Details) != 2 || body.Details[0]["@type"] != "type.googleapis.com/google.rpc.BadRequest" {
		t.Errorf("body %s (%v)", b, err)
	}
}

func TestDetailsUnknownTypeKeepsItsBytes(t *testing.T) {
	st := status.New(codes.Internal, "x").Proto()
	st.Details = []*anypb.Any{{TypeUrl: "type.googleapis.com/acme.Secret", Value: []byte{1, 2, 3}}}
	out := DetailsJSON(status.FromProto(st), protoregistry.GlobalTypes)
	if len(out) != 1 {
		t.Fatalf("details %v", out)
	}
	var d struct {
		Type  string `json:"@type"`
		Value []byte `json:"value"`
	}
	if err := json.Unmarshal(out[0], &d); err != nil || d.Type != "type.googleapis.com/acme.Secret" || string(d.Value) != "\x01\x02\x03" {
		t.Errorf("detail %s (%v)", out[0], err)
	}
	if DetailsJSON(status.New(codes.NotFound, "x"), protoregistry.GlobalTypes) != nil {
		t.Error("a status without details has details")
	}
}

// TestDetailsServiceTypes renders a detail whose type only the service's descriptors know, as
// the rpc handler does with a descriptor.Set.
func TestDetailsServiceTypes(t *testing.T) {
	fdp := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("acme/err.proto"),
		Package: proto.String("acme"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("QuotaError"),
			Field: []*descriptorpb.FieldDescriptorProto{{
				Name: proto.String("limit"), Number: proto.Int32(1), JsonName: proto.String("limit"),
				Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), Type: descriptorpb.FieldDescriptorProto_TYPE_INT32.Enum(),
			}},
		}},
	}
	files, err := protodesc.NewFiles(&descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{fdp}})
	if err != nil {
		t.Fatal(err)
	}
	set, err := descriptor.NewSet(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	mt, err := set.Types.FindMessageByName("acme.QuotaError")
	if err != nil {
		t.Fatal(err)
	}
	m := dynamicpb.NewMessage(mt.Descriptor())
	m.Set(mt.Descriptor().Fields().ByName("limit"), protoreflect.ValueOfInt32(10))
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	st := status.New(codes.ResourceExhausted, "quota").Proto()
	st.Details = []*anypb.Any{a}

	out := DetailsJSON(status.FromProto(st), set.Types)
	var d map[string]any
	if err := json.Unmarshal(out[0], &d); err != nil || d["@type"] != "type.googleapis.com/acme.QuotaError" || d["limit"] != float64(10) {
		t.Errorf("with the service's types: %s (%v)", out[0], err)
	}
	// Without them the bytes are kept.
	out = DetailsJSON(status.FromProto(st), protoregistry.GlobalTypes)
	if err := json.Unmarshal(out[0], &d); err != nil || d["value"] == nil {
		t.Errorf("without the service's types: %s (%v)", out[0], err)
	}
}
