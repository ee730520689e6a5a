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
