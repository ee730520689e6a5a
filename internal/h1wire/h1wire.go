// Package h1wire holds the small pieces of HTTP/1.1's syntax that more than one of the
// gateway's parsers read (h1server, h1client, middleware/secure), so that they read them alike.
package h1wire

// ParseLength parses a Content-Length value: 1 to 18 digits, no sign, no spaces, so no
// overflow; ok is false for anything else.
func ParseLength(s string) (n int64, ok bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// HexDigit returns the value of an ASCII hex digit (either case): chunk sizes, percent escapes.
func HexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
