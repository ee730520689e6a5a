package h2grpc

import (
	"sync"
	"time"

	"strconv"

	"golang.org/x/net/http2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// stream is one call's state on a connection. The caller sets it up and registers it under the
// connection's mu; from then on the reader changes it under st.mu only, until it finishes it
// (finished, then one value on done). Streams are recycled through the client's pool.
type stream struct {
	done chan struct{} // capacity 1: the one signal that the stream finished

	// Set by the caller before the stream is registered.
	id       uint32
	call     *Call
	pool     BufferPool
	maxMsg   int
	deadline time.Time // the call's, if any

	sendWindow int64 // under the connection's mu

	mu         sync.Mutex
	finished   bool
	err        error
	gotHeaders bool
	prefix     [5]byte
	prefixN    int
	msgLen     int
	msg        *[]byte // the answer so far; nil until its prefix arrived
	gotMsg     bool    // a whole message arrived
	recvAvail  int64   // what the server may still send on the stream
	recvUnack  int64   // received since the stream's last WINDOW_UPDATE
}

// reset readies st for another call, giving back an answer nobody took.
func (st *stream) reset() {
	if st.msg != nil && st.pool != nil {
		st.pool.Put(st.msg)
	}
	done := st.done
	*st = stream{done: done}
}

// finishLocked ends the stream with err (nil: success) unless it already ended. Under st.mu.
func (st *stream) finishLocked(err error) {
	if st.finished {
		return
	}
	st.finished = true
	st.err = err
	st.done <- struct{}{}
}

// result is the call's outcome, read by the caller once the stream finished.
func (st *stream) result() error {
	if st.err != nil {
		return st.err
	}
	st.call.Response = st.msg
	st.msg = nil
	return nil
}

// action is what the reader must do for a stream after releasing its lock.
type action struct {
	finished bool
	rst      bool
	rstCode  http2.ErrCode
	update   uint32 // stream WINDOW_UPDATE increment
}

// failLocked ends the stream with status code c and resets it.
func (st *stream) failLocked(c codes.Code, msg string, rst http2.ErrCode) action {
	st.finishLocked(status.Error(c, msg))
	return action{finished: true, rst: true, rstCode: rst}
}

// onHeaders handles a HEADERS block: the answer's headers, its trailers, or both at once
// (trailers-only). Under st.mu.
func (st *stream) onHeaders(f *headerBlock) action {
	end := f.end
	if f.truncated {
		a := st.failLocked(codes.Internal, "h2grpc: the server's header list exceeds the limit", http2.ErrCodeFrameSize)
		a.rst = !end
		return a
	}
	if f.invalid != "" {
		a := st.failLocked(codes.Internal, "h2grpc: malformed header block: "+f.invalid, http2.ErrCodeProtocol)
		a.rst = !end
		return a
	}
	if st.gotHeaders && !end {
		return st.failLocked(codes.Internal, "h2grpc: a HEADERS frame cannot appear in the middle of a stream", http2.ErrCodeProtocol)
	}
	var (
		httpStatus  string
		contentType string
		grpcStatus  string
		grpcMessage string
		details     string
		haveDetails bool
	)
	for _, hf := range f.fields {
		switch hf.Name {
		case ":status":
			httpStatus = hf.Value
		case "content-type":
			contentType = hf.Value
		case "grpc-status":
			grpcStatus = hf.Value
		case "grpc-message":
			grpcMessage = hf.Value
		case "grpc-status-details-bin":
			v, err := decodeBinary(hf.Value)
			if err != nil {
				return st.endWith(end, codes.Internal, "h2grpc: malformed grpc-status-details-bin: "+err.Error())
			}
			details, haveDetails = v, true
		}
	}
	if !st.gotHeaders {
		if httpStatus == "" {
			return st.endWith(end, codes.Internal, "h2grpc: malformed header: missing HTTP status")
		}
		code, err := strconv.Atoi(httpStatus)
		if err != nil {
			return st.endWith(end, codes.Internal, "h2grpc: malformed HTTP status "+strconv.Quote(httpStatus))
		}
		if code >= 100 && code < 200 {
			if end {
				return st.failLocked(codes.Internal, "h2grpc: informational header with END_STREAM", http2.ErrCodeProtocol)
			}
			return action{} // 1xx: the real headers follow
		}
		if !isGRPCContentType(contentType) {
			msg := "h2grpc: unexpected HTTP status code received from server: " + httpStatus
			if contentType == "" {
				msg += "; malformed header: missing HTTP content-type"
			} else {
				msg += "; transport: received unexpected content-type " + strconv.Quote(contentType)
			}
			return st.endWith(end, httpCode(code), msg)
		}
		if !end {
			st.gotHeaders = true
			if err := st.appendMetadata(&st.call.Header, f); err != nil {
				return st.failLocked(codes.Internal, err.Error(), http2.ErrCodeProtocol)
			}
			return action{}
		}
		// Trailers-only: the status comes in this block.
	}
	if err := st.appendMetadata(&st.call.Trailer, f); err != nil {
		return st.endWith(end, codes.Internal, err.Error())
	}
	code := codes.Unknown // grpc-go's answer to trailers without grpc-status
	if grpcStatus != "" {
		c, err := strconv.ParseUint(grpcStatus, 10, 32)
		if err != nil {
			return st.endWith(end, codes.Unknown, "h2grpc: malformed grpc-status "+strconv.Quote(grpcStatus))
		}
		code = codes.Code(c)
	}
	if code != codes.OK || haveDetails {
		if s := trailerStatus(code, decodeMessage(grpcMessage), details, haveDetails); s.Code() != codes.OK {
			st.finishLocked(s.Err())
			return action{finished: true}
		}
	}
	switch {
	case !st.gotMsg:
		if st.msg != nil || st.prefixN > 0 {
			st.finishLocked(status.Error(codes.Internal, "h2grpc: the stream ended in the middle of the answer message"))
		} else {
			st.finishLocked(status.Error(codes.Internal, "h2grpc: cardinality violation: received no response message from a unary call"))
		}
	default:
		st.finishLocked(nil)
	}
	return action{finished: true}
}

// endWith finishes the stream with a status, resetting it unless the server already ended it.
func (st *stream) endWith(end bool, c codes.Code, msg string) action {
	a := st.failLocked(c, msg, http2.ErrCodeCancel)
	a.rst = !end
	return a
}

// appendMetadata appends the block's metadata (reserved keys left out, "-bin" values decoded)
// to dst.
func (st *stream) appendMetadata(dst *[]Field, f *headerBlock) error {
	for _, hf := range f.fields {
		if reservedKey(hf.Name) {
			continue
		}
		v := hf.Value
		if len(hf.Name) > 4 && hf.Name[len(hf.Name)-4:] == "-bin" {
			d, err := decodeBinary(v)
			if err != nil {
				return status.Error(codes.Internal, "h2grpc: malformed "+hf.Name+": "+err.Error())
			}
			v = d
		}
		*dst = append(*dst, Field{Name: hf.Name, Value: v})
	}
	return nil
}

// onData handles a DATA frame's payload: the 5-byte prefix and the message, copied out as
// they arrive. flowLen is the frame's length as flow control counts it (padding included).
// Under st.mu.
func (st *stream) onData(data []byte, flowLen int64, end bool) action {
	st.recvAvail -= flowLen
	if st.recvAvail < 0 {
		return st.failLocked(codes.ResourceExhausted, "h2grpc: the server overran the stream's flow-control window", http2.ErrCodeFlowControl)
	}
	if !st.gotHeaders {
		return st.failLocked(codes.Internal, "h2grpc: DATA before the answer's headers", http2.ErrCodeProtocol)
	}
	for len(data) > 0 {
		if st.gotMsg {
			return st.failLocked(codes.Internal, "h2grpc: cardinality violation: more than one response message for a unary call", http2.ErrCodeCancel)
		}
		if st.prefixN < 5 {
			n := copy(st.prefix[st.prefixN:], data)
			st.prefixN += n
			data = data[n:]
			if st.prefixN < 5 {
				break
			}
			switch st.prefix[0] {
			case 0:
			case 1:
				return st.failLocked(codes.Internal, "h2grpc: compressed answer, but no compression was negotiated", http2.ErrCodeCancel)
			default:
				return st.failLocked(codes.Internal, "h2grpc: malformed message flag "+strconv.Itoa(int(st.prefix[0])), http2.ErrCodeCancel)
			}
			l := uint64(st.prefix[1])<<24 | uint64(st.prefix[2])<<16 | uint64(st.prefix[3])<<8 | uint64(st.prefix[4])
			if l > uint64(st.maxMsg) {
				return st.failLocked(codes.ResourceExhausted, "h2grpc: received message larger than max ("+strconv.FormatUint(l, 10)+" vs. "+strconv.Itoa(st.maxMsg)+")", http2.ErrCodeCancel)
			}
			st.msgLen = int(l)
			st.msg = st.get(min(st.msgLen, 1<<20))
			*st.msg = (*st.msg)[:0]
		}
		n := min(len(data), st.msgLen-len(*st.msg))
		st.grow(n)
		*st.msg = append(*st.msg, data[:n]...)
		data = data[n:]
		if len(*st.msg) == st.msgLen {
			st.gotMsg = true
		}
	}
	if end {
		return st.endWith(true, codes.Internal, "h2grpc: the server closed the stream without sending trailers")
	}
	a := action{}
	st.recvUnack += flowLen
	if st.recvUnack >= streamWindow/4 {
		a.update = uint32(st.recvUnack)
		st.recvAvail += st.recvUnack
		st.recvUnack = 0
	}
	return a
}

// grow makes room for n more bytes of the message, in a pooled buffer at most msgLen long.
func (st *stream) grow(n int) {
	b := *st.msg
	if len(b)+n <= cap(b) {
		return
	}
	nb := st.get(min(max(2*cap(b), len(b)+n), st.msgLen))
	*nb = append((*nb)[:0], b...)
	if st.pool != nil {
		st.pool.Put(st.msg)
	}
	st.msg = nb
}

func (st *stream) get(n int) *[]byte {
	if st.pool != nil {
		return st.pool.Get(n)
	}
	b := make([]byte, n)
	return &b
}
