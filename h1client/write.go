package h1client

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// requestWriter is how one request goes out on its connection: head, then body (by the caller
// when sync, else by a goroutine of the exchange).
type requestWriter struct {
	c       *conn
	req     *http.Request
	method  string
	host    string
	body    io.Reader // nil: no body
	length  int64     // of body; -1 when chunked
	chunked bool
	sync    bool // the caller writes the body with the head and flushes once
	// bodyDone: the body (if any) was written whole by the caller.
	bodyDone bool
	trailer  string // the Trailer header's value, "" when none
}

// writeResult is what the body writer goroutine reports: a write error on the connection, or a
// failure to read the body (the request went out incomplete).
type writeResult struct {
	connErr error
	bodyErr error
}

// newRequestWriter works out the framing of req's body as net/http's Transport does and checks
// what it must not write.
func (c *conn) newRequestWriter(req *http.Request) (requestWriter, error) {
	w := requestWriter{c: c, req: req, method: req.Method}
	if w.method == "" {
		w.method = http.MethodGet
	} else if !validToken(w.method) {
		return w, fmt.Errorf("h1client: invalid method %q", w.method)
	}
	w.host = req.Host
	if w.host == "" {
		w.host = req.URL.Host
	}
	if !validHost(w.host) {
		return w, fmt.Errorf("h1client: invalid Host %q", w.host)
	}
	if hasCTL(req.URL.RawQuery) || hasCTL(req.URL.Opaque) {
		return w, errors.New("h1client: control character in the request URL")
	}
	switch body := req.Body; {
	case body == nil || body == http.NoBody:
		if req.ContentLength > 0 {
			return w, fmt.Errorf("h1client: ContentLength %d without a body", req.ContentLength)
		}
	case req.ContentLength > 0 && !isChunked(req.TransferEncoding):
		w.body, w.length = body, req.ContentLength
	default:
		// Unknown length. net/http probes the body of a method that usually has none, so that an
		// empty one is not sent as a chunked body that confuses servers; so do we (without its
		// time bound: such a body that blocks blocks the call).
		w.body, w.length, w.chunked = body, -1, true
		if !isChunked(req.TransferEncoding) && usuallyLacksBody(w.method) {
			var one [1]byte
			n, err := io.ReadFull(body, one[:])
			switch {
			case n == 0 && (err == io.EOF || err == io.ErrUnexpectedEOF):
				w.body, w.length, w.chunked = nil, 0, false
			case err != nil:
				return w, err
			default:
				w.body = io.MultiReader(strings.NewReader(string(one[:])), body)
			}
		}
	}
	w.sync = w.body == nil || w.length <= maxSyncBody && !w.chunked
	if w.body == nil {
		w.bodyDone = true
	}
	if w.chunked && len(req.Trailer) > 0 {
		keys := make([]string, 0, len(req.Trailer))
		for k := range req.Trailer {
			k = http.CanonicalHeaderKey(k)
			switch {
			case k == "Transfer-Encoding", k == "Trailer", k == "Content-Length", !validToken(k):
				return w, fmt.Errorf("h1client: invalid trailer %q", k)
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		w.trailer = strings.Join(keys, ",")
	}
	return w, nil
}

// writeHead writes the request line and headers; it flushes them unless the caller writes a
// body next. It returns the connection's write error or an invalid request's.
func (w *requestWriter) writeHead() (connErr, reqErr error) {
	bw, req := w.c.bw, w.req
	_, _ = bw.WriteString(w.method)
	_ = bw.WriteByte(' ')
	writeRequestURI(bw, req.URL)
	_, _ = bw.WriteString(" HTTP/1.1\r\nHost: ")
	_, _ = bw.WriteString(w.host)
	_, _ = bw.WriteString("\r\n")
	for k, vs := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
			continue // ours to write
		case "User-Agent":
			// An empty User-Agent means none, as for net/http; only the first value counts.
			if len(vs) > 0 && vs[0] != "" && !hasCTL(vs[0]) {
				writeField(bw, k, vs[0])
			}
			continue
		}
		if !validToken(k) {
			continue
		}
		for _, v := range vs {
			if !hasCTL(v) {
				writeField(bw, k, v)
			}
		}
	}
	if req.Close && !HasToken(req.Header["Connection"], "close") {
		_, _ = bw.WriteString("Connection: close\r\n")
	}
	switch {
	case w.chunked:
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n")
		if w.trailer != "" {
			writeField(bw, "Trailer", w.trailer)
		}
	case w.length > 0:
		var num [20]byte
		_, _ = bw.WriteString("Content-Length: ")
		_, _ = bw.Write(strconv.AppendInt(num[:0], w.length, 10))
		_, _ = bw.WriteString("\r\n")
	case w.method == http.MethodPost || w.method == http.MethodPut || w.method == http.MethodPatch:
		// Many servers want a length for these even when there is no body.
		_, _ = bw.WriteString("Content-Length: 0\r\n")
	}
	_, _ = bw.WriteString("\r\n")
	if w.body != nil && w.sync {
		return nil, nil // the body follows in the same flush
	}
	return bw.Flush(), nil
}

// writeBody writes the body (chunked with its trailers, or exactly length bytes) and flushes.
// connErr is a failure of the connection, bodyErr of the body (or a body shorter than said).
func (w *requestWriter) writeBody() (connErr, bodyErr error) {
	if w.chunked {
		return w.writeChunked()
	}
	bw := w.c.bw
	left := w.length
	for empty := 0; left > 0; {
		if bw.Available() == 0 {
			if err := bw.Flush(); err != nil {
				return err, nil
			}
		}
		// Read straight into the writer's buffer: no copy buffer of our own.
		buf := bw.AvailableBuffer()[:min(int64(bw.Available()), left)]
		n, err := w.body.Read(buf)
		if n > 0 {
			_, _ = bw.Write(buf[:n])
			left -= int64(n)
			empty = 0
		}
		switch {
		case err == io.EOF && left > 0:
			return nil, fmt.Errorf("h1client: request body of %d bytes, shorter than its ContentLength %d", w.length-left, w.length)
		case err == io.EOF:
		case err != nil:
			return nil, err
		case n == 0:
			if empty++; empty > 100 {
				return nil, io.ErrNoProgress
			}
		}
	}
	return bw.Flush(), nil
}

// writeChunked sends the body in chunks as it reads it, each flushed at once (a stream's parts
// should not wait for the next), then the last chunk and the trailers.
func (w *requestWriter) writeChunked() (connErr, bodyErr error) {
	bw := w.c.bw
	bp := w.c.t.bufs.Get().(*[]byte)
	defer w.c.t.bufs.Put(bp)
	buf := *bp
	var size [16]byte
	for empty := 0; ; {
		n, err := w.body.Read(buf)
		if n > 0 {
			empty = 0
			_, _ = bw.Write(strconv.AppendInt(size[:0], int64(n), 16))
			_, _ = bw.WriteString("\r\n")
			_, _ = bw.Write(buf[:n])
			_, _ = bw.WriteString("\r\n")
			if ferr := bw.Flush(); ferr != nil {
				return ferr, nil
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			if empty++; empty > 100 {
				return nil, io.ErrNoProgress
			}
		}
	}
	_, _ = bw.WriteString("0\r\n")
	if w.trailer != "" {
		// The values are what the body's reader filled in by its end.
		for k, vs := range w.req.Trailer {
			k = http.CanonicalHeaderKey(k)
			for _, v := range vs {
				if !hasCTL(v) {
					writeField(bw, k, v)
				}
			}
		}
	}
	_, _ = bw.WriteString("\r\n")
	return bw.Flush(), nil
}

// writeAsync is the body writer goroutine of an exchange whose body is large or streaming: it
// writes the body, closes it, and reports. A body that failed leaves the request incomplete,
// so the connection is closed (after the report, so that the reader, woken by the close, finds
// the reason).
func (w *requestWriter) writeAsync(done chan<- writeResult) {
	connErr, bodyErr := w.writeBody()
	closeBody(w.req)
	done <- writeResult{connErr: connErr, bodyErr: bodyErr}
	if bodyErr != nil {
		w.c.close()
	}
}

// writeRequestURI writes the origin-form target: the URL's path as it is escaped and its raw
// query as given.
func writeRequestURI(bw interface {
	WriteString(string) (int, error)
	WriteByte(byte) error
}, u *url.URL) {
	if u.Opaque != "" || u.ForceQuery {
		_, _ = bw.WriteString(u.RequestURI())
		return
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	_, _ = bw.WriteString(p)
	if u.RawQuery != "" {
		_ = bw.WriteByte('?')
		_, _ = bw.WriteString(u.RawQuery)
	}
}

func writeField(bw interface {
	WriteString(string) (int, error)
}, k, v string) {
	_, _ = bw.WriteString(k)
	_, _ = bw.WriteString(": ")
	_, _ = bw.WriteString(v)
	_, _ = bw.WriteString("\r\n")
}

// hasCTL reports a control character (other than tab) or DEL, which would break or smuggle
// through the message framing.
func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < ' ' && b != '\t' || b == 0x7f {
			return true
		}
	}
	return false
}

// validToken reports an RFC 9110 token: a method or a field name.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(b)) {
			return false
		}
	}
	return true
}

// validHost rejects a Host value that could break the header block.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		if b := h[i]; b <= ' ' || b == 0x7f || b == '/' {
			return false
		}
	}
	return true
}

func isChunked(te []string) bool { return len(te) > 0 && te[0] == "chunked" }

// usuallyLacksBody: the methods net/http probes before sending a body of unknown length.
func usuallyLacksBody(method string) bool {
	switch method {
	case "GET", "HEAD", "DELETE", "OPTIONS", "PROPFIND", "SEARCH":
		return true
	}
	return false
}

// HasToken reports whether a comma-separated header (all its values) lists token, ignoring
// case and optional whitespace. The proxy reads Connection, Upgrade and TE with it too.
func HasToken(values []string, token string) bool {
	for _, v := range values {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
