package transcode

import (
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// This file reads JSON with exactly the acceptance rules of protojson's decoder (its
// internal/encoding/json): the same whitespace, literal delimiters, number grammar and
// string escapes.

// reader is the JSON input and the read position.
type reader struct {
	in []byte
	i  int
}

func (r *reader) ws() {
	for r.i < len(r.in) {
		switch r.in[r.i] {
		case ' ', '\n', '\r', '\t':
			r.i++
		default:
			return
		}
	}
}

// peek returns the byte at the read position, 0 at the end.
func (r *reader) peek() byte {
	if r.i < len(r.in) {
		return r.in[r.i]
	}
	return 0
}

func (r *reader) syntax(detail string) *Error {
	if r.i >= len(r.in) {
		return newError(ErrSyntax, r.i, "unexpected end of input")
	}
	return newError(ErrSyntax, r.i, detail)
}

// isNotDelim reports whether c may not follow a literal or number.
func isNotDelim(c byte) bool {
	return c == '-' || c == '+' || c == '.' || c == '_' ||
		('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

// literal consumes word (null, true, false) if it is next and followed by a delimiter.
func (r *reader) literal(word string) bool {
	end := r.i + len(word)
	if end > len(r.in) || string(r.in[r.i:end]) != word {
		return false
	}
	if end < len(r.in) && isNotDelim(r.in[end]) {
		return false
	}
	r.i = end
	return true
}

// isNull reports whether the next value is the literal null, without consuming it.
func (r *reader) isNull() bool {
	i := r.i
	if r.literal("null") {
		r.i = i
		return true
	}
	return false
}

// str consumes a JSON string and returns its raw content (between the quotes) and whether it
// has escapes; the content is checked: valid UTF-8, no control characters, valid escapes.
func (r *reader) str() (raw []byte, esc bool, err error) {
	if r.peek() != '"' {
		return nil, false, r.syntax("expected a string")
	}
	start := r.i + 1
	in := r.in
	i := start
	for {
		if i >= len(in) {
			r.i = i
			return nil, false, r.syntax("")
		}
		c := in[i]
		switch {
		case c == '"':
			r.i = i + 1
			return in[start:i], esc, nil
		case c == '\\':
			esc = true
			n, ok := escapeLen(in[i:])
			if !ok {
				r.i = i
				return nil, false, r.syntax("invalid escape in string")
			}
			i += n
		case c < ' ':
			r.i = i
			return nil, false, r.syntax("control character in string")
		case c < utf8.RuneSelf:
			i++
		default:
			rn, n := utf8.DecodeRune(in[i:])
			if rn == utf8.RuneError && n == 1 {
				r.i = i
				return nil, false, r.syntax("invalid UTF-8 in string")
			}
			i += n
		}
	}
}

// escapeLen checks the escape sequence at the start of b and returns its length.
func escapeLen(b []byte) (int, bool) {
	if len(b) < 2 {
		return 0, false
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, true
	case 'u':
		r1, ok := hex4(b[2:])
		if !ok {
			return 0, false
		}
		if !utf16.IsSurrogate(r1) {
			return 6, true
		}
		if len(b) < 12 || b[6] != '\\' || b[7] != 'u' {
			return 0, false
		}
		r2, ok := hex4(b[8:])
		if !ok || utf16.DecodeRune(r1, r2) == unicode.ReplacementChar {
			return 0, false
		}
		return 12, true
	}
	return 0, false
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// unescape appends the string content raw (already checked by str) with escapes resolved.
func unescape(dst, raw []byte) []byte {
	for len(raw) > 0 {
		i := 0
		for i < len(raw) && raw[i] != '\\' {
			i++
		}
		dst = append(dst, raw[:i]...)
		raw = raw[i:]
		if len(raw) == 0 {
			break
		}
		switch c := raw[1]; c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r1, _ := hex4(raw[2:])
			if utf16.IsSurrogate(r1) {
				r2, _ := hex4(raw[8:])
				dst = utf8.AppendRune(dst, utf16.DecodeRune(r1, r2))
				raw = raw[12:]
				continue
			}
			dst = utf8.AppendRune(dst, r1)
			raw = raw[6:]
			continue
		default: // '"', '\\', '/'
			dst = append(dst, c)
		}
		raw = raw[2:]
	}
	return dst
}

// number consumes a JSON number token, with protojson's grammar (which, like its decoder,
// takes "1e" followed by a delimiter as a token), and returns it.
func (r *reader) number() ([]byte, bool) {
	n, ok := scanNumber(r.in[r.i:])
	if !ok {
		return nil, false
	}
	tok := r.in[r.i : r.i+n]
	r.i += n
	return tok, true
}

// scanNumber returns the length of the number token at the start of in.
func scanNumber(in []byte) (int, bool) {
	s := in
	n := 0
	if len(s) == 0 {
		return 0, false
	}
	if s[0] == '-' {
		s, n = s[1:], n+1
		if len(s) == 0 {
			return 0, false
		}
	}
	switch {
	case s[0] == '0':
		s, n = s[1:], n+1
	case '1' <= s[0] && s[0] <= '9':
		s, n = s[1:], n+1
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s, n = s[1:], n+1
		}
	default:
		return 0, false
	}
	if len(s) >= 2 && s[0] == '.' && '0' <= s[1] && s[1] <= '9' {
		s, n = s[2:], n+2
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s, n = s[1:], n+1
		}
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		s, n = s[1:], n+1
		if s[0] == '+' || s[0] == '-' {
			s, n = s[1:], n+1
			if len(s) == 0 {
				return 0, false
			}
		}
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s, n = s[1:], n+1
		}
	}
	if n < len(in) && isNotDelim(in[n]) {
		return 0, false
	}
	return n, true
}

// numberInString reports whether s (a string's content) is exactly one number token, which is
// how protojson reads 64-bit integers and floats given as strings. (protojson also rejects
// surrounding Unicode spaces, which a token spanning all of s cannot have.)
func numberInString(s []byte) bool {
	n, ok := scanNumber(s)
	return ok && n == len(s)
}

// intMagnitude converts a number token to an integer as protojson does (1.5e1 is 15; 1.5 is
// not an integer): it returns the sign and magnitude, or false when the token is not an
// integer of at most 20 digits.
func intMagnitude(tok []byte) (neg bool, mag uint64, ok bool) {
	s := tok
	if s[0] == '-' {
		neg = true
		s = s[1:]
	}
	var intp, frac, exp []byte
	switch {
	case s[0] == '0':
		s = s[1:]
	default:
		j := 1
		for j < len(s) && '0' <= s[j] && s[j] <= '9' {
			j++
		}
		intp, s = s[:j], s[j:]
	}
	if len(s) >= 2 && s[0] == '.' && '0' <= s[1] && s[1] <= '9' {
		j := 2
		for j < len(s) && '0' <= s[j] && s[j] <= '9' {
			j++
		}
		frac, s = s[1:j], s[j:]
		for len(frac) > 0 && frac[len(frac)-1] == '0' {
			frac = frac[:len(frac)-1]
		}
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		exp = s[1:]
		if len(exp) == 1 && (exp[0] == '+' || exp[0] == '-') {
			return false, 0, false // a sign without digits, even for zero
		}
	}
	if len(intp) == 0 && len(frac) == 0 {
		return false, 0, true // "0", whatever the sign and exponent
	}
	e := int64(0)
	if len(exp) > 0 {
		v, err := strconv.ParseInt(unsafeString(exp), 10, 32)
		if err != nil {
			return false, 0, false
		}
		e = v
	}
	// The integer's digits are intp, then frac, then zeros (or intp cut short).
	zeros := int64(0)
	if e >= 0 {
		if int64(len(frac)) > e || int64(len(intp))+e > 20 {
			return false, 0, false
		}
		zeros = e - int64(len(frac))
	} else {
		if len(frac) > 0 {
			return false, 0, false
		}
		idx := int64(len(intp)) + e
		if idx < 0 {
			return false, 0, false
		}
		for _, c := range intp[idx:] {
			if c != '0' {
				return false, 0, false
			}
		}
		intp = intp[:idx]
	}
	for _, digits := range [2][]byte{intp, frac} {
		for _, c := range digits {
			if mag > (1<<64-1)/10 {
				return false, 0, false
			}
			mag *= 10
			d := uint64(c - '0')
			if mag+d < mag {
				return false, 0, false
			}
			mag += d
		}
	}
	for ; zeros > 0; zeros-- {
		if mag > (1<<64-1)/10 {
			return false, 0, false
		}
		mag *= 10
	}
	return neg, mag, true
}

// parseInt converts a number token to a signed integer of the given size.
func parseInt(tok []byte, bitSize int) (int64, bool) {
	neg, mag, ok := intMagnitude(tok)
	if !ok {
		return 0, false
	}
	limit := uint64(1) << (bitSize - 1)
	if neg {
		if mag > limit {
			return 0, false
		}
		return int64(-mag), true
	}
	if mag >= limit {
		return 0, false
	}
	return int64(mag), true
}

// parseUint converts a number token to an unsigned integer of the given size.
func parseUint(tok []byte, bitSize int) (uint64, bool) {
	neg, mag, ok := intMagnitude(tok)
	if !ok || (neg && mag != 0) {
		return 0, false
	}
	if bitSize == 32 && mag > 1<<32-1 {
		return 0, false
	}
	return mag, true
}

// parseFloat converts a number token to a float of the given size.
func parseFloat(tok []byte, bitSize int) (float64, bool) {
	f, err := strconv.ParseFloat(unsafeString(tok), bitSize)
	return f, err == nil
}

// unsafeString views b as a string for calls that do not keep it.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
