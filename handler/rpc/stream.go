package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/descriptor"
	"github.com/edgeapi/gateway/handler/callmeta"
	"github.com/edgeapi/gateway/handler/wsgate"
	"github.com/edgeapi/gateway/resolver"
)

// Streaming methods. Which transport a method gets follows from its descriptor alone:
//
//   - server streaming: the answer is NDJSON (application/x-ndjson), one {"result": msg} line per
//     message as grpc-gateway writes it, or server-sent events when the client sends
//     Accept: text/event-stream (each message a "data:" event). Every message is flushed as it
//     arrives. An error after the first message arrives in the stream's own format: an
//     {"error": {...}} line, or an "event: error" event, with the same body as apierror writes.
//   - client and bidi streaming: over WebSocket, one JSON message per text frame each way. The
//     client's close frame ends its side (CloseSend); the backend's end of stream closes the
//     socket with 1000, an error with an {"error": {...}} frame and close code 1011.
//
// Streams have no response deadline unless the client asks for one (Timeout / Grpc-Timeout);
// they end when either side ends or the client goes away.

const (
	ndjsonType = "application/x-ndjson"
	sseType    = "text/event-stream"
)

// streamError is the JSON body of an error inside a stream.
type streamError struct {
	Error *apierror.Error `json:"error"`
}

func (h *Handler) serveStream(w http.ResponseWriter, r *http.Request, ep *resolver.Endpoint, set *descriptor.Set, m *descriptor.Method) error {
	ctx, cancel := h.streamContext(r)
	defer cancel()
	if m.ClientStreaming() {
		return h.serveWebSocketStream(ctx, w, r, ep, set, m)
	}
	body, err := h.readBody(r)
	if err != nil {
		return err
	}
	defer body.Free() // after the stream: a protobuf body goes to the backend as it is
	req, err := h.request(r, ep, set, m, body)
	if err != nil {
		return err
	}
	ctx = h.headers.OutgoingContext(ctx, r.Header)
	cs, done, err := h.caller.NewStream(ctx, ep.Service, &grpc.StreamDesc{ServerStreams: true}, m.Path, h.calls.codecOpt)
	if err != nil {
		return h.callError(err, set)
	}
	var final error
	defer func() { done(final) }()
	if err := cs.SendMsg(req); err != nil && !errors.Is(err, io.EOF) {
		final = err
		return h.callError(err, set)
	}
	if err := cs.CloseSend(); err != nil {
		final = err
		return h.callError(err, set)
	}

	// The first message decides the answer: an error before it is an ordinary error response
	// with its status; after it, headers are gone and errors travel inside the stream.
	first := dynamicpb.NewMessage(m.Output)
	if err := cs.RecvMsg(first); err != nil && !errors.Is(err, io.EOF) {
		final = err
		callmeta.WriteMetadata(w.Header(), cs.Trailer())
		return h.callError(err, set)
	} else if errors.Is(err, io.EOF) {
		first = nil
	}
	sse := acceptsSSE(r.Header.Get("Accept"))
	hdr := w.Header()
	if md, err := cs.Header(); err == nil {
		callmeta.WriteMetadata(hdr, md)
	}
	if sse {
		hdr.Set("Content-Type", sseType)
	} else {
		hdr.Set("Content-Type", ndjsonType)
	}
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no") // ask buffering proxies in front to pass messages through
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	mo := h.marshal
	mo.Resolver = typesWithGlobal{set}
	// Streams keep zero values too, but a stream line must be one line: no multiline output.
	mo.Multiline = false

	seq := 0
	send := func(msg *dynamicpb.Message) error {
		b, err := mo.Marshal(msg)
		if err != nil {
			return err
		}
		seq++
		if sse {
			err = writeSSE(w, "", strconv.Itoa(seq), b)
		} else {
			err = writeNDJSON(w, "result", b)
		}
		if err != nil {
			return err
		}
		return rc.Flush()
	}
	if first == nil {
		return nil
	}
	if err := send(first); err != nil {
		final = context.Canceled // the client went away; not the node's fault
		return nil
	}
	for {
		msg := dynamicpb.NewMessage(m.Output)
		err := cs.RecvMsg(msg)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			final = err
			h.writeStreamError(w, sse, ep.Service, h.callError(err, set))
			_ = rc.Flush()
			return nil
		}
		if err := send(msg); err != nil {
			final = context.Canceled
			return nil
		}
	}
}

// streamContext derives a stream's context: the client's own deadline if it asked for one,
// otherwise none beyond the client staying connected.
func (h *Handler) streamContext(r *http.Request) (context.Context, context.CancelFunc) {
	if r.Header.Get("Timeout") == "" && r.Header.Get("Grpc-Timeout") == "" {
		return context.WithCancel(r.Context())
	}
	d, err := callmeta.Timeout(r.Header, h.cfg.MaxTimeout, h.cfg.MaxTimeout)
	if err != nil {
		return context.WithCancel(r.Context())
	}
	ctx, cancel := context.WithTimeout(r.Context(), d)
	return WithClientDeadline(ctx), cancel
}

func (h *Handler) writeStreamError(w io.Writer, sse bool, service string, err error) {
	b, _ := json.Marshal(apierror.From(service, err))
	if sse {
		_ = writeSSE(w, "error", "", b)
		return
	}
	_ = writeNDJSON(w, "error", b)
}

func writeNDJSON(w io.Writer, key string, body []byte) error {
	buf := make([]byte, 0, len(body)+len(key)+6)
	buf = append(buf, `{"`...)
	buf = append(buf, key...)
	buf = append(buf, `":`...)
	buf = append(buf, body...)
	buf = append(buf, "}\n"...)
	_, err := w.Write(buf)
	return err
}

func writeSSE(w io.Writer, event, id string, data []byte) error {
	var buf []byte
	if event != "" {
		buf = append(buf, "event: "+event+"\n"...)
	}
	if id != "" {
		buf = append(buf, "id: "+id+"\n"...)
	}
	buf = append(buf, "data: "...)
	buf = append(buf, data...)
	buf = append(buf, "\n\n"...)
	_, err := w.Write(buf)
	return err
}

func acceptsSSE(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(mt), sseType) {
			return true
		}
	}
	return false
}

// serveWebSocketStream runs a client- or bidi-streaming call over a WebSocket.
func (h *Handler) serveWebSocketStream(ctx context.Context, w http.ResponseWriter, r *http.Request, ep *resolver.Endpoint, set *descriptor.Set, m *descriptor.Method) error {
	if !wsgate.IsUpgrade(r) {
		return apierror.New(http.StatusBadRequest, "%s is a client-streaming method: open a WebSocket to this URL and send one JSON message per frame", ep.Method)
	}
	if !wsgate.OriginAllowed(r, h.cfg.AllowedOrigins, false) {
		return apierror.New(http.StatusForbidden, "origin %q is not allowed", r.Header.Get("Origin"))
	}
	ctx, cancel := context.WithCancel(h.headers.OutgoingContext(ctx, r.Header))
	defer cancel()
	desc := &grpc.StreamDesc{ClientStreams: true, ServerStreams: m.ServerStreaming()}
	var header metadata.MD
	cs, done, err := h.caller.NewStream(ctx, ep.Service, desc, m.Path, h.calls.codecOpt, grpc.Header(&header))
	if err != nil {
		return h.callError(err, set)
	}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }} // checked above
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		cancel()
		done(context.Canceled)
		return nil // Upgrade answered the client
	}
	defer conn.Close()
	conn.SetReadLimit(h.cfg.WSReadLimit)
	// The client's close frame means "done sending", not "go away": the backend's answers (a
	// client stream's only one) still have to reach it, so the close is answered after them,
	// not echoed at once as gorilla's default handler would.
	conn.SetCloseHandler(func(int, string) error { return nil })

	var writeMu sync.Mutex
	write := func(typ int, b []byte) error {
		writeMu.Lock()
		defer writeMu.Unlock()
		_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		return conn.WriteMessage(typ, b)
	}
	closeWith := func(code int, reason string) {
		if len(reason) > 120 {
			reason = reason[:120]
		}
		writeMu.Lock()
		defer writeMu.Unlock()
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	}

	// The reader owns the client->backend direction; it ends with CloseSend or by cancelling.
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) && (ce.Code == websocket.CloseNormalClosure || ce.Code == websocket.CloseGoingAway) {
					_ = cs.CloseSend() // the client finished sending; answers may still come
					return
				}
				cancel() // the socket broke: abandon the call
				return
			}
			msg := dynamicpb.NewMessage(m.Input)
			if err := unmarshalJSON(data, msg, protojson.UnmarshalOptions{Resolver: typesWithGlobal{set}}); err != nil {
				b, _ := json.Marshal(streamError{Error: apierror.From(ep.Service, badField(err))})
				_ = write(websocket.TextMessage, b)
				closeWith(websocket.CloseInvalidFramePayloadData, "invalid message")
				cancel()
				return
			}
			if err := cs.SendMsg(msg); err != nil {
				return // the backend ended the stream; RecvMsg below reports why
			}
		}
	})

	mo := h.marshal
	mo.Resolver = typesWithGlobal{set}
	var final error
	for {
		out := dynamicpb.NewMessage(m.Output)
		err := cs.RecvMsg(out)
		if errors.Is(err, io.EOF) {
			closeWith(websocket.CloseNormalClosure, "")
			break
		}
		if err != nil {
			final = err
			if ctx.Err() == nil {
				b, _ := json.Marshal(streamError{Error: apierror.From(ep.Service, h.callError(err, set))})
				_ = write(websocket.TextMessage, b)
				closeWith(websocket.CloseInternalServerErr, "stream failed")
			}
			break
		}
		b, err := mo.Marshal(out)
		if err == nil {
			err = write(websocket.TextMessage, b)
		}
		if err != nil {
			final = context.Canceled
			cancel()
			break
		}
	}
	// The close frame is sent; closing the socket ends the reader.
	cancel()
	_ = conn.Close()
	wg.Wait()
	done(final)
	return nil
}
