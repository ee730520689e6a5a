package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Byte sizes, decimal (SI) and binary (IEC), for building Size values in code.
const (
	KB Size = 1000
	MB Size = 1000 * KB
	GB Size = 1000 * MB

	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
)

// sizeUnits lists the units String prefers, largest first, binary before decimal.
var sizeUnits = [...]struct {
	name string
	size Size
}{
	{"GiB", GiB}, {"GB", GB}, {"MiB", MiB}, {"MB", MB}, {"KiB", KiB}, {"KB", KB},
}

// ParseDuration reads a Go duration such as "15s", "1m30s" or "250ms"; "0" needs no unit.
// Negative durations parse (Validate rejects them where they make no sense).
func ParseDuration(s string) (Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want a number with a unit, e.g. \"15s\", \"1m30s\" or \"250ms\"", s)
	}
	return Duration(d), nil
}

// String formats the duration like time.Duration ("15s", "2m0s").
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML reads a duration string; a plain integer is accepted only when it is 0.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a duration such as \"15s\", got %s", describeNode(n))
	}
	if n.ShortTag() == "!!int" {
		var i int64
		if err := n.Decode(&i); err == nil && i == 0 {
			*d = 0
			return nil
		}
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes the duration as a string ("15s").
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// ParseSize reads a byte count: digits with an optional unit, B, KB, MB, GB (powers of 1000)
// or KiB, MiB, GiB (powers of 1024). Units are case-insensitive ("4mib", "64kb"); space may
// separate number and unit. Bare K, M and G are refused because they do not say which base is
// meant. Negative values, fractions and values beyond int64 are errors.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && '0' <= t[i] && t[i] <= '9' {
		i++
	}
	if i == 0 {
		if strings.HasPrefix(t, "-") {
			return 0, fmt.Errorf("invalid size %q: must not be negative", s)
		}
		return 0, fmt.Errorf("invalid size %q: want a whole number of bytes with an optional unit, e.g. \"512\", \"64KiB\", \"4MiB\", \"1MB\"", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	unit := strings.TrimSpace(t[i:])
	var mult Size
	switch strings.ToLower(unit) {
	case "", "b":
		mult = 1
	case "kb":
		mult = KB
	case "mb":
		mult = MB
	case "gb":
		mult = GB
	case "kib":
		mult = KiB
	case "mib":
		mult = MiB
	case "gib":
		mult = GiB
	case "k", "m", "g", "ki", "mi", "gi":
		u := strings.ToUpper(unit[:1])
		return 0, fmt.Errorf("invalid size %q: unit %q is ambiguous, write %sB (powers of 1000) or %siB (powers of 1024)", s, unit, u, u)
	default:
		return 0, fmt.Errorf("invalid size %q: unknown unit %q, want B, KB, MB, GB, KiB, MiB or GiB", s, unit)
	}
	if n > math.MaxInt64/int64(mult) {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return Size(n) * mult, nil
}

// String formats the size with the largest unit that divides it exactly, binary units first
// ("4MiB", "64KiB", "1MB"), else in bytes ("1500B"). ParseSize reads it back.
func (s Size) String() string {
	if s != 0 {
		for _, u := range sizeUnits {
			if s%u.size == 0 {
				return strconv.FormatInt(int64(s/u.size), 10) + u.name
			}
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// UnmarshalYAML reads an integer byte count or a string accepted by ParseSize.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a size such as \"4MiB\", got %s", describeNode(n))
	}
	if n.ShortTag() == "!!int" {
		var i int64
		if err := n.Decode(&i); err != nil {
			return fmt.Errorf("invalid size %s: too large", n.Value)
		}
		if i < 0 {
			return fmt.Errorf("invalid size %s: must not be negative", n.Value)
		}
		*s = Size(i)
		return nil
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalYAML writes the size as a string ("4MiB").
func (s Size) MarshalYAML() (any, error) { return s.String(), nil }

// describeNode names a YAML node's kind for error messages.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!bool":
			return "boolean " + n.Value
		case "!!int", "!!float":
			return "number " + n.Value
		}
		return strconv.Quote(n.Value)
	}
	return "an empty node"
}
