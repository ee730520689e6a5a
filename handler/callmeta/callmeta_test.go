package callmeta

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
)

// hopByHop are the connection-specific headers (RFC 9110 7.6.1, and the ones
// net/http/httputil strips) that must never reach a backend.
var hopByHop = map[string]bool{
	"connection": true, "proxy-connection": true, "keep-alive": true, "proxy-authenticate": true,
	"proxy-authorization": true, "te": true, "trailer": true, "transfer-encoding": true, "upgrade": true,
}

// reservedKey reports whether key is metadata gRPC keeps for itself.
func reservedKey(key string) bool {
	return strings.HasPrefix(key, "grpc-") || key == "te" || key == "content-type" || key == "user-agent"
}

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestHeaderMapOutgoing(t *testing.T) {
	cases := []struct {
		name  string
		extra []string
		in    http.Header
		want  metadata.MD
	}{
		{"nothing", nil, header(), metadata.MD{}},
		{"allow-list", nil,
			header("Authorization", "Bearer t", "X-Request-Id", "r1", "Accept", "application/json", "Cookie", "c=1", "X-Other", "o"),
			metadata.MD{"authorization": {"Bearer t"}, "x-request-id": {"r1"}}},
		{"multiple values kept in order", nil, header("Authorization", "a", "Authorization", "b"),
			metadata.MD{"authorization": {"a", "b"}}},
		{"prefix stripped and lower-cased", nil, header("Grpc-Metadata-Tenant", "acme", "grpc-metadata-trace.id", "t"),
			metadata.MD{"tenant": {"acme"}, "trace.id": {"t"}}},
		{"prefix alone dropped", nil, header("Grpc-Metadata-", "x"), metadata.MD{}},
		{"prefixed allow-listed key merges", nil, header("X-Request-Id", "a", "Grpc-Metadata-X-Request-Id", "b"),
			metadata.MD{"x-request-id": {"a", "b"}}},
		{"reserved keys dropped", nil,
			header("Grpc-Metadata-Grpc-Timeout", "1S", "Grpc-Metadata-Grpc-Status", "0", "Grpc-Metadata-Te", "trailers",
				"Grpc-Metadata-Content-Type", "text/plain", "Grpc-Metadata-User-Agent", "x", "Grpc-Timeout", "1S",
				"Content-Type", "application/json", "User-Agent", "curl", "Te", "trailers"),
			metadata.MD{}},
		{"binary keys dropped", []string{"X-Trace-Bin"}, header("Grpc-Metadata-Token-Bin", "AAEC", "X-Trace-Bin", "AAEC"), metadata.MD{}},
		{"invalid key characters dropped", nil,
			header("Grpc-Metadata-A b", "x", "Grpc-Metadata-A:b", "x", "Grpc-Metadata-Ä", "x", "Grpc-Metadata-A/b", "x"),
			metadata.MD{}},
		{"hop-by-hop never forwarded", nil,
			header("Connection", "keep-alive, Upgrade", "Upgrade", "websocket", "Te", "trailers", "Keep-Alive", "timeout=5",
				"Transfer-Encoding", "chunked", "Proxy-Connection", "keep-alive", "Trailer", "X"),
			metadata.MD{}},
		{"hop-by-hop never forwarded with the prefix", nil,
			header("Grpc-Metadata-Connection", "x", "Grpc-Metadata-Upgrade", "x", "Grpc-Metadata-Keep-Alive", "x",
				"Grpc-Metadata-Transfer-Encoding", "x", "Grpc-Metadata-Proxy-Connection", "x", "Grpc-Metadata-Trailer", "x"),
			metadata.MD{}},
		{"hop-by-hop never forwarded when configured", []string{"Connection", "Upgrade", "Te", "Keep-Alive", "Grpc-Timeout", "Content-Type"},
			header("Connection", "close", "Upgrade", "h2c", "Te", "trailers", "Keep-Alive", "1", "Grpc-Timeout", "1S", "Content-Type", "a/b"),
			metadata.MD{}},
		{"headers named by Connection are hop-by-hop", []string{"X-Tenant"},
			header("Connection", "x-tenant, Grpc-Metadata-Trace", "X-Tenant", "acme", "Grpc-Metadata-Trace", "t", "Authorization", "a"),
			metadata.MD{"authorization": {"a"}}},
		{"configured extras", []string{"x-tenant", "X-B3-TraceId"},
			header("X-Tenant", "acme", "X-B3-Traceid", "abc", "X-Other", "o"),
			metadata.MD{"x-tenant": {"acme"}, "x-b3-traceid": {"abc"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := NewHeaders(tc.extra).Outgoing(tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("outgoing(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestValidMetadataKey(t *testing.T) {
	for key, want := range map[string]bool{
		"tenant": true, "x-b3-traceid": true, "a.b_c-0": true,
		"grpc-timeout": false, "grpc-x": false, "te": false, "content-type": false, "user-agent": false,
		"connection": false, "upgrade": false, "keep-alive": false, "transfer-encoding": false, "proxy-connection": false,
		"Upper": false, "a b": false, "a:b": false, ":authority": false, "ä": false,
	} {
		if got := validMetadataKey(key); got != want {
			t.Errorf("validMetadataKey(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestWriteMetadata(t *testing.T) {
	h := http.Header{"Content-Type": {"application/json"}}
	WriteMetadata(h,
		metadata.MD{"x-served-by": {"n1"}, "multi": {"a", "b"}, "token-bin": {"\x00\x01"}, "content-type": {"application/grpc"}},
		nil,
		metadata.MD{"x-trailer": {"t"}, "multi": {"c"}},
	)
	want := http.Header{
		"Content-Type":              {"application/json"},
		"Grpc-Metadata-X-Served-By": {"n1"},
		"Grpc-Metadata-Multi":       {"a", "b", "c"},
		"Grpc-Metadata-X-Trailer":   {"t"},
	}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("headers = %v, want %v", h, want)
	}
}

func TestRequestTimeout(t *testing.T) {
	const def, max = 15 * time.Second, 60 * time.Second
	cases := []struct {
		name    string
		h       http.Header
		max     time.Duration
		want    time.Duration
		wantErr string
	}{
		{"none: default", header(), max, def, ""},
		{"grpc hours", header("Grpc-Timeout", "1H"), 2 * time.Hour, time.Hour, ""},
		{"grpc minutes", header("Grpc-Timeout", "2M"), 5 * time.Minute, 2 * time.Minute, ""},
		{"grpc seconds", header("Grpc-Timeout", "5S"), max, 5 * time.Second, ""},
		{"grpc milliseconds", header("Grpc-Timeout", "100m"), max, 100 * time.Millisecond, ""},
		{"grpc microseconds", header("Grpc-Timeout", "250u"), max, 250 * time.Microsecond, ""},
		{"grpc nanoseconds", header("Grpc-Timeout", "99999999n"), max, 99999999 * time.Nanosecond, ""},
		{"grpc bounded by max", header("Grpc-Timeout", "1H"), max, max, ""},
		{"grpc overflow bounded by max", header("Grpc-Timeout", "99999999H"), max, max, ""},
		{"grpc beats Timeout", header("Grpc-Timeout", "1S", "Timeout", "9s"), max, time.Second, ""},
		{"timeout go duration", header("Timeout", "2s"), max, 2 * time.Second, ""},
		{"timeout compound duration", header("Timeout", "1m30s"), 2 * time.Minute, 90 * time.Second, ""},
		{"timeout milliseconds", header("Timeout", "250ms"), max, 250 * time.Millisecond, ""},
		{"timeout whole seconds", header("Timeout", "5"), max, 5 * time.Second, ""},
		{"timeout bounded by max", header("Timeout", "120"), max, max, ""},
		{"timeout duration bounded by max", header("Timeout", "2h"), max, max, ""},
		{"no max: unbounded", header("Timeout", "120"), 0, 120 * time.Second, ""},
		{"default bounded by max", header(), 10 * time.Second, 10 * time.Second, ""},
		{"grpc without unit", header("Grpc-Timeout", "5"), max, 0, "Grpc-Timeout"},
		{"grpc unit only", header("Grpc-Timeout", "S"), max, 0, "Grpc-Timeout"},
		{"grpc zero", header("Grpc-Timeout", "0S"), max, 0, "Grpc-Timeout"},
		{"grpc lower-case s", header("Grpc-Timeout", "5s"), max, 0, "Grpc-Timeout"},
		{"grpc nine digits", header("Grpc-Timeout", "123456789S"), max, 0, "Grpc-Timeout"},
		{"grpc sign", header("Grpc-Timeout", "+5S"), max, 0, "Grpc-Timeout"},
		{"grpc negative", header("Grpc-Timeout", "-5S"), max, 0, "Grpc-Timeout"},
		{"grpc fraction", header("Grpc-Timeout", "1.5S"), max, 0, "Grpc-Timeout"},
		{"grpc bad unit", header("Grpc-Timeout", "5X"), max, 0, "Grpc-Timeout"},
		{"malformed grpc is not rescued by Timeout", header("Grpc-Timeout", "x", "Timeout", "2s"), max, 0, "Grpc-Timeout"},
		{"timeout word", header("Timeout", "soon"), max, 0, "header Timeout"},
		{"timeout negative", header("Timeout", "-1s"), max, 0, "header Timeout"},
		{"timeout zero duration", header("Timeout", "0s"), max, 0, "header Timeout"},
		{"timeout zero seconds", header("Timeout", "0"), max, 0, "header Timeout"},
		{"timeout fraction without unit", header("Timeout", "1.5"), max, 0, "header Timeout"},
		{"timeout too many seconds", header("Timeout", "99999999999"), max, 0, "header Timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Timeout(tc.h, def, tc.max)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Timeout(%v) = %v, %v; want an error about %s", tc.h, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Timeout(%v) = %v, %v; want %v", tc.h, got, err, tc.want)
			}
		})
	}
}

func TestAppendOutgoingReusesAndNeverWritesTheHeader(t *testing.T) {
	m := NewHeaders([]string{"X-Tenant"})
	if md := m.AppendOutgoing(nil, header("Accept", "x")); md != nil {
		t.Errorf("nothing crosses, yet AppendOutgoing allocated %v", md)
	}

	// A map recycled between calls holds exactly the second call's metadata.
	md := m.AppendOutgoing(nil, header("Authorization", "a", "X-Tenant", "t1"))
	clear(md)
	h2 := header("X-Request-Id", "r2", "Grpc-Metadata-Trace", "t2")
	if got := m.AppendOutgoing(md, h2); !reflect.DeepEqual(got, m.Outgoing(h2)) || !reflect.DeepEqual(got, metadata.MD{"x-request-id": {"r2"}, "trace": {"t2"}}) {
		t.Errorf("recycled map = %v", got)
	}

	// Values may share the header's array, but nothing written to the metadata reaches it, even
	// when the array has room: a key given both ways, and an append by the caller, copy.
	vals := make([]string, 1, 4)
	vals[0] = "a"
	h := http.Header{"X-Tenant": vals, "Grpc-Metadata-X-Tenant": {"b"}}
	md = m.AppendOutgoing(nil, h)
	if got := md["x-tenant"]; !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("x-tenant = %q", got)
	}
	md["x-tenant"] = append(md["x-tenant"], "c")
	if vals[:4][1] != "" || vals[:4][2] != "" || len(h["X-Tenant"]) != 1 {
		t.Errorf("the header's array was written: %q", vals[:4])
	}
	only := header("X-Tenant", "only")
	md = m.AppendOutgoing(nil, only)
	md["x-tenant"] = append(md["x-tenant"], "more") // a copy: what follows leaves the header be
	md["x-tenant"][0] = "changed"
	if !reflect.DeepEqual(only["X-Tenant"], []string{"only"}) {
		t.Errorf("header changed: %q", only["X-Tenant"])
	}
}
