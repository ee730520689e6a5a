package config

import (
	"strings"
	"testing"
	"time"
)

// TestWriteTimeout: server.write_timeout defaults to 60s (NGINX's send_timeout), an explicit 0
// turns the guard off and is kept, a negative value names the key; the environment reaches it
// as GATEWAY_SERVER_WRITE_TIMEOUT.
func TestWriteTimeout(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		env     map[string]string
		want    Duration
		message string // a substring of the error for server.write_timeout; "" means valid
	}{
		{"default", "", nil, Duration(60 * time.Second), ""},
		{"set", "server: {write_timeout: 5s}\n", nil, Duration(5 * time.Second), ""},
		{"zero disables", "server:\n  write_timeout: 0\n", nil, 0, ""},
		{"negative", "server:\n  write_timeout: -1s\n", nil, 0, `server.write_timeout "-1s": must not be negative`},
		{"env", "", map[string]string{"GATEWAY_SERVER_WRITE_TIMEOUT": "90s"}, Duration(90 * time.Second), ""},
		{"env zero disables", "server: {write_timeout: 5s}\n", map[string]string{"GATEWAY_SERVER_WRITE_TIMEOUT": "0"}, 0, ""},
		{"env negative", "", map[string]string{"GATEWAY_SERVER_WRITE_TIMEOUT": "-5s"}, 0, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, "gateway.yaml", tt.yaml)
			c, err := Load([]string{"-config", file}, env(tt.env))
			if tt.message != "" {
				ke := keyError(t, err, "server.write_timeout")
				if !strings.Contains(ke.Error(), tt.message) {
					t.Fatalf("error %q, want %q", ke.Error(), tt.message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Server.WriteTimeout != tt.want {
				t.Fatalf("server.write_timeout = %s, want %s", c.Server.WriteTimeout, tt.want)
			}
		})
	}
}
