// Package descriptor loads, indexes and caches the protobuf descriptors of backend services, so
// the gateway can build requests and read responses of any gRPC service at run time.
//
// Contract:
//   - A Source loads a *Set for one registry service: from gRPC server reflection (v1, falling
//     back to v1alpha), from .proto files compiled at start-up, or from a protoset file.
//   - A Set is immutable. Set.Method resolves an endpoint name "Svc.Method" where Svc is the
//     gRPC service's short name ("OrderSrv") or full name ("order.OrderSrv"), in O(1). An unknown
//     method is a *MethodError listing the service's methods; a short name two services share is
//     an *MethodError naming the candidates.
//   - Cache.Get returns a service's Set, loading it once however many requests ask at the same
//     time; Invalidate drops it (the gateway does so when the service's nodes change) and the
//     next Get loads again. Failed loads are not cached.
package descriptor

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Method is one callable gRPC method.
type Method struct {
	Desc protoreflect.MethodDescriptor
	// Path is the gRPC method path, e.g. "/order.OrderSrv/GetOrder".
	Path string
	// Input and Output are the message types.
	Input, Output protoreflect.MessageDescriptor
}

// ClientStreaming reports whether the client sends a stream.
func (m *Method) ClientStreaming() bool { return m.Desc.IsStreamingClient() }

// ServerStreaming reports whether the server answers with a stream.
func (m *Method) ServerStreaming() bool { return m.Desc.IsStreamingServer() }

// Set is the immutable descriptor view of one backend service.
type Set struct {
	// Files holds every file needed by the services, dependencies included.
	Files *protoregistry.Files
	// Types resolves message and extension types of Files (for Any and google.rpc details).
	Types *dynamicpb.Types
	// Services are the gRPC services offered, sorted by full name.
	Services []protoreflect.ServiceDescriptor

	methods map[string]*Method // "Svc.M" and "pkg.Svc.M"
	short   map[string][]string
}

// ignoredServices are infrastructure services that are not part of a backend's API.
var ignoredServices = map[protoreflect.FullName]bool{
	"grpc.reflection.v1.ServerReflection":      true,
	"grpc.reflection.v1alpha.ServerReflection": true,
}

// NewSet indexes the named services (all services in files when names is empty).
func NewSet(files *protoregistry.Files, names []protoreflect.FullName) (*Set, error) {
	s := &Set{Files: files, Types: dynamicpb.NewTypes(files), methods: map[string]*Method{}, short: map[string][]string{}}
	if len(names) == 0 {
		files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
			for i := range fd.Services().Len() {
				names = append(names, fd.Services().Get(i).FullName())
			}
			return true
		})
	}
	names = slices.Compact(slices.Sorted(slices.Values(names))) // a copy: the caller's slice stays as it was
	for _, n := range names {
		if ignoredServices[n] {
			continue
		}
		d, err := files.FindDescriptorByName(n)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", n, err)
		}
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if !ok {
			return nil, fmt.Errorf("%s is not a service", n)
		}
		s.Services = append(s.Services, sd)
	}
	for _, sd := range s.Services {
		s.short[string(sd.Name())] = append(s.short[string(sd.Name())], string(sd.FullName()))
	}
	for _, sd := range s.Services {
		unique := len(s.short[string(sd.Name())]) == 1
		for i := range sd.Methods().Len() {
			md := sd.Methods().Get(i)
			m := &Method{
				Desc:   md,
				Path:   "/" + string(sd.FullName()) + "/" + string(md.Name()),
				Input:  md.Input(),
				Output: md.Output(),
			}
			s.methods[string(sd.FullName())+"."+string(md.Name())] = m
			// A short name two services share resolves to neither: Method reports the ambiguity.
			if unique {
				s.methods[string(sd.Name())+"."+string(md.Name())] = m
			}
		}
	}
	return s, nil
}

// MethodError says an endpoint names no single method of the service.
type MethodError struct {
	Endpoint   string
	Candidates []string // services sharing the short name, when ambiguous
	Methods    []string // the methods the service offers, when unknown
}

func (e *MethodError) Error() string {
	if len(e.Candidates) > 0 {
		return fmt.Sprintf("endpoint %q is ambiguous: it matches %s; use the full service name", e.Endpoint, strings.Join(e.Candidates, " and "))
	}
	return fmt.Sprintf("unknown endpoint %q; the service offers: %s", e.Endpoint, strings.Join(e.Methods, ", "))
}

// Method resolves "Svc.Method" or "pkg.Svc.Method".
func (s *Set) Method(endpoint string) (*Method, error) {
	if m, ok := s.methods[endpoint]; ok {
		return m, nil
	}
	dot := strings.LastIndexByte(endpoint, '.')
	if dot > 0 {
		if c := s.short[endpoint[:dot]]; len(c) > 1 {
			return nil, &MethodError{Endpoint: endpoint, Candidates: slices.Clone(c)}
		}
	}
	return nil, &MethodError{Endpoint: endpoint, Methods: s.MethodNames()}
}

// MethodNames lists "Svc.Method" names (short service names where unambiguous), sorted.
func (s *Set) MethodNames() []string {
	out := make([]string, 0, len(s.methods))
	for _, sd := range s.Services {
		name := string(sd.Name())
		if len(s.short[name]) > 1 {
			name = string(sd.FullName())
		}
		for i := range sd.Methods().Len() {
			out = append(out, name+"."+string(sd.Methods().Get(i).Name()))
		}
	}
	sort.Strings(out)
	return out
}

// filesFrom builds a registry from descriptors, dependencies first; files already present are
// skipped so shared imports (google/protobuf/*.proto) do not conflict.
func filesFrom(fds []protoreflect.FileDescriptor) (*protoregistry.Files, error) {
	files := new(protoregistry.Files)
	var add func(fd protoreflect.FileDescriptor) error
	add = func(fd protoreflect.FileDescriptor) error {
		if _, err := files.FindFileByPath(fd.Path()); err == nil {
			return nil
		}
		imports := fd.Imports()
		for i := range imports.Len() {
			if err := add(imports.Get(i).FileDescriptor); err != nil {
				return err
			}
		}
		return files.RegisterFile(fd)
	}
	for _, fd := range fds {
		if err := add(fd); err != nil {
			return nil, fmt.Errorf("file %s: %w", fd.Path(), err)
		}
	}
	return files, nil
}

// Idempotent reports whether the method declares itself safe to call twice
// (option idempotency_level = NO_SIDE_EFFECTS or IDEMPOTENT): only such calls are retried once
// they may have reached a backend.
func (m *Method) Idempotent() bool {
	o, ok := m.Desc.Options().(*descriptorpb.MethodOptions)
	if !ok || o == nil {
		return false
	}
	switch o.GetIdempotencyLevel() {
	case descriptorpb.MethodOptions_NO_SIDE_EFFECTS, descriptorpb.MethodOptions_IDEMPOTENT:
		return true
	}
	return false
}
