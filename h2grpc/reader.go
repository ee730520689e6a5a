package h2grpc

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// readLoop reads the connection's frames until it fails, then fails the calls still on it.
// It is the connection's one goroutine; the client starts it and waits for it on Close.
func (cn *conn) readLoop() {
	err := cn.read()
	msg := "h2grpc: connection to " + cn.client.addr + " lost: " + err.Error()
	code := codes.Unavailable
	if errors.Is(err, errProtocol) {
		code = codes.Internal
	}
	cn.fail(status.Error(code, msg))
	cn.client.removeConn(cn)
}

// read handles frames until the connection fails or violates the protocol.
func (cn *conn) read() error {
	for {
		f, err := cn.fr.ReadFrame()
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				if err := cn.streamError(se); err != nil {
					return err
				}
				continue
			}
			var ce http2.ConnectionError
			if errors.As(err, &ce) {
				cn.goAwayOnError(http2.ErrCode(ce))
				return fmt.Errorf("%w: %v", errProtocol, err)
			}
			return err
		}
		if err := cn.handle(f); err != nil {
			return err
		}
	}
}

// goAwayOnError tells the server why the client drops the connection.
func (cn *conn) goAwayOnError(code http2.ErrCode) {
	_ = cn.writeControl(func() error { return cn.fr.WriteGoAway(0, code, nil) })
}

// protocolError ends the connection for a frame no compliant server sends.
func (cn *conn) protocolError(code http2.ErrCode, what string) error {
	cn.goAwayOnError(code)
	return fmt.Errorf("%w: %s", errProtocol, what)
}

func (cn *conn) handle(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.SettingsFrame:
		return cn.onSettings(f)
	case *http2.PingFrame:
		if f.IsAck() {
			return nil // the client sends no pings
		}
		data := f.Data
		return cn.writeControl(func() error { return cn.fr.WritePing(true, data) })
	case *http2.WindowUpdateFrame:
		return cn.onWindowUpdate(f)
	case *http2.GoAwayFrame:
		cn.onGoAway(f.LastStreamID)
		return nil
	case *http2.RSTStreamFrame:
		return cn.onStreamFrame(f.StreamID, f)
	case *http2.HeadersFrame:
		cn.block.reset(f.StreamID, f.StreamEnded(), cn.client.cfg.MaxHeaderListBytes)
		return cn.headerFragment(f.StreamID, f.HeaderBlockFragment(), f.HeadersEnded())
	case *http2.ContinuationFrame:
		// The Framer checked that it continues the block in progress.
		return cn.headerFragment(f.StreamID, f.HeaderBlockFragment(), f.HeadersEnded())
	case *http2.DataFrame:
		return cn.onData(f)
	case *http2.PushPromiseFrame:
		return cn.protocolError(http2.ErrCodeProtocol, "PUSH_PROMISE although push is disabled")
	}
	return nil // PRIORITY and unknown frame types carry nothing for the client
}

func (cn *conn) onSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	if err := f.ForeachSetting(func(s http2.Setting) error { return s.Valid() }); err != nil {
		var ce http2.ConnectionError
		if errors.As(err, &ce) {
			return cn.protocolError(http2.ErrCode(ce), "invalid SETTINGS: "+err.Error())
		}
		return cn.protocolError(http2.ErrCodeProtocol, "invalid SETTINGS: "+err.Error())
	}
	cn.lockWrite()
	cn.mu.Lock()
	_ = f.ForeachSetting(func(s http2.Setting) error {
		switch s.ID {
		case http2.SettingMaxFrameSize:
			cn.maxFrame = int(s.Val)
		case http2.SettingHeaderTableSize:
			cn.henc.SetMaxDynamicTableSizeLimit(s.Val)
		case http2.SettingMaxConcurrentStreams:
			cn.maxStreams = s.Val
		case http2.SettingInitialWindowSize:
			delta := int64(s.Val) - cn.initWindow
			cn.initWindow = int64(s.Val)
			for _, st := range cn.streams {
				st.sendWindow += delta
			}
		}
		return nil
	})
	cn.waiters++ // wake waiting calls unconditionally: windows or limits may have grown
	cn.broadcastLocked()
	cn.mu.Unlock()
	return cn.unlockWrite(cn.fr.WriteSettingsAck())
}

func (cn *conn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	cn.mu.Lock()
	inc := int64(f.Increment)
	if f.StreamID == 0 {
		cn.sendWindow += inc
		if cn.sendWindow > math.MaxInt32 {
			cn.mu.Unlock()
			return cn.protocolError(http2.ErrCodeFlowControl, "connection window overflow")
		}
	} else if st := cn.streams[f.StreamID]; st != nil {
		st.sendWindow += inc // an overflow only hurts the server's own stream: ignored
	}
	cn.broadcastLocked()
	cn.mu.Unlock()
	return nil
}

// onGoAway stops new calls on the connection; calls above lastID never reached the server's
// application and fail as unsent, the others finish. A drained connection closes.
func (cn *conn) onGoAway(lastID uint32) {
	cn.mu.Lock()
	if !cn.goAway || lastID < cn.lastID {
		cn.lastID = lastID
	}
	cn.goAway = true
	for id, st := range cn.streams {
		if id > cn.lastID {
			st.mu.Lock()
			st.finishLocked(unsent(codes.Unavailable, "h2grpc: the server is going away (GOAWAY) and did not process the call"))
			st.mu.Unlock()
			delete(cn.streams, id)
			cn.active--
		}
	}
	closeNow := cn.active == 0 && !cn.dead
	cn.waiters++
	cn.broadcastLocked()
	cn.mu.Unlock()
	cn.client.forget(cn)
	if closeNow {
		_ = cn.nc.Close()
	}
}

// onRST ends a stream the server reset. Under st.mu.
func (st *stream) onRST(f *http2.RSTStreamFrame) action {
	code := rstCode(f.ErrCode)
	msg := "h2grpc: stream terminated by RST_STREAM with error code: " + f.ErrCode.String()
	if code == codes.Canceled && !st.deadline.IsZero() && !time.Now().Before(st.deadline) {
		// The server cancels a call whose deadline (our grpc-timeout) ran out; so does grpc-go
		// read this.
		code = codes.DeadlineExceeded
	}
	if f.ErrCode == http2.ErrCodeRefusedStream {
		st.finishLocked(unsent(code, msg))
	} else {
		st.finishLocked(status.Error(code, msg))
	}
	return action{finished: true}
}

func (cn *conn) onData(f *http2.DataFrame) error {
	flowLen := int64(f.Header().Length)
	cn.recvWindow -= flowLen
	if cn.recvWindow < 0 {
		return cn.protocolError(http2.ErrCodeFlowControl, "the server overran the connection's flow-control window")
	}
	cn.recvUnacked += flowLen
	if cn.recvUnacked >= connWindow/4 {
		inc := uint32(cn.recvUnacked)
		cn.recvWindow += cn.recvUnacked
		cn.recvUnacked = 0
		if err := cn.writeControl(func() error { return cn.fr.WriteWindowUpdate(0, inc) }); err != nil {
			return err
		}
	}
	return cn.onStreamFrame(f.StreamID, f)
}

// streamError handles a frame the Framer rejected for one stream: the stream fails, the rest
// of the connection goes on.
func (cn *conn) streamError(se http2.StreamError) error {
	return cn.onStreamFrame(se.StreamID, se)
}

// onStreamFrame hands a frame (a decoded header block, or the Framer's StreamError) to the
// stream it belongs to, under
// the stream's lock, then does what the stream asked: reset the stream, open its window, take it off the connection. A frame for a
// stream the client never opened breaks the protocol; one for a stream already over is dropped.
func (cn *conn) onStreamFrame(id uint32, f any) error {
	cn.mu.Lock()
	if id%2 == 0 || id >= cn.nextID {
		cn.mu.Unlock()
		return cn.protocolError(http2.ErrCodeProtocol, fmt.Sprintf("frame for stream %d, which the client never opened", id))
	}
	st := cn.streams[id]
	if st == nil {
		cn.mu.Unlock()
		return nil
	}
	st.mu.Lock()
	cn.mu.Unlock()
	var a action
	if !st.finished {
		switch f := f.(type) {
		case *headerBlock:
			a = st.onHeaders(f)
		case *http2.DataFrame:
			a = st.onData(f.Data(), int64(f.Header().Length), f.StreamEnded())
		case *http2.RSTStreamFrame:
			a = st.onRST(f)
		case http2.StreamError:
			a = st.failLocked(codes.Internal, "h2grpc: malformed frame from the server: "+f.Error(), f.Code)
		}
	}
	st.mu.Unlock()
	// st may be reused by its caller from here on: only its identity is used below.
	if a.finished {
		cn.remove(id, st)
	}
	if a.rst {
		cn.writeRST(id, a.rstCode)
	}
	if a.update > 0 && !a.finished {
		return cn.writeControl(func() error { return cn.fr.WriteWindowUpdate(id, a.update) })
	}
	return nil
}

// headerBlock is a decoded HEADERS block (with its CONTINUATIONs). Its fields are reused for the
// next block: a stream copies what it keeps.
type headerBlock struct {
	stream    uint32
	end       bool // END_STREAM
	fields    []hpack.HeaderField
	size      uint32 // as SETTINGS_MAX_HEADER_LIST_SIZE counts it
	limit     uint32
	truncated bool // over the limit: the fields past it were dropped
	invalid   string
}

func (b *headerBlock) reset(stream uint32, end bool, limit uint32) {
	clear(b.fields)
	*b = headerBlock{stream: stream, end: end, fields: b.fields[:0], limit: limit}
}

// emit collects one decoded field, within the header list limit. Names must be lower-case
// tokens (or the response's pseudo-header) and values printable, as HTTP/2 demands; a block
// that breaks this is malformed.
func (cn *conn) emit(hf hpack.HeaderField) {
	b := &cn.block
	b.size += uint32(len(hf.Name) + len(hf.Value) + 32)
	if b.truncated || b.size > b.limit {
		b.truncated = true
		return
	}
	if b.invalid == "" {
		if hf.Name != ":status" && !validKey(hf.Name) {
			b.invalid = "invalid header name " + strconv.Quote(hf.Name)
		} else if !httpguts.ValidHeaderFieldValue(hf.Value) {
			b.invalid = "invalid value of header " + strconv.Quote(hf.Name)
		}
	}
	b.fields = append(b.fields, hf)
}

// headerFragment decodes a fragment of the block in progress and, at its end, hands the block
// to its stream. A block the decoder cannot read breaks the connection's HPACK state.
func (cn *conn) headerFragment(id uint32, frag []byte, ended bool) error {
	if _, err := cn.hdec.Write(frag); err != nil {
		return cn.protocolError(http2.ErrCodeCompression, "HPACK: "+err.Error())
	}
	if !ended {
		return nil
	}
	if err := cn.hdec.Close(); err != nil {
		return cn.protocolError(http2.ErrCodeCompression, "HPACK: "+err.Error())
	}
	return cn.onStreamFrame(id, &cn.block)
}
