package transcode

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func TestAppendWireErrors(t *testing.T) {
	p := plan(t, testMessage(t, "transcode.test.All"))
	tests := []struct {
		name, json string
		want       error
		path       string
	}{
		{"syntax", `{"fInt32": 1`, ErrSyntax, ""},
		{"syntax nested", `{"nested": {"fInt32": 1,}}`, ErrSyntax, "nested"},
		{"not json value", `{"fInt32": x}`, ErrSyntax, "fInt32"},
		{"trailing data", `{}x`, ErrSyntax, ""},
		{"unknown", `{"nope": 1}`, ErrUnknownField, "nope"},
		{"unknown nested", `{"rNested": [{}, {"nope": 1}]}`, ErrUnknownField, "rNested[1].nope"},
		{"unknown escaped", `{"n\u006fpe": 1}`, ErrUnknownField, "nope"},
		{"duplicate", `{"fInt32": 1, "f_int32": 2}`, ErrDuplicate, "f_int32"},
		{"duplicate map key", `{"mInt32": {"1": 1, "+1": 2}}`, ErrDuplicate, `mInt32["+1"]`},
		{"oneof", `{"oString": "a", "oInt64": 1}`, ErrOneof, "oInt64"},
		{"int range", `{"nested": {"fInt32": 3000000000}}`, ErrInvalidValue, "nested.fInt32"},
		{"list element", `{"rNested": [{}, {"fInt32": "x"}]}`, ErrInvalidValue, "rNested[1].fInt32"},
		{"scalar list element", `{"rInt32": [1, 2, true]}`, ErrInvalidValue, "rInt32[2]"},
		{"map value", `{"mMsg": {"k": {"fBool": 1}}}`, ErrInvalidValue, `mMsg["k"].fBool`},
		{"map key", `{"mInt32": {"x": 1}}`, ErrInvalidValue, `mInt32["x"]`},
		{"enum name", `{"fEnum": "NOPE"}`, ErrInvalidValue, "fEnum"},
		{"bytes", `{"fBytes": "!"}`, ErrInvalidValue, "fBytes"},
		{"timestamp", `{"rTs": ["2024-01-01T00:00:00Z", "yesterday"]}`, ErrInvalidValue, "rTs[1]"},
		{"struct value", `{"st": {"a": {"b": [1, nope]}}}`, ErrSyntax, `st["a"]["b"][1]`},
		{"wrong type", `{"nested": 1}`, ErrInvalidValue, "nested"},
		{"too deep", deepJSON(maxDepth + 1), ErrTooDeep, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("keep")
			out, err := p.AppendWire(dst, []byte(tc.json))
			if !errors.Is(err, tc.want) {
				t.Fatalf("AppendWire(%s) = %v, want %v", tc.json, err, tc.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T is not an *Error", err)
			}
			if tc.want != ErrTooDeep && e.Path != tc.path {
				t.Errorf("Path = %q, want %q (%v)", e.Path, tc.path, err)
			}
			if string(out) != "keep" {
				t.Errorf("dst = %q after an error, want it cut back to %q", out, "keep")
			}
		})
	}
}

// deepJSON nests n messages: {"recursive":{"recursive":...}}.
func deepJSON(n int) string {
	return repeat(`{"recursive":`, n-1) + `{}` + repeat(`}`, n-1)
}

func TestDepthLimitMatchesProtojson(t *testing.T) {
	md := testMessage(t, "transcode.test.All")
	p := plan(t, md)
	for _, n := range []int{maxDepth - 1, maxDepth, maxDepth + 1} {
		checkWire(t, p, md, []byte(deepJSON(n)))
	}
	// And values, which nest through Struct and ListValue.
	for _, n := range []int{maxDepth - 2, maxDepth - 1, maxDepth} {
		checkWire(t, p, md, []byte(`{"val":`+repeat("[", n)+repeat("]", n)+`}`))
	}
}

func TestAppendJSONErrors(t *testing.T) {
	p := plan(t, testMessage(t, "transcode.test.All"))
	tests := []struct {
		name string
		wire w
		want error
		path string
	}{
		{"truncated", w{}.raw(0x18), ErrWire, ""},
		{"nested truncated", w{}.bytes(nRNested, nil).bytes(nRNested, w{}.raw(0x18)), ErrWire, "rNested[1]"},
		{"invalid utf8", w{}.bytes(nNested, w{}.str(nString, "\xff")), ErrInvalidValue, "nested.fString"},
		{"map value", w{}.bytes(nMMsg, w{}.str(1, "k").bytes(2, w{}.str(nString, "\xff"))), ErrInvalidValue, `mMsg["k"].fString`},
		{"timestamp", w{}.bytes(nTs, w{}.varint(2, 1e9)), ErrInvalidValue, "ts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := p.AppendJSON([]byte("keep"), tc.wire, Options{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("AppendJSON = %v, want %v", err, tc.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Path != tc.path {
				t.Errorf("error %v: path %q, want %q", err, e.Path, tc.path)
			}
			if string(out) != "keep" {
				t.Errorf("dst = %q after an error, want it cut back", out)
			}
		})
	}
}

func TestAppendJSONDepthLimit(t *testing.T) {
	md := testMessage(t, "transcode.test.All")
	p := plan(t, md)
	deep := func(n int) []byte {
		b := w{}
		for range n - 1 {
			b = w{}.bytes(110, b)
		}
		return b
	}
	for _, n := range []int{maxDepth - 1, maxDepth, maxDepth + 1} {
		checkJSON(t, p, md, deep(n), Options{})
	}
	_ = protowire.BytesType
}

func TestCompile(t *testing.T) {
	for _, name := range []string{"transcode.bad.HasAny", "transcode.bad.DeepAny", "transcode.bad.Required", "transcode.bad.Group", "transcode.bad.Recursive"} {
		t.Run(name, func(t *testing.T) {
			_, err := Compile(testMessage(t, protoreflectName(name)))
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("Compile = %v, want ErrUnsupported", err)
			}
		})
	}
	for _, md := range generatedMessages() {
		if _, err := Compile(md); err != nil {
			t.Errorf("Compile(%s) = %v", md.FullName(), err)
		}
	}
	p := plan(t, testMessage(t, "transcode.test.All"))
	if p.Name() != "transcode.test.All" {
		t.Errorf("Name() = %s", p.Name())
	}
}

// nestedBig nests n messages, each with long strings before and after its child, so that
// every level's length needs a multi-byte prefix.
func nestedBig(n, size int) string {
	s := repeat("x", size)
	return repeat(`{"fString":"`+s+`","rInt64":[1,2,3],"recursive":`, n) + `{"fString":"` + s + `"}` +
		repeat(`,"rString":["`+s+`"],"nested":{"fString":"`+s+`"}}`, n)
}

func TestLongNestedValues(t *testing.T) {
	md := testMessage(t, "transcode.test.All")
	p := plan(t, md)
	for _, tc := range []struct{ n, size int }{{1, 200}, {3, 100}, {50, 300}, {5, 20000}} {
		checkWire(t, p, md, []byte(nestedBig(tc.n, tc.size)))
		// With something already in dst.
		out, err := p.AppendWire([]byte("prefix"), []byte(nestedBig(tc.n, tc.size)))
		want, _ := p.AppendWire(nil, []byte(nestedBig(tc.n, tc.size)))
		if err != nil || string(out) != "prefix"+string(want) {
			t.Fatalf("AppendWire after a prefix: %v", err)
		}
	}
}
