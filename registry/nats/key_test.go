package nats_test

import (
	"regexp"
	"testing"

	natsreg "github.com/edgeapi/gateway/registry/nats"
)

var validToken = regexp.MustCompile(`\A[-_=a-zA-Z0-9]+\z`)

func TestKeyLayout(t *testing.T) {
	for _, tc := range []struct {
		service, node, key string
	}{
		{"go.micro.api.user", "10.0.0.7:9090", "svc.go=2Emicro=2Eapi=2Euser.10=2E0=2E0=2E7=3A9090"},
		{"user_svc", "node-1", "svc.user_svc.node-1"},
		{"a=b", "x/y z", "svc.a=3Db.x=2Fy=20z"},
		{"ünï", "*>", "svc.=C3=BCn=C3=AF.=2A=3E"},
	} {
		t.Run(tc.service, func(t *testing.T) {
			if got := natsreg.NodeKey(tc.service, tc.node); got != tc.key {
				t.Fatalf("NodeKey = %q, want %q", got, tc.key)
			}
			s, n, ok := natsreg.ParseKey(tc.key)
			if !ok || s != tc.service || n != tc.node {
				t.Fatalf("ParseKey(%q) = %q, %q, %v", tc.key, s, n, ok)
			}
		})
	}
}

func TestParseKeyRejectsForeignKeys(t *testing.T) {
	for _, key := range []string{
		"other.a.b", "svc.a", "svc.a.b.c", "svc..b", "svc.a.", "svc.a=2.b", "svc.a=2e.b",
		"svc.a=41.b", // escaped plain byte: not what escape writes
		"svc.a=ZZ.b", "svc.a/b.c",
	} {
		if s, n, ok := natsreg.ParseKey(key); ok {
			t.Errorf("ParseKey(%q) = %q, %q, want rejected", key, s, n)
		}
	}
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"go.micro.api.user", "", "=", "a b", "\x00\xff", "10.0.0.1:80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := natsreg.Escape(s)
		if s != "" && !validToken.MatchString(e) {
			t.Fatalf("Escape(%q) = %q is not one KV key token", s, e)
		}
		back, err := natsreg.Unescape(e)
		if err != nil || back != s {
			t.Fatalf("Unescape(Escape(%q)) = %q, %v", s, back, err)
		}
	})
}

func FuzzUnescape(f *testing.F) {
	for _, s := range []string{"go=2Emicro", "=", "=4", "=41", "abc", "=zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := natsreg.Unescape(s)
		if err != nil {
			return
		}
		// Accepted input is exactly what Escape writes: one key per name.
		if e := natsreg.Escape(d); e != s {
			t.Fatalf("Unescape(%q) = %q but Escape gives %q", s, d, e)
		}
	})
}
