package rpc

import (
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// outFrame carries an already-encoded protobuf message to the backend: the fast path's
// transcoded request, or an application/protobuf body forwarded untouched. buf is reference
// counted because grpc may still be writing it after the call returns (a backend that answers
// before reading the whole request, a cancelled call): each Marshal hands grpc a reference of
// its own, so the bytes return to their pool only when neither grpc nor the handler needs them.
type outFrame struct{ buf mem.Buffer }

// release frees the frame's buffer when the frame owns it (the fast path's request).
func (f *outFrame) release() {
	if f.buf != nil {
		f.buf.Free()
		f.buf = nil
	}
}

// inFrame receives the backend's answer as protobuf bytes, without decoding it. buf keeps a
// reference to grpc's receive buffers (or to one pooled copy when the message arrived in
// several pieces) until release, so the answer is transcoded or written from where it landed.
// raw is instead the pooled buffer h2grpc copied the answer into (the fast path's client).
type inFrame struct {
	pool *Buffers
	buf  mem.Buffer
	raw  *[]byte
}

// bytes returns the received message; valid until release.
func (f *inFrame) bytes() []byte {
	if f.raw != nil {
		return *f.raw
	}
	if f.buf == nil {
		return nil
	}
	return f.buf.ReadOnlyData()
}

// release gives the received buffers back; f may receive again afterwards.
func (f *inFrame) release() {
	if f.buf != nil {
		f.buf.Free()
		f.buf = nil
	}
	if f.raw != nil {
		f.pool.Put(f.raw)
		f.raw = nil
	}
}

// codec sends outFrames as they are, receives inFrames without decoding, and handles
// everything else with grpc's own proto codec.
type codec struct{ proto encoding.CodecV2 }

func newCodec() *codec { return &codec{proto: encoding.GetCodecV2(proto.Name)} }

func (c *codec) Marshal(v any) (mem.BufferSlice, error) {
	if f, ok := v.(*outFrame); ok {
		f.buf.Ref() // grpc frees what Marshal returns; the frame keeps its own reference
		return mem.BufferSlice{f.buf}, nil
	}
	return c.proto.Marshal(v)
}

func (c *codec) Unmarshal(data mem.BufferSlice, v any) error {
	if f, ok := v.(*inFrame); ok {
		// A retried call may deliver a second answer into the same frame: the first one goes.
		f.release()
		// grpc frees data when Unmarshal returns: take a reference (one piece) or a pooled
		// contiguous copy (several pieces) that lives until release.
		f.buf = data.MaterializeToBuffer(f.pool)
		return nil
	}
	return c.proto.Unmarshal(data, v)
}

// Name is "proto" so backends see the ordinary application/grpc+proto content type.
func (*codec) Name() string { return proto.Name }
