package consul

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"

	"github.com/edgeapi/gateway/registry"
)

// Consul's limits on service metadata (agent/structs: validateMetadata).
const (
	metaMaxKeys     = 64
	metaMaxKeyLen   = 128
	metaMaxValueLen = 512
	// consulReserved is the key prefix Consul keeps for itself.
	consulReserved = "consul-"
)

// Keys this package owns inside a service instance's Meta.
const (
	payloadPrefix = "ep_"   // ep_0 .. ep_<n-1>: chunks of the encoded payload
	payloadCount  = "ep_n"  // number of payload chunks; its presence marks our encoding
	svcMetaPrefix = "svc_"  // svc_<k>: service metadata entry k
	maxInflated   = 8 << 20 // decoded payload size limit, against compression bombs
)

// ErrMetaLimit is returned (wrapped) by Register when a node's encoded metadata would not fit in
// Consul's 64 metadata keys.
var ErrMetaLimit = errors.New("metadata exceeds consul's limit of 64 keys")

// payload is what does not fit in plain metadata keys: the version, the endpoints, and the
// service and node metadata entries that break Consul's key or value rules.
type payload struct {
	Version     string              `json:"v,omitempty"`
	Endpoints   []registry.Endpoint `json:"e,omitempty"`
	ServiceMeta map[string]string   `json:"s,omitempty"`
	NodeMeta    map[string]string   `json:"n,omitempty"`
}

func (p *payload) empty() bool {
	return p.Version == "" && len(p.Endpoints) == 0 && len(p.ServiceMeta) == 0 && len(p.NodeMeta) == 0
}

// encodeMeta builds the Consul Meta of one node of svc. See the package documentation for the
// layout. It fails with ErrMetaLimit when the result would exceed 64 keys.
func encodeMeta(svc *registry.Service, node *registry.Node) (map[string]string, error) {
	meta := make(map[string]string)
	p := payload{Version: svc.Version, Endpoints: svc.Endpoints}
	for k, v := range svc.Metadata {
		if key := svcMetaPrefix + k; validKey(key) && len(v) <= metaMaxValueLen {
			meta[key] = v
			continue
		}
		if p.ServiceMeta == nil {
			p.ServiceMeta = make(map[string]string)
		}
		p.ServiceMeta[k] = v
	}
	for k, v := range node.Metadata {
		if plainNodeKey(k) && len(v) <= metaMaxValueLen {
			meta[k] = v
			continue
		}
		if p.NodeMeta == nil {
			p.NodeMeta = make(map[string]string)
		}
		p.NodeMeta[k] = v
	}
	plain := len(meta)
	var chunks []string
	if !p.empty() {
		s, err := packPayload(&p)
		if err != nil {
			return nil, err
		}
		for len(s) > 0 {
			n := min(len(s), metaMaxValueLen)
			chunks = append(chunks, s[:n])
			s = s[n:]
		}
	}
	if total := plain + len(chunks) + 1; total > metaMaxKeys {
		return nil, fmt.Errorf("%d keys needed (%d plain metadata entries, %d chunks of encoded "+
			"endpoints and overflow metadata, 1 chunk count): %w", total, plain, len(chunks), ErrMetaLimit)
	}
	for i, c := range chunks {
		meta[payloadPrefix+strconv.Itoa(i)] = c
	}
	meta[payloadCount] = strconv.Itoa(len(chunks))
	return meta, nil
}

// decodeMeta is the inverse of encodeMeta. ok is false when meta does not carry our encoding
// (a service registered by another tool): then all of meta is node metadata.
func decodeMeta(meta map[string]string) (p payload, nodeMeta map[string]string, ok bool, err error) {
	countStr, ok := meta[payloadCount]
	if !ok {
		return payload{}, cloneOrNil(meta), false, nil
	}
	count, err := strconv.Atoi(countStr)
	if err != nil || count < 0 || count >= metaMaxKeys || strconv.Itoa(count) != countStr {
		return payload{}, nil, true, fmt.Errorf("meta %s=%q: not a chunk count", payloadCount, countStr)
	}
	var sb strings.Builder
	for i := range count {
		c, found := meta[payloadPrefix+strconv.Itoa(i)]
		if !found {
			return payload{}, nil, true, fmt.Errorf("meta %s%d: missing chunk of %d", payloadPrefix, i, count)
		}
		sb.WriteString(c)
	}
	if count > 0 {
		if p, err = unpackPayload(sb.String()); err != nil {
			return payload{}, nil, true, err
		}
	}
	for k, v := range meta {
		switch {
		case strings.HasPrefix(k, payloadPrefix):
		case strings.HasPrefix(k, svcMetaPrefix):
			if p.ServiceMeta == nil {
				p.ServiceMeta = make(map[string]string)
			}
			p.ServiceMeta[strings.TrimPrefix(k, svcMetaPrefix)] = v
		default:
			if nodeMeta == nil {
				nodeMeta = make(map[string]string)
			}
			nodeMeta[k] = v
		}
	}
	for k, v := range p.NodeMeta {
		if nodeMeta == nil {
			nodeMeta = make(map[string]string)
		}
		nodeMeta[k] = v
	}
	p.NodeMeta = nil
	return p, nodeMeta, true, nil
}

// packPayload is JSON, then raw DEFLATE, then unpadded URL-safe base64. JSON object keys are
// sorted and DEFLATE is deterministic, so an unchanged service yields unchanged metadata and
// re-registering it (the heartbeat) does not touch Consul's catalog.
func packPayload(p *payload) (string, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("encode endpoints: %w", err)
	}
	var buf bytes.Buffer
	zw, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		return "", err
	}
	if _, err := zw.Write(raw); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(buf.Bytes()), nil
}

func unpackPayload(s string) (payload, error) {
	var p payload
	zipped, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return p, fmt.Errorf("decode endpoints: base64: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(zipped)), maxInflated+1))
	if err != nil {
		return p, fmt.Errorf("decode endpoints: inflate: %w", err)
	}
	if len(raw) > maxInflated {
		return p, fmt.Errorf("decode endpoints: more than %d bytes", maxInflated)
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, fmt.Errorf("decode endpoints: json: %w", err)
	}
	for i := range p.Endpoints {
		if len(p.Endpoints[i].Metadata) == 0 {
			p.Endpoints[i].Metadata = nil
		}
	}
	return p, nil
}

// validKey reports whether Consul accepts k as a metadata key.
func validKey(k string) bool {
	if k == "" || len(k) > metaMaxKeyLen || strings.HasPrefix(k, consulReserved) {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// plainNodeKey reports whether node metadata key k can be stored as itself: a valid key outside
// the prefixes this package owns.
func plainNodeKey(k string) bool {
	return validKey(k) && !strings.HasPrefix(k, payloadPrefix) && !strings.HasPrefix(k, svcMetaPrefix)
}

func cloneOrNil(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}
