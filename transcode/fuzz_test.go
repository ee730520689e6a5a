package transcode

import (
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// fuzzTypes are the messages the fuzz targets pick from with their first argument.
var fuzzTypes = []protoreflect.FullName{
	"transcode.test.All",
	"transcode.test2.P2",
	"transcode.test.Sparse",
	"testsvc.v1.EchoRequest",
	"testsvc.v1.EchoResponse",
	"order.ListOrdersResponse",
	"user.AccountResponse",
	"transcode.ed.Ed",
}

var (
	fuzzOnce  sync.Once
	fuzzMDs   []protoreflect.MessageDescriptor
	fuzzPlans []*Plan
)

func fuzzTarget(t testing.TB, which uint8) (protoreflect.MessageDescriptor, *Plan) {
	fuzzOnce.Do(func() {
		for _, name := range fuzzTypes {
			md := testMessage(t, name)
			fuzzMDs = append(fuzzMDs, md)
			fuzzPlans = append(fuzzPlans, plan(t, md))
		}
	})
	i := int(which) % len(fuzzTypes)
	return fuzzMDs[i], fuzzPlans[i]
}

// fuzzJSONSeeds are JSON seeds by fuzzTypes index.
func fuzzJSONSeeds() map[uint8][]string {
	seeds := map[uint8][]string{
		1: {`{"i": 5, "s": "x", "c": "C_ONE", "r": [1, 2], "rp": [3], "child": {"i": 1}, "m": {"a": 0}, "oi": 1}`},
		2: {`{"a": 1, "z": "x", "child": {"z": "y"}}`},
		3: {echoRequestJSON},
		4: {echoResponseJSON},
		5: {ordersJSON},
		6: {`{"id": "1", "username": "alice", "address": "x", "phone": "y"}`},
		7: {`{"implicit": 1, "explicit": 0, "expanded": [1, 0], "packed": [2], "unchecked": "u", "closed": 5, "child": {}, "uncheckedMap": {"k": ""}}`},
	}
	for _, tc := range kindCases {
		seeds[0] = append(seeds[0], tc.json)
	}
	return seeds
}

// FuzzAppendWire: for any JSON, AppendWire accepts it if and only if protojson.Unmarshal
// does, and its bytes decode to protojson's message.
func FuzzAppendWire(f *testing.F) {
	for which, seeds := range fuzzJSONSeeds() {
		for _, s := range seeds {
			f.Add(which, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, in []byte) {
		md, p := fuzzTarget(t, which)
		checkWire(t, p, md, in)
	})
}

// FuzzAppendJSON: for any bytes proto.Unmarshal reads as the message, AppendJSON writes what
// protojson.Marshal writes (and it rejects what proto.Unmarshal or protojson.Marshal
// rejects); the bytes are checked as they are and as proto.Marshal writes them again.
func FuzzAppendJSON(f *testing.F) {
	for which, seeds := range fuzzJSONSeeds() {
		md, _ := fuzzTarget(f, which)
		for _, s := range seeds {
			m := dynamicpb.NewMessage(md)
			if protojson.Unmarshal([]byte(s), m) != nil {
				continue
			}
			b, err := proto.Marshal(m)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(which, uint8(0), b)
			f.Add(which, uint8(3), b)
		}
	}
	for _, tc := range wireCases {
		f.Add(uint8(0), uint8(1), []byte(tc.wire))
	}
	f.Fuzz(func(t *testing.T, which, opts uint8, wire []byte) {
		md, p := fuzzTarget(t, which)
		o := Options{UseProtoNames: opts&1 != 0, EmitUnpopulated: opts&2 != 0}
		checkJSON(t, p, md, wire, o)
		m := dynamicpb.NewMessage(md)
		if panicked, err := refUnmarshal(wire, m); err != nil || panicked {
			return
		}
		canonical, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			return // proto2 strings with invalid UTF-8 marshal, others may not
		}
		checkJSON(t, p, md, canonical, o)
	})
}
