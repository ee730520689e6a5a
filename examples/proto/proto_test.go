// Package proto_test checks that the committed artefacts of the example protos agree: the .proto
// sources (as a gateway compiles them at start-up), the generated Go code and the descriptor sets.
// If it fails, run examples/proto/gen.sh.
package proto_test

import (
	"context"
	"os"
	"testing"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/edgeapi/gateway/examples/proto/order"
	"github.com/edgeapi/gateway/examples/proto/user"
)

var files = []struct {
	path     string // relative to this directory, the import path a gateway is given
	protoset string
	gen      protoreflect.FileDescriptor
}{
	{path: "user/user.proto", protoset: "user.protoset", gen: user.File_user_user_proto},
	{path: "order/order.proto", protoset: "order.protoset", gen: order.File_order_order_proto},
}

// normalized drops what legitimately differs between compilers (source info, json_name, which
// protoc fills in and protocompile may not).
func normalized(fd *descriptorpb.FileDescriptorProto) *descriptorpb.FileDescriptorProto {
	fd = proto.CloneOf(fd)
	fd.SourceCodeInfo = nil
	var strip func(m *descriptorpb.DescriptorProto)
	strip = func(m *descriptorpb.DescriptorProto) {
		for _, f := range m.GetField() {
			f.JsonName = nil
		}
		for _, n := range m.GetNestedType() {
			strip(n)
		}
	}
	for _, m := range fd.GetMessageType() {
		strip(m)
	}
	return fd
}

func TestProtoSourcesMatchGeneratedCode(t *testing.T) {
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: []string{"."}}),
	}
	for _, f := range files {
		t.Run(f.path, func(t *testing.T) {
			compiled, err := c.Compile(context.Background(), f.path)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			got := normalized(protodesc.ToFileDescriptorProto(compiled[0]))
			want := normalized(protodesc.ToFileDescriptorProto(f.gen))
			if !proto.Equal(got, want) {
				t.Fatalf("%s differs from the generated code; run examples/proto/gen.sh\nsource:    %v\ngenerated: %v", f.path, got, want)
			}
		})
	}
}

func TestProtosetsMatchGeneratedCode(t *testing.T) {
	for _, f := range files {
		t.Run(f.protoset, func(t *testing.T) {
			data, err := os.ReadFile(f.protoset)
			if err != nil {
				t.Fatal(err)
			}
			var set descriptorpb.FileDescriptorSet
			if err := proto.Unmarshal(data, &set); err != nil {
				t.Fatal(err)
			}
			if _, err := protodesc.NewFiles(&set); err != nil {
				t.Fatalf("not self-contained (--include_imports?): %v", err)
			}
			want := normalized(protodesc.ToFileDescriptorProto(f.gen))
			for _, fd := range set.GetFile() {
				if fd.GetName() != f.path {
					continue
				}
				if got := normalized(fd); !proto.Equal(got, want) {
					t.Fatalf("%s differs from the generated code; run examples/proto/gen.sh", f.protoset)
				}
				return
			}
			t.Fatalf("%s has no %s", f.protoset, f.path)
		})
	}
}
