// Package api is the gateway's api handler: the whole HTTP request goes to the backend as a
// go.api.Request message and the backend's go.api.Response decides the HTTP answer, so a service
// keeps full control of status, headers and body (micro api's "api" handler).
//
// Contract:
//   - Request: method, path (as routed), url (absolute), header (with X-Forwarded-For and Host
//     added), get (query), post (form fields of urlencoded or multipart bodies), body (raw bytes
//     as sent, also for forms).
//   - Response: status_code 0 means 200; headers are copied except hop-by-hop ones; Content-Type
//     is application/json unless the backend set one.
//   - The endpoint "Svc.Method" is found in the backend's descriptors like the rpc handler does,
//     and the call goes through the same selector, breakers, retries, deadlines and metadata.
package api

import (
	"context"
	"errors"
	"fmt"
	"io"
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
}

// Handler is the api handler.
type Handler struct {
	caller  *rpc.Caller
	descs   rpc.Descriptors
	log     *slog.Logger
	cfg     Config
	headers callmeta.Headers
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
	return &Handler{caller: caller, descs: descs, log: log, cfg: cfg, headers: callmeta.NewHeaders(cfg.ForwardHeaders)}
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
	set, err := h.descs.Get(ctx, ep.Service)
	if err != nil {
		return err
	}
	m, err := set.Method(ep.Method)
	if err != nil {
		return err
	}
	req, err := BuildRequest(r, ep.Path, h.cfg.BodyLimit, h.cfg.MaxMemory)
	if err != nil {
		return err
	}
	resp := &apipb.Response{}
	ctx = h.headers.OutgoingContext(ctx, r.Header)
	if err := h.caller.Invoke(ctx, ep.Service, m.Path, req, resp); err != nil {
		return err
	}
	WriteResponse(w, resp)
	return nil
}

// BuildRequest turns r into a go.api.Request. The body is read up to limit bytes (413 past it).
func BuildRequest(r *http.Request, path string, limit, maxMemory int64) (*apipb.Request, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, apierror.New(http.StatusRequestEntityTooLarge, "request body exceeds the limit of %d bytes", limit)
		}
		return nil, fmt.Errorf("reading the request body: %w", err)
	}
	req := &apipb.Request{
		Method: r.Method,
		Path:   path,
		Header: pairs(r.Header),
		Get:    pairs(r.URL.Query()),
		Body:   body,
		Url:    absoluteURL(r),
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		xff := host
		if prior := r.Header.Get("X-Forwarded-For"); prior != "" {
			xff = prior + ", " + host
		}
		req.Header["X-Forwarded-For"] = &apipb.Pair{Key: "X-Forwarded-For", Values: []string{xff}}
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
	for _, p := range resp.GetHeader() {
		key := http.CanonicalHeaderKey(p.GetKey())
		if key == "" || hopByHop[key] {
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
	if code < 100 || code > 999 {
		code = http.StatusBadGateway
	}
	w.WriteHeader(code)
	_, _ = w.Write(resp.GetBody())
}

func validHeaderValue(v string) bool {
	return !strings.ContainsAny(v, "\r\n\x00")
}
