// Package event is the gateway's event handler: `POST /<topic>/<name...>` becomes a CloudEvents
// 1.0 event published to the broker on subject `<namespace>.<topic>`, and the client gets
// 202 {"id": ...} only after the broker acknowledged storing it.
//
// The event uses the CloudEvents NATS protocol binding in binary content mode: the body is the
// data exactly as sent, Content-Type carries datacontenttype, and every other attribute is a
// "ce-" header: ce-specversion 1.0, ce-id (the client's Ce-Id header, or a new UUID), ce-type
// (topic and name joined with dots, e.g. "user.login"), ce-source (configured), ce-time (RFC 3339),
// plus extension attributes from the client's Ce-* headers. The id is also the broker's
// deduplication id, so a client that retries with the same Ce-Id stores the event once.
//
// Failures: not POST -> 405 with Allow; bad topic or name -> 400; body over the limit -> 413;
// broker unreachable or no acknowledgement in time -> 503, and the event is not claimed.
package event

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/broker"
	"github.com/edgeapi/gateway/resolver"
)

// Config tunes the handler; zero values mean the documented defaults.
type Config struct {
	// Namespace prefixes subjects ("go.micro.api" -> "go.micro.api.<topic>"); may be empty.
	Namespace string
	// Source is the CloudEvents source attribute; default "/gateway".
	Source string
	// BodyLimit caps the event data; default 4 MiB.
	BodyLimit int64
	// AckTimeout bounds waiting for the broker; default 5s.
	AckTimeout time.Duration
	// Observe, if set, hears every publish outcome (nil: acknowledged), for metrics.
	Observe func(err error)
	// CarryHeaders are request headers copied onto the event (besides Ce-* ones); default
	// X-Request-Id, Traceparent, Tracestate.
	CarryHeaders []string
}

// Handler is the event handler.
type Handler struct {
	pub     broker.Publisher
	bounded boundedPublisher // pub, when it can bound the wait itself
	log     *slog.Logger
	cfg     Config
	carry   []carried // cfg.CarryHeaders
}

// boundedPublisher is a broker.Publisher that bounds the wait for the acknowledgement by a
// duration as well as by ctx, with the same outcome as Publish under a context with that
// timeout. The handler prefers it: a context.WithTimeout per event costs seven allocations (a
// timer, a registration with the request's context, a channel), where the publisher can reuse
// one timer.
type boundedPublisher interface {
	PublishWithin(ctx context.Context, msg *broker.Message, d time.Duration) (broker.Ack, error)
}

// carried is a request header copied onto the event, under both of its names.
type carried struct {
	canonical string // its key in http.Header
	lower     string // its key on the event (the CloudEvents NATS binding uses lower case)
}

// New returns the event handler.
func New(pub broker.Publisher, log *slog.Logger, cfg Config) *Handler {
	if cfg.Source == "" {
		cfg.Source = "/gateway"
	}
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = 4 << 20
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 5 * time.Second
	}
	if cfg.CarryHeaders == nil {
		cfg.CarryHeaders = []string{"X-Request-Id", "Traceparent", "Tracestate"}
	}
	h := &Handler{pub: pub, log: log, cfg: cfg}
	h.bounded, _ = pub.(boundedPublisher)
	for _, k := range cfg.CarryHeaders {
		h.carry = append(h.carry, carried{canonical: http.CanonicalHeaderKey(k), lower: strings.ToLower(k)})
	}
	return h
}

// Route returns a handler with a route's own limits.
func (h *Handler) Route(timeout, _ time.Duration, bodyLimit int64) http.Handler {
	c := *h
	if timeout > 0 {
		c.cfg.AckTimeout = timeout
	}
	if bodyLimit > 0 {
		c.cfg.BodyLimit = bodyLimit
	}
	return &c
}

// Accepted is the 202 body.
type Accepted struct {
	ID        string `json:"id"`
	Subject   string `json:"subject"`
	Type      string `json:"type"`
	Stream    string `json:"stream"`
	Sequence  uint64 `json:"sequence"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if ep := resolver.EndpointFrom(r.Context()); ep != nil && ep.Path != "" {
		path = ep.Path
	}
	if r.Method != http.MethodPost {
		e := apierror.New(http.StatusMethodNotAllowed, "events are published with POST")
		e.Header = http.Header{"Allow": {http.MethodPost}}
		apierror.Write(w, apierror.GatewayID, e)
		return
	}
	if r.URL.RawPath != "" && r.URL.RawPath != r.URL.Path {
		// Topics and names never need escaping; an escaped "/" (%2F) would otherwise become a
		// name separator after decoding. Refused like the resolvers refuse it, never cleaned up.
		apierror.Write(w, apierror.GatewayID, apierror.BadRequest("", fmt.Errorf("path %q: percent-encoded characters are not allowed", truncate(r.URL.RawPath))))
		return
	}
	msg, typ, err := h.Build(r, path)
	if err != nil {
		apierror.Write(w, apierror.GatewayID, err)
		return
	}
	var ack broker.Ack
	if h.bounded != nil {
		ack, err = h.bounded.PublishWithin(r.Context(), msg, h.cfg.AckTimeout)
	} else {
		ctx, cancel := context.WithTimeout(r.Context(), h.cfg.AckTimeout)
		ack, err = h.pub.Publish(ctx, msg)
		cancel()
	}
	if h.cfg.Observe != nil {
		h.cfg.Observe(err)
	}
	if err != nil {
		h.log.Warn("event not published", "subject", msg.Subject, "id", ID(msg), "error", err)
		if r.Context().Err() == nil {
			err = apierror.New(http.StatusServiceUnavailable, "the event was not published: the broker did not acknowledge it (%v)", err)
		}
		apierror.Write(w, apierror.GatewayID, err)
		return
	}
	// Both header values in one allocation, each capped so an append cannot reach the other.
	id := ID(msg)
	vals := [...]string{"application/json", id}
	hdr := w.Header()
	hdr["Content-Type"] = vals[0:1:1]
	hdr["Ce-Id"] = vals[1:2:2]
	w.WriteHeader(http.StatusAccepted)
	a := Accepted{ID: id, Subject: msg.Subject, Type: typ, Stream: ack.Stream, Sequence: ack.Sequence, Duplicate: ack.Duplicate}
	// Room for the keys, punctuation and the longest sequence: one allocation of the right size.
	size := len(a.ID) + len(a.Subject) + len(a.Type) + len(a.Stream) + 96
	_, _ = w.Write(appendAccepted(make([]byte, 0, size), a))
}

// Build turns a POST into the broker message; it returns the event type too.
func (h *Handler) Build(r *http.Request, path string) (*broker.Message, string, error) {
	topic, name, err := splitPath(path)
	if err != nil {
		return nil, "", apierror.BadRequest("", err)
	}
	data, err := readBody(r.Body, r.ContentLength, h.cfg.BodyLimit)
	if err != nil {
		if errors.Is(err, errBodyTooLarge) {
			return nil, "", apierror.BodyTooLarge(h.cfg.BodyLimit)
		}
		return nil, "", fmt.Errorf("reading the event body: %w", err)
	}
	id := r.Header.Get("Ce-Id")
	if id != "" && !validID(id) {
		return nil, "", apierror.BadRequest("Ce-Id", errors.New("must be 1-128 printable ASCII characters"))
	}
	// Only the client's id deduplicates. An id minted here is told to the client only in the
	// 202, so no retry can ever carry it, and JetStream would hold it in memory for the whole
	// duplicate window for nothing (millions of ids at high event rates).
	dedup := id
	// The strings the handler makes for every event are cut from one: "<namespace>.<topic>"
	// is the subject, "<topic>.<name...>" inside it the type, then the time and, when the
	// client sent none, the id. One allocation instead of five.
	var buf [192]byte
	b := buf[:0]
	if h.cfg.Namespace != "" {
		b = append(append(b, h.cfg.Namespace...), '.')
	}
	typeAt := len(b)
	b = append(b, topic...)
	subjectEnd := len(b)
	if name != "" {
		b = append(b, '.')
		for i := 0; i < len(name); i++ {
			if c := name[i]; c == '/' {
				b = append(b, '.')
			} else {
				b = append(b, c)
			}
		}
	}
	typeEnd := len(b)
	b = time.Now().UTC().AppendFormat(b, time.RFC3339Nano)
	timeEnd := len(b)
	if id == "" {
		b = appendUUID(b)
	}
	s := string(b)
	subject, typ, stamp := s[:subjectEnd], s[typeAt:typeEnd], s[typeEnd:timeEnd]
	if id == "" {
		id = s[timeEnd:]
	}

	// Sized for the attributes below, the carried headers and the two the broker adds, so
	// that the map is not grown while it is filled.
	hdr := make(map[string][]string, 8+len(h.carry))
	// Extension attributes first, so the required ones below cannot be overridden.
	for k, vs := range r.Header {
		// Lower-casing allocates: only for the Ce-* headers, not for every header of the request.
		if len(k) <= 3 || !strings.EqualFold(k[:3], "ce-") {
			continue
		}
		lk := strings.ToLower(k)
		// datacontenttype travels as content-type in binary mode, never as a ce- header.
		if strings.HasPrefix(lk, "ce-") && validExtension(lk[3:]) && lk != "ce-datacontenttype" {
			hdr[lk] = vs
		}
	}
	// The handler's own values share one array; each is capped so that an append to one (the
	// broker may add values) cannot overwrite the next.
	own := [...]string{"1.0", id, typ, h.cfg.Source, stamp, r.Header.Get("Content-Type")}
	hdr["ce-specversion"] = own[0:1:1]
	hdr["ce-id"] = own[1:2:2]
	hdr["ce-type"] = own[2:3:3]
	hdr["ce-source"] = own[3:4:4]
	hdr["ce-time"] = own[4:5:5]
	if own[5] != "" {
		hdr["content-type"] = own[5:6:6]
	}
	for _, c := range h.carry {
		if v := r.Header[c.canonical]; len(v) > 0 {
			hdr[c.lower] = v
		}
	}
	return &broker.Message{Subject: subject, Header: hdr, Data: data, ID: dedup}, typ, nil
}

// ID returns the id of an event Build made: the client's Ce-Id or the one Build minted.
func ID(msg *broker.Message) string { return msg.Header["ce-id"][0] }

// errBodyTooLarge: the body is over the limit.
var errBodyTooLarge = errors.New("event body too large")

// readBody reads the event data, at most limit bytes. A request announces its length unless it
// is chunked; the buffer is then made once at that size (and the byte the read that meets the
// end needs), where io.ReadAll starts at 512 bytes and grows by copying.
func readBody(body io.Reader, length, limit int64) ([]byte, error) {
	if body == nil || body == http.NoBody {
		return []byte{}, nil
	}
	if length > limit {
		return nil, errBodyTooLarge
	}
	size := int64(512)
	if length > 0 {
		size = length + 1
	}
	data := make([]byte, 0, min(size, limit+1))
	for {
		if len(data) == cap(data) {
			data = slices.Grow(data, len(data))
		}
		// Never ask for more than one byte past the limit: that byte is proof enough.
		end := int(min(int64(cap(data)), limit+1))
		n, err := body.Read(data[len(data):end])
		data = data[:len(data)+n]
		if int64(len(data)) > limit {
			return nil, errBodyTooLarge
		}
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, errBodyTooLarge
			}
			return nil, err
		}
	}
}

// splitPath splits "/<topic>/<name...>"; topic and name segments are [A-Za-z0-9_-]. The name
// keeps its slashes (Build writes them as dots while it makes the event's strings together, so
// that nothing is allocated here).
func splitPath(path string) (topic, name string, err error) {
	p := strings.Trim(path, "/")
	if p == "" {
		return "", "", errors.New("the path must name a topic: POST /<topic>/<name>")
	}
	for rest := p; ; {
		seg, after, more := strings.Cut(rest, "/")
		if !validSegment(seg) {
			return "", "", fmt.Errorf("path segment %q: use letters, digits, '-' and '_'", truncate(seg))
		}
		if !more {
			break
		}
		rest = after
	}
	topic, name, _ = strings.Cut(p, "/")
	return topic, name, nil
}

func validSegment(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validExtension: CloudEvents attribute names are lower-case letters and digits, at most 20.
func validExtension(s string) bool {
	if len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func validID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] >= 0x7f {
			return false
		}
	}
	return true
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// appendUUID appends a random (version 4) UUID in its canonical text form.
func appendUUID(dst []byte) []byte {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	dst = hex.AppendEncode(dst, b[0:4])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, b[4:6])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, b[6:8])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, b[8:10])
	dst = append(dst, '-')
	return hex.AppendEncode(dst, b[10:])
}

// appendAccepted appends a's JSON and a newline, byte for byte what encoding/json writes: by
// hand when no string needs escaping, as for the ids, subjects and streams the gateway makes,
// through encoding/json otherwise. Reflection and its buffers cost more than the publish's
// own bookkeeping.
func appendAccepted(dst []byte, a Accepted) []byte {
	if !plainJSON(a.ID) || !plainJSON(a.Subject) || !plainJSON(a.Type) || !plainJSON(a.Stream) {
		b, _ := json.Marshal(a)
		return append(append(dst, b...), '\n')
	}
	dst = append(dst, `{"id":"`...)
	dst = append(dst, a.ID...)
	dst = append(dst, `","subject":"`...)
	dst = append(dst, a.Subject...)
	dst = append(dst, `","type":"`...)
	dst = append(dst, a.Type...)
	dst = append(dst, `","stream":"`...)
	dst = append(dst, a.Stream...)
	dst = append(dst, `","sequence":`...)
	dst = strconv.AppendUint(dst, a.Sequence, 10)
	if a.Duplicate {
		dst = append(dst, `,"duplicate":true`...)
	}
	return append(dst, "}\n"...)
}

// plainJSON: s is printable ASCII that encoding/json writes as is (it escapes '"', '\\' and,
// for HTML, '<', '>' and '&').
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
