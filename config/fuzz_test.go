package config

import (
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"",
		"server:\n  address: :8080\n  body_limit: 4MiB\n  read_header_timeout: 10s\n",
		"log: {level: debug, format: json}\nresolver: {type: vpath, namespace: ''}\n",
		"registry:\n  static:\n    - name: a\n      nodes: [{address: 'h:1'}, {id: x, address: 'h:2', metadata: {k: v}}]\n      endpoints: [{name: A.B}]\n",
		"rpc:\n  services:\n    a: {descriptors: proto, proto_files: [a.proto], import_paths: [.]}\n",
		"routes:\n  - {path: '/o/{id}', method: GET, service: s, endpoint: S.M, timeout: 1s, body_limit: 1KB}\n  - {path: /w/*, handler: web, service: w, strip_prefix: /w}\n",
		"base: &b {timeout: 2s}\nrpc:\n  <<: *b\n",
		"a: &a [*a]\n",
		"server: {adress: x}\nfoo: 1\n",
		"server: {body_limit: -1, idle_timeout: 15}\n",
		"- 1\n- 2\n",
		"a: 1\n---\nb: 2\n",
		"selector: {breaker: {consecutive_failures: 0x10, interval: 0}}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			for _, ke := range keyErrors(err) {
				if ke.Key == "" || ke.Err == nil {
					t.Fatalf("KeyError without key or reason: %#v", ke)
				}
			}
			return
		}
		if c.Resolver.Namespace == nil {
			t.Fatal("Parse returned a nil namespace")
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse returned an invalid config: %v", err)
		}
	})
}

func FuzzParseSize(f *testing.F) {
	for _, seed := range []string{"0", "512", "4MiB", "64 kib", "1MB", "-1", "9223372036854775807", "8GiB", "4M", "1.5KB", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			if n != 0 {
				t.Fatalf("ParseSize(%q) = %d with error %v", s, n, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d, negative", s, n)
		}
		back, err := ParseSize(n.String())
		if err != nil || back != n {
			t.Fatalf("ParseSize(%q) = %d, but ParseSize(%q) = %d, %v", s, n, n.String(), back, err)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, seed := range []string{"0", "15s", "1m30s", "-1s", "15", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v, but ParseDuration(%q) = %v, %v", s, d, d.String(), back, err)
		}
	})
}
