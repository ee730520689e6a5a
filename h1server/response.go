package h1server

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgeapi/gateway/internal/h1wire"
	"golang.org/x/net/http/httpguts"
)

// errHijacked is returned by a writer whose connection a handler took over.
var errHijacked = http.ErrHijacked

// response is the http.ResponseWriter of one request. The head is written to the connection's
// buffer only when the body's framing is known: when the handler returns (a whole body of up
// to holdSize gets a Content-Length), flushes, or writes more than holdSize.
type response struct {
	c    *conn
	req  *http.Request
	body *body // nil when the request has none

	header http.Header
	status int

	wroteHeader bool  // the status is fixed
	sentHead    bool  // the head is in the connection's buffer
	chunking    bool  // the body goes out chunked
	untilClose  bool  // the body ends with the connection (HTTP/1.0, length unknown)
	noBody      bool  // HEAD, 204, 304: no body on the wire
	length      int64 // the handler's Content-Length, -1 if none
	written     int64 // body bytes the handler wrote
	closeAfter  bool  // the connection ends after this answer
	hijacked    bool
	trailers    []string // names declared in the Trailer header at WriteHeader
	writeErr    error    // the connection failed; later writes report it
}

func newResponse(c *conn, req *http.Request, b *body) *response {
	w := &response{c: c, req: req, body: b, header: make(http.Header), length: -1}
	if b != nil {
		b.w = w
	}
	w.closeAfter = req.Close
	c.hold = c.hold[:0]
	return w
}

func (w *response) Header() http.Header { return w.header }

// WriteHeader fixes the status and takes a snapshot of what frames the body. 1xx answers
// other than 101 are written at once and may be followed by another.
func (w *response) WriteHeader(code int) {
	if w.hijacked || w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.writeInformational(code)
		return
	}
	w.wroteHeader, w.status = true, code
	h := w.header
	if cl := h["Content-Length"]; len(cl) > 0 {
		if n, ok := h1wire.ParseLength(strings.TrimSpace(cl[0])); ok {
			w.length = n
		}
	}
	if httpguts.HeaderValuesContainsToken(h["Connection"], "close") {
		w.closeAfter = true
	}
	w.trailers = w.trailers[:0]
	for _, v := range h["Trailer"] {
		for _, k := range strings.Split(v, ",") {
			// As net/http: fields that frame, route or describe the message may not be trailers.
			if k = http.CanonicalHeaderKey(strings.TrimSpace(k)); k != "" && httpguts.ValidTrailerHeader(k) {
				w.trailers = append(w.trailers, k)
			}
		}
	}
	w.noBody = w.req.Method == http.MethodHead || !bodyAllowed(code)
}

func bodyAllowed(status int) bool {
	return !(status >= 100 && status <= 199 || status == http.StatusNoContent || status == http.StatusNotModified)
}

func (w *response) writeInformational(code int) {
	if w.req.ProtoMinor == 0 {
		return // an HTTP/1.0 client cannot take a 1xx (RFC 9110 15.2)
	}
	if code == http.StatusContinue && w.body != nil {
		// The handler asked for the body itself: reading it must not send a second 100. Not
		// under the body's lock, which a goroutine blocked reading the body may hold.
		w.body.expect.Store(false)
	}
	bw := w.c.bw
	writeStatusLine(bw, code)
	w.writeFields(w.header, false)
	_, _ = bw.WriteString("\r\n")
	if err := bw.Flush(); err != nil {
		w.writeErr = err
	}
}

func (w *response) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, errHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if w.noBody {
		if w.req.Method == http.MethodHead && bodyAllowed(w.status) {
			w.written += int64(len(p)) // for the Content-Length a short answer gets
			// and the start of it for the Content-Type, which a HEAD answer gets as a GET's.
			if hold := w.c.hold; len(hold) < sniffLen {
				w.c.hold = append(hold, p[:min(len(p), sniffLen-len(hold))]...)
			}
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if w.length >= 0 && w.written+int64(len(p)) > w.length {
		return 0, http.ErrContentLength
	}
	if w.writeErr != nil {
		return 0, w.writeErr
	}
	w.written += int64(len(p))
	c := w.c
	if !w.sentHead {
		if len(c.hold)+len(p) <= holdSize {
			c.hold = append(c.hold, p...)
			return len(p), nil
		}
		w.sendHead(false, p)
	}
	if w.chunking {
		_, _ = c.bw.WriteString(strconv.FormatInt(int64(len(p)), 16))
		_, _ = c.bw.WriteString("\r\n")
		_, _ = c.bw.Write(p)
		_, err := c.bw.WriteString("\r\n")
		if err != nil {
			w.writeErr = err
			return 0, err
		}
		return len(p), nil
	}
	if _, err := c.bw.Write(p); err != nil {
		w.writeErr = err
		return 0, err
	}
	return len(p), nil
}

// WriteString spares io.WriteString's conversion when the body is held.
func (w *response) WriteString(s string) (int, error) {
	if !w.hijacked && w.wroteHeader && !w.sentHead && !w.noBody && w.writeErr == nil &&
		len(w.c.hold)+len(s) <= holdSize && (w.length < 0 || w.written+int64(len(s)) <= w.length) {
		w.c.hold = append(w.c.hold, s...)
		w.written += int64(len(s))
		return len(s), nil
	}
	return w.Write([]byte(s))
}

// sniffLen is what http.DetectContentType looks at.
const sniffLen = 512

// sendHead writes the status line and headers to the connection's buffer, then the body held
// so far. whole says the handler has returned, so the held body is all there is; next is the
// body being written when nothing is held, to sniff its type from.
func (w *response) sendHead(whole bool, next []byte) {
	c := w.c
	bw := c.bw
	c.headMu.Lock() // see sendContinue
	w.sentHead = true
	c.headMu.Unlock()
	h := w.header
	hold := c.hold

	if w.body != nil && !w.closeAfter && !w.body.drainable() {
		w.closeAfter = true
	}
	if c.s.closing.Load() {
		w.closeAfter = true
	}
	var length int64 = -1
	switch {
	case w.noBody:
		if whole && w.req.Method == http.MethodHead && bodyAllowed(w.status) && w.length < 0 && w.written > 0 {
			length = w.written
		}
		if w.length >= 0 {
			length = w.length
		}
	case w.length >= 0:
		length = w.length
	case whole && !w.hasTrailers():
		length = int64(len(hold))
	}
	if !w.noBody && length < 0 {
		if w.req.ProtoMinor == 0 {
			w.untilClose, w.closeAfter = true, true
		} else {
			w.chunking = true
		}
	}

	writeStatusLine(bw, w.status)
	w.writeFields(h, true)
	if _, ok := h["Date"]; !ok {
		_, _ = bw.WriteString("Date: ")
		_, _ = bw.Write(c.date.value())
		_, _ = bw.WriteString("\r\n")
	}
	// As net/http: sniffed from the body's start, unless the body is encoded (issue 31753).
	sniff := hold
	if len(sniff) == 0 {
		sniff = next
	}
	if _, ok := h["Content-Type"]; !ok && len(sniff) > 0 && bodyAllowed(w.status) && !hasValue(h, "Content-Encoding") {
		_, _ = bw.WriteString("Content-Type: ")
		_, _ = bw.WriteString(http.DetectContentType(sniff))
		_, _ = bw.WriteString("\r\n")
	}
	if length >= 0 && bodyAllowed(w.status) {
		_, _ = bw.WriteString("Content-Length: ")
		_, _ = bw.WriteString(strconv.FormatInt(length, 10))
		_, _ = bw.WriteString("\r\n")
	}
	if w.chunking {
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n")
		if len(w.trailers) > 0 {
			_, _ = bw.WriteString("Trailer: ")
			_, _ = bw.WriteString(strings.Join(w.trailers, ", "))
			_, _ = bw.WriteString("\r\n")
		}
	}
	switch {
	case w.closeAfter:
		if !httpguts.HeaderValuesContainsToken(h["Connection"], "close") {
			_, _ = bw.WriteString("Connection: close\r\n")
		}
	case w.req.ProtoMinor == 0:
		_, _ = bw.WriteString("Connection: keep-alive\r\n")
	}
	_, _ = bw.WriteString("\r\n")

	if len(hold) > 0 && !w.noBody {
		if w.chunking {
			_, _ = bw.WriteString(strconv.FormatInt(int64(len(hold)), 16))
			_, _ = bw.WriteString("\r\n")
			_, _ = bw.Write(hold)
			_, _ = bw.WriteString("\r\n")
		} else {
			_, _ = bw.Write(hold)
		}
	}
	c.hold = hold[:0]
}

// hasTrailers reports whether the answer has trailers to send, declared or prefixed.
func (w *response) hasTrailers() bool {
	if len(w.trailers) > 0 {
		return true
	}
	for k := range w.header {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

func hasValue(h http.Header, k string) bool {
	vs := h[k]
	return len(vs) > 0 && vs[0] != ""
}

func writeStatusLine(bw *bufio.Writer, code int) {
	_, _ = bw.WriteString("HTTP/1.1 ")
	var num [3]byte
	_, _ = bw.Write(strconv.AppendInt(num[:0], int64(code), 10))
	_ = bw.WriteByte(' ')
	_, _ = bw.WriteString(http.StatusText(code))
	_, _ = bw.WriteString("\r\n")
}

// writeFields writes h's fields in name order. Fields the server frames the answer with are
// left out, and when final is set the trailers; a name that is not a token is dropped and a
// control character in a value becomes a space, so that a handler cannot split the answer.
func (w *response) writeFields(h http.Header, final bool) {
	bw := w.c.bw
	keys := w.c.keys[:0]
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch k {
		case "Content-Length", "Transfer-Encoding":
			continue
		}
		if final {
			switch {
			case k == "Trailer", strings.HasPrefix(k, http.TrailerPrefix):
				continue
			case k == "Content-Type" && w.status == http.StatusNotModified:
				continue // as net/http: a 304 describes no body
			case slices.Contains(w.trailers, k):
				// Its value may be set once the body is written, but before the head is sent:
				// it goes out once, at the end.
				continue
			}
		}
		if !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		for _, v := range h[k] {
			_, _ = bw.WriteString(k)
			_, _ = bw.WriteString(": ")
			writeValue(bw, v)
			_, _ = bw.WriteString("\r\n")
		}
	}
	clear(keys)
	w.c.keys = keys[:0]
}

// writeValue writes v trimmed, with control characters other than HTAB replaced by spaces: CR
// and LF would split the answer, and clients (Go's among them) refuse a field holding others.
func writeValue(bw *bufio.Writer, v string) {
	v = strings.Trim(v, " \t")
	i := 0
	for i < len(v) && !isCTL(v[i]) {
		i++
	}
	if i == len(v) {
		_, _ = bw.WriteString(v)
		return
	}
	for i := 0; i < len(v); i++ {
		b := v[i]
		if isCTL(b) {
			b = ' '
		}
		_ = bw.WriteByte(b)
	}
}

func isCTL(b byte) bool { return b < ' ' && b != '\t' || b == 0x7f }

// finish completes the answer after the handler returned; it reports whether the connection
// may carry another request.
func (w *response) finish() bool {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sentHead {
		w.sendHead(true, nil)
	}
	bw := w.c.bw
	if w.chunking {
		_, _ = bw.WriteString("0\r\n")
		w.writeTrailers()
		_, _ = bw.WriteString("\r\n")
	}
	if w.length >= 0 && !w.noBody && w.written != w.length {
		// Short of what the head promised: only closing tells the client.
		w.closeAfter = true
	}
	if err := bw.Flush(); err != nil {
		return false
	}
	return w.writeErr == nil && !w.closeAfter && !w.untilClose
}

// writeTrailers writes the declared trailers and those named with http.TrailerPrefix.
func (w *response) writeTrailers() {
	h := w.header
	for _, k := range w.trailers {
		for _, v := range h[k] {
			w.writeTrailer(k, v)
		}
	}
	for k, vs := range h {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			name = http.CanonicalHeaderKey(name)
			switch name {
			case "Transfer-Encoding", "Trailer", "Content-Length", "":
				continue
			}
			for _, v := range vs {
				w.writeTrailer(name, v)
			}
		}
	}
}

func (w *response) writeTrailer(k, v string) {
	if !httpguts.ValidHeaderFieldName(k) {
		return
	}
	bw := w.c.bw
	_, _ = bw.WriteString(k)
	_, _ = bw.WriteString(": ")
	writeValue(bw, v)
	_, _ = bw.WriteString("\r\n")
}

// Flush sends the head and whatever body is written. It is offered to http.ResponseController
// as FlushError.
func (w *response) Flush() { _ = w.FlushError() }

func (w *response) FlushError() error {
	if w.hijacked {
		return errHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sentHead {
		w.sendHead(false, nil)
	}
	if w.writeErr != nil {
		return w.writeErr
	}
	if err := w.c.bw.Flush(); err != nil {
		w.writeErr = err
		return err
	}
	return nil
}

// Hijack hands the connection to the handler: the server stops reading it and forgets it.
// What the client sent beyond the request is in the returned reader.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, errHijacked
	}
	c := w.c
	if w.wroteHeader {
		if err := w.FlushError(); err != nil {
			return nil, nil, err
		}
	}
	c.stopWatch()
	if !c.state.CompareAndSwap(stateActive, stateHijacked) {
		return nil, nil, errors.New("h1server: the connection is closing")
	}
	w.hijacked = true
	c.s.forget(c)
	if !c.rdl.IsZero() {
		_ = c.nc.SetReadDeadline(time.Time{}) // the request's, not the hijacker's
		c.rdl = time.Time{}
	}
	if c.stashed {
		// The watch's byte of what followed the request: into the reader the caller gets.
		_, _ = c.br.Peek(1)
	}
	return c.nc, bufio.NewReadWriter(c.br, c.bw), nil
}

// SetReadDeadline and SetWriteDeadline are offered to http.ResponseController.
// The connection's goroutine clears them after the request.
func (w *response) SetReadDeadline(t time.Time) error {
	w.c.deadlines.Store(true)
	return w.c.nc.SetReadDeadline(t)
}

func (w *response) SetWriteDeadline(t time.Time) error {
	w.c.deadlines.Store(true)
	return w.c.nc.SetWriteDeadline(t)
}

// EnableFullDuplex: the request body can always be read while the answer is written.
func (w *response) EnableFullDuplex() error { return nil }
