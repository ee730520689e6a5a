package rpc

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/edgeapi/gateway/examples/proto/order"
)

func TestCodecRawPassthrough(t *testing.T) {
	c := newCodec()
	if c.Name() != "proto" {
		t.Errorf("Name() = %q, want proto", c.Name())
	}
	// Bytes that are not even valid protobuf cross untouched: the gateway does not look.
	raw := []byte{0x08, 0x96, 0x01, 0xff, 0x00}
	out, err := c.Marshal(&rawFrame{b: raw})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Materialize(); !bytes.Equal(got, raw) {
		t.Errorf("Marshal(rawFrame) = %x, want %x", got, raw)
	}

	var f rawFrame
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(raw[:2]), mem.SliceBuffer(raw[2:])}, &f); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.b, raw) {
		t.Errorf("Unmarshal into rawFrame = %x, want %x", f.b, raw)
	}
}

func TestCodecMessages(t *testing.T) {
	c := newCodec()
	msg := &order.OrderResponse{Id: 7, Product: "book", PriceCents: 1299}
	out, err := c.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := proto.Marshal(msg)
	if got := out.Materialize(); !bytes.Equal(got, want) {
		t.Errorf("Marshal(message) = %x, want %x", got, want)
	}

	// A message's bytes read as a rawFrame, and a rawFrame's bytes read as a message.
	var f rawFrame
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(want)}, &f); err != nil {
		t.Fatal(err)
	}
	back := &order.OrderResponse{}
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(f.b)}, back); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(back, msg) {
		t.Errorf("round trip = %v, want %v", back, msg)
	}
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer([]byte{0xff})}, &order.OrderResponse{}); err == nil {
		t.Error("Unmarshal of garbage into a message succeeded")
	}
}

func TestAcceptsProtobuf(t *testing.T) {
	for accept, want := range map[string]bool{
		"":                                       false,
		"application/json":                       false,
		"*/*":                                    false,
		"text/html":                              false,
		"application/protobuf":                   true,
		"application/x-protobuf":                 true,
		"application/octet-stream+protobuf":      true,
		"Application/Protobuf":                   true,
		"application/protobuf; charset=binary":   true,
		"application/json, application/protobuf": false,
		"application/protobuf, application/json": true,
		"*/*, application/protobuf":              false,
		"text/html, application/x-protobuf":      true,
		"text/html,application/xhtml+xml,*/*":    false,
		"application/grpc":                       false,
		";;;, application/protobuf":              true,
	} {
		if got := acceptsProtobuf(accept); got != want {
			t.Errorf("acceptsProtobuf(%q) = %v, want %v", accept, got, want)
		}
	}
}
