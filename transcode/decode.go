package transcode

import (
	"encoding/base64"
	"math"
	"slices"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// maxDepth is protobuf's default recursion limit, which protojson applies to JSON input and
// proto.Unmarshal to wire input.
const maxDepth = protowire.DefaultRecursionLimit

// decoder is the state of one AppendWire call; decoders are pooled (see scratch).
type decoder struct {
	reader
	lengths
	depth   int
	seen    []uint64 // per open object: fields then oneofs already set
	scratch []byte   // a string's unescaped content, used at once
	keys    []byte   // per open map: string keys read so far, concatenated
	keyEnds []int    // ends of those keys in keys
	ikeys   []uint64 // per open map: integer and bool keys read so far
}

// AppendWire appends the protobuf wire encoding of the JSON object in json to dst. It accepts
// what protojson.Unmarshal accepts (see the package comment) and returns an *Error otherwise,
// with dst cut back to its original length.
func (p *Plan) AppendWire(dst, json []byte) ([]byte, error) {
	d, _ := p.scratch.decoders.Get().(*decoder)
	if d == nil {
		d = new(decoder)
	}
	d.in, d.i, d.depth = json, 0, 0
	n0 := len(dst)
	d.ws()
	d.fixups, d.extra = d.fixups[:0], 0
	dst, err := d.message(dst, p)
	if err == nil {
		d.ws()
		if d.i < len(d.in) {
			err = d.syntax("unexpected data after the value")
		}
	}
	if err == nil {
		dst = d.finish(dst)
	}
	d.in = nil
	d.seen, d.keyEnds, d.ikeys = d.seen[:0], d.keyEnds[:0], d.ikeys[:0]
	if cap(d.scratch) > 64<<10 || cap(d.keys) > 64<<10 || cap(d.fixups) > 4096 {
		d.scratch, d.keys, d.fixups = nil, nil, nil // do not keep what one large request needed
	}
	d.keys = d.keys[:0]
	p.scratch.decoders.Put(d)
	if err != nil {
		return dst[:n0], err
	}
	return dst, nil
}

// message reads the JSON form of a message of plan p. Like every value reader it is called at
// the value's first byte and returns after its last.
func (d *decoder) message(dst []byte, p *Plan) ([]byte, error) {
	if d.depth++; d.depth > maxDepth {
		return dst, newError(ErrTooDeep, d.i, "")
	}
	var err error
	switch p.wkt {
	case wktNone:
		dst, err = d.object(dst, p)
	case wktTimestamp:
		dst, err = d.timestamp(dst, p)
	case wktDuration:
		dst, err = d.duration(dst, p)
	case wktWrapper:
		f := &p.fields[0]
		dst, err = d.scalar(dst, f, f.tag, true)
	case wktFieldMask:
		dst, err = d.fieldMask(dst, p)
	case wktStruct:
		dst, err = d.mapField(dst, &p.fields[0])
	case wktListValue:
		dst, err = d.listField(dst, &p.fields[0])
	case wktValue:
		dst, err = d.knownValue(dst, p)
	}
	d.depth--
	return dst, err
}

// badValue is the error for a value of the wrong JSON type (or not JSON at all) at start.
func (d *decoder) badValue(start int, detail string) *Error {
	d.i = start
	switch c := d.peek(); {
	case c == '"' || c == '{' || c == '[',
		(c == '-' || ('0' <= c && c <= '9')) && func() bool { _, ok := scanNumber(d.in[start:]); return ok }(),
		d.literal("true") || d.literal("false") || d.literal("null"):
		return newError(ErrInvalidValue, start, detail)
	}
	return d.syntax("invalid value")
}

// object reads a JSON object into the fields of p.
func (d *decoder) object(dst []byte, p *Plan) ([]byte, error) {
	if d.peek() != '{' {
		return dst, d.badValue(d.i, "expected an object for "+string(p.name))
	}
	d.i++
	// Errors abandon the whole call, so only successful returns restore the state.
	base := len(d.seen)
	for range p.words {
		d.seen = append(d.seen, 0)
	}
	d.ws()
	if d.peek() == '}' {
		d.i++
		d.seen = d.seen[:base]
		return dst, nil
	}
	for {
		keyAt := d.i
		raw, esc, err := d.str()
		if err != nil {
			return dst, err
		}
		name := raw
		if esc {
			d.scratch = unescape(d.scratch[:0], raw)
			name = d.scratch
		}
		d.ws()
		if d.peek() != ':' {
			return dst, d.syntax(`expected ":" after an object key`)
		}
		d.i++
		d.ws()
		fi, ok := p.byName[string(name)]
		if !ok {
			return dst, inField(newError(ErrUnknownField, keyAt, "no such field in "+string(p.name)), raw)
		}
		f := &p.fields[fi]
		w, bit := base+int(fi)/64, uint64(1)<<(fi%64)
		if d.seen[w]&bit != 0 {
			return dst, inField(newError(ErrDuplicate, keyAt, ""), raw)
		}
		d.seen[w] |= bit
		if !f.nullable && d.isNull() {
			d.i += len("null") // null leaves the field unset
		} else {
			if f.oneof >= 0 && !f.list && !f.isMap {
				oi := len(p.fields) + int(f.oneof)
				w, bit := base+oi/64, uint64(1)<<(oi%64)
				if d.seen[w]&bit != 0 {
					return dst, inField(newError(ErrOneof, keyAt, "another member of oneof "+p.oneofs[f.oneof].name+" is set"), raw)
				}
				d.seen[w] |= bit
			}
			if dst, err = d.field(dst, f); err != nil {
				return dst, inField(err, raw)
			}
		}
		d.ws()
		switch d.peek() {
		case ',':
			d.i++
			d.ws()
		case '}':
			d.i++
			d.seen = d.seen[:base]
			return dst, nil
		default:
			return dst, d.syntax(`expected "," or "}" in an object`)
		}
	}
}

// field reads the value of field f, which is not null (or may be).
func (d *decoder) field(dst []byte, f *field) ([]byte, error) {
	switch {
	case f.isMap:
		return d.mapField(dst, f)
	case f.list:
		return d.listField(dst, f)
	case f.kind == protoreflect.MessageKind:
		return d.messageField(dst, f)
	default:
		return d.scalar(dst, f, f.tag, !f.presence)
	}
}

func (d *decoder) messageField(dst []byte, f *field) ([]byte, error) {
	dst = append(dst, f.tag...)
	dst, at, x := d.begin(dst)
	dst, err := d.message(dst, f.msg)
	if err != nil {
		return dst, err
	}
	return d.end(dst, at, x), nil
}

// listField reads a JSON array into a repeated field.
func (d *decoder) listField(dst []byte, f *field) ([]byte, error) {
	if d.peek() != '[' {
		return dst, d.badValue(d.i, "expected an array")
	}
	d.i++
	d.ws()
	mark, at, x := len(dst), 0, 0
	if d.peek() == ']' {
		d.i++
		return dst, nil
	}
	if f.packed {
		dst = append(dst, f.ptag...)
		dst, at, x = d.begin(dst)
	}
	for i := 0; ; i++ {
		var err error
		switch {
		case f.kind == protoreflect.MessageKind:
			dst, err = d.messageField(dst, f)
		case f.packed:
			dst, err = d.scalar(dst, f, nil, false)
		default:
			dst, err = d.scalar(dst, f, f.tag, false)
		}
		if err != nil {
			return dst[:mark], inIndex(err, i)
		}
		d.ws()
		switch d.peek() {
		case ',':
			d.i++
			d.ws()
		case ']':
			d.i++
			if f.packed {
				dst = d.end(dst, at, x)
			}
			return dst, nil
		default:
			return dst, d.syntax(`expected "," or "]" in an array`)
		}
	}
}

// mapField reads a JSON object into a map field: one entry per key.
func (d *decoder) mapField(dst []byte, f *field) ([]byte, error) {
	if d.peek() != '{' {
		return dst, d.badValue(d.i, "expected an object")
	}
	d.i++
	d.ws()
	kbase, ebase, ibase := len(d.keys), len(d.keyEnds), len(d.ikeys)
	if d.peek() == '}' {
		d.i++
		return dst, nil
	}
	var big map[string]struct{} // duplicate detection once the map is large
	for n := 0; ; n++ {
		keyAt := d.i
		raw, esc, err := d.str()
		if err != nil {
			return dst, err
		}
		lit := d.in[keyAt:d.i]
		key := raw
		if esc {
			d.scratch = unescape(d.scratch[:0], raw)
			key = d.scratch
		}
		d.ws()
		if d.peek() != ':' {
			return dst, d.syntax(`expected ":" after an object key`)
		}
		d.i++
		d.ws()

		dst = append(dst, f.tag...)
		var at, x int
		dst, at, x = d.begin(dst)
		var dup bool
		if dst, dup, err = d.mapKey(dst, f.key, key, keyAt, ebase, ibase, n, &big); err != nil {
			return dst, inKey(err, lit)
		}
		if dup {
			return dst, inKey(newError(ErrDuplicate, keyAt, "duplicate map key"), lit)
		}
		if f.val.kind == protoreflect.MessageKind {
			dst, err = d.messageField(dst, f.val)
		} else {
			dst, err = d.scalar(dst, f.val, f.val.tag, false)
		}
		if err != nil {
			return dst, inKey(err, lit)
		}
		dst = d.end(dst, at, x)

		d.ws()
		switch d.peek() {
		case ',':
			d.i++
			d.ws()
		case '}':
			d.i++
			d.keys, d.keyEnds, d.ikeys = d.keys[:kbase], d.keyEnds[:ebase], d.ikeys[:ibase]
			return dst, nil
		default:
			return dst, d.syntax(`expected "," or "}" in an object`)
		}
	}
}

// mapKey appends the entry's key field for the object key and reports whether the map
// already has it. Keys convert as protojson converts them (strconv, base 10).
func (d *decoder) mapKey(dst []byte, k *field, key []byte, at, ebase, ibase, n int, big *map[string]struct{}) ([]byte, bool, error) {
	if k.kind == protoreflect.StringKind {
		dup := false
		if *big != nil {
			_, dup = (*big)[string(key)]
			if !dup {
				(*big)[string(key)] = struct{}{}
			}
		} else {
			prev := d.keyStart(ebase)
			for _, end := range d.keyEnds[ebase:] {
				if string(d.keys[prev:end]) == string(key) {
					dup = true
					break
				}
				prev = end
			}
			if !dup {
				d.keys = append(d.keys, key...)
				d.keyEnds = append(d.keyEnds, len(d.keys))
				if n >= 32 {
					*big = make(map[string]struct{}, 2*n)
					prev := d.keyStart(ebase)
					for _, end := range d.keyEnds[ebase:] {
						(*big)[string(d.keys[prev:end])] = struct{}{}
						prev = end
					}
				}
			}
		}
		dst = append(dst, k.tag...)
		return protowire.AppendBytes(dst, key), dup, nil
	}

	var bits uint64
	ok := true
	s := unsafeString(key)
	switch k.kind {
	case protoreflect.BoolKind:
		switch s {
		case "true":
			bits = 1
		case "false":
		default:
			ok = false
		}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		size := 64
		if k.kind == protoreflect.Int32Kind || k.kind == protoreflect.Sint32Kind || k.kind == protoreflect.Sfixed32Kind {
			size = 32
		}
		v, err := strconv.ParseInt(s, 10, size)
		ok = err == nil
		bits = signedBits(k.kind, v)
	default: // unsigned
		size := 64
		if k.kind == protoreflect.Uint32Kind || k.kind == protoreflect.Fixed32Kind {
			size = 32
		}
		v, err := strconv.ParseUint(s, 10, size)
		ok = err == nil
		bits = v
	}
	if !ok {
		return dst, false, newError(ErrInvalidValue, at, "invalid "+k.kind.String()+" map key")
	}
	dup := false
	if *big != nil {
		_, dup = (*big)[string(protowire.AppendVarint(d.scratch[:0], bits))]
		if !dup {
			(*big)[string(protowire.AppendVarint(d.scratch[:0], bits))] = struct{}{}
		}
	} else {
		dup = slices.Contains(d.ikeys[ibase:], bits)
		if !dup {
			d.ikeys = append(d.ikeys, bits)
			if n >= 32 {
				*big = make(map[string]struct{}, 2*n)
				for _, b := range d.ikeys[ibase:] {
					(*big)[string(protowire.AppendVarint(d.scratch[:0], b))] = struct{}{}
				}
			}
		}
	}
	return appendBits(append(dst, k.tag...), k.wt, bits), dup, nil
}

func (d *decoder) keyStart(ebase int) int {
	if ebase == 0 {
		return 0
	}
	return d.keyEnds[ebase-1]
}

// appendBits appends a scalar's wire value.
func appendBits(dst []byte, wt protowire.Type, bits uint64) []byte {
	switch wt {
	case protowire.Fixed32Type:
		return protowire.AppendFixed32(dst, uint32(bits))
	case protowire.Fixed64Type:
		return protowire.AppendFixed64(dst, bits)
	default:
		return protowire.AppendVarint(dst, bits)
	}
}

// signedBits is the wire value of a signed integer of the given kind.
func signedBits(k protoreflect.Kind, v int64) uint64 {
	switch k {
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return protowire.EncodeZigZag(v)
	case protoreflect.Sfixed32Kind:
		return uint64(uint32(int32(v)))
	default: // int32 and enums are sign-extended, like int64
		return uint64(v)
	}
}

// strValue reads a JSON string value; what names the expected value for the error.
func (d *decoder) strValue(what string) (raw []byte, esc bool, err error) {
	if d.peek() != '"' {
		return nil, false, d.badValue(d.i, "expected "+what)
	}
	return d.str()
}

// content returns a string's content with escapes resolved (in scratch when there are any).
func (d *decoder) content(raw []byte, esc bool) []byte {
	if !esc {
		return raw
	}
	d.scratch = unescape(d.scratch[:0], raw)
	return d.scratch
}

// scalar reads the value of a non-message field and appends it: after tag, unless tag is nil
// (packed lists); nothing when omitZero is set and the value is the zero value.
func (d *decoder) scalar(dst []byte, f *field, tag []byte, omitZero bool) ([]byte, error) {
	switch f.kind {
	case protoreflect.StringKind:
		raw, esc, err := d.strValue("a string")
		if err != nil {
			return dst, err
		}
		if omitZero && len(raw) == 0 {
			return dst, nil
		}
		dst = append(dst, tag...)
		if !esc {
			return protowire.AppendBytes(dst, raw), nil
		}
		dst, at, x := d.begin(dst)
		return d.end(unescape(dst, raw), at, x), nil

	case protoreflect.BytesKind:
		start := d.i
		raw, esc, err := d.strValue("a string")
		if err != nil {
			return dst, err
		}
		s := d.content(raw, esc)
		enc := base64Encoding(s)
		mark := len(dst)
		dst = append(dst, tag...)
		dst, at, x := d.begin(dst)
		max := enc.DecodedLen(len(s))
		dst = slices.Grow(dst, max)
		n, err := enc.Decode(dst[at:at+max], s)
		if err != nil {
			return dst[:mark], newError(ErrInvalidValue, start, "invalid base64")
		}
		dst = dst[:at+n]
		if omitZero && n == 0 {
			return dst[:mark], nil
		}
		return d.end(dst, at, x), nil
	}

	bits, err := d.scalarBits(f)
	if err != nil {
		return dst, err
	}
	if omitZero && bits == 0 {
		return dst, nil
	}
	return appendBits(append(dst, tag...), f.wt, bits), nil
}

// scalarBits reads a number, bool or enum value and returns its wire value.
func (d *decoder) scalarBits(f *field) (uint64, error) {
	start := d.i
	c := d.peek()
	invalid := func() (uint64, error) {
		return 0, d.badValue(start, "invalid "+f.kind.String()+" value")
	}
	switch f.kind {
	case protoreflect.BoolKind:
		if d.literal("true") {
			return 1, nil
		}
		if d.literal("false") {
			return 0, nil
		}
		return invalid()

	case protoreflect.EnumKind:
		switch {
		case c == '"':
			raw, esc, err := d.str()
			if err != nil {
				return 0, err
			}
			if v, ok := f.enum.byName[string(d.content(raw, esc))]; ok {
				return uint64(int64(v)), nil
			}
			return 0, newError(ErrInvalidValue, start, "unknown enum value name")
		case f.enum.null && d.literal("null"):
			return 0, nil
		}
		tok, ok := d.number()
		if !ok {
			return invalid()
		}
		v, ok := parseInt(tok, 32)
		if !ok {
			return invalid()
		}
		return uint64(v), nil

	case protoreflect.FloatKind, protoreflect.DoubleKind:
		size := 64
		if f.kind == protoreflect.FloatKind {
			size = 32
		}
		var v float64
		if c == '"' {
			raw, esc, err := d.str()
			if err != nil {
				return 0, err
			}
			s := d.content(raw, esc)
			switch string(s) {
			case "NaN":
				v = math.NaN()
			case "Infinity":
				v = math.Inf(+1)
			case "-Infinity":
				v = math.Inf(-1)
			default:
				if !numberInString(s) {
					return invalid()
				}
				var ok bool
				if v, ok = parseFloat(s, size); !ok {
					return invalid()
				}
			}
		} else {
			tok, ok := d.number()
			if !ok {
				return invalid()
			}
			if v, ok = parseFloat(tok, size); !ok {
				return invalid()
			}
		}
		if size == 32 {
			return uint64(math.Float32bits(float32(v))), nil
		}
		return math.Float64bits(v), nil
	}

	// Integers: a number, or a string holding exactly one number.
	var tok []byte
	if c == '"' {
		raw, esc, err := d.str()
		if err != nil {
			return 0, err
		}
		tok = d.content(raw, esc)
		if !numberInString(tok) {
			return invalid()
		}
	} else {
		var ok bool
		if tok, ok = d.number(); !ok {
			return invalid()
		}
	}
	switch f.kind {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		v, ok := parseInt(tok, 32)
		if !ok {
			return invalid()
		}
		return signedBits(f.kind, v), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		v, ok := parseInt(tok, 64)
		if !ok {
			return invalid()
		}
		return signedBits(f.kind, v), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		v, ok := parseUint(tok, 32)
		if !ok {
			return invalid()
		}
		return v, nil
	default: // Uint64Kind, Fixed64Kind
		v, ok := parseUint(tok, 64)
		if !ok {
			return invalid()
		}
		return v, nil
	}
}

// base64Encoding picks the encoding protojson decodes bytes with: URL-safe when the text has
// "-" or "_", unpadded when its length is not a multiple of 4.
func base64Encoding(s []byte) *base64.Encoding {
	url := false
	for _, c := range s {
		if c == '-' || c == '_' {
			url = true
			break
		}
	}
	switch {
	case url && len(s)%4 != 0:
		return base64.RawURLEncoding
	case url:
		return base64.URLEncoding
	case len(s)%4 != 0:
		return base64.RawStdEncoding
	}
	return base64.StdEncoding
}
