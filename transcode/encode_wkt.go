package transcode

import (
	"math"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// This file writes the special JSON forms of the well-known types, as protojson does.

// wellKnown writes a well-known type whose fields scan recorded from slot sbase on.
func (e *encoder) wellKnown(dst []byte, p *Plan, b []byte, sbase int) ([]byte, error) {
	slots := e.slots[sbase : sbase+len(p.fields)]
	// last returns the last value of a scalar field, 0 when absent.
	last := func(i int) uint64 {
		if t := slots[i].tail; t != 0 {
			return e.entries[t-1].v
		}
		return 0
	}
	switch p.wkt {
	case wktTimestamp:
		secs, nanos := int64(last(0)), int64(int32(last(1)))
		if secs < minTimestampSeconds || secs > maxTimestampSeconds || nanos < 0 || nanos > maxNanos {
			return dst, newError(ErrInvalidValue, 0, "google.protobuf.Timestamp out of range")
		}
		dst = append(dst, '"')
		dst = time.Unix(secs, nanos).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000000")
		dst = trimFraction(dst)
		return append(dst, 'Z', '"'), nil

	case wktDuration:
		secs, nanos := int64(last(0)), int64(int32(last(1)))
		if secs < -maxDurationSeconds || secs > maxDurationSeconds || nanos < -maxNanos || nanos > maxNanos ||
			(secs > 0 && nanos < 0) || (secs < 0 && nanos > 0) {
			return dst, newError(ErrInvalidValue, 0, "google.protobuf.Duration out of range")
		}
		dst = append(dst, '"')
		if secs < 0 || nanos < 0 {
			dst = append(dst, '-')
			secs, nanos = -secs, -nanos
		}
		dst = strconv.AppendInt(dst, secs, 10)
		dst = append(dst, '.')
		frac := len(dst)
		dst = strconv.AppendInt(dst, nanos+1e9, 10) // 1 and nine digits
		copy(dst[frac:], dst[frac+1:])
		dst = trimFraction(dst[:len(dst)-1])
		return append(dst, 's', '"'), nil

	case wktWrapper:
		f := &p.fields[0]
		if slots[0].tail == 0 {
			dst, _, err := appendScalar(dst, f, 0, nil, 0)
			return dst, err
		}
		dst, _, err := e.value(dst, f, slots[0], 0, b)
		return dst, err

	case wktStruct:
		if slots[0].head == 0 {
			return append(dst, "{}"...), nil
		}
		return e.mapValue(dst, &p.fields[0], slots[0], b)

	case wktListValue:
		dst, _, err := e.listValue(dst, &p.fields[0], slots[0], b)
		return dst, err

	case wktValue:
		win, at := -1, int32(0)
		for i := range slots {
			if slots[i].tail > at {
				win, at = i, slots[i].tail
			}
		}
		if win < 0 {
			return dst, newError(ErrInvalidValue, 0, "google.protobuf.Value with no value set")
		}
		// Members that lost to a later one are still checked, like proto.Unmarshal does.
		for i := range slots {
			if i != win {
				if err := e.checkSuperseded(&p.fields[i], slots[i].head, slots[i].tail+1, b); err != nil {
					return dst, err
				}
			}
		}
		f := &p.fields[win]
		if f.kind == protoreflect.DoubleKind {
			if v := math.Float64frombits(last(win)); math.IsNaN(v) || math.IsInf(v, 0) {
				return dst, newError(ErrInvalidValue, 0, "google.protobuf.Value number is NaN or infinite")
			}
		}
		other := int32(0)
		for i := range slots {
			if i != win {
				other = max(other, slots[i].tail)
			}
		}
		dst, _, err := e.value(dst, f, slots[win], other, b)
		return dst, err

	case wktFieldMask:
		return e.fieldMask(dst, p, slots[0], b)
	}
	return dst, newError(ErrInvalidValue, 0, "unexpected well-known type")
}

// trimFraction drops trailing groups of three zeros from a nine-digit fraction, and the
// point with the last group: .500000000 -> .500, .000000000 -> "".
func trimFraction(dst []byte) []byte {
	n := len(dst)
	for i := 0; i < 3; i++ {
		if string(dst[n-3:n]) != "000" {
			break
		}
		n -= 3
	}
	if dst[n-1] == '.' {
		n--
	}
	return dst[:n]
}

// fieldMask writes the paths lowerCamel-cased and comma-separated; a path that does not
// survive the round trip is an error, as in protojson.
func (e *encoder) fieldMask(dst []byte, p *Plan, s slot, b []byte) ([]byte, error) {
	dst = append(dst, '"')
	for i := s.head; i != 0; i = e.entries[i-1].next {
		ent := e.entries[i-1]
		path := b[ent.start:ent.end]
		if !validFullName(path) {
			return dst, newError(ErrInvalidValue, ent.start, "invalid google.protobuf.FieldMask path")
		}
		if i != s.head {
			dst = append(dst, ',')
		}
		at := len(dst)
		under := false
		for _, c := range path {
			if c == '_' {
				under = true
				continue
			}
			if under && 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			under = false
			dst = append(dst, c)
		}
		// The snake_case of what was written must be the path again.
		j := 0
		for _, c := range dst[at:] {
			if 'A' <= c && c <= 'Z' {
				if j >= len(path) || path[j] != '_' {
					return dst, newError(ErrInvalidValue, ent.start, "irreversible google.protobuf.FieldMask path")
				}
				j++
				c += 'a' - 'A'
			}
			if j >= len(path) || path[j] != c {
				return dst, newError(ErrInvalidValue, ent.start, "irreversible google.protobuf.FieldMask path")
			}
			j++
		}
		if j != len(path) {
			return dst, newError(ErrInvalidValue, ent.start, "irreversible google.protobuf.FieldMask path")
		}
	}
	return append(dst, '"'), nil
}

var _ = protowire.BytesType
