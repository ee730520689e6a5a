package transcode

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// The differential checks: protojson and dynamicpb are the reference.

// checkWire checks AppendWire against protojson.Unmarshal for one JSON input: both accept it
// and agree on the message, or both reject it.
func checkWire(t testing.TB, p *Plan, md protoreflect.MessageDescriptor, in []byte) {
	t.Helper()
	want := dynamicpb.NewMessage(md)
	werr := protojson.Unmarshal(in, want)
	got, gerr := p.AppendWire(nil, in)
	switch {
	case werr != nil && gerr != nil:
		var e *Error
		if !errors.As(gerr, &e) {
			t.Fatalf("AppendWire(%q) error %T is not an *Error: %v", in, gerr, gerr)
		}
		return
	case werr != nil:
		t.Fatalf("AppendWire(%q) accepted what protojson rejects (%v); wrote %x", in, werr, got)
	case gerr != nil:
		t.Fatalf("AppendWire(%q) rejected what protojson accepts: %v", in, gerr)
	}
	// protojson accepts JSON nested deeper than proto.Unmarshal's default limit allows once
	// encoded (Value in ListValue in Value...), so read back without it.
	m := dynamicpb.NewMessage(md)
	if err := (proto.UnmarshalOptions{RecursionLimit: 1 << 20}).Unmarshal(got, m); err != nil {
		t.Fatalf("AppendWire(%q) wrote %x, which proto.Unmarshal rejects: %v", in, got, err)
	}
	if !proto.Equal(m, want) {
		t.Fatalf("AppendWire(%q):\n got %v\nwant %v", in, protojson.Format(m), protojson.Format(want))
	}
}

// checkJSON checks AppendJSON against protojson.Marshal of what proto.Unmarshal reads from
// wire: both fail, or AppendJSON writes protojson's output without its random spaces, which
// protojson reads back into the same message as protojson's own output.
func checkJSON(t testing.TB, p *Plan, md protoreflect.MessageDescriptor, wire []byte, opts Options) {
	t.Helper()
	got, gerr := p.AppendJSON(nil, wire, opts)
	if gerr != nil {
		var e *Error
		if !errors.As(gerr, &e) {
			t.Fatalf("AppendJSON(%x) error %T is not an *Error: %v", wire, gerr, gerr)
		}
	}
	m := dynamicpb.NewMessage(md)
	panicked, err := refUnmarshal(wire, m)
	if panicked {
		// protobuf-go's reflective decoder (dynamicpb) panics on a map entry whose key
		// occurs again with another wire type; generated code keeps the first key, as
		// AppendJSON does. No reference to compare with.
		return
	}
	if err != nil {
		if gerr == nil {
			t.Fatalf("AppendJSON(%x) accepted what proto.Unmarshal rejects (%v); wrote %s", wire, err, got)
		}
		return
	}
	want, werr := protojson.MarshalOptions{UseProtoNames: opts.UseProtoNames, EmitUnpopulated: opts.EmitUnpopulated}.Marshal(m)
	switch {
	case werr != nil && gerr != nil:
		return
	case werr != nil:
		t.Fatalf("AppendJSON(%x) accepted what protojson.Marshal rejects (%v); wrote %s", wire, werr, got)
	case gerr != nil:
		t.Fatalf("AppendJSON(%x) rejected what protojson.Marshal accepts (%s): %v", wire, want, gerr)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, want); err != nil {
		t.Fatalf("compact protojson output %s: %v", want, err)
	}
	if !bytes.Equal(got, compact.Bytes()) {
		t.Fatalf("AppendJSON(%x, %+v):\n got %s\nwant %s", wire, opts, got, compact.Bytes())
	}
	// The same check in parsed values, which is what clients see.
	g, w := dynamicpb.NewMessage(md), dynamicpb.NewMessage(md)
	if err := protojson.Unmarshal(got, g); err != nil {
		t.Fatalf("protojson cannot read AppendJSON's %s: %v", got, err)
	}
	if err := protojson.Unmarshal(want, w); err != nil {
		t.Fatalf("protojson cannot read its own %s: %v", want, err)
	}
	if !proto.Equal(g, w) {
		t.Fatalf("AppendJSON(%x) reads back as %v, protojson's as %v", wire, protojson.Format(g), protojson.Format(w))
	}
}

// allOptions are the Options combinations checkJSON is run with.
var allOptions = []Options{{}, {UseProtoNames: true}, {EmitUnpopulated: true}, {UseProtoNames: true, EmitUnpopulated: true}}

// checkRoundTrip runs checkWire on in and, when protojson accepts it, checkJSON on
// proto.Marshal of the message.
func checkRoundTrip(t testing.TB, md protoreflect.MessageDescriptor, in string) {
	t.Helper()
	p := plan(t, md)
	checkWire(t, p, md, []byte(in))
	m := dynamicpb.NewMessage(md)
	if protojson.Unmarshal([]byte(in), m) != nil {
		return
	}
	wire, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range allOptions {
		checkJSON(t, p, md, wire, o)
	}
}

// refUnmarshal is proto.Unmarshal, reporting a panic of the reference decoder.
func refUnmarshal(wire []byte, m proto.Message) (panicked bool, err error) {
	defer func() {
		if recover() != nil {
			panicked = true
		}
	}()
	return false, proto.Unmarshal(wire, m)
}
