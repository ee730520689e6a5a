package h1client

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"

	"github.com/edgeapi/gateway/internal/h1wire"
	"golang.org/x/net/http/httpguts"
)

// The common answer, read without net/http.
//
// http.ReadResponse costs a dozen allocations an answer (textproto's reader, a map grown
// entry by entry, a line and a string a header, a limited reader, its body): a third of
// the proxy's. Nearly every answer a node sends is the same shape: a final status, a
// Content-Length, well-formed header lines in one buffer. readSimple parses that shape from
// the bytes buffered in the reader, with one string for the whole head; anything else (other
// framing, a Connection, Trailer or Transfer-Encoding header, a HEAD, a 1xx, 204 or 304
// status, obs-fold, bare LF, a control character, a head larger than the buffer) is left
// unread for http.ReadResponse. Accepting only what both parsers read alike keeps the two
// from disagreeing on where an answer ends, which would hand one client's answer to another.

// readSimple parses the answer at the head of br when it has the common shape, consuming its
// head; ok false means nothing was consumed and http.ReadResponse is to read it.
func readSimple(br *bufio.Reader, req *http.Request) (resp *http.Response, ok bool) {
	if req.Method == http.MethodHead {
		return nil, false
	}
	end := headEnd(br)
	if end < 0 {
		return nil, false
	}
	raw, _ := br.Peek(end)
	if !simpleHead(raw) {
		return nil, false
	}
	head := string(raw[:end-4]) // the one allocation every string of the head shares
	line, rest, _ := strings.Cut(head, "\r\n")
	proto, status, _ := strings.Cut(line, " ")
	if proto != "HTTP/1.1" {
		return nil, false // HTTP/1.0's keep-alive rules are net/http's
	}
	code, reason, _ := strings.Cut(status, " ")
	if len(code) != 3 || reason == "" {
		return nil, false
	}
	n := int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	if code[0] < '2' || code[0] > '5' || code[1] < '0' || code[1] > '9' || code[2] < '0' || code[2] > '9' ||
		n == http.StatusNoContent || n == http.StatusNotModified {
		return nil, false
	}

	lines := strings.Count(rest, "\r\n") + 1
	if rest == "" {
		lines = 0
	}
	hdr := make(http.Header, lines)
	values := make([]string, lines) // one backing array, cut into each name's slice
	length := int64(-1)
	i := 0
	for rest != "" {
		var l string
		l, rest, _ = strings.Cut(rest, "\r\n")
		colon := strings.IndexByte(l, ':')
		if colon <= 0 {
			return nil, false
		}
		name := canonicalName(l[:colon])
		if name == "" {
			return nil, false
		}
		v := strings.Trim(l[colon+1:], " \t")
		switch name {
		case "Connection", "Trailer", "Transfer-Encoding", "Pragma":
			return nil, false // closing, trailers, other framing, Cache-Control added
		case "Content-Length":
			if length >= 0 {
				return nil, false // net/http's rules for repeats are its own
			}
			cl, ok := h1wire.ParseLength(v)
			if !ok {
				return nil, false
			}
			length = cl
		}
		values[i] = v
		if old, dup := hdr[name]; dup {
			hdr[name] = append(old, v)
		} else {
			hdr[name] = values[i : i+1 : i+1]
		}
		i++
	}
	if length < 0 {
		return nil, false // the body would end with the connection
	}
	_, _ = br.Discard(end)
	resp = &http.Response{
		Status: status, StatusCode: n, Proto: proto, ProtoMajor: 1, ProtoMinor: 1,
		Header: hdr, ContentLength: length, Request: req, Body: http.NoBody,
	}
	if length > 0 {
		resp.Body = &lengthBody{br: br, left: length}
	}
	return resp, true
}

// headEnd returns the length of the head buffered at br's start, its final CRLF CRLF
// included, reading more while the buffer has room; -1 when the head is not there in that
// shape (a bare LF, a head larger than the buffer, an error: http.ReadResponse will tell).
func headEnd(br *bufio.Reader) int {
	n := max(br.Buffered(), 1)
	for {
		b, err := br.Peek(n)
		from := 0
		for {
			j := bytes.IndexByte(b[from:], '\n')
			if j < 0 {
				break
			}
			j += from
			if j == 0 || b[j-1] != '\r' {
				return -1
			}
			if j >= 3 && b[j-2] == '\n' {
				return j + 1
			}
			from = j + 1
		}
		if err != nil || len(b) >= br.Size() {
			return -1
		}
		n = len(b) + 1
	}
}

// simpleHead reports whether raw has no byte that net/http's reader treats specially in a
// head: a CR not before LF, control characters other than CR, LF (headEnd checked that each
// follows a CR) and tab, DEL, and the leading whitespace of a folded line.
func simpleHead(raw []byte) bool {
	for i, c := range raw {
		switch {
		case c == '\r':
			if i+1 == len(raw) || raw[i+1] != '\n' {
				return false // a CR alone
			}
		case c == '\n':
		case (c == ' ' || c == '\t') && i > 0 && raw[i-1] == '\n':
			return false // obs-fold
		case c < ' ' && c != '\t' || c == 0x7f:
			return false
		}
	}
	return true
}

// canonicalName returns name in canonical form, or "" when it is not a token.
func canonicalName(name string) string {
	upper := true
	canonical := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !httpguts.IsTokenRune(rune(c)) {
			return ""
		}
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			canonical = false
		}
		upper = c == '-'
	}
	if canonical {
		return name
	}
	return http.CanonicalHeaderKey(name)
}

// lengthBody is a body of known length read from the connection's reader.
type lengthBody struct {
	br   *bufio.Reader
	left int64
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.br.Read(p)
	b.left -= int64(n)
	if b.left == 0 {
		return n, io.EOF
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *lengthBody) Close() error { return nil }
