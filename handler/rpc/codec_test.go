package rpc

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/edgeapi/gateway/examples/proto/order"
)

// countingPool is a Buffers that counts what comes back, so tests see when a buffer is free.
type countingPool struct {
	Buffers
	put int
}

func (p *countingPool) Put(b *[]byte) { p.put++; p.Buffers.Put(b) }

func TestCodecRawPassthrough(t *testing.T) {
	c := newCodec()
	if c.Name() != "proto" {
		t.Errorf("Name() = %q, want proto", c.Name())
	}
	// Bytes that are not even valid protobuf cross untouched: the gateway does not look.
	raw := []byte{0x08, 0x96, 0x01, 0xff, 0x00}
	pool := &countingPool{}
	bp := pool.Get(len(raw))
	copy(*bp, raw)
	f := &outFrame{buf: mem.NewBuffer(bp, pool)}
	out, err := c.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Materialize(); !bytes.Equal(got, raw) {
		t.Errorf("Marshal(outFrame) = %x, want %x", got, raw)
	}
	// grpc's reference and the frame's: the bytes go back only when both are gone.
	f.release()
	if pool.put != 0 {
		t.Fatal("the buffer went back to the pool while grpc still held it")
	}
	out.Free()
	if pool.put != 1 {
		t.Fatalf("the buffer went back %d times, want once", pool.put)
	}

	in := &inFrame{pool: &pool.Buffers}
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(raw[:2]), mem.SliceBuffer(raw[2:])}, in); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(in.bytes(), raw) {
		t.Errorf("Unmarshal into inFrame = %x, want %x", in.bytes(), raw)
	}
	in.release()
	if in.bytes() != nil {
		t.Error("a released frame still has bytes")
	}
}

func TestCodecInFrameKeepsReceivedBuffer(t *testing.T) {
	c := newCodec()
	pool := &countingPool{}
	recv := func(s string) mem.BufferSlice {
		bp := pool.Get(len(s))
		copy(*bp, s)
		return mem.BufferSlice{mem.NewBuffer(bp, pool)}
	}
	in := &inFrame{pool: &pool.Buffers}
	data := recv("first")
	if err := c.Unmarshal(data, in); err != nil {
		t.Fatal(err)
	}
	data.Free() // as grpc does when Unmarshal returns
	if pool.put != 0 || string(in.bytes()) != "first" {
		t.Fatalf("after grpc's free: %d buffers back, bytes %q", pool.put, in.bytes())
	}
	// A retried call answers again: the first answer is let go, the second kept.
	data = recv("second")
	if err := c.Unmarshal(data, in); err != nil {
		t.Fatal(err)
	}
	data.Free()
	if pool.put != 1 || string(in.bytes()) != "second" {
		t.Fatalf("after the second answer: %d buffers back, bytes %q", pool.put, in.bytes())
	}
	in.release()
	in.release() // twice is harmless
	if pool.put != 2 {
		t.Fatalf("after release: %d buffers back, want 2", pool.put)
	}

	empty := &inFrame{pool: &pool.Buffers}
	if err := c.Unmarshal(nil, empty); err != nil || len(empty.bytes()) != 0 {
		t.Fatalf("empty answer: %v %q", err, empty.bytes())
	}
	empty.release()
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

	// A message's bytes read as an inFrame, and an inFrame's bytes read as a message.
	f := inFrame{pool: &Buffers{}}
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(want)}, &f); err != nil {
		t.Fatal(err)
	}
	back := &order.OrderResponse{}
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(f.bytes())}, back); err != nil {
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
