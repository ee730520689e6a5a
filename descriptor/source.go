package descriptor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bufbuild/protocompile"
	"github.com/jhump/protoreflect/grpcreflect"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Source loads the descriptors of one registry service.
type Source interface {
	Load(ctx context.Context, service string) (*Set, error)
}

// Conner gives a connection to some live node of a service, and takes back the outcome so the
// node's health accounting sees reflection traffic like any other call.
type Conner interface {
	Conn(ctx context.Context, service string) (grpc.ClientConnInterface, func(error), error)
}

// Reflection loads descriptors from a node of the service by gRPC server reflection.
type Reflection struct {
	Conns Conner
}

// Load implements Source.
func (r Reflection) Load(ctx context.Context, service string) (*Set, error) {
	cc, done, err := r.Conns.Conn(ctx, service)
	if err != nil {
		return nil, err
	}
	set, err := reflect(ctx, cc)
	done(err)
	if err != nil {
		return nil, fmt.Errorf("server reflection of %s: %w", service, err)
	}
	return set, nil
}

func reflect(ctx context.Context, cc grpc.ClientConnInterface) (*Set, error) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	client := grpcreflect.NewClientAuto(rctx, cc)
	defer client.Reset()
	names, err := client.ListServices()
	if err != nil {
		return nil, err
	}
	var fds []protoreflect.FileDescriptor
	var services []protoreflect.FullName
	for _, n := range names {
		if ignoredServices[protoreflect.FullName(n)] {
			continue
		}
		fd, err := client.FileContainingSymbol(n)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", n, err)
		}
		fds = append(fds, fd.UnwrapFile())
		services = append(services, protoreflect.FullName(n))
	}
	files, err := filesFrom(fds)
	if err != nil {
		return nil, err
	}
	return NewSet(files, services)
}

// Static is a Source whose Set was built once, at start-up.
type Static struct{ Set *Set }

// Load implements Source.
func (s Static) Load(context.Context, string) (*Set, error) { return s.Set, nil }

// CompileProtos compiles .proto files (paths relative to importPaths, or to the working directory
// when importPaths is empty) into a Set of every service they declare. Well-known imports
// (google/protobuf/*.proto) resolve without being on disk.
func CompileProtos(ctx context.Context, importPaths, files []string) (*Set, error) {
	if len(files) == 0 {
		return nil, errors.New("no .proto files given")
	}
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: importPaths}),
	}
	compiled, err := c.Compile(ctx, files...)
	if err != nil {
		return nil, fmt.Errorf("compiling %v: %w", files, err)
	}
	fds := make([]protoreflect.FileDescriptor, 0, len(compiled))
	for _, f := range compiled {
		fds = append(fds, f)
	}
	reg, err := filesFrom(fds)
	if err != nil {
		return nil, err
	}
	// Only the services of the named files: imports may declare services of their own.
	var services []protoreflect.FullName
	for _, f := range compiled {
		for i := range f.Services().Len() {
			services = append(services, f.Services().Get(i).FullName())
		}
	}
	return NewSet(reg, services)
}

// LoadProtoset reads a FileDescriptorSet (protoc --include_imports --descriptor_set_out=FILE)
// into a Set of every service it declares.
func LoadProtoset(path string) (*Set, error) {
	data, err := os.ReadFile(filepath.Clean(path))
	if err != nil {
		return nil, err
	}
	var fdset descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(data, &fdset); err != nil {
		return nil, fmt.Errorf("protoset %s: %w", path, err)
	}
	files, err := protodesc.NewFiles(&fdset)
	if err != nil {
		return nil, fmt.Errorf("protoset %s: %w (was it written with --include_imports?)", path, err)
	}
	return NewSet(files, nil)
}
