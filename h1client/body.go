package h1client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
)

// exchange is the response body of one exchange: it reads the answer's body from the
// connection and, at its end, hands the connection back to the pool.
type exchange struct {
	c         *conn
	req       *http.Request
	ctx       context.Context // the request's: its cancellation aborts the body
	rc        io.ReadCloser   // the body http.ReadResponse framed
	respClose bool            // the answer said the connection ends with it
	// writing reports the body writer goroutine's end; nil when the caller wrote the body,
	// bodyDone then saying whether it was written whole.
	writing  chan writeResult
	bodyDone bool

	// mu orders the end of the body (EOF, failure, Close), which may race a concurrent Close.
	mu    sync.Mutex
	ended bool
	err   error // what Read returns once ended
}

var errBodyClosed = errors.New("h1client: read on a closed response body")

// response finishes the exchange's part in RoundTrip: it wraps the answer's body, or releases
// the connection at once when there is none.
func (x *exchange) response(resp *http.Response) (*http.Response, error) {
	c := x.c
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The connection now carries another protocol and belongs to the caller; the request's
		// context no longer reaches it.
		if !c.disarm() {
			c.close()
			return nil, context.Cause(x.ctx)
		}
		resp.Body = &upgraded{c: c}
		return resp, nil
	}
	x.respClose = resp.Close
	if resp.Body == http.NoBody {
		// HEAD, 204, 304, an empty body: the exchange is over already.
		c.release(x.reusable())
		return resp, nil
	}
	x.rc = resp.Body
	resp.Body = x
	return resp, nil
}

// reusable reports whether the connection may carry another exchange: nobody asked to close
// it and the request body was written whole. A body writer still running gets a short while
// to report: the answer may well have come before its last write returned.
func (x *exchange) reusable() bool {
	if x.respClose || x.req.Close {
		return false
	}
	if x.writing == nil {
		return x.bodyDone
	}
	var res writeResult
	select {
	case res = <-x.writing:
	default:
		t := time.NewTimer(maxWriteWait)
		defer t.Stop()
		select {
		case res = <-x.writing:
		case <-t.C:
			return false
		}
	}
	return res.connErr == nil && res.bodyErr == nil
}

// Read reads the body. At its clean end the connection goes back to the pool; a failure
// closes it, and is the context's cause when the context ended the exchange.
func (x *exchange) Read(p []byte) (int, error) {
	x.mu.Lock()
	if x.ended {
		x.mu.Unlock()
		return 0, x.err
	}
	x.mu.Unlock()
	n, err := x.rc.Read(p)
	if err == nil {
		return n, nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.ended {
		return n, x.err // closed while reading
	}
	x.ended = true
	if err == io.EOF {
		x.err = io.EOF
		x.c.release(x.reusable())
		return n, io.EOF
	}
	x.c.fail()
	x.err = x.c.ctxErr(x.ctx, err)
	return n, x.err
}

// Close ends the body; before its end, that closes the connection (the rest of the body would
// have to be read to reuse it).
func (x *exchange) Close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.ended {
		return nil
	}
	x.ended, x.err = true, errBodyClosed
	x.c.fail()
	return nil
}

// upgraded is the body of a 101 answer: the connection itself, starting with what the reader
// had buffered past the answer's headers.
type upgraded struct{ c *conn }

func (u *upgraded) Read(p []byte) (int, error)  { return u.c.br.Read(p) }
func (u *upgraded) Write(p []byte) (int, error) { return u.c.nc.Write(p) }
func (u *upgraded) Close() error                { return u.c.nc.Close() }

var _ io.ReadWriteCloser = (*upgraded)(nil)
