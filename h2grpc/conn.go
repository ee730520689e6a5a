package h2grpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Flow-control windows the client grants. Answers are copied out of the frames as they arrive,
// so these bound nothing but the server's pace; generous windows keep a large answer from
// waiting on round trips (grpc-go grows its windows to similar sizes).
const (
	streamWindow = 1 << 20
	connWindow   = 16 << 20
	// maxStreamID: past it a connection takes no new calls (stream ids are 31 bits).
	maxStreamID = math.MaxInt32 - 2
	// defaultFrameSize is HTTP/2's SETTINGS_MAX_FRAME_SIZE until the peer says otherwise; the
	// client advertises no larger value, so it is also what it reads.
	defaultFrameSize = 16384
)

// conn is one HTTP/2 connection. Lock order: wmu, then mu, then a stream's mu.
type conn struct {
	client *Client
	nc     net.Conn
	fr     *http2.Framer // written under wmu; read by readLoop only

	// Write side, under wmu (see lockWrite).
	wmu      sync.Mutex
	writers  atomic.Int32 // holding or waiting for wmu
	bw       *bufio.Writer
	cw       *countingWriter
	henc     *hpack.Encoder
	hbuf     bytes.Buffer
	maxFrame int // the peer's SETTINGS_MAX_FRAME_SIZE
	scratch  [16]byte

	// Shared state, under mu.
	mu         sync.Mutex
	streams    map[uint32]*stream
	nextID     uint32
	active     int    // streams counted against the peer's limit
	maxStreams uint32 // the peer's SETTINGS_MAX_CONCURRENT_STREAMS
	sendWindow int64  // the connection's send window
	initWindow int64  // the peer's SETTINGS_INITIAL_WINDOW_SIZE
	goAway     bool
	lastID     uint32 // from the last GOAWAY
	dead       bool
	waiters    int           // calls waiting on changed
	changed    chan struct{} // closed (and replaced) when a window opens or a slot frees

	// Reader only.
	recvWindow  int64 // what the server may still send on the connection
	recvUnacked int64 // received since the last connection WINDOW_UPDATE
	hdec        *hpack.Decoder
	block       headerBlock // the header block being decoded
}

// countingWriter counts the bytes the kernel accepted, so a failed write can tell whether any
// byte of it left.
type countingWriter struct {
	w net.Conn
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// newConn writes the client preface and the client's settings on nc.
func newConn(c *Client, nc net.Conn) (*conn, error) {
	cw := &countingWriter{w: nc}
	bw := bufio.NewWriterSize(cw, 32<<10)
	br := bufio.NewReaderSize(nc, 32<<10)
	fr := http2.NewFramer(bw, br)
	fr.SetMaxReadFrameSize(defaultFrameSize)
	fr.SetReuseFrames()
	cn := &conn{
		client: c, nc: nc, fr: fr, bw: bw, cw: cw, maxFrame: defaultFrameSize,
		streams: make(map[uint32]*stream, 64), nextID: 1, maxStreams: math.MaxUint32,
		sendWindow: 65535, initWindow: 65535, changed: make(chan struct{}),
		recvWindow: connWindow,
	}
	cn.henc = hpack.NewEncoder(&cn.hbuf)
	// The reader decodes header blocks itself rather than through the Framer's MetaHeadersFrame,
	// which allocates the frame and grows a new field slice for every block.
	cn.hdec = hpack.NewDecoder(4096, cn.emit)
	cn.hdec.SetMaxStringLength(int(c.cfg.MaxHeaderListBytes))
	// Every write has a deadline (see lockWrite); the preface's is the dial's.
	_ = nc.SetWriteDeadline(time.Now().Add(c.cfg.DialTimeout))
	if _, err := bw.WriteString(http2.ClientPreface); err != nil {
		return nil, err
	}
	if err := fr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: streamWindow},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: c.cfg.MaxHeaderListBytes},
	); err != nil {
		return nil, err
	}
	if err := fr.WriteWindowUpdate(0, connWindow-65535); err != nil {
		return nil, err
	}
	return cn, bw.Flush()
}

// readPreface reads the server's preface, its first SETTINGS, before any call is sent: like
// grpc-go, the client counts a connection as up only once the server has spoken HTTP/2 on it.
// A server that refuses the client (a TLS 1.3 client certificate it rejects, a server that is
// not HTTP/2) thus fails the dial, and the call provably never reached it.
func (cn *conn) readPreface(ctx context.Context) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = cn.nc.SetReadDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = cn.nc.SetReadDeadline(time.Now()) })
	defer func() {
		stop()
		_ = cn.nc.SetReadDeadline(time.Time{})
	}()
	f, err := cn.fr.ReadFrame()
	if err != nil {
		return err
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		return errors.New("the server's preface is not a SETTINGS frame")
	}
	return cn.onSettings(sf)
}

// usable reports whether new calls may start on cn.
func (cn *conn) usable() bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return !cn.dead && !cn.goAway && cn.nextID < maxStreamID
}

// waitLocked returns the channel that closes at the next change a waiting call cares about.
func (cn *conn) waitLocked() <-chan struct{} {
	cn.waiters++
	return cn.changed
}

// broadcastLocked wakes the waiting calls, if any (no channel is replaced when none waits).
func (cn *conn) broadcastLocked() {
	if cn.waiters > 0 {
		close(cn.changed)
		cn.changed = make(chan struct{})
		cn.waiters = 0
	}
}

// removeLocked drops stream id from the table when st is still its stream and frees its slot;
// it reports whether the connection drained after a GOAWAY and should close.
func (cn *conn) removeLocked(id uint32, st *stream) (closeNow bool) {
	if cn.streams[id] != st || st == nil {
		return false
	}
	delete(cn.streams, id)
	cn.active--
	cn.broadcastLocked()
	return cn.goAway && cn.active == 0 && !cn.dead
}

// remove is removeLocked with the lock, closing a drained connection.
func (cn *conn) remove(id uint32, st *stream) {
	cn.mu.Lock()
	closeNow := cn.removeLocked(id, st)
	cn.mu.Unlock()
	if closeNow {
		_ = cn.nc.Close() // the reader sees it and fails nothing: no stream is left
	}
}

// fail kills the connection: every stream on it ends with err, and new calls go elsewhere.
func (cn *conn) fail(err error) {
	cn.mu.Lock()
	if cn.dead {
		cn.mu.Unlock()
		return
	}
	cn.dead = true
	for id, st := range cn.streams {
		st.mu.Lock()
		st.finishLocked(err)
		st.mu.Unlock()
		delete(cn.streams, id)
	}
	cn.active = 0
	cn.waiters = 1 // wake everyone, and never wait on this connection again
	cn.broadcastLocked()
	cn.mu.Unlock()
	_ = cn.nc.Close()
	cn.client.forget(cn)
}

// call runs one call on cn. It returns errRetryConn when cn could not take it and nothing was
// sent.
func (cn *conn) call(ctx context.Context, st *stream, call *Call) error {
	if uint64(len(call.Request)) > math.MaxUint32 {
		return unsent(codes.ResourceExhausted, "h2grpc: request message too large")
	}
	// A slot under the peer's MAX_CONCURRENT_STREAMS.
	cn.mu.Lock()
	for {
		if cn.nextID >= maxStreamID && !cn.goAway {
			// Out of stream ids: the connection drains like one the server sent GOAWAY on,
			// and closes once its last call is over.
			cn.goAway = true
			if cn.active == 0 {
				cn.mu.Unlock()
				_ = cn.nc.Close()
				return errRetryConn
			}
		}
		if cn.dead || cn.goAway {
			cn.mu.Unlock()
			return errRetryConn
		}
		if uint32(cn.active) < cn.maxStreams {
			break
		}
		ch := cn.waitLocked()
		cn.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return unsentCtx(ctx.Err())
		}
		cn.mu.Lock()
	}
	cn.active++
	cn.mu.Unlock()

	st.call = call
	st.pool = call.Buffers
	st.maxMsg = cn.client.cfg.MaxMessageBytes
	st.deadline, _ = ctx.Deadline()
	total := int64(5 + len(call.Request))

	cn.lockWrite()
	cn.mu.Lock()
	if cn.dead || cn.goAway {
		// The connection went away while this call waited for the write lock.
		cn.active--
		closeNow := cn.goAway && cn.active == 0 && !cn.dead
		cn.broadcastLocked()
		cn.mu.Unlock()
		_ = cn.unlockWrite(nil)
		if closeNow {
			_ = cn.nc.Close()
		}
		return errRetryConn
	}
	id := cn.nextID
	cn.nextID += 2
	st.id = id
	cn.streams[id] = st
	st.sendWindow = cn.initWindow
	st.recvAvail = streamWindow
	n := min(total, cn.sendWindow, st.sendWindow)
	if n < 0 {
		n = 0
	}
	cn.sendWindow -= n
	st.sendWindow -= n
	cn.mu.Unlock()

	// Encoded only now that the block is sure to be written: the encoder's dynamic table must
	// stay in step with the server's decoder.
	cn.encodeHeaders(st, call)
	before := cn.cw.n
	err := cn.writeHeaders(id)
	if err == nil {
		err = cn.writeData(id, call.Request, 0, n, n == total)
	}
	if cn.writers.Add(-1) == 0 && err == nil {
		err = cn.bw.Flush()
	}
	wrote := cn.cw.n > before
	cn.wmu.Unlock()
	if err != nil {
		return cn.writeFailed(st, err, !wrote)
	}

	// The rest of a request larger than the peer's windows, as they open.
	sent, halfClosed := n, n == total
	for sent < total {
		cn.mu.Lock()
		var take int64
		for {
			if cn.streams[id] != st {
				break // answered early, reset, or the connection died: stop sending
			}
			take = min(cn.sendWindow, st.sendWindow, total-sent)
			if take > 0 {
				break
			}
			ch := cn.waitLocked()
			cn.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return cn.cancel(ctx, st)
			}
			cn.mu.Lock()
		}
		if take <= 0 {
			cn.mu.Unlock()
			break
		}
		cn.sendWindow -= take
		st.sendWindow -= take
		cn.mu.Unlock()
		cn.lockWrite()
		err := cn.unlockWrite(cn.writeData(id, call.Request, sent, take, sent+take == total))
		if err != nil {
			return cn.writeFailed(st, err, false)
		}
		sent += take
		halfClosed = sent == total
	}

	select {
	case <-st.done:
	case <-ctx.Done():
		return cn.cancel(ctx, st)
	}
	// Off the table (if the reader has not taken it off yet), and out of the reader's hands
	// (it may still hold st.mu after the signal): only then may st be recycled.
	cn.remove(id, st)
	st.mu.Lock()
	st.mu.Unlock() // an empty critical section: it only waits for the reader
	if !halfClosed {
		// The server answered before taking the whole request; the stream is over for it, the
		// reset tells it so for our half too.
		cn.writeRST(id, http2.ErrCodeNo)
	}
	return st.result()
}

// cancel abandons st after the caller's context ended: the server hears RST_STREAM(CANCEL).
// A stream that finished meanwhile keeps its outcome.
func (cn *conn) cancel(ctx context.Context, st *stream) error {
	id := st.id
	if !cn.abandon(st) {
		return st.result()
	}
	cn.writeRST(id, http2.ErrCodeCancel)
	return ctxError(ctx)
}

// abandon takes st off the connection; it reports false when st had finished already (its done
// signal is consumed here).
func (cn *conn) abandon(st *stream) bool {
	cn.remove(st.id, st)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.finished {
		<-st.done
		return false
	}
	st.finished = true
	return true
}

// writeFailed handles a write that failed: the connection is broken, and the call is unsent
// when not one byte of it reached the kernel.
func (cn *conn) writeFailed(st *stream, err error, nothingLeft bool) error {
	cn.fail(status.Error(codes.Unavailable, "h2grpc: writing to "+cn.client.addr+": "+err.Error()))
	cn.abandon(st)
	if nothingLeft {
		return unsent(codes.Unavailable, "h2grpc: connection to "+cn.client.addr+" broken before the call was sent: "+err.Error())
	}
	return status.Error(codes.Unavailable, "h2grpc: connection to "+cn.client.addr+" broke while sending the call: "+err.Error())
}

// encodeHeaders HPACK-encodes the call's header block into hbuf, with st's deadline. Under wmu
// (the encoder's dynamic table is the connection's).
func (cn *conn) encodeHeaders(st *stream, call *Call) {
	c := cn.client
	cn.hbuf.Reset()
	e := cn.henc
	_ = e.WriteField(hpack.HeaderField{Name: ":method", Value: "POST"})
	_ = e.WriteField(hpack.HeaderField{Name: ":scheme", Value: c.scheme})
	_ = e.WriteField(hpack.HeaderField{Name: ":path", Value: call.Method})
	_ = e.WriteField(hpack.HeaderField{Name: ":authority", Value: c.authority})
	// "+proto", as grpc-go says: the messages are protobuf, and servers may route on it.
	_ = e.WriteField(hpack.HeaderField{Name: "content-type", Value: "application/grpc+proto"})
	_ = e.WriteField(hpack.HeaderField{Name: "user-agent", Value: c.cfg.UserAgent})
	_ = e.WriteField(hpack.HeaderField{Name: "te", Value: "trailers"})
	if !st.deadline.IsZero() {
		dl := st.deadline
		// Never indexed: a value that changes with every call would only evict useful entries
		// from the dynamic table.
		v := string(appendTimeout(cn.scratch[:0], time.Until(dl)))
		_ = e.WriteField(hpack.HeaderField{Name: "grpc-timeout", Value: v, Sensitive: true})
	}
	for _, f := range call.Metadata {
		k := strings.ToLower(f.Name)
		if reservedKey(k) || !validKey(k) {
			continue
		}
		v := f.Value
		if strings.HasSuffix(k, "-bin") {
			v = base64.RawStdEncoding.EncodeToString([]byte(v))
		} else if !validValue(v) {
			continue
		}
		_ = e.WriteField(hpack.HeaderField{Name: k, Value: v})
	}
}

// writeHeaders writes hbuf as HEADERS and, when it exceeds the peer's frame size, CONTINUATION
// frames. Under wmu.
func (cn *conn) writeHeaders(id uint32) error {
	block := cn.hbuf.Bytes()
	first := block[:min(len(block), cn.maxFrame)]
	block = block[len(first):]
	if err := cn.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndHeaders: len(block) == 0}); err != nil {
		return err
	}
	for len(block) > 0 {
		frag := block[:min(len(block), cn.maxFrame)]
		block = block[len(frag):]
		if err := cn.fr.WriteContinuation(id, len(block) == 0, frag); err != nil {
			return err
		}
	}
	return nil
}

// writeData writes bytes [off, off+n) of the request's wire form (5-byte prefix, then msg) as
// DATA frames of at most the peer's frame size, the last with END_STREAM when end is set. The
// frames are built here rather than by the Framer so that the prefix and the message need not
// be copied into one slice first. Under wmu.
func (cn *conn) writeData(id uint32, msg []byte, off, n int64, end bool) error {
	// In scratch rather than on the stack: bufio.Writer.Write makes a local array escape.
	prefix := cn.scratch[9:14]
	prefix[0], prefix[1], prefix[2], prefix[3], prefix[4] = 0, byte(len(msg)>>24), byte(len(msg)>>16), byte(len(msg)>>8), byte(len(msg))
	for n > 0 {
		chunk := min(n, int64(cn.maxFrame))
		var flags byte
		if end && chunk == n {
			flags = byte(http2.FlagDataEndStream)
		}
		h := cn.scratch[:9]
		h[0], h[1], h[2] = byte(chunk>>16), byte(chunk>>8), byte(chunk)
		h[3], h[4] = byte(http2.FrameData), flags
		h[5], h[6], h[7], h[8] = byte(id>>24), byte(id>>16), byte(id>>8), byte(id)
		if _, err := cn.bw.Write(h); err != nil {
			return err
		}
		lo, hi := off, off+chunk
		if lo < 5 {
			if _, err := cn.bw.Write(prefix[lo:min(hi, 5)]); err != nil {
				return err
			}
			lo = min(hi, 5)
		}
		if lo < hi {
			if _, err := cn.bw.Write(msg[lo-5 : hi-5]); err != nil {
				return err
			}
		}
		off += chunk
		n -= chunk
	}
	return nil
}

// writeRST resets stream id; a failure means the connection is dying, which the reader reports.
func (cn *conn) writeRST(id uint32, code http2.ErrCode) {
	cn.lockWrite()
	_ = cn.unlockWrite(cn.fr.WriteRSTStream(id, code))
}

// writeControl writes a frame of the reader's (ACKs, window updates).
func (cn *conn) writeControl(write func() error) error {
	cn.lockWrite()
	return cn.unlockWrite(write())
}

// lockWrite takes the write lock. Writers flush only when no other writer waits for the lock:
// under load, the frames of several calls then leave in one write instead of one write each
// (grpc-go's loopy writer batches the same way), and the last writer flushes for all of them.
// Every holder must release with unlockWrite.
func (cn *conn) lockWrite() {
	cn.writers.Add(1)
	cn.wmu.Lock()
	_ = cn.nc.SetWriteDeadline(time.Now().Add(cn.client.cfg.WriteTimeout))
}

// unlockWrite flushes (unless err already failed the write, or a waiting writer will flush) and
// releases the write lock.
func (cn *conn) unlockWrite(err error) error {
	if cn.writers.Add(-1) == 0 && err == nil {
		err = cn.bw.Flush()
	}
	cn.wmu.Unlock()
	return err
}

var errProtocol = errors.New("protocol error")
