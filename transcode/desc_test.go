package transcode

import (
	"context"
	"sync"
	"testing"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/edgeapi/gateway/examples/proto/order"
	"github.com/edgeapi/gateway/examples/proto/user"
	testsvcv1 "github.com/edgeapi/gateway/internal/testsvc/proto/testsvc/v1"
)

// kindsProto covers every kind, cardinality and well-known type this package handles.
const kindsProto = `
syntax = "proto3";
package transcode.test;

import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/wrappers.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/field_mask.proto";
import "google/protobuf/empty.proto";

enum Kind {
  KIND_UNSPECIFIED = 0;
  KIND_A = 1;
  KIND_B = 2;
  KIND_NEG = -1;
}

message Scalars {
  double f_double = 1;
  float f_float = 2;
  int32 f_int32 = 3;
  int64 f_int64 = 4;
  uint32 f_uint32 = 5;
  uint64 f_uint64 = 6;
  sint32 f_sint32 = 7;
  sint64 f_sint64 = 8;
  fixed32 f_fixed32 = 9;
  fixed64 f_fixed64 = 10;
  sfixed32 f_sfixed32 = 11;
  sfixed64 f_sfixed64 = 12;
  bool f_bool = 13;
  string f_string = 14;
  bytes f_bytes = 15;
  Kind f_enum = 16;
}

message All {
  double f_double = 1;
  float f_float = 2;
  int32 f_int32 = 3;
  int64 f_int64 = 4;
  uint32 f_uint32 = 5;
  uint64 f_uint64 = 6;
  sint32 f_sint32 = 7;
  sint64 f_sint64 = 8;
  fixed32 f_fixed32 = 9;
  fixed64 f_fixed64 = 10;
  sfixed32 f_sfixed32 = 11;
  sfixed64 f_sfixed64 = 12;
  bool f_bool = 13;
  string f_string = 14;
  bytes f_bytes = 15;
  Kind f_enum = 16;
  Scalars nested = 17;

  repeated double r_double = 21;
  repeated float r_float = 22;
  repeated int32 r_int32 = 23;
  repeated int64 r_int64 = 24;
  repeated uint32 r_uint32 = 25;
  repeated uint64 r_uint64 = 26;
  repeated sint32 r_sint32 = 27;
  repeated sint64 r_sint64 = 28;
  repeated fixed32 r_fixed32 = 29;
  repeated fixed64 r_fixed64 = 30;
  repeated sfixed32 r_sfixed32 = 31;
  repeated sfixed64 r_sfixed64 = 32;
  repeated bool r_bool = 33;
  repeated string r_string = 34;
  repeated bytes r_bytes = 35;
  repeated Kind r_enum = 36;
  repeated Scalars r_nested = 37;
  repeated int32 r_unpacked = 38 [packed = false];

  map<string, string> m_string = 40;
  map<int32, int64> m_int32 = 41;
  map<int64, Kind> m_int64 = 42;
  map<uint32, bytes> m_uint32 = 43;
  map<uint64, double> m_uint64 = 44;
  map<sint32, float> m_sint32 = 45;
  map<sint64, bool> m_sint64 = 46;
  map<fixed32, uint32> m_fixed32 = 47;
  map<fixed64, uint64> m_fixed64 = 48;
  map<sfixed32, sint32> m_sfixed32 = 49;
  map<sfixed64, Scalars> m_sfixed64 = 50;
  map<bool, string> m_bool = 51;
  map<string, Scalars> m_msg = 52;

  oneof choice {
    string o_string = 60;
    int64 o_int64 = 61;
    Scalars o_msg = 62;
    Kind o_enum = 63;
    google.protobuf.NullValue o_null = 64;
    google.protobuf.Value o_value = 65;
  }
  oneof other {
    bool p_bool = 66;
    bytes p_bytes = 67;
  }

  optional int32 opt_int32 = 70;
  optional string opt_string = 71;
  optional Kind opt_enum = 72;
  optional double opt_double = 73;
  optional Scalars opt_msg = 74;

  google.protobuf.Timestamp ts = 80;
  google.protobuf.Duration dur = 81;
  google.protobuf.DoubleValue w_double = 82;
  google.protobuf.FloatValue w_float = 83;
  google.protobuf.Int64Value w_int64 = 84;
  google.protobuf.UInt64Value w_uint64 = 85;
  google.protobuf.Int32Value w_int32 = 86;
  google.protobuf.UInt32Value w_uint32 = 87;
  google.protobuf.BoolValue w_bool = 88;
  google.protobuf.StringValue w_string = 89;
  google.protobuf.BytesValue w_bytes = 90;
  google.protobuf.Struct st = 91;
  google.protobuf.Value val = 92;
  google.protobuf.ListValue lv = 93;
  google.protobuf.FieldMask fm = 94;
  google.protobuf.Empty empty = 95;
  repeated google.protobuf.Timestamp r_ts = 96;
  map<string, google.protobuf.Duration> m_dur = 97;
  repeated google.protobuf.Value r_val = 98;
  map<string, google.protobuf.Value> m_val = 99;
  google.protobuf.NullValue null = 100;
  repeated google.protobuf.Int32Value r_wrap = 101;
  repeated google.protobuf.NullValue r_null = 102;

  All recursive = 110;
  string custom = 111 [json_name = "renamed"];
}

// Clash has a JSON name that is another field's proto name: JSON names win, as in protojson.
message Clash {
  bool f_bool = 1;
  string clash = 2 [json_name = "f_bool"];
}

// Sparse has a field number too large for a dense lookup table.
message Sparse {
  int32 a = 1;
  string z = 536870911;
  Sparse child = 100000;
}
`

// proto2Proto covers presence, unpacked lists and unchecked UTF-8 of proto2.
const proto2Proto = `
syntax = "proto2";
package transcode.test2;

enum Closed {
  C_ZERO = 0;
  C_ONE = 1;
}

message P2 {
  optional int32 i = 1;
  optional string s = 2 [default = "x"];
  optional Closed c = 3;
  repeated int32 r = 4;
  repeated int32 rp = 5 [packed = true];
  optional P2 child = 6;
  map<string, int32> m = 7;
  optional bytes b = 8;
  optional double d = 9;
  oneof o {
    int32 oi = 10;
    string os = 11;
  }
  repeated string rs = 12;
}
`

// editionsProto covers the features that change the wire or JSON forms.
const editionsProto = `
edition = "2023";
package transcode.ed;

option features.field_presence = IMPLICIT;

enum Closed {
  option features.enum_type = CLOSED;
  C_ZERO = 0;
  C_ONE = 1;
}

message Ed {
  int32 implicit = 1;
  int32 explicit = 2 [features.field_presence = EXPLICIT];
  repeated int32 expanded = 3 [features.repeated_field_encoding = EXPANDED];
  repeated int32 packed = 4;
  string unchecked = 5 [features.utf8_validation = NONE];
  string checked = 6;
  Closed closed = 7 [features.field_presence = EXPLICIT];
  Ed child = 8;
  map<string, string> unchecked_map = 9 [features.utf8_validation = NONE];
}
`

// unsupportedProto has one message per reason Compile refuses.
const unsupportedProto = `
syntax = "proto2";
package transcode.bad;

import "google/protobuf/any.proto";

message HasAny { optional google.protobuf.Any a = 1; }
message DeepAny { optional HasAny h = 1; }
message Required { required int32 r = 1; }
message Group { optional group G = 1 { optional int32 x = 2; } }
message Recursive { optional Recursive r = 1; optional HasAny h = 2; }
`

var (
	compileOnce sync.Once
	compiled    map[string]protoreflect.FileDescriptor
	compileErr  error
)

// testFiles compiles the test protos once.
func testFiles(t testing.TB) map[string]protoreflect.FileDescriptor {
	t.Helper()
	compileOnce.Do(func() {
		sources := map[string]string{
			"kinds.proto":       kindsProto,
			"proto2.proto":      proto2Proto,
			"unsupported.proto": unsupportedProto,
			"editions.proto":    editionsProto,
		}
		c := protocompile.Compiler{
			Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
				Accessor: protocompile.SourceAccessorFromMap(sources),
			}),
		}
		files, err := c.Compile(context.Background(), "kinds.proto", "proto2.proto", "unsupported.proto", "editions.proto")
		if err != nil {
			compileErr = err
			return
		}
		compiled = map[string]protoreflect.FileDescriptor{}
		for _, f := range files {
			compiled[f.Path()] = f
		}
	})
	if compileErr != nil {
		t.Fatalf("compile test protos: %v", compileErr)
	}
	return compiled
}

// testMessage returns a message descriptor by full name, from the test protos or the
// repository's generated code.
func testMessage(t testing.TB, name protoreflect.FullName) protoreflect.MessageDescriptor {
	t.Helper()
	for _, f := range testFiles(t) {
		if md := f.Messages().ByName(name.Name()); md != nil && md.FullName() == name {
			return md
		}
	}
	for _, md := range generatedMessages() {
		if md.FullName() == name {
			return md
		}
	}
	t.Fatalf("no message %s", name)
	return nil
}

// generatedMessages are the messages of the repository's protos.
func generatedMessages() []protoreflect.MessageDescriptor {
	var out []protoreflect.MessageDescriptor
	for _, f := range []protoreflect.FileDescriptor{
		testsvcv1.File_testsvc_v1_echo_proto, order.File_order_order_proto, user.File_user_user_proto,
	} {
		for i := range f.Messages().Len() {
			out = append(out, f.Messages().Get(i))
		}
	}
	return out
}

// plan compiles md, failing the test on error.
func plan(t testing.TB, md protoreflect.MessageDescriptor) *Plan {
	t.Helper()
	p, err := Compile(md)
	if err != nil {
		t.Fatalf("Compile(%s): %v", md.FullName(), err)
	}
	return p
}
