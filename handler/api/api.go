// Package api is the gateway's api handler: the whole HTTP request goes to the backend as a
// go.api.Request message and the backend's go.api.Response decides the HTTP answer, so a service
// keeps full control of status, headers and body (micro api's "api" handler).
//
// Contract:
//   - Request: method, path (as routed), url (absolute), header (with X-Forwarded-For and Host
//     added; X-Forwarded-For is appended to only when the peer is a trusted proxy, and is the
//     peer's address otherwise), get (query), post (form fields of urlencoded or multipart
//     bodies), body (raw bytes as sent, also for forms).
//   - Response: status_code 0 means 200, a status outside 200-599 is a 502; headers are copied
//     except hop-by-hop ones (and those the backend's Connection header names); a header's name
//     is its Pair's key, or its map key when the Pair has none; Content-Type is
//     application/json unless the backend set one.
//   - The endpoint "Svc.Method" is found in the backend's descriptors like the rpc handler does,
//     and must be a unary method from go.api.Request to go.api.Response (else 404); the call goes
//     through the same selector, breakers, retries, deadlines and metadata.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/handler/callmeta"
	"github.com/edgeapi/gateway/handler/rpc"
	apipb "github.com/edgeapi/gateway/proto/api"
	"github.com/edgeapi/gateway/resolver"
	"github.com/edgeapi/gateway/trust"
)

// The messages every api-handler method takes and returns.
var (
	requestName  = (&apipb.Request{}).ProtoReflect().Descriptor().FullName()
	responseName = (&apipb.Response{}).ProtoReflect().Descriptor().FullName()
)

// Config tunes the handler; zero values mean the documented defaults.
type Config struct {
	Timeout    time.Duration // default 15s
	MaxTimeout time.Duration // default 60s
	BodyLimit  int64         // default 4 MiB
	// MaxMemory is how much of a multipart body is held in memory; default and cap: BodyLimit.
	MaxMemory int64
	// ForwardHeaders are extra request headers passed to backends as metadata.
	ForwardHeaders []string
	// TrustedProxies may set X-Forwarded-For; for other peers it is overwritten.
	TrustedProxies trust.Proxies
}

// Handler is the api handler.
type Handler struct {
	caller  *rpc.Caller
	descs   rpc.Descriptors
	log     *slog.Logger
	cfg     Config
	headers callmeta.Headers
	bufs    *rpc.Buffers // request bodies; shared by the handler's routes
}

// New returns the api handler.
func New(caller *rpc.Caller, descs rpc.Descriptors, log *slog.Logger, cfg Config) *Handler {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = 60 * time.Second
	}
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = 4 << 20
	}
	if cfg.MaxMemory <= 0 || cfg.MaxMemory > cfg.BodyLimit {
		cfg.MaxMemory = cfg.BodyLimit
	}
	return &Handler{caller: caller, descs: descs, log: log, cfg: cfg, headers: callmeta.NewHeaders(cfg.ForwardHeaders), bufs: &rpc.Buffers{}}
}

// Route returns a handler with a route's own limits.
func (h *Handler) Route(timeout, maxTimeout time.Duration, bodyLimit int64) http.Handler {
	c := *h
	if maxTimeout > 0 {
		c.cfg.MaxTimeout = maxTimeout
	}
	if timeout > 0 {
		c.cfg.Timeout = min(timeout, c.cfg.MaxTimeout)
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
		apierror.Write(w, apierror.GatewayID, errors.New("api handler reached without a resolved endpoint"))
		return
	}
	if err := h.serve(w, r, ep); err != nil {
		apierror.Write(w, ep.Service, err)
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, ep *resolver.Endpoint) error {
	timeout, err := callmeta.Timeout(r.Header, h.cfg.Timeout, h.cfg.MaxTimeout)
	if err != nil {
		return apierror.BadRequest("", err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	if timeout < h.cfg.Timeout {
		// The client chose a shorter deadline: its expiry must not count against the node.
		ctx = rpc.WithClientDeadline(ctx)
	}
	set, err := h.descs.Get(ctx, ep.Service)
	if err != nil {
		return err
	}
	m, err := set.Method(ep.Method)
	if err != nil {
		return err
	}
	if m.Input.FullName() != requestName || m.Output.FullName() != responseName || m.ClientStreaming() || m.ServerStreaming() {
		return apierror.New(http.StatusNotFound, "%s is not an api endpoint: it must be a unary method from %s to %s", ep.Method, requestName, responseName)
	}
	bp, err := rpc.ReadBody(r, h.cfg.BodyLimit, h.bufs)
	if err != nil {
		return err
	}
	// The request message refers to the body; the proto codec copies it into the call's own
	// buffer, so once Invoke has returned nothing does.
	defer h.bufs.Put(bp)
	req, err := buildRequest(r, ep.Path, bp, h.cfg.MaxMemory)
	if err != nil {
		return err
	}
	if prior := r.Header.Values("X-Forwarded-For"); len(prior) > 0 && h.cfg.TrustedProxies.Trusted(r.RemoteAddr) {
		if p := req.Header["X-Forwarded-For"]; p != nil {
			p.Values = []string{strings.Join(prior, ", ") + ", " + p.Values[0]}
		}
	}
	resp := &apipb.Response{}
	ctx = h.headers.OutgoingContext(ctx, r.Header)
	if err := h.caller.Invoke(ctx, ep.Service, m.Path, req, resp, retryOption(r.Method)); err != nil {
		return err
	}
	WriteResponse(w, resp)
	return nil
}

// BuildRequest turns r into a go.api.Request. The body is read up to limit bytes (413 past it).
// X-Forwarded-For is set to the peer's address alone: whether an incoming one is believed is the
// caller's decision (the handler appends to it for trusted proxies).
func BuildRequest(r *http.Request, path string, limit, maxMemory int64) (*apipb.Request, error) {
	bp, err := rpc.ReadBody(r, limit, nil) // the caller keeps the request, so the body is its own
	if err != nil {
		return nil, err
	}
	return buildRequest(r, path, bp, maxMemory)
}

// buildRequest is BuildRequest with the body already read (nil: none).
func buildRequest(r *http.Request, path string, bp *[]byte, maxMemory int64) (*apipb.Request, error) {
	var body []byte
	if bp != nil {
		body = *bp
	}
	req := &apipb.Request{
		Method: r.Method,
		Path:   path,
		Header: pairs(r.Header),
		Get:    pairs(r.URL.Query()),
		Body:   body,
		Url:    absoluteURL(r),
	}
	delete(req.Header, "X-Forwarded-For")
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		req.Header["X-Forwarded-For"] = &apipb.Pair{Key: "X-Forwarded-For", Values: []string{host}}
	}
	req.Header["Host"] = &apipb.Pair{Key: "Host", Values: []string{r.Host}}

	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, apierror.BadRequest("", fmt.Errorf("invalid form body: %w", err))
		}
		req.Post = pairs(form)
	case "multipart/form-data":
		mr := multipartReader(body, params["boundary"])
		if mr == nil {
			return nil, apierror.BadRequest("", errors.New("multipart body without a boundary"))
		}
		form, err := mr.ReadForm(maxMemory)
		if err != nil {
			return nil, apierror.BadRequest("", fmt.Errorf("invalid multipart body: %w", err))
		}
		req.Post = pairs(form.Value)
		_ = form.RemoveAll()
	}
	return req, nil
}

func absoluteURL(r *http.Request) string {
	u := *r.URL
	u.Host = r.Host
	u.Scheme = "http"
	if r.TLS != nil {
		u.Scheme = "https"
	}
	return u.String()
}

func pairs[V ~[]string](m map[string]V) map[string]*apipb.Pair {
	out := make(map[string]*apipb.Pair, len(m))
	for k, v := range m {
		out[k] = &apipb.Pair{Key: k, Values: append([]string(nil), v...)}
	}
	return out
}

// hopByHop headers describe one connection and never cross the gateway.
var hopByHop = map[string]bool{
	"Connection": true, "Proxy-Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
	"Content-Length": true,
}

// WriteResponse writes a go.api.Response as the HTTP answer.
func WriteResponse(w http.ResponseWriter, resp *apipb.Response) {
	h := w.Header()
	named := connectionNamed(resp.GetHeader())
	for mk, p := range resp.GetHeader() {
		key := p.GetKey()
		if key == "" {
			key = mk
		}
		key = http.CanonicalHeaderKey(key)
		if key == "" || hopByHop[key] || named[key] {
			continue
		}
		for _, v := range p.GetValues() {
			if !validHeaderValue(v) {
				continue
			}
			h.Add(key, v)
		}
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	code := int(resp.GetStatusCode())
	if code == 0 {
		code = http.StatusOK
	}
	if code < 200 || code > 599 {
		// 1xx are not final answers (and 101 would hand the connection over); beyond 599 is
		// not HTTP. Either way the backend's answer cannot be relayed.
		code = http.StatusBadGateway
	}
	w.WriteHeader(code)
	_, _ = w.Write(resp.GetBody())
}

// connectionNamed returns the headers the backend's Connection header names: hop-by-hop too.
func connectionNamed(hdr map[string]*apipb.Pair) map[string]bool {
	var named map[string]bool
	for mk, p := range hdr {
		key := p.GetKey()
		if key == "" {
			key = mk
		}
		if http.CanonicalHeaderKey(key) != "Connection" {
			continue
		}
		for _, v := range p.GetValues() {
			for f := range strings.SplitSeq(v, ",") {
				if f = strings.TrimSpace(f); f != "" {
					if named == nil {
						named = map[string]bool{}
					}
					named[http.CanonicalHeaderKey(f)] = true
				}
			}
		}
	}
	return named
}

func validHeaderValue(v string) bool {
	return !strings.ContainsAny(v, "\r\n\x00")
}
