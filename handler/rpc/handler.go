// Package rpc is the gateway's rpc handler: it turns an HTTP request into a unary gRPC call of a
// method found at run time from the backend's descriptors, and the reply into JSON.
//
// Contract:
//   - The endpoint comes from the router (resolver.EndpointFrom); its Method "Svc.Method" names a
//     gRPC method by the service's short or full name.
//   - The request message is built from the JSON body (POST, PUT, PATCH, DELETE), or a
//     application/x-www-form-urlencoded body, or application/protobuf bytes forwarded untouched;
//     then query parameters and path variables are set on top (dotted names reach nested fields).
//   - The answer is JSON (protojson, lowerCamel names unless configured, zero values emitted unless
//     configured), or the backend's protobuf bytes when Accept asks for application/protobuf,
//     written in one piece with its Content-Length.
//   - Authorization, X-Request-Id, Grpc-Metadata-* (prefix stripped) and configured headers become
//     metadata; backend header and trailer metadata come back as Grpc-Metadata-* headers.
//   - Grpc-Timeout or Timeout set the deadline within the route's maximum; a client that goes
//     away cancels the call.
//   - Every failure is written by apierror with the service as id.
package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/edgeapi/gateway/transcode"

	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/descriptor"
	"github.com/edgeapi/gateway/handler/callmeta"
	"github.com/edgeapi/gateway/resolver"
)

// Descriptors gives a service's descriptor set; *descriptor.Cache implements it.
type Descriptors interface {
	Get(ctx context.Context, service string) (*descriptor.Set, error)
}

// Config tunes the handler; zero values mean the documented defaults.
type Config struct {
	// Timeout is the call deadline when the client sets none; default 15s.
	Timeout time.Duration
	// MaxTimeout bounds the client's Timeout/Grpc-Timeout; default 60s.
	MaxTimeout time.Duration
	// UseProtoNames writes proto field names (snake_case) instead of lowerCamel JSON names.
	UseProtoNames bool
	// OmitZeroValues leaves zero values out of JSON answers.
	OmitZeroValues bool
	// ForwardHeaders are extra request headers passed to backends as metadata.
	ForwardHeaders []string
	// BodyLimit caps the request body; default 4 MiB.
	BodyLimit int64
	// AllowedOrigins may open WebSockets to client- and bidi-streaming methods ("*": any);
	// requests without Origin (non-browser clients) are allowed.
	AllowedOrigins []string
	// WSReadLimit caps one WebSocket message of a client stream; default 1 MiB.
	WSReadLimit int64
}

// Handler serves rpc requests. Use New; Route derives per-route variants.
type Handler struct {
	caller  *Caller
	descs   Descriptors
	log     *slog.Logger
	cfg     Config
	headers callmeta.Headers
	marshal protojson.MarshalOptions
	plans   *plans
	bufs    *Buffers // shared by the handler's routes, like plans and calls
	calls   *calls
}

// New returns the rpc handler.
func New(caller *Caller, descs Descriptors, log *slog.Logger, cfg Config) (*Handler, error) {
	if caller == nil || descs == nil || log == nil {
		return nil, errors.New("rpc: caller, descriptors and logger are required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = 60 * time.Second
	}
	if cfg.Timeout > cfg.MaxTimeout {
		return nil, fmt.Errorf("rpc: timeout %s exceeds max timeout %s", cfg.Timeout, cfg.MaxTimeout)
	}
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = 4 << 20
	}
	if cfg.WSReadLimit <= 0 {
		cfg.WSReadLimit = 1 << 20
	}
	bufs := &Buffers{}
	return &Handler{
		caller:  caller,
		descs:   descs,
		log:     log,
		cfg:     cfg,
		headers: callmeta.NewHeaders(cfg.ForwardHeaders),
		marshal: protojson.MarshalOptions{UseProtoNames: cfg.UseProtoNames, EmitUnpopulated: !cfg.OmitZeroValues},
		plans:   &plans{},
		bufs:    bufs,
		calls:   newCalls(newCodec(), bufs),
	}, nil
}

// Route returns a handler with a route's own timeout bounds (zero keeps the handler's).
func (h *Handler) Route(timeout, maxTimeout time.Duration, bodyLimit int64) http.Handler {
	c := *h
	if maxTimeout > 0 {
		c.cfg.MaxTimeout = maxTimeout
	}
	if timeout > 0 {
		c.cfg.Timeout = timeout
	}
	if c.cfg.Timeout > c.cfg.MaxTimeout {
		c.cfg.Timeout = c.cfg.MaxTimeout
	}
	if bodyLimit > 0 {
		c.cfg.BodyLimit = bodyLimit
	}
	return &c
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ep := resolver.EndpointFrom(r.Context())
	if ep == nil {
		apierror.Write(w, apierror.GatewayID, errors.New("rpc handler reached without a resolved endpoint"))
		return
	}
	if err := h.serve(w, r, ep); err != nil {
		apierror.Write(w, ep.Service, err)
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, ep *resolver.Endpoint) error {
	ctx := r.Context()
	timeout, err := callmeta.Timeout(r.Header, h.cfg.Timeout, h.cfg.MaxTimeout)
	if err != nil {
		return apierror.BadRequest("", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if timeout < h.cfg.Timeout {
		ctx = WithClientDeadline(ctx)
	}

	set, err := h.descs.Get(ctx, ep.Service)
	if err != nil {
		return err
	}
	m, err := set.Method(ep.Method)
	if err != nil {
		return err
	}
	if m.ClientStreaming() || m.ServerStreaming() {
		cancel() // streams have no route deadline; serveStream derives its own context
		return h.serveStream(w, r, ep, set, m)
	}

	body, err := h.readBody(r)
	if err != nil {
		return err
	}
	defer body.Free() // after the call: a protobuf body goes to the backend as it is

	c := h.calls.get()
	defer h.calls.put(c)
	wantProto := acceptsProtobuf(r.Header.Get("Accept"))
	if done, err := h.serveFast(ctx, w, r, ep, set, m, c, body.ReadOnlyData(), wantProto); done {
		return err
	}
	req, err := h.request(r, ep, set, m, body)
	if err != nil {
		return err
	}
	ctx = c.outgoingContext(ctx, h.headers, r.Header)
	var resp any = &c.resp
	var dyn *dynamicpb.Message
	if !wantProto {
		dyn = dynamicpb.NewMessage(m.Output)
		resp = dyn
	}
	if err := h.caller.Invoke(ctx, ep.Service, m.Path, req, resp, c.options(retryOption(m))...); err != nil {
		callmeta.WriteMetadata(w.Header(), c.header, c.trailer)
		return h.callError(err, set)
	}
	callmeta.WriteMetadata(w.Header(), c.header, c.trailer)
	if wantProto {
		writeAnswer(w, "application/protobuf", c.resp.bytes())
		return nil
	}
	mo := h.marshal
	mo.Resolver = typesWithGlobal{set}
	out, err := mo.Marshal(dyn)
	if err != nil {
		return fmt.Errorf("encoding the %s answer as JSON: %w", m.Output.FullName(), err)
	}
	writeAnswer(w, "application/json", out)
	return nil
}

// serveFast transcodes JSON straight to protobuf wire bytes and back with the descriptors'
// plans, never building a message. It takes requests whose message is the JSON body alone (no
// query parameters, path variables or form fields); done is false when the slow path must run,
// in which case nothing was written and c is as it was.
func (h *Handler) serveFast(ctx context.Context, w http.ResponseWriter, r *http.Request, ep *resolver.Endpoint, set *descriptor.Set, m *descriptor.Method, c *unaryCall, body []byte, wantProto bool) (done bool, err error) {
	if r.URL.RawQuery != "" || len(ep.Vars) > 0 {
		return false, nil
	}
	ct := mediaType(r.Header.Get("Content-Type"))
	if ct != "" && ct != "application/json" && ct != "application/x-www-form-urlencoded" {
		return false, nil
	}
	in := h.plans.get(m.Input)
	out := h.plans.get(m.Output)
	if in == nil || (out == nil && !wantProto) {
		return false, nil
	}
	if ct == "application/x-www-form-urlencoded" && !looksLikeJSON(body) {
		return false, nil // a real form: the slow path parses it
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = emptyObject
	}
	// The wire form is rarely longer than its JSON; when it is, AppendWire grows the buffer.
	wp := h.bufs.Get(len(body))
	wire, err := in.AppendWire((*wp)[:0], body)
	*wp = wire
	if err != nil {
		h.bufs.Put(wp)
		// Unsupported types, and bad input too: the slow path decides, so a client gets the
		// same answer, with the same wording, whichever path its request took.
		return false, nil
	}
	if up := h.caller.unaryPool(); up != nil {
		call := c.rawCall(h.headers, r.Header, m.Path, wire, h.bufs)
		err = h.caller.invokeRaw(ctx, up, ep.Service, call, m.Idempotent())
		h.bufs.Put(wp) // h2grpc has written the last byte when it returns
		c.takeRawAnswer()
	} else {
		// Reference counted: grpc may write the bytes after Invoke returns (see outFrame).
		c.req.buf = mem.NewBuffer(wp, h.bufs)
		ctx = c.outgoingContext(ctx, h.headers, r.Header)
		err = h.caller.Invoke(ctx, ep.Service, m.Path, &c.req, &c.resp, c.options(retryOption(m))...)
		c.req.release() // grpc keeps its own reference while it still writes the bytes
	}
	if err != nil {
		callmeta.WriteMetadata(w.Header(), c.header, c.trailer)
		return true, h.callError(err, set)
	}
	callmeta.WriteMetadata(w.Header(), c.header, c.trailer)
	if wantProto {
		writeAnswer(w, "application/protobuf", c.resp.bytes())
		return true, nil
	}
	answer := c.resp.bytes()
	// JSON is usually under twice the size of its wire form; AppendJSON grows the buffer if not.
	jp := h.bufs.Get(2*len(answer) + 64)
	defer h.bufs.Put(jp)
	js, err := out.AppendJSON((*jp)[:0], answer, transcode.Options{UseProtoNames: h.cfg.UseProtoNames, EmitUnpopulated: !h.cfg.OmitZeroValues})
	*jp = js
	if err != nil {
		return true, apierror.New(http.StatusBadGateway, "the backend's %s answer does not decode: %v", m.Output.FullName(), err)
	}
	writeAnswer(w, "application/json", js)
	return true, nil
}

var emptyObject = []byte("{}")

// writeAnswer writes a complete answer with its Content-Type and Content-Length, so net/http
// sends it in one piece instead of chunked once it outgrows its 2 KiB response buffer.
func writeAnswer(w http.ResponseWriter, contentType string, body []byte) {
	// One allocation for both header values; each slice is capped so that appending to one
	// cannot overwrite the other.
	vals := []string{contentType, strconv.Itoa(len(body))}
	hdr := w.Header()
	hdr["Content-Type"] = vals[0:1:1]
	hdr["Content-Length"] = vals[1:2:2]
	_, _ = w.Write(body)
}

// readBody reads the request body into a reference-counted pooled buffer; empty when the
// request has none. The caller frees it once the call no longer needs it.
func (h *Handler) readBody(r *http.Request) (mem.Buffer, error) {
	bp, err := ReadBody(r, h.cfg.BodyLimit, h.bufs)
	if err != nil || bp == nil {
		return mem.SliceBuffer(nil), err
	}
	return mem.NewBuffer(bp, h.bufs), nil
}

// request builds the request message from body (the request's, see readBody): body first,
// then query parameters and path variables. A protobuf body is sent as it is, from body's
// buffer, so body must stay referenced until the call is over.
func (h *Handler) request(r *http.Request, ep *resolver.Endpoint, set *descriptor.Set, m *descriptor.Method, bodyBuf mem.Buffer) (any, error) {
	body := bodyBuf.ReadOnlyData()
	ct := mediaType(r.Header.Get("Content-Type"))
	if isProtobuf(ct) {
		if len(r.URL.RawQuery) > 0 || len(ep.Vars) > 0 {
			return nil, apierror.New(http.StatusBadRequest, "a protobuf body cannot be combined with query parameters or path variables")
		}
		// The bytes go to the backend untouched, but a body that does not decode is the client's
		// fault: checked here it is a 400, left to the backend it comes back as Internal (500).
		if err := (proto.UnmarshalOptions{}).Unmarshal(body, dynamicpb.NewMessage(m.Input)); err != nil {
			return nil, apierror.BadRequest("", fmt.Errorf("invalid protobuf body for %s: %w", m.Input.FullName(), err))
		}
		return &outFrame{buf: bodyBuf}, nil
	}
	msg := dynamicpb.NewMessage(m.Input)
	switch {
	case ct == "application/x-www-form-urlencoded" && looksLikeJSON(body):
		// curl -d sends this Content-Type by default; a body that is a JSON object is JSON
		// (micro api accepted it too), since no form field name starts with '{'.
		if err := unmarshalJSON(body, msg, protojson.UnmarshalOptions{Resolver: typesWithGlobal{set}}); err != nil {
			return nil, badField(err)
		}
	case ct == "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, apierror.BadRequest("", fmt.Errorf("invalid form body: %w", err))
		}
		if err := setParams(msg, form); err != nil {
			return nil, err
		}
	case len(body) > 0:
		if ct != "" && ct != "application/json" && !strings.HasSuffix(ct, "+json") && ct != "text/plain" {
			return nil, apierror.New(http.StatusUnsupportedMediaType, "Content-Type %q is not supported; send application/json, application/x-www-form-urlencoded or application/protobuf", ct)
		}
		if err := unmarshalJSON(body, msg, protojson.UnmarshalOptions{Resolver: typesWithGlobal{set}}); err != nil {
			return nil, badField(err)
		}
	}
	if r.URL.RawQuery != "" {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, apierror.BadRequest("", fmt.Errorf("invalid query string: %w", err))
		}
		if err := setParams(msg, q); err != nil {
			return nil, err
		}
	}
	for k, v := range ep.Vars {
		if err := setParam(msg, k, v); err != nil {
			return nil, badField(err)
		}
	}
	return msg, nil
}

// looksLikeJSON reports whether body starts, after white space, with a JSON object.
func looksLikeJSON(body []byte) bool {
	for _, c := range body {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return true
		}
		return false
	}
	return false
}

func setParams(msg protoreflect.Message, vals url.Values) error {
	for k, vs := range vals {
		for _, v := range vs {
			if err := setParam(msg, k, v); err != nil {
				return badField(err)
			}
		}
	}
	return nil
}

func badField(err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return apierror.BadRequest(fe.Field, fe.Err)
	}
	return apierror.BadRequest("", err)
}

// callError keeps the backend's status and renders its details with the service's own types.
func (h *Handler) callError(err error, set *descriptor.Set) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	e := apierror.From("", err)
	e.Details = apierror.DetailsJSON(st, typesWithGlobal{set})
	return e
}

// mediaType is the media type of a Content-Type value as mime.ParseMediaType returns it, without
// its parsing (and its parameter map) for the plain value almost every JSON client sends.
func mediaType(contentType string) string {
	if contentType == "" || contentType == "application/json" {
		return contentType
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt
}

func isProtobuf(ct string) bool {
	return ct == "application/protobuf" || ct == "application/x-protobuf" || ct == "application/octet-stream+protobuf"
}

// acceptsProtobuf reports whether the Accept header asks for protobuf before JSON.
func acceptsProtobuf(accept string) bool {
	if !containsFold(accept, "protobuf") {
		return false // every type isProtobuf takes has it: no need to split and parse
	}
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part))
		if isProtobuf(mt) {
			return true
		}
		if mt == "application/json" || mt == "*/*" {
			return false
		}
	}
	return false
}

// containsFold reports whether s contains substr (lower-case ASCII) in any case.
func containsFold(s, substr string) bool {
	for i := 0; i+len(substr) <= len(s); i++ {
		j := 0
		for j < len(substr) && s[i+j]|0x20 == substr[j] {
			j++
		}
		if j == len(substr) {
			return true
		}
	}
	return false
}
