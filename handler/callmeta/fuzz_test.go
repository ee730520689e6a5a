package callmeta

import (
	"math"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzHeaders feeds request headers (one stored under the exact name given, as a raw map key;
// one added through Header.Add, as net/http does) and configured extras to the header mapping:
// the metadata must never hold a reserved, hop-by-hop, binary or malformed key, nor a value the
// request did not carry.
func FuzzHeaders(f *testing.F) {
	for _, s := range [][5]string{
		{"Authorization", "Bearer t", "X-Request-Id", "r1", ""},
		{"Grpc-Metadata-Tenant", "acme", "grpc-metadata-trace.id", "t", "X-Tenant"},
		{"Grpc-Metadata-Grpc-Timeout", "1S", "Grpc-Metadata-Te", "trailers", "Grpc-Timeout"},
		{"Grpc-Metadata-Content-Type", "x", "Grpc-Metadata-User-Agent", "x", "Content-Type,User-Agent"},
		{"Grpc-Metadata-Connection", "x", "Connection", "close", "Connection,Upgrade,Te"},
		{"Upgrade", "websocket", "Te", "trailers", "keep-alive,Transfer-Encoding"},
		{"Grpc-Metadata-Token-Bin", "AAEC", "X-Trace-Bin", "AAEC", "x-trace-bin"},
		{"Grpc-Metadata-A b", "x", "Grpc-Metadata-Ä", "x", "a b,ä"},
		{"Grpc-Metadata-", "x", "Grpc-Metadata-:authority", "x", ":authority"},
		{"Connection", "x-tenant", "X-Tenant", "acme", "X-Tenant"},
		{"X-Tenant", "a\r\nb", "Grpc-Metadata-Name", "José", "x-tenant"},
		{"GRPC-METADATA-UPPER", "x", "Grpc-Metadata-Upper", "y", "GRPC-METADATA-UPPER"},
		{"", "0", "0", "0", ","},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4])
	}
	f.Fuzz(func(t *testing.T, name1, value1, name2, value2, extra string) {
		h := http.Header{}
		h[name1] = []string{value1}
		h.Add(name2, value2)
		values := map[string]bool{}
		for _, vs := range h {
			for _, v := range vs {
				values[v] = true
			}
		}
		// Configured extras are header names (config.Validate refuses anything else, the empty
		// name included); an empty one is left out here because validMetadataKey("") is true.
		var extras []string
		for _, e := range strings.Split(extra, ",") {
			if e != "" {
				extras = append(extras, e)
			}
		}
		md := NewHeaders(extras).Outgoing(h)
		for k, vs := range md {
			switch {
			case k == "":
				t.Fatalf("empty key from %q", h)
			case reservedKey(k):
				t.Fatalf("reserved key %q from %q", k, h)
			case hopByHop[k]:
				t.Fatalf("hop-by-hop key %q from %q", k, h)
			case strings.HasSuffix(k, "-bin"):
				t.Fatalf("binary key %q from %q", k, h)
			}
			for i := 0; i < len(k); i++ {
				if c := k[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
					t.Fatalf("key %q has invalid character %q (from %q, extras %q)", k, c, h, extra)
				}
			}
			for _, v := range vs {
				if !values[v] {
					t.Fatalf("value %q under %q was never sent", v, k)
				}
			}
		}
	})
}

// FuzzGRPCTimeout checks parseGRPCTimeout against the gRPC wire spec ("TimeoutValue TimeoutUnit":
// 1 to 8 ASCII digits, positive, one of H M S m u n), saturating instead of overflowing, and
// requestTimeout's bound.
func FuzzGRPCTimeout(f *testing.F) {
	for _, s := range []string{
		"1H", "2M", "5S", "100m", "250u", "99999999n", "99999999H", "00000001S", "0S", "5", "S", "", "5s",
		"123456789S", "+5S", "-5S", "1.5S", "5X", " 5S", "5S ", "\x00S", "１S", "10000000000000000000H",
	} {
		f.Add(s)
	}
	units := map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second, 'm': time.Millisecond, 'u': time.Microsecond, 'n': time.Nanosecond}
	f.Fuzz(func(t *testing.T, v string) {
		got, err := parseGRPCTimeout(v)

		// The reference: what the spec allows, and its value in big integers.
		var want *big.Int
		if n := len(v); n >= 2 && n <= 9 {
			digits, unit := v[:n-1], units[v[n-1]]
			ok := unit != 0
			for i := 0; i < len(digits); i++ {
				ok = ok && digits[i] >= '0' && digits[i] <= '9'
			}
			if ok {
				x, _ := new(big.Int).SetString(digits, 10)
				if x.Sign() > 0 {
					want = x.Mul(x, big.NewInt(int64(unit)))
					if !want.IsInt64() {
						want = big.NewInt(math.MaxInt64)
					}
				}
			}
		}
		if want == nil {
			if err == nil {
				t.Fatalf("parseGRPCTimeout(%q) = %v, want an error", v, got)
			}
			if got != 0 {
				t.Fatalf("parseGRPCTimeout(%q) = %v with error", v, got)
			}
		} else if err != nil || int64(got) != want.Int64() {
			t.Fatalf("parseGRPCTimeout(%q) = %v, %v; want %v", v, got, err, time.Duration(want.Int64()))
		}

		const def, max = 15 * time.Second, time.Minute
		d, err := Timeout(http.Header{"Grpc-Timeout": {v}}, def, max)
		switch {
		case v == "":
			if err != nil || d != def {
				t.Fatalf("empty Grpc-Timeout: %v, %v", d, err)
			}
		case err != nil:
			if want != nil {
				t.Fatalf("requestTimeout refused %q: %v", v, err)
			}
			if !strings.Contains(err.Error(), "Grpc-Timeout") {
				t.Fatalf("error %v does not name the header", err)
			}
		case d <= 0 || d > max:
			t.Fatalf("Timeout(%q) = %v, want within (0, %v]", v, d, max)
		}
	})
}
