package rpc

import (
	"sync"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/edgeapi/gateway/transcode"
)

// plans caches a transcode.Plan per message descriptor. A descriptor the transcoder does not
// support (Any, groups...) is remembered as nil, and its messages take the dynamicpb path.
type plans struct {
	m sync.Map // protoreflect.MessageDescriptor -> *transcode.Plan (nil: unsupported)
}

func (p *plans) get(md protoreflect.MessageDescriptor) *transcode.Plan {
	if v, ok := p.m.Load(md); ok {
		return v.(*transcode.Plan)
	}
	plan, err := transcode.Compile(md)
	if err != nil {
		plan = nil
	}
	v, _ := p.m.LoadOrStore(md, plan)
	return v.(*transcode.Plan)
}

// bufs recycles the wire and JSON buffers of the fast path, so a call allocates no buffer of
// its own once the pool is warm.
var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuf() *[]byte { return bufs.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 1<<20 { // do not keep what one huge message grew
		return
	}
	*b = (*b)[:0]
	bufs.Put(b)
}
