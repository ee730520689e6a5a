package rpc

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/edgeapi/gateway/examples/proto/order"
)

func TestUnmarshalJSONValid(t *testing.T) {
	md := allDesc(t)
	cases := []struct {
		name, body string
		want       string // protojson of the expected message
	}{
		{"empty body", "", `{}`},
		{"whitespace body", " \n\t", `{}`},
		{"empty object", "{}", `{}`},
		{"json names", `{"fInt32":1,"fString":"s","color":"RED"}`, `{"fInt32":1,"fString":"s","color":1}`},
		{"proto names", `{"f_int32":1,"r_string":["a","b"]}`, `{"fInt32":1,"rString":["a","b"]}`},
		{"int64 as string", `{"fInt64":"-5"}`, `{"fInt64":-5}`},
		{"nested and repeated", `{"inner":{"deep":{"s":"x"}},"items":[{"name":"a","price":1},{"name":"b","price":"2","tags":["t"]}]}`,
			`{"inner":{"deep":{"s":"x"}},"items":[{"name":"a","price":1},{"name":"b","price":2,"tags":["t"]}]}`},
		{"map", `{"labels":{"a":1,"b":2}}`, `{"labels":{"a":1,"b":2}}`},
		{"well-known types", `{"ts":"2024-01-02T03:04:05Z","dur":"1.5s","wInt64":"3","wBool":false,"st":{"k":[1,"x",null]}}`,
			`{"ts":"2024-01-02T03:04:05Z","dur":"1.5s","wInt64":3,"wBool":false,"st":{"k":[1,"x",null]}}`},
		{"null fields", `{"inner":null,"fInt32":null}`, `{}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := newDynamic(md)
			if err := unmarshalJSON([]byte(tc.body), got, protojson.UnmarshalOptions{}); err != nil {
				t.Fatalf("unmarshalJSON(%s): %v", tc.body, err)
			}
			want := newDynamic(md)
			if err := protojson.Unmarshal([]byte(tc.want), want); err != nil {
				t.Fatalf("bad want: %v", err)
			}
			if !proto.Equal(got, want) {
				t.Errorf("got %v\nwant %v", protojson.Format(got), protojson.Format(want))
			}
		})
	}
}

func TestUnmarshalJSONErrors(t *testing.T) {
	md := allDesc(t)
	cases := []struct {
		name, body string
		field      string // the path the error must name; "" for the body as a whole
		wantErr    string
	}{
		{"syntax error", `{"fInt32":1`, "", "invalid JSON body for gwtest.All"},
		{"trailing garbage", `{"fInt32":1} x`, "", "invalid JSON body"},
		{"not an object", `[1,2]`, "", "invalid JSON body for gwtest.All"},
		{"bare string", `"x"`, "", "invalid JSON body"},
		{"unknown field", `{"fInt32":1,"nope":2}`, "nope", "unknown field in gwtest.All"},
		{"unknown nested field", `{"inner":{"deep":{"t":1}}}`, "inner.deep.t", "unknown field in gwtest.Deep"},
		{"wrong type for a scalar", `{"fInt32":"x"}`, "fInt32", "invalid value \"x\" for int32 field"},
		{"int32 overflow", `{"f_int32":2147483648}`, "f_int32", "for int32 field"},
		{"wrong type nested", `{"inner":{"n":true}}`, "inner.n", "for int32 field"},
		{"wrong type in a repeated message", `{"items":[{"name":"a","price":1},{"name":"b","price":"x"}]}`, "items[1].price", "for int64 field"},
		{"repeated element not an object", `{"items":[{},3]}`, "items[1]", "want a JSON object for gwtest.Item"},
		{"message given a scalar", `{"inner":5}`, "inner", "for gwtest.Inner field"},
		{"repeated given a scalar", `{"rInt32":5}`, "rInt32", "for repeated int32 field"},
		{"repeated with a bad element", `{"r_int32":[1,"x"]}`, "r_int32", "for repeated int32 field"},
		{"enum unknown name", `{"color":"PURPLE"}`, "color", "for gwtest.Color field"},
		{"map bad value", `{"labels":{"a":"x"}}`, "labels", "for map field"},
		{"timestamp", `{"ts":"yesterday"}`, "ts", "for google.protobuf.Timestamp field"},
		{"duration", `{"dur":5}`, "dur", "for google.protobuf.Duration field"},
		{"long value is truncated", `{"fBool":"` + strings.Repeat("x", 100) + `"}`, "fBool", "xxx... for bool field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := unmarshalJSON([]byte(tc.body), newDynamic(md), protojson.UnmarshalOptions{})
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("unmarshalJSON(%s) = %v, want a *FieldError", tc.body, err)
			}
			if fe.Field != tc.field {
				t.Errorf("Field = %q, want %q (error %v)", fe.Field, tc.field, err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestUnmarshalJSONDiscardUnknown(t *testing.T) {
	msg := (&order.OrderRequest{}).ProtoReflect()
	opts := protojson.UnmarshalOptions{DiscardUnknown: true}
	if err := unmarshalJSON([]byte(`{"id":"7","extra":{"x":1}}`), msg, opts); err != nil {
		t.Fatalf("unknown field with DiscardUnknown: %v", err)
	}
	// The diagnosis skips unknown fields too, so the field at fault is still the one named.
	err := unmarshalJSON([]byte(`{"extra":1,"id":"x"}`), (&order.OrderRequest{}).ProtoReflect(), opts)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "id" {
		t.Fatalf("err = %v, want a *FieldError for id", err)
	}
}

func TestUnmarshalJSONExampleOrders(t *testing.T) {
	resp := &order.ListOrdersResponse{}
	err := unmarshalJSON([]byte(`{"orders":[{"id":1},{"id":2,"priceCents":"x"}]}`), resp.ProtoReflect(), protojson.UnmarshalOptions{})
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "orders[1].priceCents" {
		t.Fatalf("err = %v, want a *FieldError for orders[1].priceCents", err)
	}
}

// TestUnmarshalJSONFirstFieldInDocumentOrder: with several bad fields, the one reported is the
// first in the body, the same on every run.
func TestUnmarshalJSONFirstFieldInDocumentOrder(t *testing.T) {
	md := allDesc(t)
	for body, want := range map[string]string{
		`{"fInt32":"x","fBool":"y","fFloat":"z"}`:         "fInt32",
		`{"fFloat":"z","fBool":"y","fInt32":"x"}`:         "fFloat",
		`{"fString":"ok","inner":{"deep":{"s":1}},"x":1}`: "inner.deep.s",
		`{"items":[{"price":1},{"tags":[1]}],"nope":1}`:   "items[1].tags",
	} {
		for range 20 {
			err := unmarshalJSON([]byte(body), newDynamic(md), protojson.UnmarshalOptions{})
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != want {
				t.Fatalf("unmarshalJSON(%s) = %v, want the field %s", body, err, want)
			}
		}
	}
}
