package event

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func validChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// FuzzEventPath: splitPath never panics; an accepted path yields a non-empty topic of
// [A-Za-z0-9_-] (it becomes a NATS subject token, so no '.', '*', '>' or space may slip in) and a
// name of such segments joined with slashes (Build joins them with dots).
func FuzzEventPath(f *testing.F) {
	for _, s := range []string{
		"/user/login", "/user", "/", "", "//", "/user//login", "/user/log.in", "/a/b/c/d",
		"/user/login/", "/*/>", "/user/ login", "/ü/x", "/user/%2F", "/" + strings.Repeat("a", 129),
		"/-/_", "/a\x00b/c", "user/login",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		topic, name, err := splitPath(path)
		if err != nil {
			if topic != "" || name != "" {
				t.Fatalf("splitPath(%q) failed but returned %q %q", path, topic, name)
			}
			return
		}
		if topic == "" || len(topic) > 128 || !validChars(topic) {
			t.Fatalf("splitPath(%q) accepted topic %q", path, topic)
		}
		if name != "" {
			for _, seg := range strings.Split(name, "/") {
				if seg == "" || len(seg) > 128 || !validChars(seg) {
					t.Fatalf("splitPath(%q) accepted name %q", path, name)
				}
			}
		}
		// The round trip: the accepted path names the same topic and name again.
		p2 := "/" + topic
		if name != "" {
			p2 += "/" + name
		}
		if t2, n2, err := splitPath(p2); err != nil || t2 != topic || n2 != name {
			t.Fatalf("splitPath(%q) = %q %q, but %q gives %q %q %v", path, topic, name, p2, t2, n2, err)
		}
	})
}

// FuzzBuild: any path, header and body give an event or a 4xx, never a panic, and the required
// attributes always are the handler's own.
func FuzzBuild(f *testing.F) {
	f.Add("/user/login", "Ce-Type", "evil", "application/json", []byte(`{}`))
	f.Add("/a", "Ce-Datacontenttype", "x/y", "", []byte{})
	f.Add("/a/b", "Ce-Id", "", "text/plain", []byte("x"))
	h := New(nil, nil, Config{Namespace: "ns", BodyLimit: 64})
	f.Fuzz(func(t *testing.T, path, key, value, ct string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		if validHeader(key, value) {
			r.Header.Set(key, value)
		}
		if validHeader("Content-Type", ct) {
			r.Header.Set("Content-Type", ct)
		}
		msg, typ, err := h.Build(r, path)
		if err != nil {
			return
		}
		if msg.Header["ce-specversion"][0] != "1.0" || msg.Header["ce-type"][0] != typ || msg.Header["ce-source"][0] != "/gateway" ||
			ID(msg) == "" || !strings.HasPrefix(msg.Subject, "ns.") || string(msg.Data) != string(body) {
			t.Fatalf("event %+v for %q %s=%q", msg, path, key, value)
		}
		// Only the client's own id deduplicates.
		if client := r.Header.Get("Ce-Id"); msg.ID != client || client != "" && ID(msg) != client {
			t.Fatalf("event id %q, dedup id %q for Ce-Id %q", ID(msg), msg.ID, client)
		}
		if _, ok := msg.Header["ce-datacontenttype"]; ok {
			t.Fatalf("ce-datacontenttype header in binary mode: %v", msg.Header)
		}
	})
}

func validHeader(k, v string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return !strings.ContainsAny(v, "\r\n\x00")
}
