package launch

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/registry/static"
)

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	yaml := "registry:\n  type: static\n  static:\n    - name: go.micro.api.userservices\n      nodes:\n        - address: 127.0.0.1:9091\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yaml")

	t.Run("file", func(t *testing.T) {
		cfg, err := LoadConfig(file, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Registry.Static) != 1 || cfg.Registry.Static[0].Nodes[0].Address != "127.0.0.1:9091" {
			t.Fatalf("registry %+v", cfg.Registry)
		}
	})
	t.Run("missing default file", func(t *testing.T) {
		cfg, err := LoadConfig(missing, false)
		if err != nil || cfg.Registry.Type != "nats" {
			t.Fatalf("got %+v, %v; want the defaults", cfg.Registry, err)
		}
	})
	t.Run("missing named file", func(t *testing.T) {
		if _, err := LoadConfig(missing, true); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("got %v, want a not-exist error", err)
		}
	})
	t.Run("no file", func(t *testing.T) {
		if _, err := LoadConfig("", true); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.yaml")
		if err := os.WriteFile(bad, []byte("registry:\n  type: nowhere\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadConfig(bad, true); err == nil || !strings.Contains(err.Error(), "nowhere") {
			t.Fatalf("got %v, want an error naming the bad value", err)
		}
	})
}

func TestCheckListed(t *testing.T) {
	reg, err := static.New([]*registry.Service{{Name: "svc", Nodes: []registry.Node{{Address: "127.0.0.1:9091"}}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, service, addr, want string
	}{
		{name: "listed", service: "svc", addr: "127.0.0.1:9091", want: "level=INFO msg=\"the registry takes no registrations; serving at the address it lists\""},
		{name: "other address", service: "svc", addr: "127.0.0.1:7000", want: "lists this service at other addresses"},
		{name: "not listed", service: "other", addr: "127.0.0.1:9091", want: "does not list this service"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			checkListed(context.Background(), reg, tt.service, tt.addr, slog.New(slog.NewTextHandler(&buf, nil)))
			if !strings.Contains(buf.String(), tt.want) {
				t.Fatalf("log %q, want %q", buf.String(), tt.want)
			}
		})
	}
}
