package resolver

import "fmt"

// Resolver kinds accepted by New.
const (
	KindMicro = "micro"
	KindPath  = "path"
	KindHost  = "host"
	KindGRPC  = "grpc"
	KindVPath = "vpath"
)

// Kinds returns the kinds New accepts, the default first.
func Kinds() []string {
	return []string{KindMicro, KindPath, KindHost, KindGRPC, KindVPath}
}

// New returns the resolver of the given kind (see Kinds) with the given namespace. The
// namespace is used as given, "" meaning none; applying the default "go.micro.api" is the
// caller's job. It is an error if the kind is unknown or the namespace invalid (see
// ValidateNamespace).
func New(kind, namespace string) (Resolver, error) {
	if err := ValidateNamespace(namespace); err != nil {
		return nil, err
	}
	switch kind {
	case KindMicro:
		return Micro{Namespace: namespace}, nil
	case KindPath:
		return Path{Namespace: namespace}, nil
	case KindHost:
		return Host{Namespace: namespace}, nil
	case KindGRPC:
		return GRPC{Namespace: namespace}, nil
	case KindVPath:
		return VPath{Namespace: namespace}, nil
	}
	return nil, fmt.Errorf("resolver: unknown kind %q (want micro, path, host, grpc or vpath)", kind)
}
