package wsgate

import (
	"net/http"
	"testing"
)

func TestIsUpgrade(t *testing.T) {
	for _, tc := range []struct {
		conn, upgrade string
		want          bool
	}{
		{"Upgrade", "websocket", true},
		{"keep-alive, Upgrade", "WebSocket", true},
		{"keep-alive", "websocket", false},
		{"Upgrade", "h2c", false},
		{"", "", false},
	} {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Connection", tc.conn)
		r.Header.Set("Upgrade", tc.upgrade)
		if got := IsUpgrade(r); got != tc.want {
			t.Errorf("Connection %q Upgrade %q: %v, want %v", tc.conn, tc.upgrade, got, tc.want)
		}
	}
}

func TestOriginAllowed(t *testing.T) {
	for _, tc := range []struct {
		origin  string
		allowed []string
		require bool
		want    bool
	}{
		{"", nil, false, true},
		{"", nil, true, false},
		{"https://a.example", []string{"https://a.example"}, false, true},
		{"https://b.example", []string{"https://a.example"}, false, false},
		{"https://b.example", []string{"*"}, true, true},
	} {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if got := OriginAllowed(r, tc.allowed, tc.require); got != tc.want {
			t.Errorf("%+v: %v", tc, got)
		}
	}
}
