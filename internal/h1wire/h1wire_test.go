package h1wire

import (
	"strconv"
	"testing"
)

func TestParseLength(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"42", 42, true},
		{"007", 7, true},
		{"999999999999999999", 999999999999999999, true},
		{"1000000000000000000", 0, false}, // 19 digits: could overflow
		{"", 0, false},
		{"+1", 0, false},
		{"-1", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"0x10", 0, false},
		{"1,1", 0, false},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.in), func(t *testing.T) {
			n, ok := ParseLength(tt.in)
			if n != tt.want && tt.ok || ok != tt.ok {
				t.Errorf("ParseLength(%q) = %d, %v; want %d, %v", tt.in, n, ok, tt.want, tt.ok)
			}
		})
	}
}

// FuzzParseLength: whatever is accepted is what strconv reads as a non-negative decimal.
func FuzzParseLength(f *testing.F) {
	for _, s := range []string{"0", "12", "+1", "", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := ParseLength(s)
		if !ok {
			return
		}
		want, err := strconv.ParseUint(s, 10, 63)
		if err != nil || int64(want) != n {
			t.Fatalf("ParseLength(%q) = %d; strconv says %d, %v", s, n, want, err)
		}
	})
}
