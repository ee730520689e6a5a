package rpc

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// param is one name=value pair as a query string, a form or a path variable carries it.
type param struct{ path, value string }

func TestSetParam(t *testing.T) {
	md := allDesc(t)
	cases := []struct {
		name   string
		params []param
		want   string // the expected message as protojson
	}{
		{"double", []param{{"f_double", "-1.25"}}, `{"fDouble":-1.25}`},
		{"double exponent", []param{{"fDouble", "1e300"}}, `{"fDouble":1e300}`},
		{"float", []param{{"f_float", "1.5"}}, `{"fFloat":1.5}`},
		{"float infinity", []param{{"f_float", "-Inf"}}, `{"fFloat":"-Infinity"}`},
		{"int32", []param{{"f_int32", "-2147483648"}}, `{"fInt32":-2147483648}`},
		{"int64", []param{{"f_int64", "9223372036854775807"}}, `{"fInt64":"9223372036854775807"}`},
		{"uint32", []param{{"f_uint32", "4294967295"}}, `{"fUint32":4294967295}`},
		{"uint64", []param{{"f_uint64", "18446744073709551615"}}, `{"fUint64":"18446744073709551615"}`},
		{"sint32", []param{{"f_sint32", "-7"}}, `{"fSint32":-7}`},
		{"sint64", []param{{"f_sint64", "-8"}}, `{"fSint64":"-8"}`},
		{"fixed32", []param{{"f_fixed32", "9"}}, `{"fFixed32":9}`},
		{"fixed64", []param{{"f_fixed64", "10"}}, `{"fFixed64":"10"}`},
		{"sfixed32", []param{{"f_sfixed32", "-11"}}, `{"fSfixed32":-11}`},
		{"sfixed64", []param{{"f_sfixed64", "-12"}}, `{"fSfixed64":"-12"}`},
		{"bool true", []param{{"f_bool", "true"}}, `{"fBool":true}`},
		{"bool 1", []param{{"f_bool", "1"}}, `{"fBool":true}`},
		{"bool false", []param{{"f_bool", "false"}}, `{}`},
		{"string", []param{{"f_string", "héllo wörld"}}, `{"fString":"héllo wörld"}`},
		{"empty string", []param{{"f_string", ""}}, `{}`},
		{"bytes std base64", []param{{"f_bytes", "aGk/Pz8="}}, `{"fBytes":"aGk/Pz8="}`},
		{"bytes url base64", []param{{"f_bytes", "aGk_Pz8="}}, `{"fBytes":"aGk/Pz8="}`},
		{"bytes raw base64", []param{{"f_bytes", "aGk"}}, `{"fBytes":"aGk="}`},
		{"json name", []param{{"fInt32", "3"}}, `{"fInt32":3}`},
		{"last value wins", []param{{"f_int32", "1"}, {"f_int32", "2"}}, `{"fInt32":2}`},
		{"enum by name", []param{{"color", "RED"}}, `{"color":"RED"}`},
		{"enum by number", []param{{"color", "2"}}, `{"color":"GREEN"}`},
		{"enum unknown number kept (open enum)", []param{{"color", "7"}}, `{"color":7}`},
		{"repeated appends", []param{{"r_int32", "1"}, {"r_int32", "2"}, {"rInt32", "3"}}, `{"rInt32":[1,2,3]}`},
		{"repeated string", []param{{"r_string", "a"}, {"r_string", ""}}, `{"rString":["a",""]}`},
		{"repeated enum", []param{{"r_color", "RED"}, {"r_color", "2"}}, `{"rColor":["RED","GREEN"]}`},
		{"nested", []param{{"inner.n", "5"}}, `{"inner":{"n":5}}`},
		{"nested twice", []param{{"inner.deep.s", "x"}, {"inner.n", "1"}}, `{"inner":{"n":1,"deep":{"s":"x"}}}`},
		{"nested in oneof", []param{{"o_inner.n", "4"}}, `{"oInner":{"n":4}}`},
		{"oneof scalar", []param{{"oStr", "s"}}, `{"oStr":"s"}`},
		{"timestamp", []param{{"ts", "2024-01-02T03:04:05Z"}}, `{"ts":"2024-01-02T03:04:05Z"}`},
		{"timestamp with offset", []param{{"ts", "2024-01-02T05:04:05.5+02:00"}}, `{"ts":"2024-01-02T03:04:05.500Z"}`},
		{"duration", []param{{"dur", "1.5s"}}, `{"dur":"1.500s"}`},
		{"int64 wrapper", []param{{"w_int64", "42"}}, `{"wInt64":"42"}`},
		{"int64 wrapper zero is set", []param{{"w_int64", "0"}}, `{"wInt64":"0"}`},
		{"string wrapper", []param{{"w_string", "hello"}}, `{"wString":"hello"}`},
		{"string wrapper of digits", []param{{"w_string", "123"}}, `{"wString":"123"}`},
		{"string wrapper with quotes", []param{{"w_string", `say "hi"\`}}, `{"wString":"say \"hi\"\\"}`},
		{"bool wrapper", []param{{"w_bool", "true"}}, `{"wBool":true}`},
		{"double wrapper", []param{{"w_double", "2.5"}}, `{"wDouble":2.5}`},
		{"uint32 wrapper", []param{{"w_uint32", "7"}}, `{"wUint32":7}`},
		{"repeated timestamp appends", []param{{"r_ts", "2024-01-02T03:04:05Z"}, {"r_ts", "1970-01-01T00:00:00Z"}}, `{"rTs":["2024-01-02T03:04:05Z","1970-01-01T00:00:00Z"]}`},
		{"field mask", []param{{"mask", "fInt32,inner.deep"}}, `{"mask":"fInt32,inner.deep"}`},
		{"struct from a JSON object", []param{{"st", `{"a":1}`}}, `{"st":{"a":1}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := newDynamic(md)
			for _, p := range tc.params {
				if err := setParam(got, p.path, p.value); err != nil {
					t.Fatalf("setParam(%q, %q): %v", p.path, p.value, err)
				}
			}
			want := newDynamic(md)
			if err := protojson.Unmarshal([]byte(tc.want), want); err != nil {
				t.Fatalf("bad want %s: %v", tc.want, err)
			}
			if !proto.Equal(got, want) {
				t.Errorf("got %v\nwant %v", protojson.Format(got), protojson.Format(want))
			}
		})
	}
}

func TestSetParamErrors(t *testing.T) {
	md := allDesc(t)
	cases := []struct {
		name, path, value string
		wantErr           string // a fragment of the reason
	}{
		{"unknown field", "nope", "1", "no such field in gwtest.All"},
		{"empty path", "", "1", "no such field"},
		{"unknown nested field", "inner.nope", "1", "no such field in gwtest.Inner"},
		{"trailing dot", "inner.", "1", "no such field in gwtest.Inner"},
		{"path through a scalar", "f_int32.x", "1", "f_int32 is not a message field"},
		{"path through a repeated message", "items.name", "a", "items is not a message field"},
		{"path through a map", "labels.a", "1", "labels is not a message field"},
		{"path into a well-known type", "ts.seconds", "1", "ts is not a message field"},
		{"map leaf", "labels", "a", "map fields cannot be set"},
		{"message leaf", "inner", "x", "needs a JSON body"},
		{"repeated message leaf", "items", "x", "needs a JSON body"},
		{"int32 not a number", "f_int32", "abc", `invalid int32 "abc"`},
		{"int32 overflow", "f_int32", "2147483648", "invalid int32"},
		{"int32 hex", "f_int32", "0x10", "invalid int32"},
		{"int64 overflow", "f_int64", "9223372036854775808", "invalid int64"},
		{"sint64 float", "f_sint64", "1.5", "invalid int64"},
		{"uint32 negative", "f_uint32", "-1", "invalid uint32"},
		{"uint64 negative", "f_fixed64", "-1", "invalid uint64"},
		{"bool word", "f_bool", "yes", `invalid bool "yes"`},
		{"float overflow", "f_float", "1e39", "invalid float"},
		{"float word", "f_float", "one", "invalid float"},
		{"double overflow", "f_double", "1e309", "invalid double"},
		{"bytes not base64", "f_bytes", "!!!", "invalid base64"},
		{"enum unknown name", "color", "PURPLE", "invalid value \"PURPLE\" for enum gwtest.Color"},
		{"enum wrong case", "color", "red", "for enum gwtest.Color"},
		{"enum out of int32", "color", "2147483648", "for enum gwtest.Color"},
		{"repeated bad element", "r_int32", "x", "invalid int32"},
		{"nested bad value", "inner.n", "x", "invalid int32"},
		{"timestamp", "ts", "yesterday", "invalid google.protobuf.Timestamp"},
		{"timestamp without zone", "ts", "2024-01-02T03:04:05", "invalid google.protobuf.Timestamp"},
		{"duration without unit", "dur", "1.5", "invalid google.protobuf.Duration"},
		{"int64 wrapper", "w_int64", "x", "invalid google.protobuf.Int64Value"},
		{"bool wrapper", "w_bool", "maybe", "invalid google.protobuf.BoolValue"},
		{"uint32 wrapper negative", "w_uint32", "-1", "invalid google.protobuf.UInt32Value"},
		{"repeated timestamp", "r_ts", "x", "invalid google.protobuf.Timestamp"},
		{"struct from a scalar", "st", "1", "invalid google.protobuf.Struct"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := setParam(newDynamic(md), tc.path, tc.value)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("setParam(%q, %q) = %v, want a *FieldError", tc.path, tc.value, err)
			}
			if fe.Field != tc.path {
				t.Errorf("Field = %q, want %q", fe.Field, tc.path)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), `"`+tc.path+`"`) {
				t.Errorf("error %q does not name the field %q", err, tc.path)
			}
		})
	}
}

func TestFieldErrorUnwraps(t *testing.T) {
	base := errors.New("boom")
	err := error(&FieldError{Field: "a.b", Err: base})
	if !errors.Is(err, base) {
		t.Errorf("errors.Is(%v, base) = false", err)
	}
	if got, want := err.Error(), `field "a.b": boom`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
