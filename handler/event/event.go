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
	pub broker.Publisher
	log *slog.Logger
	cfg Config
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
	return &Handler{pub: pub, log: log, cfg: cfg}
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
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.AckTimeout)
	defer cancel()
	ack, err := h.pub.Publish(ctx, msg)
	if h.cfg.Observe != nil {
		h.cfg.Observe(err)
	}
	if err != nil {
		h.log.Warn("event not published", "subject", msg.Subject, "id", msg.ID, "error", err)
		if r.Context().Err() == nil {
			err = apierror.New(http.StatusServiceUnavailable, "the event was not published: the broker did not acknowledge it (%v)", err)
		}
		apierror.Write(w, apierror.GatewayID, err)
		return
	}
	body, _ := json.Marshal(Accepted{ID: msg.ID, Subject: msg.Subject, Type: typ, Stream: ack.Stream, Sequence: ack.Sequence, Duplicate: ack.Duplicate})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Ce-Id", msg.ID)
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(append(body, '\n'))
}

// Build turns a POST into the broker message; it returns the event type too.
func (h *Handler) Build(r *http.Request, path string) (*broker.Message, string, error) {
	topic, name, err := parsePath(path)
	if err != nil {
		return nil, "", apierror.BadRequest("", err)
	}
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, h.cfg.BodyLimit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, "", apierror.BodyTooLarge(h.cfg.BodyLimit)
		}
		return nil, "", fmt.Errorf("reading the event body: %w", err)
	}
	id := r.Header.Get("Ce-Id")
	if id == "" {
		id = newUUID()
	} else if !validID(id) {
		return nil, "", apierror.BadRequest("Ce-Id", errors.New("must be 1-128 printable ASCII characters"))
	}
	typ := topic
	if name != "" {
		typ = topic + "." + name
	}
	subject := topic
	if h.cfg.Namespace != "" {
		subject = h.cfg.Namespace + "." + topic
	}
	// Sized for the attributes below, the carried headers and the two the broker adds, so
	// that the map is not grown while it is filled.
	hdr := make(map[string][]string, 8+len(h.cfg.CarryHeaders))
	// Extension attributes first, so the required ones below cannot be overridden.
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		// datacontenttype travels as content-type in binary mode, never as a ce- header.
		if strings.HasPrefix(lk, "ce-") && len(lk) > 3 && validExtension(lk[3:]) && lk != "ce-datacontenttype" {
			hdr[lk] = vs
		}
	}
	hdr["ce-specversion"] = []string{"1.0"}
	hdr["ce-id"] = []string{id}
	hdr["ce-type"] = []string{typ}
	hdr["ce-source"] = []string{h.cfg.Source}
	hdr["ce-time"] = []string{time.Now().UTC().Format(time.RFC3339Nano)}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		hdr["content-type"] = []string{ct}
	} else {
		delete(hdr, "content-type")
	}
	for _, k := range h.cfg.CarryHeaders {
		if v := r.Header.Values(k); len(v) > 0 {
			hdr[strings.ToLower(k)] = v
		}
	}
	return &broker.Message{Subject: subject, Header: hdr, Data: data, ID: id}, typ, nil
}

// parsePath splits "/<topic>/<name...>"; topic and name segments are [A-Za-z0-9_-].
func parsePath(path string) (topic, name string, err error) {
	p := strings.Trim(path, "/")
	if p == "" {
		return "", "", errors.New("the path must name a topic: POST /<topic>/<name>")
	}
	segs := strings.Split(p, "/")
	for _, s := range segs {
		if !validSegment(s) {
			return "", "", fmt.Errorf("path segment %q: use letters, digits, '-' and '_'", truncate(s))
		}
	}
	return segs[0], strings.Join(segs[1:], "."), nil
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

// newUUID returns a random (version 4) UUID in its canonical text form.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}
