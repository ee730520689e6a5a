package transcode

import (
	"fmt"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// wkt says which well-known type with a special JSON form a plan is for.
type wkt uint8

const (
	wktNone wkt = iota
	wktTimestamp
	wktDuration
	wktWrapper // google.protobuf.*Value wrappers: the JSON form of field 1
	wktStruct
	wktListValue
	wktValue
	wktFieldMask
)

// Plan is the compiled form of one message descriptor: everything AppendWire and AppendJSON
// need, looked up once. A Plan is immutable and safe for concurrent use.
type Plan struct {
	name   protoreflect.FullName
	wkt    wkt
	fields []field // declaration order, which is protojson's output order

	// byName maps JSON names and proto names to indexes in fields.
	byName map[string]int32
	// byNum maps field numbers to index+1 in fields (0: none) when the numbers are small;
	// numMap is used otherwise.
	byNum  []int32
	numMap map[protowire.Number]int32

	oneofs []oneof
	// words is the number of uint64 words of the "seen" bit set AppendWire keeps per object:
	// one bit per field, then one per oneof.
	words int

	// scratch recycles the working state of AppendWire and AppendJSON calls. It is the one
	// mutable part of a plan, safe for concurrent use, and shared by the plans one Compile built.
	scratch *scratch
}

// scratch holds the pools of per-call state: owned by plans rather than kept in package
// variables, so they live and die with the plans' cache.
type scratch struct {
	decoders sync.Pool // *decoder
	encoders sync.Pool // *encoder
}

// oneof lists the members of one oneof.
type oneof struct {
	name    string
	members []int32
}

// field is the compiled form of a field descriptor (or of a map entry's key or value).
type field struct {
	index    int32
	num      protowire.Number
	kind     protoreflect.Kind
	wt       protowire.Type // wire type of one value
	tag      []byte         // encoded tag for one value
	ptag     []byte         // encoded tag with the bytes wire type, for packed lists
	list     bool
	isMap    bool
	packed   bool // lists: write packed
	presence bool // singular: zero values are written (and emitted) because presence is tracked
	utf8     bool // strings: the wire must hold valid UTF-8 (proto3 and editions' default)
	nullable bool // JSON null is a value (google.protobuf.Value, NullValue), not "unset"
	oneof    int32

	jsonName string
	textName string
	jsonKey  []byte // `"jsonName":`
	textKey  []byte // `"text_name":`

	msg  *Plan     // message kinds, and a map's message values
	enum *enumInfo // enum kinds
	key  *field    // maps: the entry's key (number 1)
	val  *field    // maps: the entry's value (number 2)
}

// enumInfo is an enum's values by name and number.
type enumInfo struct {
	null   bool // google.protobuf.NullValue: written as JSON null
	byName map[string]int32
	// names holds quoted names by number - lo when the numbers are dense, else byNum does.
	lo    int32
	names [][]byte
	byNum map[int32][]byte
}

// quoted returns the JSON string of the value's name, or nil when the number has no name.
func (e *enumInfo) quoted(n int32) []byte {
	if e.byNum != nil {
		return e.byNum[n]
	}
	if i := int64(n) - int64(e.lo); i >= 0 && i < int64(len(e.names)) {
		return e.names[i]
	}
	return nil
}

// fieldByNum returns the field with the given number, or nil.
func (p *Plan) fieldByNum(n protowire.Number) *field {
	if p.numMap != nil {
		if i, ok := p.numMap[n]; ok {
			return &p.fields[i]
		}
		return nil
	}
	if uint64(n) < uint64(len(p.byNum)) {
		if i := p.byNum[n]; i != 0 {
			return &p.fields[i-1]
		}
	}
	return nil
}

// Name is the full name of the message the plan is for.
func (p *Plan) Name() protoreflect.FullName { return p.name }

// Compile builds the plan for md and every message it contains. It returns an error wrapping
// ErrUnsupported when md or a message reachable from it needs protojson (see the package
// comment); callers cache the result either way, per descriptor.
func Compile(md protoreflect.MessageDescriptor) (*Plan, error) {
	c := compiler{plans: map[protoreflect.FullName]*Plan{}, enums: map[protoreflect.FullName]*enumInfo{}, scratch: &scratch{}}
	return c.message(md)
}

type compiler struct {
	plans   map[protoreflect.FullName]*Plan
	enums   map[protoreflect.FullName]*enumInfo
	scratch *scratch
}

func unsupported(md protoreflect.Descriptor, why string) error {
	return fmt.Errorf("%w: %s: %s", ErrUnsupported, md.FullName(), why)
}

func (c *compiler) message(md protoreflect.MessageDescriptor) (*Plan, error) {
	if p, ok := c.plans[md.FullName()]; ok {
		return p, nil // compiled, or being compiled higher up a recursive type
	}
	p := &Plan{name: md.FullName(), scratch: c.scratch}
	c.plans[md.FullName()] = p

	if opts, ok := md.Options().(*descriptorpb.MessageOptions); ok && opts.GetMessageSetWireFormat() {
		return nil, unsupported(md, "message set wire format")
	}
	if md.FullName() == "google.protobuf.Any" {
		return nil, unsupported(md, "google.protobuf.Any needs a type resolver")
	}

	fds := md.Fields()
	p.fields = make([]field, fds.Len())
	p.byName = make(map[string]int32, 2*fds.Len())
	maxNum := protowire.Number(0)
	for i := range fds.Len() {
		fd := fds.Get(i)
		maxNum = max(maxNum, fd.Number())
		if err := c.field(&p.fields[i], fd); err != nil {
			return nil, err
		}
		p.fields[i].index = int32(i)
	}
	// JSON names win over proto names, as in protojson (ByJSONName, then ByTextName).
	for i := range p.fields {
		p.byName[p.fields[i].textName] = int32(i)
	}
	for i := range p.fields {
		p.byName[p.fields[i].jsonName] = int32(i)
	}
	if maxNum < 2048 {
		p.byNum = make([]int32, maxNum+1)
		for i := range p.fields {
			p.byNum[p.fields[i].num] = int32(i) + 1
		}
	} else {
		p.numMap = make(map[protowire.Number]int32, len(p.fields))
		for i := range p.fields {
			p.numMap[p.fields[i].num] = int32(i)
		}
	}
	ods := md.Oneofs()
	p.oneofs = make([]oneof, ods.Len())
	for i := range ods.Len() {
		od := ods.Get(i)
		o := &p.oneofs[i]
		o.name = string(od.Name())
		for j := range od.Fields().Len() {
			o.members = append(o.members, int32(od.Fields().Get(j).Index()))
		}
	}
	p.words = (len(p.fields) + len(p.oneofs) + 63) / 64

	if md.FullName().Parent() == "google.protobuf" {
		if err := p.wellKnown(md); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (c *compiler) field(f *field, fd protoreflect.FieldDescriptor) error {
	if fd.IsExtension() {
		return unsupported(fd, "extension")
	}
	if fd.Cardinality() == protoreflect.Required {
		return unsupported(fd, "required field")
	}
	f.num = fd.Number()
	f.kind = fd.Kind()
	f.list = fd.IsList()
	f.isMap = fd.IsMap()
	f.packed = fd.IsPacked()
	f.presence = fd.HasPresence() && !f.list && !f.isMap
	f.oneof = -1
	if od := fd.ContainingOneof(); od != nil {
		f.oneof = int32(od.Index())
	}
	f.jsonName = fd.JSONName()
	f.textName = fd.TextName()
	f.jsonKey = append(appendQuoted(nil, f.jsonName), ':')
	f.textKey = append(appendQuoted(nil, f.textName), ':')

	switch f.kind {
	case protoreflect.GroupKind:
		return unsupported(fd, "group (delimited) encoding")
	case protoreflect.BoolKind, protoreflect.EnumKind, protoreflect.Int32Kind, protoreflect.Sint32Kind,
		protoreflect.Uint32Kind, protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Uint64Kind:
		f.wt = protowire.VarintType
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		f.wt = protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		f.wt = protowire.Fixed64Type
	case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind:
		f.wt = protowire.BytesType
	default:
		return unsupported(fd, "kind "+f.kind.String())
	}
	f.tag = protowire.AppendTag(nil, f.num, f.wt)
	f.ptag = protowire.AppendTag(nil, f.num, protowire.BytesType)
	if f.kind == protoreflect.StringKind {
		f.utf8 = enforceUTF8(fd)
	}

	if f.isMap {
		f.key, f.val = new(field), new(field)
		if err := c.field(f.key, fd.MapKey()); err != nil {
			return err
		}
		if err := c.field(f.val, fd.MapValue()); err != nil {
			return err
		}
		// Map entries are written with both fields, whatever their values.
		f.key.presence, f.val.presence = true, true
		return nil
	}
	if f.kind == protoreflect.MessageKind {
		p, err := c.message(fd.Message())
		if err != nil {
			return err
		}
		f.msg = p
		f.nullable = fd.Message().FullName() == "google.protobuf.Value"
	}
	if f.kind == protoreflect.EnumKind {
		f.enum = c.enum(fd.Enum())
		f.nullable = f.enum.null
	}
	return nil
}

// enforceUTF8 mirrors the protobuf runtime's rule for validating strings on the wire.
func enforceUTF8(fd protoreflect.FieldDescriptor) bool {
	if fd.Syntax() == protoreflect.Editions {
		if e, ok := fd.(interface{ EnforceUTF8() bool }); ok {
			return e.EnforceUTF8()
		}
	}
	return fd.Syntax() == protoreflect.Proto3
}

func (c *compiler) enum(ed protoreflect.EnumDescriptor) *enumInfo {
	if e, ok := c.enums[ed.FullName()]; ok {
		return e
	}
	e := &enumInfo{null: ed.FullName() == "google.protobuf.NullValue", byName: map[string]int32{}}
	c.enums[ed.FullName()] = e
	vals := ed.Values()
	lo, hi := int32(0), int32(0)
	for i := range vals.Len() {
		v := vals.Get(i)
		e.byName[string(v.Name())] = int32(v.Number())
		if i == 0 || int32(v.Number()) < lo {
			lo = int32(v.Number())
		}
		if i == 0 || int32(v.Number()) > hi {
			hi = int32(v.Number())
		}
	}
	// The first value declared with a number is the one protojson names (ByNumber).
	quote := func(n protoreflect.EnumNumber) []byte {
		return appendQuoted(nil, string(vals.ByNumber(n).Name()))
	}
	if int64(hi)-int64(lo) < 256 {
		e.lo = lo
		e.names = make([][]byte, int64(hi)-int64(lo)+1)
		for i := range vals.Len() {
			n := vals.Get(i).Number()
			e.names[int32(n)-lo] = quote(n)
		}
	} else {
		e.byNum = map[int32][]byte{}
		for i := range vals.Len() {
			n := vals.Get(i).Number()
			e.byNum[int32(n)] = quote(n)
		}
	}
	return e
}

// wellKnown recognises the google.protobuf types with special JSON forms, checking that the
// descriptor has the expected shape.
func (p *Plan) wellKnown(md protoreflect.MessageDescriptor) error {
	type want struct {
		num  protowire.Number
		kind protoreflect.Kind
		list bool
	}
	shape := func(k wkt, fields ...want) error {
		if len(p.fields) != len(fields) {
			return unsupported(md, "unexpected shape of a well-known type")
		}
		for i, w := range fields {
			f := &p.fields[i]
			if f.num != w.num || f.kind != w.kind || f.list != w.list {
				return unsupported(md, "unexpected shape of a well-known type")
			}
		}
		p.wkt = k
		return nil
	}
	switch md.Name() {
	case "Timestamp":
		return shape(wktTimestamp, want{1, protoreflect.Int64Kind, false}, want{2, protoreflect.Int32Kind, false})
	case "Duration":
		return shape(wktDuration, want{1, protoreflect.Int64Kind, false}, want{2, protoreflect.Int32Kind, false})
	case "DoubleValue":
		return shape(wktWrapper, want{1, protoreflect.DoubleKind, false})
	case "FloatValue":
		return shape(wktWrapper, want{1, protoreflect.FloatKind, false})
	case "Int64Value":
		return shape(wktWrapper, want{1, protoreflect.Int64Kind, false})
	case "UInt64Value":
		return shape(wktWrapper, want{1, protoreflect.Uint64Kind, false})
	case "Int32Value":
		return shape(wktWrapper, want{1, protoreflect.Int32Kind, false})
	case "UInt32Value":
		return shape(wktWrapper, want{1, protoreflect.Uint32Kind, false})
	case "BoolValue":
		return shape(wktWrapper, want{1, protoreflect.BoolKind, false})
	case "StringValue":
		return shape(wktWrapper, want{1, protoreflect.StringKind, false})
	case "BytesValue":
		return shape(wktWrapper, want{1, protoreflect.BytesKind, false})
	case "FieldMask":
		return shape(wktFieldMask, want{1, protoreflect.StringKind, true})
	case "ListValue":
		if err := shape(wktListValue, want{1, protoreflect.MessageKind, true}); err != nil {
			return err
		}
		if p.fields[0].msg.name != "google.protobuf.Value" {
			return unsupported(md, "unexpected shape of a well-known type")
		}
	case "Struct":
		if len(p.fields) != 1 || !p.fields[0].isMap || p.fields[0].num != 1 ||
			p.fields[0].key.kind != protoreflect.StringKind || p.fields[0].val.kind != protoreflect.MessageKind ||
			p.fields[0].val.msg.name != "google.protobuf.Value" {
			return unsupported(md, "unexpected shape of a well-known type")
		}
		p.wkt = wktStruct
	case "Value":
		err := shape(wktValue,
			want{1, protoreflect.EnumKind, false}, want{2, protoreflect.DoubleKind, false},
			want{3, protoreflect.StringKind, false}, want{4, protoreflect.BoolKind, false},
			want{5, protoreflect.MessageKind, false}, want{6, protoreflect.MessageKind, false})
		if err != nil {
			return err
		}
		if !p.fields[0].enum.null || p.fields[4].msg.name != "google.protobuf.Struct" ||
			p.fields[5].msg.name != "google.protobuf.ListValue" || len(p.oneofs) != 1 {
			p.wkt = wktNone
			return unsupported(md, "unexpected shape of a well-known type")
		}
	}
	return nil
}
