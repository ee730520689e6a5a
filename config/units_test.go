package config

import (
	"math"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    Size
		wantErr string // substring; "" means success
	}{
		{"0", 0, ""},
		{"512", 512, ""},
		{"512B", 512, ""},
		{"512b", 512, ""},
		{"1KB", 1000, ""},
		{"1kb", 1000, ""},
		{"1kB", 1000, ""},
		{"64KiB", 64 << 10, ""},
		{"64kib", 64 << 10, ""},
		{"64KIB", 64 << 10, ""},
		{"4MiB", 4 << 20, ""},
		{"4 MiB", 4 << 20, ""},
		{" 4MiB ", 4 << 20, ""},
		{"1MB", 1_000_000, ""},
		{"2GB", 2_000_000_000, ""},
		{"3GiB", 3 << 30, ""},
		{"9223372036854775807", math.MaxInt64, ""},
		{"9223372036854775808", 0, "too large"},
		{"8589934592GiB", 0, "too large"},
		{"9223372037GB", 0, "too large"},
		{"-1", 0, "negative"},
		{"-4MiB", 0, "negative"},
		{"", 0, "invalid size"},
		{"MiB", 0, "invalid size"},
		{"1.5MiB", 0, "unknown unit"},
		{"4M", 0, "ambiguous"},
		{"4k", 0, "ambiguous"},
		{"4Mi", 0, "ambiguous"},
		{"4TB", 0, "unknown unit"},
		{"+4", 0, "invalid size"},
		{"4MiBs", 0, "unknown unit"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSize(%q) = %d, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), `"`+tt.in+`"`) {
					t.Errorf("error %q does not quote the input", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestSizeString(t *testing.T) {
	tests := []struct {
		in   Size
		want string
	}{
		{0, "0B"},
		{1, "1B"},
		{1000, "1KB"},
		{1024, "1KiB"},
		{1500, "1500B"},
		{64 * KiB, "64KiB"},
		{4 * MiB, "4MiB"},
		{MB, "1MB"},
		{1000 * KiB, "1000KiB"},
		{GiB, "1GiB"},
		{3 * GB, "3GB"},
		{1536 * MiB, "1536MiB"},
		{math.MaxInt64, "9223372036854775807B"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Fatalf("Size(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
			}
			back, err := ParseSize(tt.want)
			if err != nil || back != tt.in {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", tt.want, back, err, tt.in)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"0", 0, false},
		{"15s", 15 * time.Second, false},
		{"1m30s", 90 * time.Second, false},
		{"250ms", 250 * time.Millisecond, false},
		{"-1s", -time.Second, false}, // Validate rejects it where it matters
		{"15", 0, true},
		{"", 0, true},
		{"fast", 0, true},
		{"1d", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), `"`+tt.in+`"`) {
					t.Fatalf("ParseDuration(%q) = %v, %v; want error quoting the input", tt.in, got, err)
				}
				return
			}
			if err != nil || got.D() != tt.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestUnitsYAML(t *testing.T) {
	type doc struct {
		D Duration `yaml:"d"`
		S Size     `yaml:"s"`
	}
	tests := []struct {
		name    string
		in      string
		want    doc
		wantErr string
	}{
		{"strings", "d: 15s\ns: 4MiB", doc{Duration(15 * time.Second), 4 * MiB}, ""},
		{"integer zero duration", "d: 0\ns: 0", doc{}, ""},
		{"integer bytes", "s: 65536", doc{S: 64 * KiB}, ""},
		{"quoted bytes", `s: "512"`, doc{S: 512}, ""},
		{"hex bytes", "s: 0x10", doc{S: 16}, ""},
		{"integer duration needs unit", "d: 15", doc{}, `invalid duration "15"`},
		{"float duration", "d: 1.5", doc{}, `invalid duration "1.5"`},
		{"bad duration", "d: soon", doc{}, `invalid duration "soon"`},
		{"list duration", "d: [1s]", doc{}, "want a duration"},
		{"negative size", "s: -1", doc{}, "negative"},
		{"huge size", "s: 18446744073709551615", doc{}, "too large"},
		{"float size", "s: 1.5", doc{}, "invalid size"},
		{"map size", "s: {a: 1}", doc{}, "want a size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got doc
			err := yaml.Unmarshal([]byte(tt.in), &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Unmarshal(%q) = %+v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Unmarshal(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestUnitsMarshalYAML(t *testing.T) {
	out, err := yaml.Marshal(struct {
		D Duration `yaml:"d"`
		S Size     `yaml:"s"`
	}{Duration(90 * time.Second), 4 * MiB})
	if err != nil {
		t.Fatal(err)
	}
	if want := "d: 1m30s\ns: 4MiB\n"; string(out) != want {
		t.Fatalf("Marshal = %q, want %q", out, want)
	}
}
