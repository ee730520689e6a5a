package secure

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/edgeapi/gateway/internal/h1wire"
)

// PathError says why NormalizePath refused a path.
type PathError struct {
	Path   string // the raw path, truncated to 128 bytes
	Reason string // a short human phrase, e.g. "encoded slash (%2F)"
}

func (e *PathError) Error() string { return fmt.Sprintf("path %q: %s", e.Path, e.Reason) }

// maxQuoted bounds how much of an offending path an error repeats.
const maxQuoted = 128

func pathError(raw, reason string) *PathError {
	if len(raw) > maxQuoted {
		raw = raw[:maxQuoted] + "..."
	}
	return &PathError{Path: raw, Reason: reason}
}

// NormalizePath returns the canonical escaped form of raw, the path of a request target as it
// arrived (percent-encoded, without the query), or a *PathError saying why it was refused.
//
// Refused:
//   - a path that does not start with "/" (asterisk-form, authority-form, relative);
//   - an encoded slash or backslash: %2F, %2f, %5C, %5c; a raw backslash;
//   - NUL and other control characters, raw or encoded: 0x00-0x1F, 0x7F, and the C1 controls
//     U+0080-U+009F;
//   - a raw "#" or "?" (they cannot be part of a path: the client or a proxy is confused);
//   - a malformed escape ("%", "%4", "%zz");
//   - bytes that are not UTF-8 once decoded, which includes overlong forms (%C0%AF for "/",
//     %C0%AE or %E0%80%AE for "."), surrogates and truncated sequences;
//   - characters that Unicode compatibility normalisation (NFKC, which some backends and
//     frameworks apply) turns into ".", "/", "\" or "%": fullwidth solidus U+FF0F, one dot leader
//     U+2024, small full stop U+FE52 and the rest of the confusables table;
//   - a dot segment spelled with escapes: %2e, %2e%2e, .%2e, %2E. (the spelling is itself an
//     attack; a plain "." or ".." is resolved instead);
//   - a dot segment carrying parameters: "..;x", ".;", "..%3B" (Tomcat and Jetty treat "..;" as
//     "..");
//   - ".." that would climb above the root ("/..", "/a/../..");
//   - a double-encoded dot, separator, percent, control or non-ASCII byte: %25 followed by
//     2E, 2F, 5C, 25, 00-1F, 7F or 80-FF, checked after unreserved characters were decoded, so
//     %25%32%65 is caught as well.
//
// Normalised:
//   - empty segments ("//") collapse; "." segments go; ".." removes the segment before it
//     (RFC 3986 5.2.4); a trailing slash is kept, and a path ending in a dot segment ends in "/";
//   - escapes of unreserved characters (ALPHA DIGIT "-" "." "_" "~") are decoded: %41 -> A,
//     %7E -> ~;
//   - every other escape is kept with upper-case hex digits: %3b -> %3B;
//   - raw characters a path may not carry unescaped (`"<>[]^{|}` and space) and raw UTF-8 are
//     percent-encoded.
//
// The result starts with "/", contains only unreserved characters, sub-delims, ":", "@", "/" and
// %XX escapes, has no empty, "." or ".." segment (a name such as "a..b" is kept: it is not a
// dot segment), and NormalizePath(result) == result. An empty raw path is "/".
func NormalizePath(raw string) (string, error) {
	if raw == "" {
		return "/", nil
	}
	if raw[0] != '/' {
		return "", pathError(raw, "the path does not start with /")
	}
	if alreadyNormal(raw) {
		return raw, nil
	}
	return normalize(raw)
}

// normalize is NormalizePath without the fast path; raw starts with "/".
func normalize(raw string) (string, error) {
	segs := make([]string, 0, 8)
	trailing := false
	var buf strings.Builder
	buf.Grow(len(raw))
	for start := 1; start <= len(raw); {
		end := strings.IndexByte(raw[start:], '/')
		if end < 0 {
			end = len(raw)
		} else {
			end += start
		}
		last := end == len(raw)
		rawSeg := raw[start:end]
		start = end + 1

		buf.Reset()
		if reason := canonicalSegment(&buf, rawSeg); reason != "" {
			return "", pathError(raw, reason)
		}
		seg := buf.String()
		name := dotName(seg)
		dot := name == "." || name == ".."
		switch {
		case dot && seg != name:
			return "", pathError(raw, fmt.Sprintf("dot segment with parameters (%q)", seg))
		case dot && strings.IndexByte(rawSeg, '%') >= 0:
			return "", pathError(raw, "percent-encoded dot segment")
		case seg == "" || seg == ".":
			trailing = last
		case seg == "..":
			if len(segs) == 0 {
				return "", pathError(raw, `".." climbs above the root`)
			}
			segs = segs[:len(segs)-1]
			trailing = last
		default:
			segs = append(segs, seg)
			trailing = false
		}
	}
	out := "/" + strings.Join(segs, "/")
	if trailing && len(segs) > 0 {
		out += "/"
	}
	if reason := doubleEncoded(out); reason != "" {
		return "", pathError(raw, reason)
	}
	return out, nil
}

// alreadyNormal is the fast path for the common case: only unreserved characters, sub-delims,
// ":", "@" and "/", no "//" and no segment starting with "." (which covers every dot segment).
// Such a path is its own normal form.
func alreadyNormal(raw string) bool {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '/' {
			if i+1 < len(raw) && (raw[i+1] == '/' || raw[i+1] == '.') {
				return false
			}
			continue
		}
		if !unreserved(c) && !pathChar(c) {
			return false
		}
	}
	return true
}

// dotName returns seg up to its first ";" or "%3B" (path parameters, as Tomcat, Jetty and
// Spring cut them).
func dotName(seg string) string {
	if i := strings.IndexByte(seg, ';'); i >= 0 {
		seg = seg[:i]
	}
	if i := strings.Index(seg, "%3B"); i >= 0 {
		seg = seg[:i]
	}
	return seg
}

// canonicalSegment appends the canonical form of one raw segment (no "/" in it) to buf, or
// returns why the segment is refused.
func canonicalSegment(buf *strings.Builder, seg string) string {
	var pending [utf8.UTFMax]byte // bytes of a multi-byte character being assembled
	np := 0
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		encoded := false
		if c == '%' {
			if i+2 >= len(seg) {
				return "malformed percent-encoding"
			}
			hi, ok1 := h1wire.HexDigit(seg[i+1])
			lo, ok2 := h1wire.HexDigit(seg[i+2])
			if !ok1 || !ok2 {
				return "malformed percent-encoding"
			}
			c = hi<<4 | lo
			i += 2
			encoded = true
		}
		if c >= utf8.RuneSelf {
			if np > 0 && utf8.RuneStart(c) || np == 0 && !utf8.RuneStart(c) {
				return "invalid UTF-8"
			}
			pending[np] = c
			np++
			if !utf8.FullRune(pending[:np]) {
				if np == utf8.UTFMax {
					return "invalid UTF-8"
				}
				continue
			}
			r, size := utf8.DecodeRune(pending[:np])
			if r == utf8.RuneError && size <= 1 || size != np {
				return "invalid UTF-8 (an overlong form or a surrogate)"
			}
			if r <= 0x9F {
				return fmt.Sprintf("control character U+%04X", r)
			}
			if confusable(r) {
				return fmt.Sprintf("character U+%04X normalises to a separator or dot", r)
			}
			for _, b := range pending[:np] {
				writeEscaped(buf, b)
			}
			np = 0
			continue
		}
		if np > 0 {
			return "invalid UTF-8 (a truncated sequence)"
		}
		switch {
		case c == 0:
			return "NUL byte"
		case c < 0x20 || c == 0x7F:
			return fmt.Sprintf("control character 0x%02X", c)
		case c == '/' && encoded:
			return "encoded slash (%2F)"
		case c == '\\' && encoded:
			return "encoded backslash (%5C)"
		case c == '\\':
			return "backslash"
		case (c == '#' || c == '?') && !encoded:
			return fmt.Sprintf("raw %q in the path", c)
		case unreserved(c):
			buf.WriteByte(c)
		case encoded || !pathChar(c):
			writeEscaped(buf, c)
		default:
			buf.WriteByte(c)
		}
	}
	if np > 0 {
		return "invalid UTF-8 (a truncated sequence)"
	}
	return ""
}

// doubleEncoded reports why the canonical path out is refused for a double-encoded byte, or "".
func doubleEncoded(out string) string {
	for i := strings.Index(out, "%25"); i >= 0; {
		if i+4 < len(out) {
			hi, ok1 := h1wire.HexDigit(out[i+3])
			lo, ok2 := h1wire.HexDigit(out[i+4])
			if ok1 && ok2 {
				switch b := hi<<4 | lo; {
				case b == '.', b == '/', b == '\\', b == '%', b < 0x20, b >= 0x7F:
					return fmt.Sprintf("double-encoded byte (%%25%s)", out[i+3:i+5])
				}
			}
		}
		j := strings.Index(out[i+3:], "%25")
		if j < 0 {
			break
		}
		i += 3 + j
	}
	return ""
}

// confusables are the characters whose NFKC form contains ".", "/", "\" or "%" (computed with
// golang.org/x/text/unicode/norm; TestConfusablesMatchNFKC keeps the table honest).
var confusables = [...][2]rune{
	{0x2024, 0x2026}, {0x2100, 0x2101}, {0x2105, 0x2106}, {0x2488, 0x249B}, {0x33C2, 0x33C2},
	{0x33C7, 0x33C7}, {0x33D8, 0x33D8}, {0xFE19, 0xFE19}, {0xFE30, 0xFE30}, {0xFE52, 0xFE52},
	{0xFE68, 0xFE68}, {0xFE6A, 0xFE6A}, {0xFF05, 0xFF05}, {0xFF0E, 0xFF0F}, {0xFF3C, 0xFF3C},
	{0x1F100, 0x1F100},
}

func confusable(r rune) bool {
	for _, rg := range confusables {
		if r >= rg[0] && r <= rg[1] {
			return true
		}
	}
	return false
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// pathChar reports whether c may appear unescaped in a path segment besides the unreserved
// characters: sub-delims, ":" and "@" (RFC 3986 3.3).
func pathChar(c byte) bool {
	switch c {
	case '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@':
		return true
	}
	return false
}

const upperHex = "0123456789ABCDEF"

func writeEscaped(buf *strings.Builder, c byte) {
	buf.WriteByte('%')
	buf.WriteByte(upperHex[c>>4])
	buf.WriteByte(upperHex[c&15])
}
