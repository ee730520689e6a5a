package schema

import (
	"bytes"
	"encoding/json"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// maxTemplateDepth bounds how deep Template descends into nested messages.
const maxTemplateDepth = 4

// Template returns a JSON request template for md: every field with a zero value of its JSON
// form, in declaration order, ready to be edited and sent. Numbers are 0 (64-bit ones too: the
// gateway accepts numbers for them), enums their first value's name, repeated fields and maps
// empty, nested messages filled in the same way, recursive ones and those past a few levels
// null. A oneof contributes its first field only, as setting two would be refused.
func Template(md protoreflect.MessageDescriptor, opts Options) json.RawMessage {
	var b bytes.Buffer
	t := templater{opts: opts, stack: map[protoreflect.FullName]bool{}}
	t.message(&b, md, 0)
	return b.Bytes()
}

type templater struct {
	opts  Options
	stack map[protoreflect.FullName]bool
}

func (t *templater) message(b *bytes.Buffer, md protoreflect.MessageDescriptor, depth int) {
	if v, ok := wellKnownTemplate(md); ok {
		b.WriteString(v)
		return
	}
	if t.stack[md.FullName()] || depth >= maxTemplateDepth {
		b.WriteString("null")
		return
	}
	t.stack[md.FullName()] = true
	defer delete(t.stack, md.FullName())
	b.WriteByte('{')
	seen := map[protoreflect.FullName]bool{}
	n := 0
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() {
			if seen[o.FullName()] {
				continue
			}
			seen[o.FullName()] = true
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		name := fd.JSONName()
		if t.opts.UseProtoNames {
			name = fd.TextName()
		}
		k, _ := json.Marshal(name)
		b.Write(k)
		b.WriteByte(':')
		switch {
		case fd.IsMap():
			b.WriteString("{}")
		case fd.IsList():
			b.WriteString("[]")
		default:
			t.value(b, fd, depth)
		}
	}
	b.WriteByte('}')
}

func (t *templater) value(b *bytes.Buffer, fd protoreflect.FieldDescriptor, depth int) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		b.WriteString("false")
	case protoreflect.StringKind, protoreflect.BytesKind:
		b.WriteString(`""`)
	case protoreflect.EnumKind:
		ed := fd.Enum()
		if ed.FullName() == "google.protobuf.NullValue" || ed.Values().Len() == 0 {
			b.WriteString("null")
			return
		}
		k, _ := json.Marshal(string(ed.Values().Get(0).Name()))
		b.Write(k)
	case protoreflect.MessageKind, protoreflect.GroupKind:
		t.message(b, fd.Message(), depth+1)
	default:
		b.WriteString("0")
	}
}

// wellKnownTemplate is the template of a well-known type with a special JSON form.
func wellKnownTemplate(md protoreflect.MessageDescriptor) (string, bool) {
	switch md.FullName() {
	case "google.protobuf.Timestamp":
		return `"1970-01-01T00:00:00Z"`, true
	case "google.protobuf.Duration":
		return `"0s"`, true
	case "google.protobuf.Struct":
		return "{}", true
	case "google.protobuf.ListValue":
		return "[]", true
	case "google.protobuf.FieldMask":
		return `""`, true
	case "google.protobuf.Value", "google.protobuf.Any",
		"google.protobuf.DoubleValue", "google.protobuf.FloatValue", "google.protobuf.Int64Value",
		"google.protobuf.UInt64Value", "google.protobuf.Int32Value", "google.protobuf.UInt32Value",
		"google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue":
		return "null", true
	}
	return "", false
}
