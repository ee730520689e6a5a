package httphandler

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/retry"
	"github.com/edgeapi/gateway/selector"
)

// exchange is the state of one proxied request across its tries, a local of forward: with the
// first try's state (the outbound URL, the X-Forwarded values, the timer's state, the 1xx
// trace) embedded, it is the request's one allocation of the proxy's own besides the outbound
// request, its header map, the try's context and timer.
type exchange struct {
	h       *Handler
	w       http.ResponseWriter
	in      *http.Request
	service string
	path    string
	query   string
	upType  string // the protocol an upgrade request asks for, "" for ordinary requests
	replay  []byte // the request body kept for a retry; nil when not kept
	start   time.Time
	tries   int
	tried   []string
	lastErr error    // why the last tried node failed: the answer when no node is left
	token   bool     // holds a retry budget token
	first   tryState // the first try's; a retry gets its own (the old timer may still run)
}

// tryState is what one try's timeout shares with its timer.
type tryState struct {
	// state: tryRunning until the try ends (tryEnded) or its timer fires first (tryExpired).
	state  atomic.Int32
	cancel context.CancelCauseFunc
	cause  error       // errResponseTimeout or errTryTimeout, whichever bounds this try
	timer  *time.Timer // nil when the transport bounds the try (deadlineTransport)
	// mu orders 1xx answers, written from within RoundTrip, before the end of the try
	// (over), after which only the handler writes to w.
	mu    sync.Mutex
	over  bool
	w     http.ResponseWriter
	url   url.URL
	xf    [3]string
	trace httptrace.ClientTrace
}

const (
	tryRunning int32 = iota
	tryEnded
	tryExpired
)

// expire is the try's timer: it cancels the try unless the try ended first.
func (t *tryState) expire() {
	if t.state.CompareAndSwap(tryRunning, tryExpired) {
		t.cancel(t.cause)
	}
}

// end stops the try's timer, if it has one; false means the timer fired first and the try was
// cancelled.
func (t *tryState) end() bool {
	if t.timer != nil {
		t.timer.Stop()
	}
	t.mu.Lock()
	t.over = true
	t.mu.Unlock()
	return t.timer == nil || t.state.CompareAndSwap(tryRunning, tryEnded)
}

// forward proxies r to a node of service at path, retrying on another node as the policy allows.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, service, path string) {
	pol := h.cfg.Retry
	pol.Begin()
	defer pol.End()
	if r.Body != nil {
		// The transport may still read the body after a try ended (a write racing an error);
		// the server forbids reads once the handler returned.
		defer r.Body.Close()
	}
	x := exchange{h: h, w: w, in: r, service: service, path: path, start: time.Now(), query: cleanQuery(r.URL.RawQuery)}
	defer func() {
		if x.token {
			pol.Release()
		}
	}()
	x.upType = upgradeType(r.Header)
	if pol.Enabled() && retry.IdempotentMethod(r.Method) {
		b, err := keepBody(r)
		if err != nil {
			apierror.Write(w, service, err)
			return
		}
		x.replay = b
	}
	for {
		pick, err := h.sel.Select(service, x.tried...)
		if err != nil {
			if len(x.tried) > 0 && errors.Is(err, selector.ErrNoNodes) {
				// No node left to retry on: the answer is why the last one failed.
				err = x.lastErr
				if err == nil {
					err = &apierror.DialError{Address: service, Err: errors.New("no other node to retry on")}
				}
			}
			apierror.Write(w, service, err)
			return
		}
		x.tries++
		t, resp, err := x.try(&pick)
		if err == nil {
			// Response headers arrived: the node answered, whatever its status.
			pick.Done(nil)
			x.respond(resp, t)
			return
		}
		pick.Done(err)
		if isDialError(err) {
			err = &apierror.DialError{Address: pick.Node.Address, Err: err}
		}
		if !x.retryable(err) {
			h.log.Debug("proxy error", "service", service, "node", pick.Node.ID, "error", err)
			apierror.Write(w, service, err)
			return
		}
		x.tried = append(x.tried, pick.Node.ID)
		x.lastErr = err
	}
}

// try sends the request to pick's node once. It returns the response once its headers
// arrived (the try's context then stays live for the body until t.cancel), or the try's error,
// a timeout reported as errResponseTimeout or errTryTimeout and a connection the node closed
// without answering as a network error (brokenConnection).
func (x *exchange) try(pick *selector.Pick) (t *tryState, resp *http.Response, err error) {
	h, r := x.h, x.in
	t = &x.first
	if x.tries > 1 {
		t = new(tryState)
	}
	// One bound for the try, until the response headers: the per-try timeout, or what is left
	// of the response timeout if that comes first. A deadline on the connection when the
	// transport takes one, else a timer cancelling the try's context.
	d, cause := h.cfg.Timeout, errResponseTimeout
	if x.tries > 1 {
		d -= time.Since(x.start)
	}
	if p := h.cfg.Retry; p != nil && p.PerTryTimeout > 0 && p.PerTryTimeout < d {
		d, cause = p.PerTryTimeout, errTryTimeout
	}
	t.cause = cause
	t.w = x.w
	t.trace.Got1xxResponse = t.got1xx
	ctx := r.Context()
	var deadline time.Time
	if h.by != nil {
		deadline = time.Now().Add(d)
		t.cancel = noCancel // the client leaving cancels the request's own context
	} else {
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		t.cancel = cancel
		t.timer = time.AfterFunc(d, t.expire)
	}
	ctx = httptrace.WithClientTrace(ctx, &t.trace)

	out := r.WithContext(ctx)
	t.url = url.URL{Scheme: "http", Host: pick.Node.Address, Path: x.path, RawQuery: x.query}
	if h.cfg.TLSAll || pick.Node.TLS() {
		t.url.Scheme = "https"
	}
	out.URL = &t.url
	out.RequestURI = ""
	out.Proto, out.ProtoMajor, out.ProtoMinor = "HTTP/1.1", 1, 1
	out.Close = false
	out.Header = h.outboundHeader(r, x.upType, &t.xf)
	switch {
	case x.replay != nil:
		b := x.replay
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		out.Body, _ = out.GetBody()
	case r.ContentLength == 0:
		out.Body = nil // lets the transport retry on a dead keep-alive connection
	}

	if h.by != nil {
		resp, err = h.by.RoundTripBy(out, deadline)
		t.end()
		if err != nil && !time.Now().Before(deadline) {
			return t, nil, cause // past the deadline, whatever failed failed for it
		}
	} else {
		resp, err = h.cfg.Transport.RoundTrip(out)
		if !t.end() {
			// The timer fired first: whatever came back is the timeout's.
			if resp != nil {
				resp.Body.Close()
			}
			return t, nil, cause
		}
	}
	if err != nil {
		t.cancel(nil)
		return t, nil, brokenConnection(err)
	}
	return t, resp, nil
}

// noCancel is the cancel of a try that made no context of its own.
func noCancel(error) {}

// retryable reports whether the failed try may be made again on another node, and takes the
// budget token for it. Nothing was written to the client yet.
func (x *exchange) retryable(err error) bool {
	if x.in.Context().Err() != nil || errors.Is(err, errResponseTimeout) || time.Since(x.start) >= x.h.cfg.Timeout {
		return false // the client left, or the response timeout ran out
	}
	sent := !isDialError(err)
	if sent && !selector.IsNodeFailure(err) {
		return false
	}
	pol := x.h.cfg.Retry
	if !(x.replay != nil || replayable(x.in)) || !pol.May(x.tries-1, sent, retry.IdempotentMethod(x.in.Method)) {
		return false
	}
	return pol.Grant(x.service, &x.token)
}

// respond passes the node's answer to the client: status, end-to-end headers, the body
// (flushed as it arrives for event streams and bodies of unknown length) and trailers.
func (x *exchange) respond(resp *http.Response, t *tryState) {
	defer t.cancel(nil)
	defer resp.Body.Close()
	w := x.w
	if resp.StatusCode == http.StatusSwitchingProtocols {
		x.switchProtocols(resp)
		return
	}
	hdr := w.Header()
	copyResponseHeader(hdr, resp.Header)
	announced := len(resp.Trailer)
	if announced > 0 {
		names := make([]string, 0, announced)
		for k := range resp.Trailer {
			names = append(names, k)
		}
		hdr["Trailer"] = names
	}
	w.WriteHeader(resp.StatusCode)
	stream := resp.ContentLength < 0 || isEventStream(resp.Header.Get("Content-Type"))
	var flush func() error
	if stream || announced > 0 {
		flush = flusher(w)
		// Headers go out now: a stream may wait long for its first event, and a body with
		// trailers must be chunked even when short.
		_ = flush()
		if !stream {
			flush = nil
		}
	}
	if err := x.h.copyBody(w, resp.Body, flush); err != nil {
		x.h.log.Debug("proxy: copying the response body", "service", x.service, "error", err)
		if x.in.Context().Value(http.ServerContextKey) != nil {
			// The status line is out: all that is left is to abort the response, so that the
			// client does not take a cut body for a whole one. The server recovers this panic.
			panic(http.ErrAbortHandler)
		}
		return
	}
	if len(resp.Trailer) == 0 {
		return
	}
	for k, v := range resp.Trailer {
		if len(resp.Trailer) != announced {
			// The node sent trailers it had not announced: name them all explicitly.
			k = http.TrailerPrefix + k
		}
		hdr[k] = v
	}
}

// copyBody copies the answer through a pooled buffer; flush, when set, runs after every write.
func (h *Handler) copyBody(w io.Writer, body io.Reader, flush func() error) error {
	bp := h.buffers.Get().(*[]byte)
	defer h.buffers.Put(bp)
	buf := *bp
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if flush != nil {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// flusher returns a function flushing w, through wrappers that only offer Unwrap.
func flusher(w http.ResponseWriter) func() error {
	if f, ok := w.(http.Flusher); ok {
		return func() error { f.Flush(); return nil }
	}
	return http.NewResponseController(w).Flush
}

// got1xx passes an informational answer (103 Early Hints, 102) on to the client. 100 Continue
// is the server's own business: it answers "Expect: 100-continue" when the body is read.
// It runs inside RoundTrip (on the handler's goroutine with h1client, on a goroutine of its
// own with net/http's Transport), and does nothing once the try is over (a timeout may end it
// while a 1xx is being read).
func (t *tryState) got1xx(code int, header textproto.MIMEHeader) error {
	if code == http.StatusContinue {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.over {
		return nil
	}
	// The client gets the 1xx with the node's headers only; what the middleware set so far
	// is kept for the final answer.
	hdr := t.w.Header()
	saved := hdr.Clone()
	clear(hdr)
	copyResponseHeader(hdr, http.Header(header))
	t.w.WriteHeader(code)
	clear(hdr)
	for k, v := range saved {
		hdr[k] = v
	}
	return nil
}

// newBufferPool recycles the 32 KiB copy buffers, which otherwise cost an allocation per request.
func newBufferPool() *sync.Pool {
	return &sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
}
