// Package callmeta decides what crosses from an HTTP request into a gRPC call and back: which
// headers become metadata (an allow-list; hop-by-hop headers never cross), how backend metadata
// returns as Grpc-Metadata-* headers, and the call deadline a client may ask for. The rpc and api
// handlers share it.
package callmeta

import (
	"context"
	"fmt"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"
)

// OutgoingContext returns ctx carrying the metadata m builds from h, or ctx itself when no
// header crosses: the backend sees the same (no metadata), and the call saves the context and
// the map. Request contexts carry no outgoing metadata of their own that this would keep.
func (m Headers) OutgoingContext(ctx context.Context, h http.Header) context.Context {
	md := m.AppendOutgoing(nil, h)
	if md == nil {
		return ctx
	}
	return metadata.NewOutgoingContext(ctx, md)
}

// MetadataPrefix marks request headers passed to backends with the prefix stripped, and
// response metadata returned to clients, as grpc-gateway does.
const MetadataPrefix = "Grpc-Metadata-"

// Headers decides which request headers become gRPC metadata: Authorization, X-Request-Id,
// Grpc-Metadata-* (prefix stripped) and configured extras. Nothing else crosses, and hop-by-hop
// headers never do, however they are spelled: HTTP/2 peers must treat a message carrying
// connection-specific fields as malformed (RFC 9113 8.2.2), so a forwarded "connection" makes
// the backend reset the stream.
type Headers struct {
	allow map[string]string // canonical header -> metadata key
}

// isHopByHop reports whether key (lower case) names a header that concerns one connection only
// (RFC 9110 7.6.1, and the ones httputil.ReverseProxy drops).
func isHopByHop(key string) bool {
	switch key {
	case "connection", "proxy-connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
		"te", "trailer", "transfer-encoding", "upgrade":
		return true
	}
	return false
}

func NewHeaders(extra []string) Headers {
	m := Headers{allow: map[string]string{
		"Authorization": "authorization",
		"X-Request-Id":  "x-request-id",
	}}
	for _, h := range extra {
		key := strings.ToLower(h)
		if !validMetadataKey(key) {
			continue // configuring Connection or Te does not make it cross
		}
		m.allow[textproto.CanonicalMIMEHeaderKey(h)] = key
	}
	return m
}

// Outgoing builds the metadata for a call. Allow-listed headers come first, then Grpc-Metadata-*
// ones, so a key given both ways has its values in a stable order (header map iteration alone
// would shuffle them).
func (m Headers) Outgoing(h http.Header) metadata.MD {
	if md := m.AppendOutgoing(nil, h); md != nil {
		return md
	}
	return metadata.MD{}
}

// AppendOutgoing adds the metadata Outgoing builds from h to md and returns md, allocated only
// when a header crosses (nil then means none did). A caller that recycles md between calls
// clears it first. Values may share h's arrays (see appendPrintable): grpc only reads
// metadata, and encodes it into the call's headers before the call returns.
func (m Headers) AppendOutgoing(md metadata.MD, h http.Header) metadata.MD {
	for k, vs := range h {
		key, ok := m.allow[k]
		if !ok || !forwardable(h, k, key) {
			continue
		}
		if md == nil {
			md = make(metadata.MD, 2)
		}
		md[key] = appendPrintable(md[key], vs)
	}
	for k, vs := range h {
		if len(k) <= len(MetadataPrefix) || !strings.HasPrefix(k, MetadataPrefix) {
			continue
		}
		if _, ok := m.allow[k]; ok {
			continue
		}
		key := strings.ToLower(k[len(MetadataPrefix):])
		if !validMetadataKey(key) || !forwardable(h, k, key) {
			continue
		}
		if md == nil {
			md = make(metadata.MD, 2)
		}
		md[key] = appendPrintable(md[key], vs)
	}
	return md
}

// forwardable reports whether header name, as metadata key, may cross: binary metadata needs
// base64 handling we do not offer from HTTP, and a header the client named in Connection is
// hop-by-hop for this request.
func forwardable(h http.Header, name, key string) bool {
	return !strings.HasSuffix(key, "-bin") && !namedByConnection(h, name)
}

// namedByConnection reports whether the Connection header lists the header name, which makes
// that header hop-by-hop (RFC 9110 7.6.1).
func namedByConnection(h http.Header, name string) bool {
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(f)) == name {
				return true
			}
		}
	}
	return false
}

// validMetadataKey reports whether key is a legal gRPC metadata key that is neither reserved
// nor hop-by-hop.
func validMetadataKey(key string) bool {
	if key == "" {
		return false
	}
	if strings.HasPrefix(key, "grpc-") || key == "content-type" || key == "user-agent" || isHopByHop(key) {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// appendPrintable appends the values gRPC can carry as text metadata (printable ASCII); others
// would make the whole call fail inside grpc-go with a 500, for a header the backend may not
// even read. When dst is nil and every value qualifies, which is the common case, it returns vs
// itself, capped so that a later append copies instead of writing into the header's array.
func appendPrintable(dst, vs []string) []string {
	if dst == nil && len(vs) > 0 && allPrintable(vs) {
		return vs[:len(vs):len(vs)]
	}
	for _, v := range vs {
		if printable(v) {
			dst = append(dst, v)
		}
	}
	return dst
}

func allPrintable(vs []string) bool {
	for _, v := range vs {
		if !printable(v) {
			return false
		}
	}
	return true
}

func printable(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

// WriteMetadata copies backend header and trailer metadata to the response as Grpc-Metadata-*.
func WriteMetadata(h http.Header, mds ...metadata.MD) {
	for _, md := range mds {
		for k, vs := range md {
			if strings.HasSuffix(k, "-bin") || k == "content-type" {
				continue
			}
			name := textproto.CanonicalMIMEHeaderKey(MetadataPrefix + k)
			for _, v := range vs {
				h.Add(name, v)
			}
		}
	}
}

// Timeout returns the deadline a client asked for with Grpc-Timeout (gRPC wire form,
// "100m", "5S") or Timeout (a Go duration "2s" or whole seconds "5"), bounded by max, and def
// when it asked for none. A malformed value is an error.
func Timeout(h http.Header, def, max time.Duration) (time.Duration, error) {
	d := def
	if v := h.Get("Grpc-Timeout"); v != "" {
		t, err := parseGRPCTimeout(v)
		if err != nil {
			return 0, err
		}
		d = t
	} else if v := h.Get("Timeout"); v != "" {
		t, err := parseTimeout(v)
		if err != nil {
			return 0, err
		}
		d = t
	}
	if max > 0 && d > max {
		d = max
	}
	return d, nil
}

func parseTimeout(v string) (time.Duration, error) {
	if n, err := strconv.ParseUint(v, 10, 32); err == nil && n > 0 {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("header Timeout %q: want a positive duration like 2s or whole seconds", v)
	}
	return d, nil
}

func parseGRPCTimeout(v string) (time.Duration, error) {
	bad := fmt.Errorf("header Grpc-Timeout %q: want 1-8 digits and a unit H, M, S, m, u or n", v)
	if len(v) < 2 || len(v) > 9 {
		return 0, bad
	}
	n, err := strconv.ParseUint(v[:len(v)-1], 10, 64)
	if err != nil || n == 0 {
		return 0, bad
	}
	var unit time.Duration
	switch v[len(v)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, bad
	}
	if n > uint64((1<<63-1)/int64(unit)) {
		return 1<<63 - 1, nil
	}
	return time.Duration(n) * unit, nil
}
