package h1server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/edgeapi/gateway/internal/h1wire"
	"golang.org/x/net/http/httpguts"
)

// requestError is a request the server refuses: status is its answer.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func refuse(status int, format string, args ...any) error {
	return &requestError{status: status, msg: fmt.Sprintf(format, args...)}
}

var errTooLarge = errors.New("too large")

// parser reads request heads. Its buffers are the connection's, reused request after request:
// the head is gathered into raw, then turned into one string that every header value is cut
// from.
type parser struct {
	raw   []byte
	lines []span // the head's lines in raw: [0] the request line
	size  int    // bytes read for the head, line ends included (raw has none)
}

// span is a line in parser.raw; for a header, name is raw[start:colon] and value
// raw[vstart:end].
type span struct{ start, colon, vstart, end int }

// read parses the next request's head from c's reader and sets up its body. An error is a
// *requestError when the client should be answered, or the connection's.
func (p *parser) read(c *conn) (*http.Request, error) {
	if err := p.readHead(c.br, c.s.maxHeaderBytes()); err != nil {
		return nil, err
	}
	head := string(p.raw) // the one allocation every string of the head shares
	rl := p.lines[0]
	method, rest, ok1 := strings.Cut(head[rl.start:rl.end], " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !httpguts.ValidHeaderFieldName(method) || target == "" {
		return nil, refuse(http.StatusBadRequest, "malformed request line")
	}
	r := http.Request{Method: method, RequestURI: target, Proto: proto, ProtoMajor: 1, RemoteAddr: c.addr}
	switch proto {
	case "HTTP/1.1":
		r.ProtoMinor = 1
	case "HTTP/1.0":
	default:
		if major, minor, ok := http.ParseHTTPVersion(proto); ok && (major != 1 || minor > 1) {
			return nil, refuse(http.StatusHTTPVersionNotSupported, "unsupported protocol version %q", proto)
		}
		return nil, refuse(http.StatusBadRequest, "malformed HTTP version %q", proto)
	}
	if method == http.MethodConnect {
		return nil, refuse(http.StatusMethodNotAllowed, "CONNECT is not supported")
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "malformed request target")
	}
	r.URL = u

	hdr := make(http.Header, len(p.lines)-1)
	values := make([]string, len(p.lines)-1)
	var host, cl, te []string
	for i, l := range p.lines[1:] {
		name := head[l.start:l.colon]
		if common, ok := commonNames[name]; ok {
			name = common // not kept alive by this head's string in long-lived maps
		}
		values[i] = head[l.vstart:l.end]
		v := values[i : i+1 : i+1]
		switch name {
		case "Host":
			host = append(host, v[0])
			continue
		case "Content-Length":
			cl = append(cl, v[0])
		case "Transfer-Encoding":
			te = append(te, v[0])
			continue
		}
		if old, ok := hdr[name]; ok {
			hdr[name] = append(old, v[0])
		} else {
			hdr[name] = v
		}
	}
	r.Header = hdr

	switch {
	case len(host) > 1:
		return nil, refuse(http.StatusBadRequest, "more than one Host header")
	case len(host) == 1 && !httpguts.ValidHostHeader(host[0]):
		return nil, refuse(http.StatusBadRequest, "malformed Host header")
	case len(host) == 0 && r.ProtoMinor == 1:
		return nil, refuse(http.StatusBadRequest, "missing Host header")
	}
	if u.Host != "" {
		r.Host = u.Host
	} else if len(host) == 1 {
		r.Host = host[0]
	}

	// As net/http: "close" wins over "keep-alive", which HTTP/1.0 needs to keep the connection.
	r.Close = httpguts.HeaderValuesContainsToken(hdr["Connection"], "close") ||
		r.ProtoMinor == 0 && !httpguts.HeaderValuesContainsToken(hdr["Connection"], "keep-alive")
	// As net/http: "Pragma: no-cache" alone implies "Cache-Control: no-cache" (RFC 7234 5.4).
	if vs := hdr["Pragma"]; len(vs) > 0 && vs[0] == "no-cache" {
		if _, ok := hdr["Cache-Control"]; !ok {
			hdr["Cache-Control"] = []string{"no-cache"}
		}
	}

	b := &body{c: c}
	switch {
	case len(te) > 0:
		if r.ProtoMinor == 0 {
			return nil, refuse(http.StatusBadRequest, "Transfer-Encoding in an HTTP/1.0 request")
		}
		if len(te) > 1 || !strings.EqualFold(strings.TrimSpace(te[0]), "chunked") {
			return nil, refuse(http.StatusNotImplemented, "unsupported Transfer-Encoding %q", strings.Join(te, ", "))
		}
		if len(cl) > 0 {
			return nil, refuse(http.StatusBadRequest, "both Content-Length and Transfer-Encoding")
		}
		r.TransferEncoding = []string{"chunked"}
		r.ContentLength = -1
		b.chunked = true
		if err := declareTrailers(&r); err != nil {
			return nil, err
		}
	case len(cl) > 0:
		n, ok := h1wire.ParseLength(cl[0])
		for _, v := range cl[1:] {
			if v != cl[0] {
				ok = false
			}
		}
		if !ok {
			return nil, refuse(http.StatusBadRequest, "invalid Content-Length")
		}
		if len(cl) > 1 {
			hdr["Content-Length"] = cl[:1]
		}
		r.ContentLength = n
		b.remaining = n
	}

	if vs, ok := hdr["Expect"]; ok {
		if len(vs) != 1 || !strings.EqualFold(vs[0], "100-continue") {
			return nil, refuse(http.StatusExpectationFailed, "unsupported Expect")
		}
		// An HTTP/1.0 client cannot take a 100 (RFC 9110 10.1.1 says to ignore the expectation,
		// as net/http does).
		b.expect.Store(r.ContentLength != 0 && r.ProtoMinor == 1)
	}
	if r.ContentLength == 0 {
		r.Body = http.NoBody
	} else {
		r.Body = b
	}
	return &r, nil
}

// declareTrailers moves a chunked request's Trailer header into Trailer, with nil values
// that the body fills in at its end, as net/http's server does.
func declareTrailers(r *http.Request) error {
	vs, ok := r.Header["Trailer"]
	if !ok {
		return nil
	}
	delete(r.Header, "Trailer")
	for _, v := range vs {
		for _, k := range strings.Split(v, ",") {
			k = http.CanonicalHeaderKey(strings.TrimSpace(k))
			switch {
			case k == "":
				continue
			case k == "Transfer-Encoding", k == "Trailer", k == "Content-Length", !httpguts.ValidHeaderFieldName(k):
				return refuse(http.StatusBadRequest, "bad trailer key %q", k)
			}
			if r.Trailer == nil {
				r.Trailer = make(http.Header)
			}
			r.Trailer[k] = nil
		}
	}
	return nil
}

// readHead reads the request line and the header lines up to the empty line, checking each
// header line's form and canonicalising its name in place.
func (p *parser) readHead(br *bufio.Reader, limit int) error {
	p.raw, p.lines, p.size = p.raw[:0], p.lines[:0], 0
	for {
		l, _, err := p.readLine(br, limit)
		if err == errTooLarge {
			if len(p.lines) == 0 {
				return refuse(http.StatusRequestURITooLong, "request line too long")
			}
			return refuse(http.StatusRequestHeaderFieldsTooLarge, "request headers too large")
		}
		if err != nil {
			if len(p.lines) > 0 || len(p.raw) > 0 {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
			}
			return err
		}
		if len(p.lines) == 0 {
			if l.end == l.start {
				return refuse(http.StatusBadRequest, "empty request line")
			}
			if bytes.IndexByte(p.raw[l.start:l.end], '\r') >= 0 {
				return refuse(http.StatusBadRequest, "malformed request line")
			}
			p.lines = append(p.lines, l)
			continue
		}
		if l.end == l.start {
			return nil
		}
		if err := p.field(&l); err != nil {
			return err
		}
		p.lines = append(p.lines, l)
	}
}

// readLine appends the next line, without its CRLF (or LF), to raw, and reports whether it
// ended with CRLF. limit bounds the bytes read since readHead began, line ends included.
func (p *parser) readLine(br *bufio.Reader, limit int) (l span, crlf bool, err error) {
	start := len(p.raw)
	for {
		frag, err := br.ReadSlice('\n')
		if p.size += len(frag); p.size > limit {
			return span{}, false, errTooLarge
		}
		p.raw = append(p.raw, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return span{}, false, err
		}
		end := len(p.raw) - 1
		if crlf = end > start && p.raw[end-1] == '\r'; crlf {
			end--
		}
		p.raw = p.raw[:end]
		return span{start: start, end: end}, crlf, nil
	}
}

// field checks a header line and fills in its name and value bounds.
func (p *parser) field(l *span) error {
	line := p.raw[l.start:l.end]
	if line[0] == ' ' || line[0] == '\t' {
		return refuse(http.StatusBadRequest, "obsolete line folding in headers")
	}
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return refuse(http.StatusBadRequest, "malformed header line")
	}
	upper := true
	for j := 0; j < i; j++ {
		b := line[j]
		if !httpguts.IsTokenRune(rune(b)) {
			return refuse(http.StatusBadRequest, "invalid header name %q", line[:i])
		}
		if upper && 'a' <= b && b <= 'z' {
			b -= 'a' - 'A'
		} else if !upper && 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		line[j] = b
		upper = b == '-'
	}
	v := line[i+1:]
	lead := 0
	for lead < len(v) && (v[lead] == ' ' || v[lead] == '\t') {
		lead++
	}
	trail := len(v)
	for trail > lead && (v[trail-1] == ' ' || v[trail-1] == '\t') {
		trail--
	}
	for _, b := range v[lead:trail] {
		if b < ' ' && b != '\t' || b == 0x7f {
			return refuse(http.StatusBadRequest, "invalid header value for %q", line[:i])
		}
	}
	l.colon = l.start + i
	l.vstart = l.start + i + 1 + lead
	l.end = l.start + i + 1 + trail
	return nil
}

// commonNames interns frequent header names so that the maps holding them (a proxy's copies,
// for one) do not keep a whole request head alive.
var commonNames = func() map[string]string {
	m := make(map[string]string)
	for _, k := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Authorization",
		"Cache-Control", "Connection", "Content-Encoding", "Content-Length", "Content-Type",
		"Cookie", "Date", "Expect", "Forwarded", "Host", "If-Match", "If-Modified-Since",
		"If-None-Match", "Keep-Alive", "Origin", "Pragma", "Range", "Referer", "Te",
		"Traceparent", "Tracestate", "Trailer", "Transfer-Encoding", "Upgrade", "User-Agent",
		"X-Api-Key", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip",
		"X-Request-Id", "Ce-Id", "Ce-Type", "Ce-Source", "Ce-Specversion", "Sec-Websocket-Key",
		"Sec-Websocket-Version", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions",
	} {
		m[k] = k
	}
	return m
}()
