package nats

import (
	"errors"
	"fmt"
	"strings"
)

// keyPrefix starts every key this package writes; other keys in the bucket are ignored.
const keyPrefix = "svc."

// nodeKey is the KV key of one node of one service: svc.<service>.<node>, both escaped.
func nodeKey(service, node string) string {
	return keyPrefix + escape(service) + "." + escape(node)
}

// serviceFilter matches the keys of every node of one service.
func serviceFilter(service string) string {
	return keyPrefix + escape(service) + ".*"
}

// parseKey reverses nodeKey. ok is false for keys this package did not write.
func parseKey(key string) (service, node string, ok bool) {
	rest, found := strings.CutPrefix(key, keyPrefix)
	if !found {
		return "", "", false
	}
	es, en, found := strings.Cut(rest, ".")
	if !found || strings.Contains(en, ".") {
		return "", "", false
	}
	var err1, err2 error
	service, err1 = unescape(es)
	node, err2 = unescape(en)
	if err1 != nil || err2 != nil || service == "" || node == "" {
		return "", "", false
	}
	return service, node, true
}

const hexDigits = "0123456789ABCDEF"

// escape makes s one token of a KV key, reversibly and readably: ASCII letters, digits, '-'
// and '_' stay as they are, every other byte becomes '=' and two upper-case hex digits
// (quoted-printable style), so "go.micro.api.user" becomes "go=2Emicro=2Eapi=2Euser".
func escape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plain(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('=')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0x0f])
	}
	return b.String()
}

var errBadEscape = errors.New("malformed escape")

// unescape reverses escape. It accepts only what escape produces, so every key has exactly
// one decoding and every name exactly one key.
func unescape(s string) (string, error) {
	if !strings.Contains(s, "=") {
		for i := 0; i < len(s); i++ {
			if !plain(s[i]) {
				return "", fmt.Errorf("%w: byte %q", errBadEscape, s[i])
			}
		}
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case plain(c):
			b = append(b, c)
		case c == '=' && i+2 < len(s):
			hi, lo := unhex(s[i+1]), unhex(s[i+2])
			if hi < 0 || lo < 0 {
				return "", fmt.Errorf("%w: %q", errBadEscape, s[i:i+3])
			}
			d := byte(hi<<4 | lo)
			if plain(d) {
				return "", fmt.Errorf("%w: %q needs no escape", errBadEscape, s[i:i+3])
			}
			b = append(b, d)
			i += 2
		default:
			return "", fmt.Errorf("%w at %d", errBadEscape, i)
		}
	}
	return string(b), nil
}

func plain(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// unhex decodes an upper-case hex digit, -1 otherwise.
func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
