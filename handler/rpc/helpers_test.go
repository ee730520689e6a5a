package rpc

import (
	"net/http"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/edgeapi/gateway/descriptor"
	"github.com/edgeapi/gateway/examples/proto/order"
	"github.com/edgeapi/gateway/examples/proto/user"

	// The well-known types the test file imports must be in GlobalFiles.
	_ "google.golang.org/protobuf/types/known/durationpb"
	_ "google.golang.org/protobuf/types/known/fieldmaskpb"
	_ "google.golang.org/protobuf/types/known/structpb"
	_ "google.golang.org/protobuf/types/known/timestamppb"
	_ "google.golang.org/protobuf/types/known/wrapperspb"
)

// kindsFileProto is gwtest/kinds.proto, written as a descriptor so the tests need no protoc:
//
//	enum Color { COLOR_UNSPECIFIED = 0; RED = 1; GREEN = 2; }
//	message Deep  { string s = 1; }
//	message Inner { int32 n = 1; Deep deep = 2; }
//	message Item  { string name = 1; int64 price = 2; repeated string tags = 3; }
//	message All {
//	  double f_double = 1; float f_float = 2; int32 f_int32 = 3; int64 f_int64 = 4;
//	  uint32 f_uint32 = 5; uint64 f_uint64 = 6; sint32 f_sint32 = 7; sint64 f_sint64 = 8;
//	  fixed32 f_fixed32 = 9; fixed64 f_fixed64 = 10; sfixed32 f_sfixed32 = 11; sfixed64 f_sfixed64 = 12;
//	  bool f_bool = 13; string f_string = 14; bytes f_bytes = 15; Color color = 16;
//	  repeated int32 r_int32 = 17; repeated string r_string = 18; repeated Color r_color = 19;
//	  Inner inner = 20; repeated Item items = 21; map<string, int32> labels = 22;
//	  google.protobuf.Timestamp ts = 23; google.protobuf.Duration dur = 24;
//	  google.protobuf.Int64Value w_int64 = 25; google.protobuf.StringValue w_string = 26;
//	  google.protobuf.BoolValue w_bool = 27; google.protobuf.DoubleValue w_double = 28;
//	  google.protobuf.UInt32Value w_uint32 = 29; repeated google.protobuf.Timestamp r_ts = 30;
//	  google.protobuf.FieldMask mask = 31; google.protobuf.Struct st = 32;
//	  oneof choice { string o_str = 33; Inner o_inner = 34; }
//	}
//	service KindsSrv { rpc Echo(All) returns (All); }
func kindsFileProto() *descriptorpb.FileDescriptorProto {
	type T = descriptorpb.FieldDescriptorProto_Type
	const (
		opt = descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
		rep = descriptorpb.FieldDescriptorProto_LABEL_REPEATED
	)
	field := func(name string, num int32, label descriptorpb.FieldDescriptorProto_Label, typ T, typeName string) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(num), Label: label.Enum(), Type: typ.Enum()}
		if typeName != "" {
			f.TypeName = proto.String(typeName)
		}
		return f
	}
	msg := func(name string, fields ...*descriptorpb.FieldDescriptorProto) *descriptorpb.DescriptorProto {
		return &descriptorpb.DescriptorProto{Name: proto.String(name), Field: fields}
	}
	const (
		tDouble   = descriptorpb.FieldDescriptorProto_TYPE_DOUBLE
		tFloat    = descriptorpb.FieldDescriptorProto_TYPE_FLOAT
		tInt32    = descriptorpb.FieldDescriptorProto_TYPE_INT32
		tInt64    = descriptorpb.FieldDescriptorProto_TYPE_INT64
		tUint32   = descriptorpb.FieldDescriptorProto_TYPE_UINT32
		tUint64   = descriptorpb.FieldDescriptorProto_TYPE_UINT64
		tSint32   = descriptorpb.FieldDescriptorProto_TYPE_SINT32
		tSint64   = descriptorpb.FieldDescriptorProto_TYPE_SINT64
		tFixed32  = descriptorpb.FieldDescriptorProto_TYPE_FIXED32
		tFixed64  = descriptorpb.FieldDescriptorProto_TYPE_FIXED64
		tSfixed32 = descriptorpb.FieldDescriptorProto_TYPE_SFIXED32
		tSfixed64 = descriptorpb.FieldDescriptorProto_TYPE_SFIXED64
		tBool     = descriptorpb.FieldDescriptorProto_TYPE_BOOL
		tString   = descriptorpb.FieldDescriptorProto_TYPE_STRING
		tBytes    = descriptorpb.FieldDescriptorProto_TYPE_BYTES
		tEnum     = descriptorpb.FieldDescriptorProto_TYPE_ENUM
		tMsg      = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
	)
	labels := msg("LabelsEntry",
		field("key", 1, opt, tString, ""),
		field("value", 2, opt, tInt32, ""))
	labels.Options = &descriptorpb.MessageOptions{MapEntry: proto.Bool(true)}
	oStr := field("o_str", 33, opt, tString, "")
	oStr.OneofIndex = proto.Int32(0)
	oInner := field("o_inner", 34, opt, tMsg, ".gwtest.Inner")
	oInner.OneofIndex = proto.Int32(0)
	all := msg("All",
		field("f_double", 1, opt, tDouble, ""),
		field("f_float", 2, opt, tFloat, ""),
		field("f_int32", 3, opt, tInt32, ""),
		field("f_int64", 4, opt, tInt64, ""),
		field("f_uint32", 5, opt, tUint32, ""),
		field("f_uint64", 6, opt, tUint64, ""),
		field("f_sint32", 7, opt, tSint32, ""),
		field("f_sint64", 8, opt, tSint64, ""),
		field("f_fixed32", 9, opt, tFixed32, ""),
		field("f_fixed64", 10, opt, tFixed64, ""),
		field("f_sfixed32", 11, opt, tSfixed32, ""),
		field("f_sfixed64", 12, opt, tSfixed64, ""),
		field("f_bool", 13, opt, tBool, ""),
		field("f_string", 14, opt, tString, ""),
		field("f_bytes", 15, opt, tBytes, ""),
		field("color", 16, opt, tEnum, ".gwtest.Color"),
		field("r_int32", 17, rep, tInt32, ""),
		field("r_string", 18, rep, tString, ""),
		field("r_color", 19, rep, tEnum, ".gwtest.Color"),
		field("inner", 20, opt, tMsg, ".gwtest.Inner"),
		field("items", 21, rep, tMsg, ".gwtest.Item"),
		field("labels", 22, rep, tMsg, ".gwtest.All.LabelsEntry"),
		field("ts", 23, opt, tMsg, ".google.protobuf.Timestamp"),
		field("dur", 24, opt, tMsg, ".google.protobuf.Duration"),
		field("w_int64", 25, opt, tMsg, ".google.protobuf.Int64Value"),
		field("w_string", 26, opt, tMsg, ".google.protobuf.StringValue"),
		field("w_bool", 27, opt, tMsg, ".google.protobuf.BoolValue"),
		field("w_double", 28, opt, tMsg, ".google.protobuf.DoubleValue"),
		field("w_uint32", 29, opt, tMsg, ".google.protobuf.UInt32Value"),
		field("r_ts", 30, rep, tMsg, ".google.protobuf.Timestamp"),
		field("mask", 31, opt, tMsg, ".google.protobuf.FieldMask"),
		field("st", 32, opt, tMsg, ".google.protobuf.Struct"),
		oStr, oInner,
	)
	all.NestedType = []*descriptorpb.DescriptorProto{labels}
	all.OneofDecl = []*descriptorpb.OneofDescriptorProto{{Name: proto.String("choice")}}
	return &descriptorpb.FileDescriptorProto{
		Name:    proto.String("gwtest/kinds.proto"),
		Package: proto.String("gwtest"),
		Syntax:  proto.String("proto3"),
		Dependency: []string{
			"google/protobuf/timestamp.proto", "google/protobuf/duration.proto",
			"google/protobuf/wrappers.proto", "google/protobuf/field_mask.proto",
			"google/protobuf/struct.proto",
		},
		EnumType: []*descriptorpb.EnumDescriptorProto{{
			Name: proto.String("Color"),
			Value: []*descriptorpb.EnumValueDescriptorProto{
				{Name: proto.String("COLOR_UNSPECIFIED"), Number: proto.Int32(0)},
				{Name: proto.String("RED"), Number: proto.Int32(1)},
				{Name: proto.String("GREEN"), Number: proto.Int32(2)},
			},
		}},
		MessageType: []*descriptorpb.DescriptorProto{
			msg("Deep", field("s", 1, opt, tString, "")),
			msg("Inner", field("n", 1, opt, tInt32, ""), field("deep", 2, opt, tMsg, ".gwtest.Deep")),
			msg("Item", field("name", 1, opt, tString, ""), field("price", 2, opt, tInt64, ""), field("tags", 3, rep, tString, "")),
			all,
		},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("KindsSrv"),
			Method: []*descriptorpb.MethodDescriptorProto{{
				Name: proto.String("Echo"), InputType: proto.String(".gwtest.All"), OutputType: proto.String(".gwtest.All"),
			}},
		}},
	}
}

var kindsOnce = sync.OnceValues(func() (*descriptor.Set, error) {
	fd, err := protodesc.NewFile(kindsFileProto(), protoregistry.GlobalFiles)
	if err != nil {
		return nil, err
	}
	files := new(protoregistry.Files)
	if err := files.RegisterFile(fd); err != nil {
		return nil, err
	}
	return descriptor.NewSet(files, nil)
})

// kindsSet returns the Set of gwtest/kinds.proto.
func kindsSet(t testing.TB) *descriptor.Set {
	t.Helper()
	set, err := kindsOnce()
	if err != nil {
		t.Fatalf("building gwtest/kinds.proto: %v", err)
	}
	return set
}

// allDesc returns the descriptor of gwtest.All.
func allDesc(t testing.TB) protoreflect.MessageDescriptor {
	t.Helper()
	m, err := kindsSet(t).Method("KindsSrv.Echo")
	if err != nil {
		t.Fatal(err)
	}
	return m.Input
}

// fuzzMessages are the request and response types fuzz inputs pick from by index: the test's
// own gwtest.All and the examples' order and user messages.
func fuzzMessages(t testing.TB) []protoreflect.MessageDescriptor {
	return []protoreflect.MessageDescriptor{
		allDesc(t),
		(&order.OrderRequest{}).ProtoReflect().Descriptor(),
		(&order.ListOrdersRequest{}).ProtoReflect().Descriptor(),
		(&order.OrderResponse{}).ProtoReflect().Descriptor(),
		(&order.ListOrdersResponse{}).ProtoReflect().Descriptor(),
		(&user.AccountRequest{}).ProtoReflect().Descriptor(),
		(&user.AccountResponse{}).ProtoReflect().Descriptor(),
	}
}

// newDynamic returns an empty dynamic message of md.
func newDynamic(md protoreflect.MessageDescriptor) *dynamicpb.Message {
	return dynamicpb.NewMessage(md)
}

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}
