package rpc

import (
	"context"
	"net/http"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/edgeapi/gateway/h2grpc"
	"github.com/edgeapi/gateway/handler/callmeta"
)

// unaryCall is what one unary call needs besides its messages: the frames of the fast path, the
// outgoing metadata, the header and trailer metadata grpc fills in, and the call options that
// point at them. Recycled through calls, so that none of it is allocated per request; the
// options are built once. Recycling is sound because Caller.Invoke is synchronous: grpc encodes
// the metadata, fills header and trailer and reads the options before it returns, and what it
// still writes afterwards (the request bytes) holds a reference of its own (see outFrame).
// With h2grpc (raw), the request bytes are copied out before Invoke returns, and the answer's
// pooled buffer moves into resp.
type unaryCall struct {
	req     outFrame
	resp    inFrame
	raw     h2grpc.Call // the fast path's call when the pool has raw unary clients
	md      metadata.MD // outgoing; cleared, not dropped, between calls
	header  metadata.MD
	trailer metadata.MD
	// Header, Trailer, codec, retry; the fifth slot is spare so that Caller.Invoke's append of
	// its Peer option fits without a new array.
	opts [5]grpc.CallOption
}

// options returns the call's options with retry as the method's retry option.
func (c *unaryCall) options(retry grpc.CallOption) []grpc.CallOption {
	c.opts[3] = retry
	return c.opts[:4]
}

// outgoingContext returns ctx carrying the metadata hdrs builds from h, kept in c.md.
func (c *unaryCall) outgoingContext(ctx context.Context, hdrs callmeta.Headers, h http.Header) context.Context {
	c.md = hdrs.AppendOutgoing(c.md, h)
	if len(c.md) == 0 {
		return ctx // nothing crosses (see callmeta.Headers.OutgoingContext)
	}
	return metadata.NewOutgoingContext(ctx, c.md)
}

// rawCall readies c.raw for method with request, the metadata hdrs builds from h, and answers
// copied into bufs.
func (c *unaryCall) rawCall(hdrs callmeta.Headers, h http.Header, method string, request []byte, bufs *Buffers) *h2grpc.Call {
	c.md = hdrs.AppendOutgoing(c.md, h)
	call := &c.raw
	call.Method, call.Request, call.Buffers = method, request, bufs
	for k, vs := range c.md {
		for _, v := range vs {
			call.Metadata = append(call.Metadata, h2grpc.Field{Name: k, Value: v})
		}
	}
	return call
}

// takeRawAnswer moves the raw call's answer into c.resp, and its metadata into c.header and
// c.trailer, where the rest of the handler looks for them. No map is made for an answer
// without metadata, which is the common case.
func (c *unaryCall) takeRawAnswer() {
	c.resp.raw, c.raw.Response = c.raw.Response, nil
	c.header = appendMD(c.header, c.raw.Header)
	c.trailer = appendMD(c.trailer, c.raw.Trailer)
}

func appendMD(md metadata.MD, fs []h2grpc.Field) metadata.MD {
	for _, f := range fs {
		if md == nil {
			md = make(metadata.MD, len(fs))
		}
		md[f.Name] = append(md[f.Name], f.Value)
	}
	return md
}

// calls recycles unaryCalls. A call is only put back once Invoke has returned: grpc fills the
// metadata and reads the options during Invoke, never after.
type calls struct {
	pool     sync.Pool // *unaryCall
	codecOpt grpc.CallOption
	bufs     *Buffers
}

func newCalls(c *codec, bufs *Buffers) *calls {
	return &calls{codecOpt: grpc.ForceCodecV2(c), bufs: bufs}
}

func (p *calls) get() *unaryCall {
	if v := p.pool.Get(); v != nil {
		return v.(*unaryCall)
	}
	c := &unaryCall{resp: inFrame{pool: p.bufs}}
	c.opts[0] = grpc.Header(&c.header)
	c.opts[1] = grpc.Trailer(&c.trailer)
	c.opts[2] = p.codecOpt
	return c
}

// put recycles c once the answer is written: it frees what the call still references.
func (p *calls) put(c *unaryCall) {
	c.req.release()
	c.resp.release()
	if len(c.md) > 16 {
		c.md = nil // do not keep what one request with many forwarded headers grew
	} else {
		clear(c.md)
	}
	c.header, c.trailer = nil, nil
	c.raw.Reset() // its answer, if any, moved to c.resp
	if cap(c.raw.Metadata) > 16 || cap(c.raw.Header) > 16 || cap(c.raw.Trailer) > 16 {
		c.raw = h2grpc.Call{}
	}
	c.opts[3], c.opts[4] = nil, nil
	p.pool.Put(c)
}
