// Package schema describes protobuf messages the way the gateway speaks them over HTTP: as JSON
// Schemas (draft 2020-12, the dialect of OpenAPI 3.1) following the protobuf JSON mapping, and as
// JSON request templates. The OpenAPI document, the dashboard and the CLI share it.
//
// Contract (the protobuf JSON mapping, as protojson reads and writes it):
//
//	proto                        JSON Schema
//	message                      {"$ref": "<RefPrefix><NamePrefix><full name>"}, defined once in Defs
//	field names                  lowerCamel JSON names (proto names with UseProtoNames)
//	bool, string                 boolean, string
//	int32, sint32, sfixed32      integer, format int32
//	uint32, fixed32              integer, format uint32, minimum 0
//	int64, sint64, sfixed64      ["string", "integer"], format int64: written as a decimal string,
//	                             numbers accepted on input
//	uint64, fixed64              ["string", "integer"], format uint64
//	float, double                number, format float / double
//	bytes                        string, contentEncoding base64
//	enum                         string with the value names as enum (a $ref to its definition)
//	repeated T                   array of T
//	map<K, V>                    object, additionalProperties V (integer and bool keys constrained
//	                             by propertyNames)
//	Timestamp                    string, format date-time (RFC 3339)
//	Duration                     string matching ^-?[0-9]+(\.[0-9]{1,9})?s$ ("1.5s"; JSON
//	                             Schema's "duration" format is ISO 8601, which this is not)
//	Struct / ListValue / Value   object / array / any JSON value
//	Any                          object with a required "@type"
//	FieldMask                    string (comma-separated lowerCamel paths)
//	wrappers (Int32Value...)     the wrapped type or null
//	NullValue                    null
//
// A singular field with presence (a message field, a proto2 optional scalar) outside a oneof can
// be null: protojson writes null for it when emitting unpopulated fields. Recursive messages are
// plain $refs to their own definition. A Builder is not safe for concurrent use; its results
// are, once built, never changed by it.
package schema

import (
	"bytes"
	"encoding/json"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Schema is one JSON Schema. Zero fields are left out of its JSON; the zero Schema is {} (any
// value).
type Schema struct {
	Ref                  string     `json:"$ref,omitempty"`
	Title                string     `json:"title,omitempty"`
	Description          string     `json:"description,omitempty"`
	Type                 Types      `json:"type,omitempty"`
	Format               string     `json:"format,omitempty"`
	Pattern              string     `json:"pattern,omitempty"`
	ContentEncoding      string     `json:"contentEncoding,omitempty"`
	Enum                 []any      `json:"enum,omitempty"`
	Minimum              *float64   `json:"minimum,omitempty"`
	Maximum              *float64   `json:"maximum,omitempty"`
	Items                *Schema    `json:"items,omitempty"`
	Properties           Properties `json:"properties,omitempty"`
	Required             []string   `json:"required,omitempty"`
	AdditionalProperties *Schema    `json:"additionalProperties,omitempty"`
	PropertyNames        *Schema    `json:"propertyNames,omitempty"`
	AnyOf                []*Schema  `json:"anyOf,omitempty"`
	Deprecated           bool       `json:"deprecated,omitempty"`
	Examples             []any      `json:"examples,omitempty"`
	// ProtoType is the full protobuf name of a message or enum definition (x-proto-type).
	ProtoType string `json:"x-proto-type,omitempty"`
}

// Types is the "type" keyword: one type name, or several (written as an array).
type Types []string

// MarshalJSON writes a single type as a string, several as an array.
func (t Types) MarshalJSON() ([]byte, error) {
	if len(t) == 1 {
		return json.Marshal(t[0])
	}
	return json.Marshal([]string(t))
}

// UnmarshalJSON reads either form.
func (t *Types) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*t = Types{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*t = many
	return nil
}

// Property is one named member of Properties.
type Property struct {
	Name   string
	Schema *Schema
}

// Properties keeps the declaration order of a message's fields in its JSON (so a reader sees the
// fields as the .proto lists them); a map would sort them.
type Properties []Property

// MarshalJSON writes the properties as one JSON object, in order.
func (p Properties) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, prop := range p {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(prop.Name)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(prop.Schema)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads an object, keeping the order of its members.
func (p *Properties) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // {
		return err
	}
	var out Properties
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		var s Schema
		if err := dec.Decode(&s); err != nil {
			return err
		}
		out = append(out, Property{Name: name, Schema: &s})
	}
	*p = out
	return nil
}

// Get returns the named property, or nil.
func (p Properties) Get(name string) *Schema {
	for _, prop := range p {
		if prop.Name == name {
			return prop.Schema
		}
	}
	return nil
}

// Options says how names are written and where definitions live.
type Options struct {
	// UseProtoNames names fields as in the .proto (snake_case) instead of lowerCamel JSON names,
	// as the gateway does when rpc.use_proto_names is set.
	UseProtoNames bool
	// RefPrefix is put before a definition's name in a $ref; default "#/components/schemas/".
	// Use "#/$defs/" for a stand-alone schema (see Builder.Standalone).
	RefPrefix string
	// NamePrefix is put before the full protobuf name of every definition, to keep apart two
	// services that define the same name differently.
	NamePrefix string
}

// DefaultRefPrefix is where OpenAPI keeps reusable schemas.
const DefaultRefPrefix = "#/components/schemas/"

// Builder turns message descriptors into schemas, collecting one definition per message and
// enum it meets.
type Builder struct {
	opts Options
	defs map[string]*Schema
}

// NewBuilder returns an empty Builder.
func NewBuilder(opts Options) *Builder {
	if opts.RefPrefix == "" {
		opts.RefPrefix = DefaultRefPrefix
	}
	return &Builder{opts: opts, defs: map[string]*Schema{}}
}

// Defs returns the definitions collected so far, by name (the name a $ref ends with).
func (b *Builder) Defs() map[string]*Schema { return b.defs }

// Name returns the definition name of a message or enum.
func (b *Builder) Name(d protoreflect.Descriptor) string {
	return b.opts.NamePrefix + string(d.FullName())
}

// Message returns the schema of a message used as a value: a well-known type inline, any other
// message a $ref to its definition (added to Defs with every message it refers to).
func (b *Builder) Message(md protoreflect.MessageDescriptor) *Schema {
	if s := wellKnown(md); s != nil {
		return s
	}
	name := b.Name(md)
	if _, ok := b.defs[name]; !ok {
		def := &Schema{Type: Types{"object"}, Title: string(md.Name()), ProtoType: string(md.FullName()), Description: comments(md)}
		b.defs[name] = def // before the fields: a recursive field finds it and refers to it
		fields := md.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			def.Properties = append(def.Properties, Property{Name: b.FieldName(fd), Schema: b.Field(fd)})
			if fd.Cardinality() == protoreflect.Required {
				def.Required = append(def.Required, b.FieldName(fd))
			}
		}
		if def.Properties == nil {
			def.Properties = Properties{}
		}
	}
	return &Schema{Ref: b.opts.RefPrefix + name}
}

// Standalone returns a self-contained JSON Schema of md: a $ref to its definition (or the
// well-known type's schema) plus every definition it needs under $defs. Use a Builder made with
// RefPrefix "#/$defs/", and only for md (the definitions of earlier calls come along too).
func (b *Builder) Standalone(md protoreflect.MessageDescriptor) *Document {
	return &Document{Schema: b.Message(md), Defs: b.defs}
}

// Document is a stand-alone JSON Schema: the root schema and its definitions.
type Document struct {
	*Schema
	Defs map[string]*Schema `json:"$defs,omitempty"`
}

// MarshalJSON writes the root schema's keywords and $defs side by side.
func (d *Document) MarshalJSON() ([]byte, error) {
	root, err := json.Marshal(d.Schema)
	if err != nil {
		return nil, err
	}
	if len(d.Defs) == 0 {
		return root, nil
	}
	defs, err := json.Marshal(d.Defs)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(root)+len(defs)+10)
	out = append(out, root[:len(root)-1]...) // without its closing brace
	if len(out) > 1 {
		out = append(out, ',')
	}
	out = append(out, `"$defs":`...)
	out = append(out, defs...)
	return append(out, '}'), nil
}

// FieldName is the JSON name of a field.
func (b *Builder) FieldName(fd protoreflect.FieldDescriptor) string {
	if b.opts.UseProtoNames {
		return fd.TextName()
	}
	return fd.JSONName()
}

// Field returns the schema of a field's value, as it appears in its message's JSON object.
func (b *Builder) Field(fd protoreflect.FieldDescriptor) *Schema {
	var s *Schema
	switch {
	case fd.IsMap():
		s = &Schema{Type: Types{"object"}, AdditionalProperties: b.single(fd.MapValue()), PropertyNames: mapKey(fd.MapKey().Kind())}
	case fd.IsList():
		s = &Schema{Type: Types{"array"}, Items: b.single(fd)}
	default:
		s = b.single(fd)
		if fd.HasPresence() && fd.ContainingOneof() == nil {
			s = nullable(s)
		}
	}
	if d := comments(fd); d != "" {
		s = describe(s, d)
	}
	if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() {
		s = describe(s, "Part of oneof "+string(o.Name())+": set at most one of its fields.")
	}
	if opts, ok := fd.Options().(interface{ GetDeprecated() bool }); ok && opts.GetDeprecated() {
		s.Deprecated = true
	}
	return s
}

// single is the schema of one value of fd's type (an element, for a repeated field).
func (b *Builder) single(fd protoreflect.FieldDescriptor) *Schema {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return &Schema{Type: Types{"boolean"}}
	case protoreflect.StringKind:
		return &Schema{Type: Types{"string"}}
	case protoreflect.BytesKind:
		return &Schema{Type: Types{"string"}, ContentEncoding: "base64"}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return &Schema{Type: Types{"integer"}, Format: "int32"}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		zero := 0.0
		return &Schema{Type: Types{"integer"}, Format: "uint32", Minimum: &zero}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return int64Schema()
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return uint64Schema()
	case protoreflect.FloatKind:
		return &Schema{Type: Types{"number"}, Format: "float"}
	case protoreflect.DoubleKind:
		return &Schema{Type: Types{"number"}, Format: "double"}
	case protoreflect.EnumKind:
		return b.enum(fd.Enum())
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return b.Message(fd.Message())
	}
	return &Schema{}
}

func int64Schema() *Schema {
	return &Schema{Type: Types{"string", "integer"}, Format: "int64", Pattern: `^-?[0-9]+$`}
}

func uint64Schema() *Schema {
	zero := 0.0
	return &Schema{Type: Types{"string", "integer"}, Format: "uint64", Pattern: `^[0-9]+$`, Minimum: &zero}
}

func (b *Builder) enum(ed protoreflect.EnumDescriptor) *Schema {
	if ed.FullName() == "google.protobuf.NullValue" {
		return &Schema{Type: Types{"null"}}
	}
	name := b.Name(ed)
	if _, ok := b.defs[name]; !ok {
		def := &Schema{Type: Types{"string"}, Title: string(ed.Name()), ProtoType: string(ed.FullName()), Description: comments(ed)}
		vals := ed.Values()
		for i := range vals.Len() {
			def.Enum = append(def.Enum, string(vals.Get(i).Name()))
		}
		b.defs[name] = def
	}
	return &Schema{Ref: b.opts.RefPrefix + name}
}

// mapKey constrains the keys of a map whose key type is not a string.
func mapKey(k protoreflect.Kind) *Schema {
	switch k {
	case protoreflect.BoolKind:
		return &Schema{Enum: []any{"true", "false"}}
	case protoreflect.StringKind:
		return nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return &Schema{Pattern: `^[0-9]+$`}
	default:
		return &Schema{Pattern: `^-?[0-9]+$`}
	}
}

// describe attaches a description to s; a $ref is wrapped, so the shared definition and other
// references to it stay as they are.
func describe(s *Schema, d string) *Schema {
	if s.Ref != "" {
		return &Schema{AnyOf: []*Schema{s}, Description: d}
	}
	if s.Description != "" {
		d = s.Description + "\n\n" + d
	}
	c := *s
	c.Description = d
	return &c
}

// nullable lets s also be null.
func nullable(s *Schema) *Schema {
	switch {
	case s.Ref != "":
		return &Schema{AnyOf: []*Schema{s, {Type: Types{"null"}}}}
	case len(s.Type) == 0 || len(s.AnyOf) > 0:
		return s // any value already, null included
	}
	for _, t := range s.Type {
		if t == "null" {
			return s
		}
	}
	c := *s
	c.Type = append(append(Types(nil), s.Type...), "null")
	return &c
}

// wellKnown returns the inline schema of a well-known type with a special JSON form, or nil.
func wellKnown(md protoreflect.MessageDescriptor) *Schema {
	switch md.FullName() {
	case "google.protobuf.Timestamp":
		return &Schema{Type: Types{"string"}, Format: "date-time", Examples: []any{"1972-01-01T10:00:20.021Z"}}
	case "google.protobuf.Duration":
		return &Schema{Type: Types{"string"}, Pattern: `^-?[0-9]+(\.[0-9]{1,9})?s$`, Description: "A duration in seconds with an s suffix.", Examples: []any{"1.5s"}}
	case "google.protobuf.Struct":
		return &Schema{Type: Types{"object"}}
	case "google.protobuf.ListValue":
		return &Schema{Type: Types{"array"}}
	case "google.protobuf.Value":
		return &Schema{Description: "Any JSON value."}
	case "google.protobuf.Any":
		return &Schema{Type: Types{"object"}, Properties: Properties{{Name: "@type", Schema: &Schema{Type: Types{"string"}}}}, Required: []string{"@type"},
			Description: "A message of the type named by @type, with its fields (or its JSON form under \"value\" for well-known types)."}
	case "google.protobuf.FieldMask":
		return &Schema{Type: Types{"string"}, Description: "Comma-separated field paths in lowerCamel case."}
	case "google.protobuf.DoubleValue":
		return &Schema{Type: Types{"number", "null"}, Format: "double"}
	case "google.protobuf.FloatValue":
		return &Schema{Type: Types{"number", "null"}, Format: "float"}
	case "google.protobuf.Int64Value":
		return nullable(int64Schema())
	case "google.protobuf.UInt64Value":
		return nullable(uint64Schema())
	case "google.protobuf.Int32Value":
		return &Schema{Type: Types{"integer", "null"}, Format: "int32"}
	case "google.protobuf.UInt32Value":
		zero := 0.0
		return &Schema{Type: Types{"integer", "null"}, Format: "uint32", Minimum: &zero}
	case "google.protobuf.BoolValue":
		return &Schema{Type: Types{"boolean", "null"}}
	case "google.protobuf.StringValue":
		return &Schema{Type: Types{"string", "null"}}
	case "google.protobuf.BytesValue":
		return &Schema{Type: Types{"string", "null"}, ContentEncoding: "base64"}
	}
	return nil
}

// comments returns the leading (else trailing) comment of d in its .proto, when the descriptors
// carry source info (compiled .proto files do; reflection usually does not).
func comments(d protoreflect.Descriptor) string {
	f := d.ParentFile()
	if f == nil {
		return ""
	}
	loc := f.SourceLocations().ByDescriptor(d)
	c := loc.LeadingComments
	if strings.TrimSpace(c) == "" {
		c = loc.TrailingComments
	}
	lines := strings.Split(strings.TrimSpace(c), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}
