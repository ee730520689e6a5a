package transcode

import (
	"math"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// w builds wire bytes from tag-value pieces.
type w []byte

func (b w) varint(n protowire.Number, v uint64) w {
	return protowire.AppendVarint(protowire.AppendTag(b, n, protowire.VarintType), v)
}
func (b w) fixed32(n protowire.Number, v uint32) w {
	return protowire.AppendFixed32(protowire.AppendTag(b, n, protowire.Fixed32Type), v)
}
func (b w) fixed64(n protowire.Number, v uint64) w {
	return protowire.AppendFixed64(protowire.AppendTag(b, n, protowire.Fixed64Type), v)
}
func (b w) bytes(n protowire.Number, v []byte) w {
	return protowire.AppendBytes(protowire.AppendTag(b, n, protowire.BytesType), v)
}
func (b w) str(n protowire.Number, s string) w { return b.bytes(n, []byte(s)) }
func u64(v int64) uint64                       { return uint64(v) }

func (b w) raw(r ...byte) w { return append(b, r...) }

// Field numbers of transcode.test.All used below.
const (
	nInt32    = 3
	nInt64    = 4
	nSint32   = 7
	nFloat    = 2
	nDouble   = 1
	nString   = 14
	nBytes    = 15
	nEnum     = 16
	nNested   = 17
	nRInt32   = 23
	nRFixed32 = 29
	nRString  = 34
	nRNested  = 37
	nMString  = 40
	nMInt32   = 41
	nMMsg     = 52
	nOString  = 60
	nOInt64   = 61
	nOMsg     = 62
	nOptInt32 = 70
	nTs       = 80
	nDur      = 81
	nWInt32   = 86
	nVal      = 92
	nFm       = 94
	nSt       = 91
)

// wireCases are protobuf inputs for transcode.test.All beyond what proto.Marshal writes.
var wireCases = []struct {
	name string
	wire w
}{
	{"empty", w{}},
	{"scalar last wins", w{}.varint(nInt32, 1).varint(nInt32, 2)},
	{"scalar last is zero", w{}.varint(nInt32, 1).varint(nInt32, 0)},
	{"int32 ten-byte negative", w{}.varint(nInt32, math.MaxUint64)},
	{"int32 truncated high bits", w{}.varint(nInt32, 1<<32)},
	{"sint32 high bits", w{}.varint(nSint32, 1<<33|3)},
	{"bool non-canonical", w{}.varint(13, 7)},
	{"enum unknown", w{}.varint(nEnum, 77)},
	{"enum negative", w{}.varint(nEnum, math.MaxUint64)},
	{"enum truncated", w{}.varint(nEnum, 1<<32|1)},
	{"float specials", w{}.fixed32(nFloat, math.Float32bits(float32(math.Inf(-1)))).fixed64(nDouble, math.Float64bits(math.NaN()))},
	{"float negative zero", w{}.fixed32(nFloat, 1<<31).fixed64(nDouble, 1<<63)},
	{"double subnormal", w{}.fixed64(nDouble, 1)},
	{"string escapes", w{}.str(nString, "\x00\x01\x1f\"\\/<>&\u2028\x7f é")},
	{"string invalid utf8", w{}.str(nString, "a\xffb")},
	{"superseded invalid utf8", w{}.str(nString, "\xff").str(nString, "ok")},
	{"bytes", w{}.bytes(nBytes, []byte{0xff, 0xfe, 0})},
	{"bytes empty", w{}.bytes(nBytes, nil)},
	{"wrong wire type is unknown", w{}.fixed32(nInt32, 5).varint(nString, 1).varint(nNested, 1)},
	{"unknown fields", w{}.varint(1000, 1).fixed32(1001, 2).fixed64(1002, 3).str(1003, "x").raw(0xbb, 0x3e, 0x08, 0x01, 0xbc, 0x3e)},
	{"unknown group nested", w{}.raw(0xbb, 0x3e, 0xc3, 0x3e, 0xc4, 0x3e, 0xbc, 0x3e).varint(nInt32, 9)},
	{"unterminated group", w{}.raw(0xbb, 0x3e, 0x08, 0x01)},
	{"end group alone", w{}.raw(0xbc, 0x3e)},
	{"field number zero", w{}.raw(0x00, 0x01)},
	{"field number too big", protowire.AppendVarint(w{}, uint64(protowire.MaxValidNumber+1)<<3)},
	{"wire type 6", w{}.raw(0x0e, 0x01)},
	{"truncated varint", w{}.raw(0x18, 0xff)},
	{"truncated bytes", w{}.raw(0x72, 0x05, 'a')},
	{"truncated fixed", w{}.raw(0x15, 0x01, 0x02)},
	{"overlong varint", w{}.raw(0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)},
	{"non-minimal varint", w{}.raw(0x18, 0x81, 0x80, 0x00)},
	{"nested merged", w{}.bytes(nNested, w{}.varint(3, 1).str(14, "a")).bytes(nNested, w{}.varint(4, 2).str(14, "b"))},
	{"nested merged invalid", w{}.bytes(nNested, w{}.varint(3, 1)).bytes(nNested, w{}.raw(0x18))},
	{"nested merged each invalid", w{}.bytes(nNested, w{}.raw(0x32, 0x01)).bytes(nNested, w{}.raw(0x30))},
	{"map value merged each invalid", w{}.bytes(nMMsg, w{}.str(1, "k").bytes(2, w{}.raw(0x32, 0x01)).bytes(2, w{}.raw(0x30)))},
	{"nested empty", w{}.bytes(nNested, nil)},
	{"nested invalid", w{}.bytes(nNested, w{}.raw(0xff))},
	{"repeated packed and not", w{}.varint(nRInt32, 1).bytes(nRInt32, w{}.raw(0x02, 0x03, 0x80, 0x01)).varint(nRInt32, 4).bytes(nRInt32, nil)},
	{"repeated only empty packed", w{}.bytes(nRInt32, nil)},
	{"repeated interleaved", w{}.varint(nRInt32, 1).varint(nInt32, 5).varint(nRInt32, 2)},
	{"packed truncated", w{}.bytes(nRInt32, w{}.raw(0x80))},
	{"packed fixed32 bad length", w{}.bytes(nRFixed32, w{}.raw(1, 2, 3, 4, 5))},
	{"packed fixed32", w{}.bytes(nRFixed32, w{}.raw(1, 0, 0, 0, 2, 0, 0, 0)).fixed32(nRFixed32, 3)},
	{"repeated string invalid utf8", w{}.str(nRString, "ok").str(nRString, "\xc3")},
	{"repeated messages", w{}.bytes(nRNested, nil).bytes(nRNested, w{}.varint(3, 1))},
	{"repeated message invalid", w{}.bytes(nRNested, w{}.raw(0x08))},
	{"map duplicate keys", w{}.bytes(nMString, w{}.str(1, "a").str(2, "1")).bytes(nMString, w{}.str(1, "b").str(2, "2")).bytes(nMString, w{}.str(1, "a").str(2, "3"))},
	{"map missing key and value", w{}.bytes(nMString, nil).bytes(nMInt32, nil).bytes(nMMsg, nil)},
	{"map value twice", w{}.bytes(nMString, w{}.str(1, "k").str(2, "x").str(2, "y"))},
	{"map value twice invalid utf8", w{}.bytes(nMString, w{}.str(1, "k").str(2, "\xff").str(2, "y"))},
	{"map key twice", w{}.bytes(nMString, w{}.str(1, "k").str(1, "j").str(2, "y"))},
	{"map message value merged", w{}.bytes(nMMsg, w{}.str(1, "k").bytes(2, w{}.varint(3, 1)).bytes(2, w{}.varint(4, 2)))},
	{"map message duplicate key invalid value", w{}.bytes(nMMsg, w{}.str(1, "k").bytes(2, w{}.raw(0x18))).bytes(nMMsg, w{}.str(1, "k"))},
	{"map superseded invalid utf8 value", w{}.bytes(nMString, w{}.str(1, "k").str(2, "\xff")).bytes(nMString, w{}.str(1, "k").str(2, "y"))},
	{"map key invalid utf8", w{}.bytes(nMString, w{}.str(1, "\xff").str(2, "y"))},
	{"map entry unknown fields", w{}.bytes(nMString, w{}.varint(3, 1).str(1, "k").fixed32(2, 1).str(2, "v"))},
	{"map entry truncated", w{}.bytes(nMString, w{}.raw(0x0a, 0x05))},
	{"map entry wrong wire type", w{}.varint(nMString, 1)},
	{"map key again with another wire type", w{}.bytes(nMString, w{}.str(1, "k").varint(1, 1))},
	{"map int keys sorted", w{}.bytes(nMInt32, w{}.varint(1, 5)).bytes(nMInt32, w{}.varint(1, math.MaxUint64)).bytes(nMInt32, w{}.varint(1, 1<<32|2))},
	{"oneof last wins", w{}.str(nOString, "a").varint(nOInt64, 1)},
	{"oneof back", w{}.str(nOString, "a").varint(nOInt64, 1).str(nOString, "b")},
	{"oneof message merge after switch", w{}.bytes(nOMsg, w{}.varint(3, 1)).varint(nOInt64, 1).bytes(nOMsg, w{}.varint(4, 2)).bytes(nOMsg, w{}.varint(5, 3))},
	{"oneof message merge", w{}.bytes(nOMsg, w{}.varint(3, 1)).bytes(nOMsg, w{}.varint(4, 2))},
	{"oneof superseded invalid message", w{}.bytes(nOMsg, w{}.raw(0xff)).varint(nOInt64, 1)},
	{"oneof superseded invalid utf8", w{}.str(nOString, "\xff").varint(nOInt64, 1)},
	{"oneof zero", w{}.varint(nOInt64, 0)},
	{"optional zero", w{}.varint(nOptInt32, 0)},
	{"timestamp", w{}.bytes(nTs, w{}.varint(1, 1700000000).varint(2, 5000000))},
	{"timestamp nanos 1", w{}.bytes(nTs, w{}.varint(2, 1))},
	{"timestamp negative", w{}.bytes(nTs, w{}.varint(1, u64(minTimestampSeconds)))},
	{"timestamp too early", w{}.bytes(nTs, w{}.varint(1, u64(minTimestampSeconds-1)))},
	{"timestamp too late", w{}.bytes(nTs, w{}.varint(1, maxTimestampSeconds+1))},
	{"timestamp negative nanos", w{}.bytes(nTs, w{}.varint(2, math.MaxUint64))},
	{"timestamp big nanos", w{}.bytes(nTs, w{}.varint(2, 1e9))},
	{"timestamp unknown field", w{}.bytes(nTs, w{}.varint(3, 1).varint(1, 1))},
	{"duration", w{}.bytes(nDur, w{}.varint(1, 3).varint(2, 500))},
	{"duration negative", w{}.bytes(nDur, w{}.varint(1, math.MaxUint64-2).varint(2, uint64(math.MaxUint64-499)))},
	{"duration negative nanos only", w{}.bytes(nDur, w{}.varint(2, math.MaxUint64))},
	{"duration sign mismatch", w{}.bytes(nDur, w{}.varint(1, 1).varint(2, math.MaxUint64))},
	{"duration out of range", w{}.bytes(nDur, w{}.varint(1, maxDurationSeconds+1))},
	{"duration nanos out of range", w{}.bytes(nDur, w{}.varint(2, 1e9))},
	{"duration whole", w{}.bytes(nDur, w{}.varint(1, 60))},
	{"wrapper", w{}.bytes(nWInt32, w{}.varint(1, 5))},
	{"wrapper empty", w{}.bytes(nWInt32, nil)},
	{"wrapper twice", w{}.bytes(nWInt32, w{}.varint(1, 5)).bytes(nWInt32, w{}.varint(1, 0))},
	{"wrapper string invalid", w{}.bytes(89, w{}.str(1, "\xff"))},
	{"value empty", w{}.bytes(nVal, nil)},
	{"value nan", w{}.bytes(nVal, w{}.fixed64(2, math.Float64bits(math.NaN())))},
	{"value inf", w{}.bytes(nVal, w{}.fixed64(2, math.Float64bits(math.Inf(1))))},
	{"value number", w{}.bytes(nVal, w{}.fixed64(2, math.Float64bits(1.5)))},
	{"value switch", w{}.bytes(nVal, w{}.str(3, "s").varint(4, 1))},
	{"value null", w{}.bytes(nVal, w{}.varint(1, 0))},
	{"value null unknown number", w{}.bytes(nVal, w{}.varint(1, 3))},
	{"value struct", w{}.bytes(nVal, w{}.bytes(5, w{}.bytes(1, w{}.str(1, "k").bytes(2, w{}.varint(4, 1)))))},
	{"value struct missing value", w{}.bytes(nVal, w{}.bytes(5, w{}.bytes(1, w{}.str(1, "k"))))},
	{"value list", w{}.bytes(nVal, w{}.bytes(6, w{}.bytes(1, w{}.varint(1, 0)).bytes(1, w{}.str(3, "x"))))},
	{"value list empty element", w{}.bytes(nVal, w{}.bytes(6, w{}.bytes(1, nil)))},
	{"value superseded invalid", w{}.bytes(nVal, w{}.str(3, "\xff").varint(4, 1))},
	{"struct empty", w{}.bytes(nSt, nil)},
	{"field mask", w{}.bytes(nFm, w{}.str(1, "a_b.c").str(1, "d"))},
	{"field mask irreversible", w{}.bytes(nFm, w{}.str(1, "a__b"))},
	{"field mask upper", w{}.bytes(nFm, w{}.str(1, "aB"))},
	{"field mask trailing underscore", w{}.bytes(nFm, w{}.str(1, "a_"))},
	{"field mask digit after underscore", w{}.bytes(nFm, w{}.str(1, "a_1"))},
	{"field mask invalid", w{}.bytes(nFm, w{}.str(1, "1a"))},
	{"field mask empty path", w{}.bytes(nFm, w{}.str(1, ""))},
}

func TestWireMatchesProtojson(t *testing.T) {
	md := testMessage(t, "transcode.test.All")
	p := plan(t, md)
	for _, tc := range wireCases {
		t.Run(tc.name, func(t *testing.T) {
			for _, o := range allOptions {
				checkJSON(t, p, md, tc.wire, o)
			}
		})
	}
}

func TestProto2WireMatchesProtojson(t *testing.T) {
	md := testMessage(t, "transcode.test2.P2")
	p := plan(t, md)
	for _, in := range []w{
		{},
		w{}.varint(1, 0).str(2, "").varint(3, 0),
		w{}.str(2, "\xff"),                // proto2 does not check UTF-8 on the wire; protojson.Marshal does
		w{}.str(2, "\xff").str(2, "ok"),   // ... and only the value it writes
		w{}.str(12, "ok").str(12, "\xff"), // lists: every element
		w{}.varint(3, 9),                  // closed enum, unknown value: dynamicpb keeps it
		w{}.varint(4, 1).bytes(4, w{}.raw(2, 3)).varint(5, 4),
		w{}.bytes(7, w{}.str(1, "\xff").varint(2, 1)),
		w{}.varint(10, 0).str(11, ""),
	} {
		for _, o := range allOptions {
			checkJSON(t, p, md, in, o)
		}
	}
}

func TestSparseWire(t *testing.T) {
	md := testMessage(t, "transcode.test.Sparse")
	p := plan(t, md)
	for _, in := range []w{
		w{}.str(536870911, "z").varint(1, 1).varint(2, 3).bytes(100000, w{}.str(536870911, "y")),
	} {
		checkJSON(t, p, md, in, Options{})
	}
}

// A map entry whose key occurs again with another wire type: dynamicpb's decoder panics on it
// (protobuf-go v1.36.12); generated code keeps the first key and so does AppendJSON.
func TestMapKeyAgainWithAnotherWireType(t *testing.T) {
	p := plan(t, testMessage(t, "transcode.test.All"))
	got, err := p.AppendJSON(nil, w{}.bytes(nMString, w{}.str(1, "k").varint(1, 1)), Options{})
	if err != nil || string(got) != `{"mString":{"k":""}}` {
		t.Fatalf("AppendJSON = %s, %v; want {\"mString\":{\"k\":\"\"}}", got, err)
	}
}
