package transcode

import (
	"encoding/base64"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Options tune AppendJSON like the protojson.MarshalOptions of the same names.
type Options struct {
	// UseProtoNames writes proto field names instead of lowerCamel JSON names.
	UseProtoNames bool
	// EmitUnpopulated writes unset fields too: zero values for scalars without presence,
	// null for messages and scalars with presence, [] for lists and {} for maps; unset oneof
	// members are left out.
	EmitUnpopulated bool
}

// entry is one occurrence of a known field in the wire input of a message being written.
type entry struct {
	v          uint64 // varint and fixed values
	start, end int    // length-delimited values: the content's span in the message's bytes
	next       int32  // index+1 in encoder.entries of the field's next occurrence, 0 for none
	wt         protowire.Type
}

// slot is where a field's occurrences are: indexes+1 in encoder.entries, 0 for none.
type slot struct{ head, tail int32 }

// mapItem is one map entry of a map being written.
type mapItem struct {
	key        []byte // string keys
	ikey       uint64 // other keys (signed ones sign-extended)
	val        entry  // the value, when hasVal
	hasVal     bool
	multi      bool // the message value appears more than once in the entry: merge
	entryStart int
	entryEnd   int
}

// encoder is the state of one AppendJSON call; encoders are pooled (see scratch). entries,
// slots and items are stacks: each message or map takes its part on top and gives it back when
// done.
type encoder struct {
	opts    Options
	depth   int
	entries []entry
	slots   []slot
	items   []mapItem
}

// AppendJSON appends the JSON form of the protobuf message in wire to dst, as protojson.Marshal
// writes it with the given options (but without its random spaces). Unknown fields are
// skipped. It returns an *Error, and dst cut back to its original length, when wire is
// malformed or a value cannot be written (see the package comment).
func (p *Plan) AppendJSON(dst, wire []byte, opts Options) ([]byte, error) {
	e, _ := p.scratch.encoders.Get().(*encoder)
	if e == nil {
		e = new(encoder)
	}
	e.opts, e.depth = opts, 0
	n0 := len(dst)
	dst, err := e.message(dst, p, wire)
	e.entries, e.slots, e.items = e.entries[:0], e.slots[:0], e.items[:0]
	if cap(e.entries) > 4096 || cap(e.items) > 4096 || cap(e.slots) > 4096 {
		e.entries, e.items, e.slots = nil, nil, nil // do not keep what one large message needed
	}
	p.scratch.encoders.Put(e)
	if err != nil {
		return dst[:n0], err
	}
	return dst, nil
}

func wireError(off int) *Error { return newError(ErrWire, off, "") }

// message writes the message of plan p encoded in b.
func (e *encoder) message(dst []byte, p *Plan, b []byte) ([]byte, error) {
	if e.depth++; e.depth > maxDepth {
		return dst, newError(ErrTooDeep, 0, "")
	}
	ebase, sbase := len(e.entries), len(e.slots)
	err := e.scan(p, b)
	if err == nil {
		switch p.wkt {
		case wktNone:
			dst, err = e.object(dst, p, b, sbase)
		default:
			dst, err = e.wellKnown(dst, p, b, sbase)
		}
	}
	e.entries, e.slots = e.entries[:ebase], e.slots[:sbase]
	e.depth--
	return dst, err
}

// packable reports whether f is a repeated scalar that may be packed on the wire.
func (f *field) packable() bool { return f.list && f.wt != protowire.BytesType }

// scan records where each known field of p occurs in b; fields with an unexpected wire type
// are unknown fields, as in proto.Unmarshal.
func (e *encoder) scan(p *Plan, b []byte) error {
	sbase := len(e.slots)
	e.slots = slices.Grow(e.slots, len(p.fields))[:sbase+len(p.fields)]
	clear(e.slots[sbase:])
	for i := 0; i < len(b); {
		num, wt, n := protowire.ConsumeTag(b[i:])
		if n < 0 || num > protowire.MaxValidNumber {
			return wireError(i)
		}
		i += n
		f := p.fieldByNum(num)
		if f == nil || (wt != f.wt && !(wt == protowire.BytesType && f.packable())) {
			m := protowire.ConsumeFieldValue(num, wt, b[i:])
			if m < 0 {
				return wireError(i)
			}
			i += m
			continue
		}
		ent := entry{wt: wt}
		var m int
		switch wt {
		case protowire.VarintType:
			ent.v, m = protowire.ConsumeVarint(b[i:])
		case protowire.Fixed32Type:
			var v uint32
			v, m = protowire.ConsumeFixed32(b[i:])
			ent.v = uint64(v)
		case protowire.Fixed64Type:
			ent.v, m = protowire.ConsumeFixed64(b[i:])
		default:
			var v []byte
			v, m = protowire.ConsumeBytes(b[i:])
			ent.start = i + m - len(v)
			ent.end = ent.start + len(v)
		}
		if m < 0 {
			return wireError(i)
		}
		i += m
		e.entries = append(e.entries, ent)
		idx := int32(len(e.entries))
		s := &e.slots[sbase+int(f.index)]
		if s.tail != 0 {
			e.entries[s.tail-1].next = idx
		} else {
			s.head = idx
		}
		s.tail = idx
	}
	return nil
}

// object writes a message without a special JSON form, fields in declaration order.
func (e *encoder) object(dst []byte, p *Plan, b []byte, sbase int) ([]byte, error) {
	dst = append(dst, '{')
	first := true
	for fi := range p.fields {
		f := &p.fields[fi]
		s := e.slots[sbase+fi]
		if s.head == 0 && (!e.opts.EmitUnpopulated || f.oneof >= 0) {
			continue // unset oneof members are never written
		}
		mark := len(dst)
		if !first {
			dst = append(dst, ',')
		}
		if e.opts.UseProtoNames {
			dst = append(dst, f.textKey...)
		} else {
			dst = append(dst, f.jsonKey...)
		}
		if s.head == 0 {
			dst = e.unpopulated(dst, f)
			first = false
			continue
		}
		from := int32(0) // entries up to this one were superseded by another oneof member
		if f.oneof >= 0 {
			won, last := e.oneofWinner(p, f, sbase)
			if !won {
				if err := e.checkSuperseded(f, s.head, s.tail+1, b); err != nil {
					return dst, inField(err, []byte(f.jsonName))
				}
				dst = dst[:mark]
				continue
			}
			from = last
		}
		var populated bool
		var err error
		dst, populated, err = e.value(dst, f, s, from, b)
		if err != nil {
			return dst, inField(err, []byte(f.jsonName))
		}
		if !populated && !e.opts.EmitUnpopulated {
			dst = dst[:mark]
			continue
		}
		first = false
	}
	return append(dst, '}'), nil
}

// oneofWinner reports whether f is the member of its oneof that occurs last, and the index+1
// of the last occurrence of another member (0 for none).
func (e *encoder) oneofWinner(p *Plan, f *field, sbase int) (bool, int32) {
	mine := e.slots[sbase+int(f.index)].tail
	other := int32(0)
	for _, m := range p.oneofs[f.oneof].members {
		if m != f.index {
			other = max(other, e.slots[sbase+int(m)].tail)
		}
	}
	return mine > other, other
}

// checkSuperseded validates the occurrences of f in [from, to) (entry indexes+1) that are
// not written, because proto.Unmarshal rejects them if malformed even so.
func (e *encoder) checkSuperseded(f *field, from, to int32, b []byte) error {
	for i := from; i != 0 && i < to; i = e.entries[i-1].next {
		ent := e.entries[i-1]
		if ent.wt != protowire.BytesType {
			continue
		}
		v := b[ent.start:ent.end]
		switch {
		case f.kind == protoreflect.MessageKind:
			if err := e.validate(f.msg, v); err != nil {
				return err
			}
		case f.kind == protoreflect.StringKind && f.utf8 && !utf8.Valid(v):
			return newError(ErrInvalidValue, ent.start, "invalid UTF-8")
		}
	}
	return nil
}

// value writes the value of field f, which occurs on the wire, from its occurrences after
// entry index+1 from; populated is false for a scalar without presence holding its zero
// value, or an empty list.
func (e *encoder) value(dst []byte, f *field, s slot, from int32, b []byte) ([]byte, bool, error) {
	switch {
	case f.isMap:
		dst, err := e.mapValue(dst, f, s, b)
		return dst, true, err
	case f.list:
		return e.listValue(dst, f, s, b)
	case f.kind == protoreflect.MessageKind:
		dst, err := e.messageValue(dst, f, s, from, b)
		return dst, true, err
	}
	// Scalars: the last occurrence wins.
	if err := e.checkSuperseded(f, s.head, s.tail, b); err != nil {
		return dst, false, err
	}
	ent := e.entries[s.tail-1]
	dst, zero, err := appendScalar(dst, f, ent.v, b[ent.start:ent.end], ent.start)
	return dst, f.presence || !zero, err
}

// messageValue writes a singular message from its occurrences (after from), merged as
// proto.Unmarshal merges them.
func (e *encoder) messageValue(dst []byte, f *field, s slot, from int32, b []byte) ([]byte, error) {
	first := s.head
	if from != 0 {
		for first != 0 && first <= from {
			first = e.entries[first-1].next
		}
	}
	if err := e.checkSuperseded(f, s.head, first, b); err != nil {
		return dst, err
	}
	if first == s.tail {
		ent := e.entries[first-1]
		return e.message(dst, f.msg, b[ent.start:ent.end])
	}
	// Rare: the message occurs more than once; concatenating the occurrences merges them,
	// once each is known to be valid on its own (as proto.Unmarshal reads them).
	var merged []byte
	for i := first; i != 0; i = e.entries[i-1].next {
		ent := e.entries[i-1]
		if err := e.validate(f.msg, b[ent.start:ent.end]); err != nil {
			return dst, err
		}
		merged = append(merged, b[ent.start:ent.end]...)
	}
	return e.message(dst, f.msg, merged)
}

// listValue writes a repeated field from all its occurrences, packed or not.
func (e *encoder) listValue(dst []byte, f *field, s slot, b []byte) ([]byte, bool, error) {
	dst = append(dst, '[')
	n := 0
	for i := s.head; i != 0; i = e.entries[i-1].next {
		ent := e.entries[i-1]
		if ent.wt == protowire.BytesType && f.packable() {
			for j := ent.start; j < ent.end; {
				var v uint64
				m := 0
				switch f.wt {
				case protowire.VarintType:
					v, m = protowire.ConsumeVarint(b[j:ent.end])
				case protowire.Fixed32Type:
					var u uint32
					u, m = protowire.ConsumeFixed32(b[j:ent.end])
					v = uint64(u)
				default:
					v, m = protowire.ConsumeFixed64(b[j:ent.end])
				}
				if m < 0 {
					return dst, false, wireError(j)
				}
				if n > 0 {
					dst = append(dst, ',')
				}
				var err error
				if dst, _, err = appendScalar(dst, f, v, nil, j); err != nil {
					return dst, false, inIndex(err, n)
				}
				n++
				j += m
			}
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		var err error
		if f.kind == protoreflect.MessageKind {
			dst, err = e.message(dst, f.msg, b[ent.start:ent.end])
		} else {
			dst, _, err = appendScalar(dst, f, ent.v, b[ent.start:ent.end], ent.start)
		}
		if err != nil {
			return dst, false, inIndex(err, n)
		}
		n++
	}
	return append(dst, ']'), n > 0, nil
}

// Map keys sort as protojson sorts them: false before true, numbers ascending, strings by
// bytes.
func cmpStringKeys(a, b mapItem) int   { return slices.Compare(a.key, b.key) }
func cmpSignedKeys(a, b mapItem) int   { return cmpOrdered(int64(a.ikey), int64(b.ikey)) }
func cmpUnsignedKeys(a, b mapItem) int { return cmpOrdered(a.ikey, b.ikey) }

func cmpOrdered[T int64 | uint64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// mapValue writes a map field from its entries: sorted by key, the last entry of a key wins.
func (e *encoder) mapValue(dst []byte, f *field, s slot, b []byte) ([]byte, error) {
	// Errors abandon the whole call, so only successful returns restore the state.
	if e.depth++; e.depth > maxDepth { // proto.Unmarshal counts map entries as a level
		return dst, newError(ErrTooDeep, 0, "")
	}
	ibase := len(e.items)
	for i := s.head; i != 0; i = e.entries[i-1].next {
		ent := e.entries[i-1]
		it, err := readEntry(f, b, ent.start, ent.end)
		if err != nil {
			return dst, err
		}
		e.items = append(e.items, it)
	}
	items := e.items[ibase:]
	cmp := cmpUnsignedKeys
	switch f.key.kind {
	case protoreflect.StringKind:
		cmp = cmpStringKeys
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		cmp = cmpSignedKeys
	}
	if !slices.IsSortedFunc(items, cmp) {
		slices.SortStableFunc(items, cmp)
	}

	dst = append(dst, '{')
	n := 0
	for i := 0; i < len(items); i++ {
		it := e.items[ibase+i]
		if i+1 < len(items) && cmp(it, e.items[ibase+i+1]) == 0 {
			// Superseded by a later entry with the same key.
			if err := e.checkItem(f.val, it, b); err != nil {
				return dst, err
			}
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		mark := len(dst)
		switch f.key.kind {
		case protoreflect.StringKind:
			var ok bool
			if dst, ok = appendString(dst, it.key); !ok {
				return dst, newError(ErrInvalidValue, it.entryStart, "invalid UTF-8 in map key")
			}
		case protoreflect.BoolKind:
			if it.ikey != 0 {
				dst = append(dst, `"true"`...)
			} else {
				dst = append(dst, `"false"`...)
			}
		case protoreflect.Uint32Kind, protoreflect.Uint64Kind, protoreflect.Fixed32Kind, protoreflect.Fixed64Kind:
			dst = append(strconv.AppendUint(append(dst, '"'), it.ikey, 10), '"')
		default:
			dst = append(strconv.AppendInt(append(dst, '"'), int64(it.ikey), 10), '"')
		}
		key := dst[mark:]
		dst = append(dst, ':')
		var err error
		if f.val.kind == protoreflect.MessageKind {
			v := b[it.val.start:it.val.end]
			if it.multi {
				if v, err = e.mergedValue(f.val.msg, b[it.entryStart:it.entryEnd]); err != nil {
					return dst, err
				}
			}
			dst, err = e.message(dst, f.val.msg, v)
		} else {
			dst, _, err = appendScalar(dst, f.val, it.val.v, b[it.val.start:it.val.end], it.val.start)
		}
		if err != nil {
			return dst, inKey(err, append([]byte(nil), key...))
		}
	}
	e.items = e.items[:ibase]
	e.depth--
	return append(dst, '}'), nil
}

// readEntry reads the map entry in b[start:end]; a missing key or value is the zero value.
func readEntry(f *field, b []byte, start, end int) (mapItem, error) {
	it := mapItem{entryStart: start, entryEnd: end}
	it.val.start, it.val.end = start, start // an empty value
	for i := start; i < end; {
		num, wt, n := protowire.ConsumeTag(b[i:end])
		if n < 0 || num > protowire.MaxValidNumber {
			return it, wireError(i)
		}
		i += n
		var k *field
		switch num {
		case 1:
			k = f.key
		case 2:
			k = f.val
		}
		if k == nil || wt != k.wt {
			m := protowire.ConsumeFieldValue(num, wt, b[i:end])
			if m < 0 {
				return it, wireError(i)
			}
			i += m
			continue
		}
		var ent entry
		m := 0
		switch wt {
		case protowire.VarintType:
			ent.v, m = protowire.ConsumeVarint(b[i:end])
		case protowire.Fixed32Type:
			var v uint32
			v, m = protowire.ConsumeFixed32(b[i:end])
			ent.v = uint64(v)
		case protowire.Fixed64Type:
			ent.v, m = protowire.ConsumeFixed64(b[i:end])
		default:
			var v []byte
			v, m = protowire.ConsumeBytes(b[i:end])
			ent.start = i + m - len(v)
			ent.end = ent.start + len(v)
		}
		if m < 0 {
			return it, wireError(i)
		}
		i += m
		if num == 1 {
			if k.kind == protoreflect.StringKind {
				if k.utf8 && !utf8.Valid(b[ent.start:ent.end]) {
					return it, newError(ErrInvalidValue, ent.start, "invalid UTF-8 in map key")
				}
				it.key = b[ent.start:ent.end]
			} else {
				it.ikey = keyBits(k.kind, ent.v)
			}
			continue
		}
		if it.hasVal {
			switch {
			case k.kind == protoreflect.MessageKind:
				it.multi = true
			case k.kind == protoreflect.StringKind && k.utf8 && !utf8.Valid(b[it.val.start:it.val.end]):
				return it, newError(ErrInvalidValue, it.val.start, "invalid UTF-8")
			}
		}
		it.val, it.hasVal = ent, true
	}
	return it, nil
}

// keyBits converts a map key's wire value to its value, signed kinds sign-extended.
func keyBits(k protoreflect.Kind, v uint64) uint64 {
	switch k {
	case protoreflect.BoolKind:
		if v != 0 {
			return 1
		}
		return 0
	case protoreflect.Int32Kind:
		return uint64(int64(int32(v)))
	case protoreflect.Sint32Kind:
		return uint64(int64(int32(protowire.DecodeZigZag(v & math.MaxUint32))))
	case protoreflect.Sfixed32Kind:
		return uint64(int64(int32(uint32(v))))
	case protoreflect.Sint64Kind:
		return uint64(protowire.DecodeZigZag(v))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return uint64(uint32(v))
	}
	return v // int64, sfixed64, uint64, fixed64
}

// mergedValue concatenates the occurrences of field 2 (a message of plan p) in a map entry
// (which readEntry checked), checking each.
func (e *encoder) mergedValue(p *Plan, b []byte) ([]byte, error) {
	var merged []byte
	for len(b) > 0 {
		num, wt, n := protowire.ConsumeTag(b)
		m := protowire.ConsumeFieldValue(num, wt, b[n:])
		if num == 2 && wt == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b[n:])
			if err := e.validate(p, v); err != nil {
				return nil, err
			}
			merged = append(merged, v...)
		}
		b = b[n+m:]
	}
	return merged, nil
}

// checkItem validates the value of a map entry that is not written.
func (e *encoder) checkItem(val *field, it mapItem, b []byte) error {
	if !it.hasVal {
		return nil
	}
	v := b[it.val.start:it.val.end]
	switch {
	case val.kind == protoreflect.MessageKind:
		if it.multi {
			_, err := e.mergedValue(val.msg, b[it.entryStart:it.entryEnd])
			return err
		}
		return e.validate(val.msg, v)
	case val.kind == protoreflect.StringKind && val.utf8 && !utf8.Valid(v):
		return newError(ErrInvalidValue, it.val.start, "invalid UTF-8")
	}
	return nil
}

// appendScalar writes a non-message value: v for numbers, bools and enums, s for strings and
// bytes; zero reports the kind's zero value. off locates errors.
func appendScalar(dst []byte, f *field, v uint64, s []byte, off int) ([]byte, bool, error) {
	switch f.kind {
	case protoreflect.BoolKind:
		if v != 0 {
			return append(dst, "true"...), false, nil
		}
		return append(dst, "false"...), true, nil
	case protoreflect.EnumKind:
		n := int32(v)
		switch {
		case f.enum.null:
			dst = append(dst, "null"...)
		default:
			if q := f.enum.quoted(n); q != nil {
				dst = append(dst, q...)
			} else {
				dst = strconv.AppendInt(dst, int64(n), 10)
			}
		}
		return dst, n == 0, nil
	case protoreflect.Int32Kind:
		n := int32(v)
		return strconv.AppendInt(dst, int64(n), 10), n == 0, nil
	case protoreflect.Sint32Kind:
		n := int32(protowire.DecodeZigZag(v & math.MaxUint32))
		return strconv.AppendInt(dst, int64(n), 10), n == 0, nil
	case protoreflect.Sfixed32Kind:
		n := int32(uint32(v))
		return strconv.AppendInt(dst, int64(n), 10), n == 0, nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n := uint32(v)
		return strconv.AppendUint(dst, uint64(n), 10), n == 0, nil
	case protoreflect.Int64Kind, protoreflect.Sfixed64Kind:
		return append(strconv.AppendInt(append(dst, '"'), int64(v), 10), '"'), v == 0, nil
	case protoreflect.Sint64Kind:
		n := protowire.DecodeZigZag(v)
		return append(strconv.AppendInt(append(dst, '"'), n, 10), '"'), n == 0, nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return append(strconv.AppendUint(append(dst, '"'), v, 10), '"'), v == 0, nil
	case protoreflect.FloatKind:
		return appendFloat(dst, float64(math.Float32frombits(uint32(v))), 32), uint32(v) == 0, nil
	case protoreflect.DoubleKind:
		return appendFloat(dst, math.Float64frombits(v), 64), v == 0, nil
	case protoreflect.StringKind:
		dst, ok := appendString(dst, s)
		if !ok {
			return dst, false, newError(ErrInvalidValue, off, "invalid UTF-8")
		}
		return dst, len(s) == 0, nil
	case protoreflect.BytesKind:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, s)
		return append(dst, '"'), len(s) == 0, nil
	}
	return dst, false, newError(ErrInvalidValue, off, "unexpected kind "+f.kind.String())
}

// unpopulated writes the EmitUnpopulated form of a field absent from the wire.
func (e *encoder) unpopulated(dst []byte, f *field) []byte {
	switch {
	case f.isMap:
		return append(dst, "{}"...)
	case f.list:
		return append(dst, "[]"...)
	case f.presence:
		return append(dst, "null"...)
	}
	dst, _, _ = appendScalar(dst, f, 0, nil, 0)
	return dst
}

// validate checks a message that is not written as proto.Unmarshal would: its structure,
// and UTF-8 where the syntax requires it.
func (e *encoder) validate(p *Plan, b []byte) error {
	if e.depth++; e.depth > maxDepth {
		return newError(ErrTooDeep, 0, "")
	}
	for i := 0; i < len(b); {
		num, wt, n := protowire.ConsumeTag(b[i:])
		if n < 0 || num > protowire.MaxValidNumber {
			return wireError(i)
		}
		i += n
		f := p.fieldByNum(num)
		if f == nil || wt != protowire.BytesType || (wt != f.wt && !f.packable()) {
			m := protowire.ConsumeFieldValue(num, wt, b[i:])
			if m < 0 {
				return wireError(i)
			}
			i += m
			continue
		}
		v, m := protowire.ConsumeBytes(b[i:])
		if m < 0 {
			return wireError(i)
		}
		start := i + m - len(v)
		i += m
		switch {
		case f.isMap:
			if e.depth++; e.depth > maxDepth {
				return newError(ErrTooDeep, 0, "")
			}
			it, err := readEntry(f, v, 0, len(v))
			if err == nil {
				err = e.checkItem(f.val, it, v)
			}
			e.depth--
			if err != nil {
				return err
			}
		case f.kind == protoreflect.MessageKind:
			if err := e.validate(f.msg, v); err != nil {
				return err
			}
		case f.kind == protoreflect.StringKind:
			if f.utf8 && !utf8.Valid(v) {
				return newError(ErrInvalidValue, start, "invalid UTF-8")
			}
		case f.packable():
			for j := 0; j < len(v); {
				var k int
				switch f.wt {
				case protowire.VarintType:
					_, k = protowire.ConsumeVarint(v[j:])
				case protowire.Fixed32Type:
					_, k = protowire.ConsumeFixed32(v[j:])
				default:
					_, k = protowire.ConsumeFixed64(v[j:])
				}
				if k < 0 {
					return wireError(start + j)
				}
				j += k
			}
		}
	}
	e.depth--
	return nil
}
