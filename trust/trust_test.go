package trust

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name    string
		in      []string
		want    string // String() of the result
		wantErr string // a fragment; "" for success
	}{
		{"nil trusts nobody", nil, "", ""},
		{"ipv4 cidr", []string{"10.0.0.0/8"}, "10.0.0.0/8", ""},
		{"host bits masked", []string{"10.1.2.3/8"}, "10.0.0.0/8", ""},
		{"bare ipv4", []string{"127.0.0.1"}, "127.0.0.1/32", ""},
		{"bare ipv6", []string{"::1"}, "::1/128", ""},
		{"ipv6 cidr", []string{"fd00::/8"}, "fd00::/8", ""},
		{"spaces trimmed", []string{" 192.0.2.0/24 ", "\t::1"}, "192.0.2.0/24,::1/128", ""},
		{"mapped bare address unmapped", []string{"::ffff:10.0.0.1"}, "10.0.0.1/32", ""},
		{"mapped prefix unmapped", []string{"::ffff:10.0.0.0/104"}, "10.0.0.0/8", ""},
		{"mapped prefix too short", []string{"::ffff:0:0/64"}, "", "at least 96 bits"},
		{"empty entry", []string{""}, "", `trusted proxy ""`},
		{"hostname", []string{"lb.internal"}, "", `"lb.internal"`},
		{"bad prefix length", []string{"10.0.0.0/33"}, "", `"10.0.0.0/33"`},
		{"bad address in cidr", []string{"10.0.0/8"}, "", `"10.0.0/8"`},
		{"zone", []string{"fe80::1%eth0"}, "", "zone"},
		{"port", []string{"10.0.0.1:80"}, "", `"10.0.0.1:80"`},
		{"second entry bad", []string{"10.0.0.0/8", "nope"}, "", `"nope"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse(%q) error %v, want one containing %q", tc.in, err, tc.wantErr)
				}
				if !p.Empty() {
					t.Errorf("Parse(%q) failed but returned a non-empty set %v", tc.in, p)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if got := p.String(); got != tc.want {
				t.Errorf("Parse(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if p.Empty() != (tc.want == "") {
				t.Errorf("Empty() = %v for %q", p.Empty(), tc.want)
			}
		})
	}
}

func TestTrusted(t *testing.T) {
	p, err := Parse([]string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		remote string
		want   bool
	}{
		{"10.1.2.3:443", true},
		{"10.1.2.3", true},
		{"11.0.0.1:443", false},
		{"192.0.2.7:1", true},
		{"192.0.2.8:1", false},
		{"[2001:db8::5]:80", true},
		{"2001:db8::5", true},
		{"[2001:db9::5]:80", false},
		{"[::1]:80", true},
		{"[::ffff:10.0.0.1]:80", true}, // mapped peer matches the IPv4 CIDR
		{"::ffff:192.0.2.7", true},
		{"[fe80::1%eth0]:80", false},
		{"[2001:db8::5%eth0]:80", true}, // the zone is ignored
		{"", false},
		{"garbage", false},
		{"10.0.0.1:", true},     // net/http never produces it; SplitHostPort does
		{"[10.0.0.1]:80", true}, // SplitHostPort accepts the brackets
		{"@", false},
	}
	for _, tc := range cases {
		t.Run(tc.remote, func(t *testing.T) {
			if got := p.Trusted(tc.remote); got != tc.want {
				t.Errorf("Trusted(%q) = %v, want %v", tc.remote, got, tc.want)
			}
		})
	}
	t.Run("zero value trusts nobody", func(t *testing.T) {
		var none Proxies
		for _, tc := range cases {
			if none.Trusted(tc.remote) {
				t.Errorf("zero Proxies trusts %q", tc.remote)
			}
		}
	})
	t.Run("a mapped trusted prefix matches a plain IPv4 peer", func(t *testing.T) {
		m, err := Parse([]string{"::ffff:10.0.0.0/104"})
		if err != nil {
			t.Fatal(err)
		}
		if !m.Trusted("10.9.9.9:1") || m.Trusted("11.0.0.1:1") {
			t.Errorf("mapped prefix: Trusted(10.9.9.9)=%v Trusted(11.0.0.1)=%v", m.Trusted("10.9.9.9:1"), m.Trusted("11.0.0.1:1"))
		}
	})
}

func TestPeerAddr(t *testing.T) {
	cases := []struct{ in, want string }{
		{"192.0.2.1:1234", "192.0.2.1"},
		{"192.0.2.1", "192.0.2.1"},
		{"[2001:db8::1]:80", "2001:db8::1"},
		{"2001:db8::1", "2001:db8::1"},
		{"[::ffff:192.0.2.1]:80", "192.0.2.1"},
		{"[fe80::1%eth0]:80", "fe80::1"},
		{"", "invalid IP"},
		{"pipe", "invalid IP"},
		{"@", "invalid IP"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			if got := PeerAddr(tc.in).String(); got != tc.want {
				t.Errorf("PeerAddr(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestFromRight(t *testing.T) {
	cases := []struct {
		name   string
		values []string
		depth  int
		want   string // "" when ok is false
	}{
		{"no header", nil, 1, ""},
		{"empty value", []string{""}, 1, ""},
		{"only commas", []string{" , ,"}, 1, ""},
		{"one entry", []string{"203.0.113.7"}, 1, "203.0.113.7"},
		{"depth 1 takes the last", []string{"1.1.1.1, 203.0.113.7"}, 1, "203.0.113.7"},
		{"depth 2 takes the one before", []string{"1.1.1.1, 203.0.113.7, 10.0.0.2"}, 2, "203.0.113.7"},
		{"depth 0 means 1", []string{"1.1.1.1, 203.0.113.7"}, 0, "203.0.113.7"},
		{"negative depth means 1", []string{"1.1.1.1, 203.0.113.7"}, -3, "203.0.113.7"},
		{"shorter than depth: leftmost", []string{"203.0.113.7, 10.0.0.2"}, 5, "203.0.113.7"},
		{"several header lines are one list", []string{"1.1.1.1, 2.2.2.2", "203.0.113.7"}, 1, "203.0.113.7"},
		{"depth crosses header lines", []string{"1.1.1.1, 2.2.2.2", "203.0.113.7"}, 2, "2.2.2.2"},
		{"empty elements skipped", []string{"1.1.1.1,,203.0.113.7, ,"}, 1, "203.0.113.7"},
		{"spaces and tabs", []string{" \t203.0.113.7\t "}, 1, "203.0.113.7"},
		{"ipv4 with port", []string{"203.0.113.7:4711"}, 1, "203.0.113.7"},
		{"ipv6", []string{"2001:db8::1"}, 1, "2001:db8::1"},
		{"ipv6 bracketed", []string{"[2001:db8::1]"}, 1, "2001:db8::1"},
		{"ipv6 with port", []string{"[2001:db8::1]:4711"}, 1, "2001:db8::1"},
		{"mapped unmapped", []string{"::ffff:203.0.113.7"}, 1, "203.0.113.7"},
		{"unknown", []string{"1.1.1.1, unknown"}, 1, ""},
		{"garbage at depth, valid left of it", []string{"203.0.113.7, x"}, 1, ""},
		{"garbage left of depth is not read", []string{"not-an-ip, 203.0.113.7"}, 1, "203.0.113.7"},
		{"zoned address refused", []string{"fe80::1%eth0"}, 1, ""},
		{"obfuscated identifier", []string{"_hidden"}, 1, ""},
		{"bracketed ipv4 refused", []string{"[203.0.113.7]"}, 1, ""},
		{"cidr refused", []string{"203.0.113.0/24"}, 1, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, ok := FromRight(tc.values, tc.depth)
			got := ""
			if ok {
				got = a.String()
			}
			if got != tc.want {
				t.Errorf("FromRight(%q, %d) = %q (ok %v), want %q", tc.values, tc.depth, got, ok, tc.want)
			}
		})
	}
}

func TestClientIP(t *testing.T) {
	p, err := Parse([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		proxies Proxies
		remote  string
		xff     []string
		depth   int
		want    string
	}{
		{"untrusted peer, no header", p, "203.0.113.7:1", nil, 1, "203.0.113.7"},
		{"untrusted peer, spoofed header ignored", p, "203.0.113.7:1", []string{"1.1.1.1"}, 1, "203.0.113.7"},
		{"nobody trusted, header ignored", Proxies{}, "10.0.0.1:1", []string{"1.1.1.1"}, 1, "10.0.0.1"},
		{"trusted peer, header read", p, "10.0.0.1:1", []string{"1.1.1.1"}, 1, "1.1.1.1"},
		{"trusted peer, client prefix not believed", p, "10.0.0.1:1", []string{"6.6.6.6, 1.1.1.1"}, 1, "1.1.1.1"},
		{"trusted peer at depth 2", p, "10.0.0.1:1", []string{"6.6.6.6, 1.1.1.1, 10.0.0.9"}, 2, "1.1.1.1"},
		{"trusted peer, no header: the peer", p, "10.0.0.1:1", nil, 1, "10.0.0.1"},
		{"trusted peer, garbage at depth: the peer", p, "10.0.0.1:1", []string{"1.1.1.1, garbage"}, 1, "10.0.0.1"},
		{"mapped trusted peer", p, "[::ffff:10.0.0.1]:1", []string{"2001:db8::7"}, 1, "2001:db8::7"},
		{"unparseable peer", p, "pipe", []string{"1.1.1.1"}, 1, "invalid IP"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tc.proxies.ClientIP(r, tc.depth).String(); got != tc.want {
				t.Errorf("ClientIP = %s, want %s", got, tc.want)
			}
		})
	}
}

// FuzzFromRight feeds arbitrary X-Forwarded-For values: FromRight never panics, and whatever
// it returns is a valid, unmapped, zone-free address that appears in the header.
func FuzzFromRight(f *testing.F) {
	for _, s := range []string{
		"", ",", "1.1.1.1", "1.1.1.1, 2.2.2.2", "[2001:db8::1]:80", "::ffff:1.2.3.4", "unknown",
		"fe80::1%eth0", "1.1.1.1,,,", " , 2.2.2.2 ,", "[::1", "1.1.1.1:99999", "\x00",
	} {
		f.Add(s, "", 1)
		f.Add(s, "3.3.3.3", 2)
	}
	f.Fuzz(func(t *testing.T, v1, v2 string, depth int) {
		a, ok := FromRight([]string{v1, v2}, depth)
		if !ok {
			if a.IsValid() {
				t.Fatalf("not ok but valid address %s", a)
			}
			return
		}
		if !a.IsValid() || a.Is4In6() || a.Zone() != "" {
			t.Fatalf("FromRight(%q, %q, %d) = %s", v1, v2, depth, a)
		}
		// The address came from one of the elements.
		found := false
		for _, v := range []string{v1, v2} {
			for _, e := range strings.Split(v, ",") {
				if b, ok := parseEntry(strings.TrimSpace(e)); ok && b == a {
					found = true
				}
			}
		}
		if !found {
			t.Fatalf("FromRight(%q, %q, %d) = %s, which is in neither value", v1, v2, depth, a)
		}
		if _, err := netip.ParseAddr(a.String()); err != nil {
			t.Fatal(err)
		}
	})
}
