package h1server

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeapi/gateway/internal/h1wire"
)

// maxChunkLine bounds a chunk-size line, extensions included: a peer that sends more is not
// sending chunks.
const maxChunkLine = 4 << 10

var (
	errMalformedChunk = errors.New("malformed chunked encoding")
	errChunkLine      = errors.New("chunk-size line too long")
	errChunkOverhead  = errors.New("chunked encoding contains too much non-data")
)

// body is a request's body as the handler reads it: Content-Length bytes or chunks from the
// connection's reader. Its mutex lets the server take the body back from a handler that left
// a goroutine reading it: after finish, reads fail with http.ErrBodyReadAfterClose.
type body struct {
	c   *conn
	req *http.Request // receives the trailers of a chunked body
	w   *response     // the answer: 100 Continue is not sent once it has begun

	mu        sync.Mutex
	chunked   bool
	remaining int64       // bytes left: of the body (Content-Length) or of the current chunk
	inChunk   bool        // chunked: remaining counts the current chunk's data
	excess    int64       // chunked: framing read beyond what the data allows (see readChunked)
	expect    atomic.Bool // "Expect: 100-continue", not answered yet; atomic for WriteHeader(100)
	err       error       // sticky: io.EOF once the whole body is read
	closed    bool        // the handler is done with it
}

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.expect.CompareAndSwap(true, false) {
		if err := b.c.sendContinue(b.w); err != nil {
			b.err = err
			return 0, err
		}
	}
	var n int
	var err error
	if b.chunked {
		n, err = b.readChunked(p)
	} else {
		n, err = b.readLength(p)
	}
	if err != nil {
		b.err = err
		if err == io.EOF {
			// Nothing of this request is left to read: from now on a read of the connection
			// can only be the client leaving or pipelining.
			b.c.armWatch()
		}
	}
	return n, err
}

func (b *body) readLength(p []byte) (int, error) {
	if b.remaining == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.c.br.Read(p)
	b.remaining -= int64(n)
	if b.remaining == 0 {
		return n, io.EOF
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *body) readChunked(p []byte) (int, error) {
	br := b.c.br
	for !b.inChunk {
		size, n, err := readChunkSize(br)
		if err != nil {
			return 0, err
		}
		// As net/http (CVE-2023-39326): tiny chunks with long extensions would have the server
		// read, for a body it drains, far more than maxDrain. 16 bytes of framing a chunk plus
		// twice its data are allowed; beyond that, 16 KiB in all.
		b.excess = max(b.excess+int64(n)+2-16-2*size, 0)
		if b.excess > 16<<10 {
			return 0, errChunkOverhead
		}
		if size == 0 {
			if err := b.readTrailers(); err != nil {
				return 0, err
			}
			return 0, io.EOF
		}
		b.remaining, b.inChunk = size, true
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := br.Read(p)
	b.remaining -= int64(n)
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	if err != nil {
		return n, err
	}
	if b.remaining == 0 {
		b.inChunk = false
		if err := expectCRLF(br); err != nil {
			return n, err
		}
	}
	return n, nil
}

// readChunkSize reads a chunk-size line: hex digits, optional extensions (ignored, but
// checked for control characters), CRLF. Bare LF is refused: parsers that accept it
// disagree with those that do not on where a body ends.
// It also returns the line's length.
func readChunkSize(br *bufio.Reader) (int64, int, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull || len(line) > maxChunkLine {
		return 0, 0, errChunkLine
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, 0, err
	}
	n := len(line)
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return 0, 0, errMalformedChunk
	}
	line = line[:len(line)-2]
	var size int64
	i := 0
	for ; i < len(line); i++ {
		d, ok := h1wire.HexDigit(line[i])
		if !ok {
			break
		}
		if i >= 15 { // 16 hex digits may overflow int64
			return 0, 0, errMalformedChunk
		}
		size = size<<4 | int64(d)
	}
	if i == 0 {
		return 0, 0, errMalformedChunk
	}
	// The size is followed by extensions or by whitespace alone: net/http refuses whitespace
	// before a ';', and this parser is to be no laxer.
	ext := line[i:]
	if len(ext) > 0 && ext[0] != ';' {
		for _, c := range ext {
			if c != ' ' && c != '\t' {
				return 0, 0, errMalformedChunk
			}
		}
	}
	for _, c := range ext {
		if c < ' ' && c != '\t' || c == 0x7f {
			return 0, 0, errMalformedChunk
		}
	}
	return size, n, nil
}

func expectCRLF(br *bufio.Reader) error {
	var crlf [2]byte
	if _, err := io.ReadFull(br, crlf[:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if crlf != [2]byte{'\r', '\n'} {
		return errMalformedChunk
	}
	return nil
}

// readTrailers reads the trailer section after the last chunk into req.Trailer. Fields that
// frame or route a message are dropped: a trailer may not change how the message was read.
func (b *body) readTrailers() error {
	p := &b.c.parser
	p.raw, p.lines, p.size = p.raw[:0], p.lines[:0], 0
	limit := b.c.s.maxHeaderBytes()
	for {
		l, crlf, err := p.readLine(b.c.br, limit)
		if err == errTooLarge {
			return errMalformedChunk
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if !crlf {
			// Unlike a head's, as net/http has it (it wants the section to end with CRLF CRLF):
			// a parser that took "0\r\n\n" for the end of the body would end it before one that
			// does not.
			return errMalformedChunk
		}
		if l.end == l.start {
			break
		}
		if err := p.field(&l); err != nil {
			return errMalformedChunk
		}
		p.lines = append(p.lines, l)
	}
	if len(p.lines) == 0 {
		return nil
	}
	raw := string(p.raw)
	for _, l := range p.lines {
		name := raw[l.start:l.colon]
		switch name {
		case "Content-Length", "Transfer-Encoding", "Trailer", "Host", "Content-Type", "Connection":
			continue
		}
		if b.req.Trailer == nil {
			b.req.Trailer = make(http.Header)
		}
		b.req.Trailer[name] = append(b.req.Trailer[name], raw[l.vstart:l.end])
	}
	return nil
}

// finish takes the body back from the handler and reads what it left, so the connection can
// carry the next request; it reports whether that worked.
func (b *body) finish() bool {
	if b.mu.TryLock() { // the common case, without the deadline's cost
		done := b.err == io.EOF
		b.closed = b.closed || done
		b.mu.Unlock()
		if done {
			return true
		}
	}
	if d := b.c.s.drainTimeout(); d > 0 {
		// Bounded as a head is: a client that stops sending mid-body would otherwise hold the
		// connection, and Shutdown, for ever. Set before the lock, which a handler's goroutine
		// blocked reading the body may hold.
		nc := b.c.nc
		_ = nc.SetReadDeadline(time.Now().Add(d))
		defer func() { _ = nc.SetReadDeadline(time.Time{}) }()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	switch {
	case b.err == io.EOF:
		return true
	case b.err != nil:
		return false
	case b.expect.Load():
		// The client waits for 100 Continue before sending the body, or sends it anyway after
		// a while: which one cannot be told, so the connection ends here.
		return false
	case !b.chunked && b.remaining > maxDrain:
		return false
	}
	var n int64
	var err error
	buf := make([]byte, 4<<10)
	for n <= maxDrain && err == nil {
		var k int
		if b.chunked {
			k, err = b.readChunked(buf)
		} else {
			k, err = b.readLength(buf)
		}
		n += int64(k)
	}
	return err == io.EOF && n <= maxDrain
}

// drainable reports whether finish can keep the connection: the body is read, or what is left
// is small enough to read. Called when the answer's head is written, to say Connection: close.
//
// A read in progress on another goroutine (a full-duplex handler, a proxy's body writer)
// holds the body's lock, perhaps for as long as the client takes to send: the answer does not
// wait for it, and since whether that body ends soon cannot be known, the connection will not
// be kept.
func (b *body) drainable() bool {
	if !b.mu.TryLock() {
		return false
	}
	defer b.mu.Unlock()
	switch {
	case b.err == io.EOF:
		return true
	case b.err != nil, b.expect.Load():
		return false
	}
	return b.chunked || b.remaining <= maxDrain
}

// Close marks the body done; what is left is read, or not, by finish when the handler returns.
func (b *body) Close() error {
	return nil
}
