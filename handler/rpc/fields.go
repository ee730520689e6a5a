package rpc

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// FieldError names the request field (dotted path) whose value could not be used.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return fmt.Sprintf("field %q: %v", e.Field, e.Err) }
func (e *FieldError) Unwrap() error { return e.Err }

// setParam sets the field named by a dotted path ("user.id", JSON or proto names) from one
// textual value, as query parameters, form fields and path variables carry them. Repeated
// fields append; nested messages are created on the way.
func setParam(msg protoreflect.Message, path, value string) error {
	cur := msg
	rest := path
	for {
		name, tail, nested := strings.Cut(rest, ".")
		fd := findField(cur.Descriptor(), name)
		if fd == nil {
			return &FieldError{Field: path, Err: fmt.Errorf("no such field in %s", cur.Descriptor().FullName())}
		}
		if nested {
			if fd.Kind() != protoreflect.MessageKind || fd.IsList() || fd.IsMap() || isWellKnown(fd.Message()) {
				return &FieldError{Field: path, Err: fmt.Errorf("%s is not a message field", fd.Name())}
			}
			cur = cur.Mutable(fd).Message()
			rest = tail
			continue
		}
		if fd.IsMap() {
			return &FieldError{Field: path, Err: fmt.Errorf("map fields cannot be set from a parameter")}
		}
		v, err := scalarValue(cur, fd, value)
		if err != nil {
			return &FieldError{Field: path, Err: err}
		}
		if fd.IsList() {
			cur.Mutable(fd).List().Append(v)
		} else {
			cur.Set(fd, v)
		}
		return nil
	}
}

func findField(md protoreflect.MessageDescriptor, name string) protoreflect.FieldDescriptor {
	fields := md.Fields()
	if fd := fields.ByJSONName(name); fd != nil {
		return fd
	}
	return fields.ByName(protoreflect.Name(name))
}

func isWellKnown(md protoreflect.MessageDescriptor) bool {
	return md.ParentFile().Package() == "google.protobuf"
}

// scalarValue parses one textual value for fd (a scalar, enum or well-known message).
func scalarValue(parent protoreflect.Message, fd protoreflect.FieldDescriptor, s string) (protoreflect.Value, error) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		if !utf8.ValidString(s) {
			return protoreflect.Value{}, fmt.Errorf("string value is not valid UTF-8")
		}
		return protoreflect.ValueOfString(s), nil
	case protoreflect.BoolKind:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("invalid bool %q", s)
		}
		return protoreflect.ValueOfBool(b), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("invalid int32 %q", s)
		}
		return protoreflect.ValueOfInt32(int32(n)), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("invalid int64 %q", s)
		}
		return protoreflect.ValueOfInt64(n), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("invalid uint32 %q", s)
		}
		return protoreflect.ValueOfUint32(uint32(n)), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("invalid uint64 %q", s)
		}
		return protoreflect.ValueOfUint64(n), nil
	case protoreflect.FloatKind:
		f, err := strconv.ParseFloat(s, 32)
		if err != nil || math.IsInf(f, 0) && !strings.Contains(strings.ToLower(s), "inf") {
			return protoreflect.Value{}, fmt.Errorf("invalid float %q", s)
		}
		return protoreflect.ValueOfFloat32(float32(f)), nil
	case protoreflect.DoubleKind:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("invalid double %q", s)
		}
		return protoreflect.ValueOfFloat64(f), nil
	case protoreflect.BytesKind:
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(s); err == nil {
				return protoreflect.ValueOfBytes(b), nil
			}
		}
		return protoreflect.Value{}, fmt.Errorf("invalid base64 bytes %q", s)
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByName(protoreflect.Name(s)); ev != nil {
			return protoreflect.ValueOfEnum(ev.Number()), nil
		}
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("invalid value %q for enum %s", s, fd.Enum().FullName())
		}
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)), nil
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if !isWellKnown(fd.Message()) {
			return protoreflect.Value{}, fmt.Errorf("message field %s needs a JSON body, not a parameter", fd.Name())
		}
		// Well-known types (Timestamp, Duration, wrappers, FieldMask) take their JSON string form.
		m := newMessage(parent, fd)
		quoted, _ := json.Marshal(s)
		if err := protojson.Unmarshal(quoted, m.Interface()); err != nil {
			// Wrappers of numbers and bools want the bare token.
			if err2 := protojson.Unmarshal([]byte(s), m.Interface()); err2 != nil {
				return protoreflect.Value{}, fmt.Errorf("invalid %s %q", fd.Message().FullName(), s)
			}
		}
		return protoreflect.ValueOfMessage(m), nil
	}
	return protoreflect.Value{}, fmt.Errorf("unsupported field kind %s", fd.Kind())
}

func newMessage(parent protoreflect.Message, fd protoreflect.FieldDescriptor) protoreflect.Message {
	if fd.IsList() {
		return parent.NewField(fd).List().NewElement().Message()
	}
	if m := parent.NewField(fd).Message(); m != nil {
		return m
	}
	return dynamicpb.NewMessage(fd.Message())
}
