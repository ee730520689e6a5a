package rpc

import (
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/edgeapi/gateway/descriptor"
)

// typesWithGlobal resolves a service's own message types first, then the ones linked into the
// gateway (google.rpc error details and well-known types).
type typesWithGlobal struct{ set *descriptor.Set }

func (t typesWithGlobal) FindMessageByName(n protoreflect.FullName) (protoreflect.MessageType, error) {
	if mt, err := t.set.Types.FindMessageByName(n); err == nil {
		return mt, nil
	}
	return protoregistry.GlobalTypes.FindMessageByName(n)
}

func (t typesWithGlobal) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	if mt, err := t.set.Types.FindMessageByURL(url); err == nil {
		return mt, nil
	}
	return protoregistry.GlobalTypes.FindMessageByURL(url)
}

func (t typesWithGlobal) FindExtensionByName(n protoreflect.FullName) (protoreflect.ExtensionType, error) {
	if xt, err := t.set.Types.FindExtensionByName(n); err == nil {
		return xt, nil
	}
	return protoregistry.GlobalTypes.FindExtensionByName(n)
}

func (t typesWithGlobal) FindExtensionByNumber(m protoreflect.FullName, n protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	if xt, err := t.set.Types.FindExtensionByNumber(m, n); err == nil {
		return xt, nil
	}
	return protoregistry.GlobalTypes.FindExtensionByNumber(m, n)
}
