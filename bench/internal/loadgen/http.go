package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
)

// HTTP is a minimal HTTP/1.1 keep-alive client for one fixed request: it writes prebuilt bytes
// and parses just enough of the answer (status, Content-Length or chunked, Connection: close),
// so the load generator spends little CPU per request compared with net/http's client. It
// reconnects when the server closes the connection.
type HTTP struct {
	Addr       string // host:port
	Request    []byte // whole request, see NewRequest
	WantStatus int    // e.g. 200
}

// NewRequest builds an HTTP/1.1 request with Content-Length (when body is not nil).
func NewRequest(method, host, path string, header map[string]string, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, host)
	for k, v := range header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	if body != nil {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// Dial implements Dialer.
func (h *HTTP) Dial(ctx context.Context) (Conn, error) {
	c := &httpConn{h: h}
	if err := c.connect(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

type httpConn struct {
	h  *HTTP
	c  net.Conn
	br *bufio.Reader
}

func (c *httpConn) connect(ctx context.Context) error {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.h.Addr)
	if err != nil {
		return err
	}
	c.c = nc
	if c.br == nil {
		c.br = bufio.NewReaderSize(nc, 32<<10)
	} else {
		c.br.Reset(nc)
	}
	return nil
}

func (c *httpConn) Close() error {
	if c.c == nil {
		return nil
	}
	return c.c.Close()
}

func (c *httpConn) Do(ctx context.Context) error {
	if c.c == nil {
		if err := c.connect(ctx); err != nil {
			return err
		}
	}
	status, closeAfter, err := c.roundTrip()
	if err != nil || closeAfter {
		_ = c.c.Close()
		c.c = nil
	}
	if err != nil {
		return err
	}
	if status != c.h.WantStatus {
		return fmt.Errorf("status %d, want %d", status, c.h.WantStatus)
	}
	return nil
}

var errMalformed = errors.New("malformed HTTP response")

func (c *httpConn) roundTrip() (status int, closeAfter bool, err error) {
	if _, err := c.c.Write(c.h.Request); err != nil {
		return 0, true, err
	}
	return ReadResponse(c.br)
}

// ReadResponse reads one HTTP/1.1 response from br and discards its body.
func ReadResponse(br *bufio.Reader) (status int, closeAfter bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, true, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, true, errMalformed
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, true, errMalformed
	}
	length, chunked := int64(-1), false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, true, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, true, errMalformed
		}
		v = bytes.TrimSpace(v)
		switch {
		case asciiEqualFold(k, "content-length"):
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil || n < 0 {
				return 0, true, errMalformed
			}
			length = n
		case asciiEqualFold(k, "transfer-encoding"):
			chunked = bytes.Contains(bytes.ToLower(v), []byte("chunked"))
		case asciiEqualFold(k, "connection"):
			closeAfter = bytes.EqualFold(v, []byte("close"))
		}
	}
	switch {
	case status == 204 || status == 304 || (status >= 100 && status < 200):
	case chunked:
		err = discardChunked(br)
	case length >= 0:
		_, err = br.Discard(int(length))
	default: // body until the server closes
		_, err = io.Copy(io.Discard, br)
		closeAfter = true
	}
	if err != nil {
		return 0, true, err
	}
	return status, closeAfter, nil
}

func discardChunked(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || n < 0 {
			return errMalformed
		}
		if n == 0 {
			// Trailers, then the empty line.
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if _, err := br.Discard(int(n) + 2); err != nil {
			return err
		}
	}
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
