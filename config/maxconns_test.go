package config

import (
	"strings"
	"testing"
)

// TestMaxConns: server.max_conns has no cap by default, takes a positive cap from the file or
// GATEWAY_SERVER_MAX_CONNS, and a negative value names the key.
func TestMaxConns(t *testing.T) {
	for _, tt := range []struct {
		name    string
		yaml    string
		env     map[string]string
		want    int
		message string
	}{
		{"default", "", nil, 0, ""},
		{"set", "server: {max_conns: 20000}\n", nil, 20000, ""},
		{"env", "", map[string]string{"GATEWAY_SERVER_MAX_CONNS": "500"}, 500, ""},
		{"negative", "server: {max_conns: -1}\n", nil, 0, "must not be negative"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load([]string{"-config", writeFile(t, "gateway.yaml", tt.yaml)}, env(tt.env))
			if tt.message != "" {
				if ke := keyError(t, err, "server.max_conns"); !strings.Contains(ke.Error(), tt.message) {
					t.Fatalf("error %q, want %q", ke.Error(), tt.message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Server.MaxConns != tt.want {
				t.Fatalf("server.max_conns = %d, want %d", c.Server.MaxConns, tt.want)
			}
		})
	}
}
