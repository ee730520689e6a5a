package transcode

import (
	"bytes"
	"math"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file reads the special JSON forms of the well-known types, as protojson does.

const (
	maxDurationSeconds  = 315576000000
	maxTimestampSeconds = 253402300799
	minTimestampSeconds = -62135596800
	maxNanos            = 999999999
)

// appendSecondsNanos writes the fields of a Timestamp or Duration.
func appendSecondsNanos(dst []byte, p *Plan, secs int64, nanos int32) []byte {
	if secs != 0 {
		dst = protowire.AppendVarint(append(dst, p.fields[0].tag...), uint64(secs))
	}
	if nanos != 0 {
		dst = protowire.AppendVarint(append(dst, p.fields[1].tag...), uint64(int64(nanos)))
	}
	return dst
}

// timestamp reads an RFC 3339 string with time.Parse, as protojson does.
func (d *decoder) timestamp(dst []byte, p *Plan) ([]byte, error) {
	start := d.i
	raw, esc, err := d.strValue("an RFC 3339 timestamp string")
	if err != nil {
		return dst, err
	}
	s := d.content(raw, esc)
	t, perr := time.Parse(time.RFC3339Nano, unsafeString(s))
	secs := t.Unix()
	// At most nine digits of fractional seconds.
	i := bytes.LastIndexByte(s, '.')
	j := bytes.LastIndexAny(s, "Z-+")
	if perr != nil || secs < minTimestampSeconds || secs > maxTimestampSeconds ||
		(i >= 0 && j >= i && j-i > len(".999999999")) {
		return dst, newError(ErrInvalidValue, start, "invalid google.protobuf.Timestamp")
	}
	return appendSecondsNanos(dst, p, secs, int32(t.Nanosecond())), nil
}

// duration reads a decimal number of seconds with the suffix "s".
func (d *decoder) duration(dst []byte, p *Plan) ([]byte, error) {
	start := d.i
	raw, esc, err := d.strValue(`a duration string ("1.5s")`)
	if err != nil {
		return dst, err
	}
	secs, nanos, ok := parseDuration(d.content(raw, esc))
	if !ok || secs < -maxDurationSeconds || secs > maxDurationSeconds {
		return dst, newError(ErrInvalidValue, start, "invalid google.protobuf.Duration")
	}
	return appendSecondsNanos(dst, p, secs, nanos), nil
}

// parseDuration follows protojson: an optional sign, digits, an optional fraction of at most
// nine digits, "s"; "1s", "0.1s", "1.s", ".1s", "+1s", "-.1s" are all valid.
func parseDuration(b []byte) (int64, int32, bool) {
	if len(b) < 2 || b[len(b)-1] != 's' {
		return 0, 0, false
	}
	b = b[:len(b)-1]
	neg := false
	switch b[0] {
	case '-':
		neg = true
		b = b[1:]
	case '+':
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, 0, false
	}
	var intp []byte
	switch {
	case b[0] == '0':
		b = b[1:]
	case '1' <= b[0] && b[0] <= '9':
		n := 1
		for n < len(b) && '0' <= b[n] && b[n] <= '9' {
			n++
		}
		intp, b = b[:n], b[n:]
	case b[0] == '.':
	default:
		return 0, 0, false
	}
	var nanos int64
	if len(b) > 0 {
		if b[0] != '.' {
			return 0, 0, false
		}
		b = b[1:]
		n := 0
		for len(b) > 0 && n < 9 && '0' <= b[0] && b[0] <= '9' {
			nanos = nanos*10 + int64(b[0]-'0')
			n++
			b = b[1:]
		}
		if len(b) > 0 {
			return 0, 0, false
		}
		for ; n < 9; n++ {
			nanos *= 10
		}
	}
	var secs int64
	for _, c := range intp {
		if secs > (math.MaxInt64-int64(c-'0'))/10 {
			return 0, 0, false
		}
		secs = secs*10 + int64(c-'0')
	}
	if neg {
		secs, nanos = -secs, -nanos
	}
	return secs, int32(nanos), true
}

// fieldMask reads comma-separated lowerCamel paths and writes them in snake_case.
func (d *decoder) fieldMask(dst []byte, p *Plan) ([]byte, error) {
	start := d.i
	raw, esc, err := d.strValue("a field mask string")
	if err != nil {
		return dst, err
	}
	s := bytes.TrimSpace(d.content(raw, esc))
	if len(s) == 0 {
		return dst, nil
	}
	tag := p.fields[0].tag
	for {
		path := s
		i := bytes.IndexByte(s, ',')
		if i >= 0 {
			path, s = s[:i], s[i+1:]
		}
		if bytes.IndexByte(path, '_') >= 0 {
			return dst, newError(ErrInvalidValue, start, "invalid google.protobuf.FieldMask path")
		}
		dst = append(dst, tag...)
		var at, x int
		dst, at, x = d.begin(dst)
		for _, c := range path {
			if 'A' <= c && c <= 'Z' {
				dst = append(dst, '_', c+('a'-'A'))
			} else {
				dst = append(dst, c)
			}
		}
		if !validFullName(dst[at:]) {
			return dst, newError(ErrInvalidValue, start, "invalid google.protobuf.FieldMask path")
		}
		dst = d.end(dst, at, x)
		if i < 0 {
			return dst, nil
		}
	}
}

// validFullName is protoreflect.FullName.IsValid on bytes.
func validFullName(s []byte) bool {
	letter := func(c byte) bool { return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }
	for {
		if len(s) == 0 || !letter(s[0]) {
			return false
		}
		i := 1
		for i < len(s) && (letter(s[i]) || ('0' <= s[i] && s[i] <= '9')) {
			i++
		}
		if i == len(s) {
			return true
		}
		if s[i] != '.' {
			return false
		}
		s = s[i+1:]
	}
}

// knownValue reads any JSON value as a google.protobuf.Value.
func (d *decoder) knownValue(dst []byte, p *Plan) ([]byte, error) {
	start := d.i
	f := p.fields // null_value, number_value, string_value, bool_value, struct_value, list_value
	switch c := d.peek(); {
	case d.literal("null"):
		return protowire.AppendVarint(append(dst, f[0].tag...), 0), nil
	case d.literal("true"):
		return protowire.AppendVarint(append(dst, f[3].tag...), 1), nil
	case d.literal("false"):
		return protowire.AppendVarint(append(dst, f[3].tag...), 0), nil
	case c == '"':
		return d.scalar(dst, &f[2], f[2].tag, false)
	case c == '-' || ('0' <= c && c <= '9'):
		tok, ok := d.number()
		if !ok {
			return dst, d.badValue(start, "invalid number")
		}
		v, ok := parseFloat(tok, 64)
		if !ok {
			return dst, newError(ErrInvalidValue, start, "invalid google.protobuf.Value number")
		}
		return protowire.AppendFixed64(append(dst, f[1].tag...), math.Float64bits(v)), nil
	case c == '{':
		dst = append(dst, f[4].tag...)
		dst, at, x := d.begin(dst)
		dst, err := d.mapField(dst, &f[4].msg.fields[0])
		if err != nil {
			return dst, err
		}
		return d.end(dst, at, x), nil
	case c == '[':
		dst = append(dst, f[5].tag...)
		dst, at, x := d.begin(dst)
		dst, err := d.listField(dst, &f[5].msg.fields[0])
		if err != nil {
			return dst, err
		}
		return d.end(dst, at, x), nil
	}
	return dst, d.badValue(start, "invalid google.protobuf.Value")
}
