package descriptor

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// svcProto is a service of a test file: its name and methods ("Call", or "Chat:cs" for a
// client stream, "Watch:ss" for a server stream, "Both:cs,ss" for both).
type svcProto struct {
	name    string
	methods []string
}

// fileProto returns a proto3 file in package pkg with one message Msg and the given services,
// whose methods take and return Msg.
func fileProto(path, pkg string, deps []string, services ...svcProto) *descriptorpb.FileDescriptorProto {
	msg := ".Msg"
	if pkg != "" {
		msg = "." + pkg + ".Msg"
	}
	fd := &descriptorpb.FileDescriptorProto{
		Name:       proto.String(path),
		Syntax:     proto.String("proto3"),
		Dependency: deps,
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Msg"),
			Field: []*descriptorpb.FieldDescriptorProto{{
				Name: proto.String("id"), Number: proto.Int32(1), JsonName: proto.String("id"),
				Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(), Type: descriptorpb.FieldDescriptorProto_TYPE_INT64.Enum(),
			}},
		}},
	}
	if pkg != "" {
		fd.Package = proto.String(pkg)
	}
	for _, s := range services {
		sd := &descriptorpb.ServiceDescriptorProto{Name: proto.String(s.name)}
		for _, m := range s.methods {
			name, flags, _ := strings.Cut(m, ":")
			md := &descriptorpb.MethodDescriptorProto{Name: proto.String(name), InputType: proto.String(msg), OutputType: proto.String(msg)}
			if slices.Contains(strings.Split(flags, ","), "cs") {
				md.ClientStreaming = proto.Bool(true)
			}
			if slices.Contains(strings.Split(flags, ","), "ss") {
				md.ServerStreaming = proto.Bool(true)
			}
			sd.Method = append(sd.Method, md)
		}
		fd.Service = append(fd.Service, sd)
	}
	return fd
}

// filesOf builds a registry from test files.
func filesOf(t *testing.T, fds ...*descriptorpb.FileDescriptorProto) *protoregistry.Files {
	t.Helper()
	files, err := protodesc.NewFiles(&descriptorpb.FileDescriptorSet{File: fds})
	if err != nil {
		t.Fatalf("building test files: %v", err)
	}
	return files
}

// setOf builds a Set of every service in the test files.
func setOf(t *testing.T, fds ...*descriptorpb.FileDescriptorProto) *Set {
	t.Helper()
	set, err := NewSet(filesOf(t, fds...), nil)
	if err != nil {
		t.Fatalf("NewSet: %v", err)
	}
	return set
}
