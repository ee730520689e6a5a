package rpc

import (
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// FuzzSetParam feeds query parameters (a dotted path and a value, twice, so repeated fields,
// nested messages and oneofs meet) to the example and test messages. setParam must never panic,
// must fail only with a *FieldError naming the path it was given, and a message it accepted with
// valid UTF-8 values must encode.
func FuzzSetParam(f *testing.F) {
	seeds := []param{
		{"f_double", "-1.25"}, {"fFloat", "-Inf"}, {"f_int32", "2147483648"}, {"f_int64", "9223372036854775807"},
		{"f_uint32", "-1"}, {"f_uint64", "18446744073709551615"}, {"f_sint32", "-7"}, {"f_sfixed64", "1.5"},
		{"f_bool", "yes"}, {"f_string", "héllo"}, {"f_bytes", "aGk_Pz8="}, {"f_bytes", "!!!"},
		{"color", "RED"}, {"color", "7"}, {"color", "PURPLE"}, {"r_int32", "1"}, {"r_color", "GREEN"},
		{"inner.n", "5"}, {"inner.deep.s", "x"}, {"o_inner.n", "4"}, {"oStr", "s"}, {"items.name", "a"},
		{"labels", "a"}, {"labels.a", "1"}, {"inner", "x"}, {"inner.", ""}, {"", ""}, {".", "."}, {"..", "1"},
		{"ts", "2024-01-02T03:04:05Z"}, {"ts.seconds", "1"}, {"dur", "1.5s"}, {"dur", "1.5"},
		{"w_int64", "42"}, {"w_string", `say "hi"\`}, {"w_bool", "true"}, {"w_double", "2.5"}, {"w_uint32", "-1"},
		{"r_ts", "1970-01-01T00:00:00Z"}, {"mask", "fInt32,inner.deep"}, {"st", `{"a":[1,null]}`}, {"st", "1"},
		{"id", "1"}, {"id", "x"}, {"user_id", "3"}, {"userId", "-3"}, {"page_size", "10"}, {"pageSize", "2147483648"},
		{"orders.id", "1"}, {"orders", "1"}, {"username", "bob"},
	}
	for i, p := range seeds {
		for idx := range uint8(7) {
			f.Add(idx, p.path, p.value, seeds[(i+1)%len(seeds)].path, seeds[(i+1)%len(seeds)].value)
		}
	}
	msgs := fuzzMessages(f)
	f.Fuzz(func(t *testing.T, idx uint8, path1, value1, path2, value2 string) {
		md := msgs[int(idx)%len(msgs)]
		m := newDynamic(md)
		for _, p := range []param{{path1, value1}, {path2, value2}} {
			err := setParam(m, p.path, p.value)
			if err == nil {
				continue
			}
			fe, ok := err.(*FieldError)
			if !ok {
				t.Fatalf("setParam(%q, %q) on %s = %T %v, want *FieldError", p.path, p.value, md.FullName(), err, err)
			}
			if fe.Field != p.path || fe.Err == nil {
				t.Fatalf("FieldError{%q, %v} for path %q", fe.Field, fe.Err, p.path)
			}
		}
		_, err := proto.Marshal(m)
		if err != nil && utf8.ValidString(value1) && utf8.ValidString(value2) {
			t.Fatalf("accepted %q=%q, %q=%q on %s but cannot encode: %v", path1, value1, path2, value2, md.FullName(), err)
		}
		_, _ = protojson.Marshal(m)
	})
}

// FuzzUnmarshalJSON feeds JSON bodies to the example and test messages. unmarshalJSON must never
// panic, must agree with protojson on what is valid, fail only with a *FieldError naming the same
// field every time, and a message it accepted must encode.
func FuzzUnmarshalJSON(f *testing.F) {
	for _, s := range []string{
		``, ` `, `{}`, `null`, `[]`, `[1,2]`, `"x"`, `{"fInt32":1`, `{"fInt32":1} x`, `{"nope":1}`,
		`{"fInt32":"x","fBool":"y"}`, `{"f_int32":2147483648}`, `{"inner":{"deep":{"s":"x","t":1}}}`, `{"inner":5}`,
		`{"items":[{"name":"a","price":1},{"name":"b","price":"x"}]}`, `{"items":[{},3,null]}`, `{"r_int32":[1,"x"]}`,
		`{"labels":{"a":1,"b":"x"}}`, `{"ts":"2024-01-02T03:04:05Z","dur":"1.5s","wInt64":"3","st":{"k":[1,"x",null]}}`,
		`{"color":"PURPLE"}`, `{"color":7}`, `{"oStr":"a","oInner":{}}`, `{"fBytes":"!!"}`, `{"fString":"\ud800"}`,
		`{"id":"7"}`, `{"id":1,"id":2}`, `{"id":1,"ID":2}`, `{"orders":[{"id":1},{"id":2,"priceCents":"x"}]}`,
		`{"userId":"1","user_id":"2"}`, `{"pageSize":1.5}`, `{"username":"\u0000"}`, `{"inner":{"deep":{"s":` + strings.Repeat(`[`, 50) + `}}}`,
	} {
		for idx := range uint8(7) {
			f.Add(idx, []byte(s), idx%2 == 0)
		}
	}
	msgs := fuzzMessages(f)
	f.Fuzz(func(t *testing.T, idx uint8, data []byte, discard bool) {
		md := msgs[int(idx)%len(msgs)]
		opts := protojson.UnmarshalOptions{DiscardUnknown: discard}
		m := newDynamic(md)
		err := unmarshalJSON(data, m, opts)
		ref := newDynamic(md)
		refErr := opts.Unmarshal(data, ref)
		if len(strings.TrimSpace(string(data))) == 0 {
			refErr = nil // an empty body is an empty message
		}
		if (err == nil) != (refErr == nil) {
			t.Fatalf("unmarshalJSON(%q) = %v but protojson says %v", data, err, refErr)
		}
		if err != nil {
			fe, ok := err.(*FieldError)
			if !ok || fe.Err == nil {
				t.Fatalf("unmarshalJSON(%q) = %T %v, want *FieldError", data, err, err)
			}
			// The diagnosis is deterministic: the same body names the same field.
			again := unmarshalJSON(data, newDynamic(md), opts).(*FieldError)
			if again.Field != fe.Field {
				t.Fatalf("unmarshalJSON(%q) named %q, then %q", data, fe.Field, again.Field)
			}
			return
		}
		if !proto.Equal(m, ref) {
			t.Fatalf("unmarshalJSON(%q) = %v, protojson %v", data, m, ref)
		}
		if _, err := proto.Marshal(m); err != nil {
			t.Fatalf("accepted %q but cannot encode: %v", data, err)
		}
	})
}
