package consul

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/edgeapi/gateway/registry"
)

// manyEndpoints returns n endpoints with router metadata, as a large service would register.
func manyEndpoints(n int) []registry.Endpoint {
	eps := make([]registry.Endpoint, n)
	methods := []string{"GET", "POST", "PUT", "DELETE"}
	for i := range eps {
		eps[i] = registry.Endpoint{
			Name: fmt.Sprintf("Svc%d.Method%d", i%7, i),
			Metadata: map[string]string{
				"handler": []string{"rpc", "api", "http", "web", "event"}[i%5],
				"method":  methods[i%len(methods)],
				"path":    fmt.Sprintf("/v1/resource%d/{id}/sub%d", i, i*7),
			},
		}
	}
	return eps
}

func TestMetaRoundTrip(t *testing.T) {
	long := strings.Repeat("x", 600)
	tests := []struct {
		name string
		svc  registry.Service
		node registry.Node
	}{
		{name: "empty", svc: registry.Service{Name: "a"}, node: registry.Node{ID: "n"}},
		{name: "version only", svc: registry.Service{Name: "a", Version: "1.2.3"}, node: registry.Node{ID: "n"}},
		{
			name: "plain metadata",
			svc:  registry.Service{Name: "a", Metadata: map[string]string{"team": "core", "tier": "1"}},
			node: registry.Node{ID: "n", Metadata: map[string]string{"zone": "eu-1", "weight": "10"}},
		},
		{
			name: "metadata breaking consul's rules",
			svc: registry.Service{Name: "a", Metadata: map[string]string{
				"dotted.key": "v", "": "empty key", "consul-x": "reserved", "long": long,
				strings.Repeat("k", 125): "key too long once prefixed", "ünï": "côdé",
			}},
			node: registry.Node{ID: "n", Metadata: map[string]string{
				"ep_0": "collides with a chunk", "ep_n": "collides with the count", "svc_x": "collides",
				"consul-y": "reserved", "a/b": "slash", "big": long, strings.Repeat("k", 129): "long key",
				"ok": "plain",
			}},
		},
		{
			name: "endpoints without metadata",
			svc:  registry.Service{Name: "a", Endpoints: []registry.Endpoint{{Name: "A.B"}, {Name: ""}}},
			node: registry.Node{ID: "n"},
		},
		{
			name: "200 endpoints",
			svc: registry.Service{Name: "a", Version: "v2", Endpoints: manyEndpoints(200),
				Metadata: map[string]string{"owner": "orders"}},
			node: registry.Node{ID: "n", Metadata: map[string]string{"zone": "b"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meta, err := encodeMeta(&tt.svc, &tt.node)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			checkConsulRules(t, meta)
			again, err := encodeMeta(&tt.svc, &tt.node)
			if err != nil || !reflect.DeepEqual(meta, again) {
				t.Errorf("encoding is not deterministic: %v", err)
			}
			p, nodeMeta, ok, err := decodeMeta(meta)
			if err != nil || !ok {
				t.Fatalf("decode: ok=%v err=%v", ok, err)
			}
			want := normalize(tt.svc)
			got := registry.Service{Name: tt.svc.Name, Version: p.Version, Metadata: p.ServiceMeta, Endpoints: p.Endpoints}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("service:\n got %+v\nwant %+v", got, want)
			}
			if wantNode := cloneOrNil(tt.node.Metadata); !reflect.DeepEqual(nodeMeta, wantNode) {
				t.Errorf("node metadata:\n got %v\nwant %v", nodeMeta, wantNode)
			}
			t.Logf("%d keys, ep_n=%s", len(meta), meta[payloadCount])
		})
	}
}

func TestMetaLimit(t *testing.T) {
	node := registry.Node{ID: "n", Metadata: map[string]string{}}
	for i := range 62 {
		node.Metadata["k"+strconv.Itoa(i)] = "v"
	}
	svc := registry.Service{Name: "a"}
	if _, err := encodeMeta(&svc, &node); err != nil {
		t.Fatalf("62 plain keys + ep_n should fit: %v", err)
	}
	svc.Endpoints = manyEndpoints(200) // needs several chunks
	_, err := encodeMeta(&svc, &node)
	if !errors.Is(err, ErrMetaLimit) {
		t.Fatalf("err = %v, want ErrMetaLimit", err)
	}
	t.Logf("error reads: %v", err)
}

func TestDecodeForeign(t *testing.T) {
	p, nodeMeta, ok, err := decodeMeta(map[string]string{"version": "1", "svc_x": "y"})
	if err != nil || ok {
		t.Fatalf("ok=%v err=%v, want a foreign instance", ok, err)
	}
	if !p.empty() || !reflect.DeepEqual(nodeMeta, map[string]string{"version": "1", "svc_x": "y"}) {
		t.Errorf("got %+v, %v", p, nodeMeta)
	}
}

func TestDecodeCorrupt(t *testing.T) {
	for _, meta := range []map[string]string{
		{"ep_n": "x"},
		{"ep_n": "-1"},
		{"ep_n": "64"},
		{"ep_n": "01"},
		{"ep_n": "2", "ep_0": "AAAA"},
		{"ep_n": "1", "ep_0": "!!!"},
		{"ep_n": "1", "ep_0": "AAAA"},
	} {
		if _, _, _, err := decodeMeta(meta); err == nil {
			t.Errorf("decode %v: no error", meta)
		}
	}
}

// FuzzDecodeMeta: metadata read from Consul is untrusted; decoding must not panic, and what
// decodes must encode back to something that decodes the same.
func FuzzDecodeMeta(f *testing.F) {
	svc := registry.Service{Name: "a", Version: "1", Endpoints: manyEndpoints(3)}
	meta, err := encodeMeta(&svc, &registry.Node{ID: "n", Metadata: map[string]string{"a.b": "c"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(meta["ep_n"], meta["ep_0"], "k", "v")
	f.Add("0", "", "svc_k", "v")
	f.Add("1", "", "", "")
	f.Fuzz(func(t *testing.T, count, chunk, k, v string) {
		in := map[string]string{"ep_n": count, "ep_0": chunk, k: v}
		p, nodeMeta, _, err := decodeMeta(in)
		if err != nil {
			return
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v) || !validUTF8(p) {
			return // JSON replaces invalid UTF-8; Consul's API never hands it out
		}
		svc := registry.Service{Name: "a", Version: p.Version, Metadata: p.ServiceMeta, Endpoints: p.Endpoints}
		re, err := encodeMeta(&svc, &registry.Node{ID: "n", Metadata: nodeMeta})
		if errors.Is(err, ErrMetaLimit) {
			return
		}
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		p2, nodeMeta2, _, err := decodeMeta(re)
		if err != nil {
			t.Fatalf("decode re-encoded: %v", err)
		}
		if !reflect.DeepEqual(p, p2) || !reflect.DeepEqual(nodeMeta, nodeMeta2) {
			t.Fatalf("round trip changed:\n%+v %v\n%+v %v", p, nodeMeta, p2, nodeMeta2)
		}
	})
}

func validUTF8(p payload) bool {
	ok := utf8.ValidString(p.Version)
	for _, e := range p.Endpoints {
		ok = ok && utf8.ValidString(e.Name)
		for k, v := range e.Metadata {
			ok = ok && utf8.ValidString(k) && utf8.ValidString(v)
		}
	}
	for k, v := range p.ServiceMeta {
		ok = ok && utf8.ValidString(k) && utf8.ValidString(v)
	}
	return ok
}

// checkConsulRules fails t when meta would be refused by Consul.
func checkConsulRules(t *testing.T, meta map[string]string) {
	t.Helper()
	if len(meta) > metaMaxKeys {
		t.Errorf("%d keys, consul allows %d", len(meta), metaMaxKeys)
	}
	for k, v := range meta {
		if !validKey(k) {
			t.Errorf("key %q refused by consul", k)
		}
		if len(v) > metaMaxValueLen {
			t.Errorf("value of %q is %d bytes", k, len(v))
		}
	}
}

// normalize is what a service looks like after a round trip: empty maps and slices are nil.
func normalize(s registry.Service) registry.Service {
	s = *s.Clone()
	s.Metadata = cloneOrNil(s.Metadata)
	if len(s.Endpoints) == 0 {
		s.Endpoints = nil
	}
	for i := range s.Endpoints {
		s.Endpoints[i].Metadata = cloneOrNil(s.Endpoints[i].Metadata)
	}
	if len(s.Nodes) == 0 {
		s.Nodes = nil
	}
	for i := range s.Nodes {
		s.Nodes[i].Metadata = cloneOrNil(s.Nodes[i].Metadata)
	}
	return s
}
