// Package h1wire holds the pieces of HTTP/1.1's message syntax that the gateway's server
// (h1server) and client (h1client) must read alike.
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
