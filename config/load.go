package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load builds the configuration the way the gateway's serve command does: defaults, then the
// YAML file, then GATEWAY_* environment variables read through getenv, then flags from args
// (without the program name, e.g. os.Args[1:]); later sources win. The result is completed and
// validated. getenv may be nil for no environment.
//
// Flags: -config FILE (default DefaultFile; a missing default file is not an error, a missing
// named file is; -config= reads no file), -address, -log-level, -log-format, -registry and
// -namespace (which may be set to ""). Usage prints them. Positional arguments are errors. For
// -h or -help the error wraps flag.ErrHelp.
func Load(args []string, getenv func(string) string) (Config, error) {
	fset, fv := newFlagSet()
	if err := fset.Parse(args); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if fset.NArg() > 0 {
		return Config{}, fmt.Errorf("config: unexpected argument %q", fset.Arg(0))
	}
	given := map[string]bool{}
	fset.Visit(func(f *flag.Flag) { given[f.Name] = true })

	cfg := Default()
	if fv.config != "" {
		data, err := os.ReadFile(fv.config)
		switch {
		case err == nil:
			if cfg, err = decode(data, fv.config); err != nil {
				return Config{}, err
			}
		case errors.Is(err, fs.ErrNotExist) && !given["config"]:
			// No config.yaml next to the binary: run on defaults.
		default:
			return Config{}, fmt.Errorf("config: %w", err)
		}
	}
	if getenv != nil {
		if err := applyEnv(&cfg, getenv); err != nil {
			return Config{}, err
		}
	}
	for _, f := range fv.targets {
		if given[f.name] {
			f.set(&cfg, *f.value)
		}
	}
	return finish(cfg)
}

// LoadFile reads the YAML file at path over the defaults, without environment or flags, and
// returns the completed, validated result. Error messages name the file.
func LoadFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	cfg, err := decode(data, path)
	if err != nil {
		return Config{}, err
	}
	return finish(cfg)
}

// Parse reads one YAML document over the defaults and returns the completed, validated result.
// Empty input yields the defaults. Unknown keys, malformed values and a second document are
// errors naming the key and line.
func Parse(data []byte) (Config, error) {
	cfg, err := decode(data, "")
	if err != nil {
		return Config{}, err
	}
	return finish(cfg)
}

// Usage writes the flags Load accepts, with their defaults, to w.
func Usage(w io.Writer) {
	fset, _ := newFlagSet()
	fset.SetOutput(w)
	fset.PrintDefaults()
}

func finish(cfg Config) (Config, error) {
	complete(&cfg)
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// flagValues holds what newFlagSet's flags parsed into.
type flagValues struct {
	config  string
	targets []flagTarget
}

// flagTarget is a flag that overrides one configuration key.
type flagTarget struct {
	name  string
	value *string
	set   func(*Config, string)
}

func newFlagSet() (*flag.FlagSet, *flagValues) {
	fset := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	fv := &flagValues{}
	fset.StringVar(&fv.config, "config", DefaultFile,
		"YAML configuration `file`; an empty value reads none")
	d := Default()
	add := func(name, def, usage string, set func(*Config, string)) {
		fv.targets = append(fv.targets, flagTarget{name, fset.String(name, def, usage), set})
	}
	add("address", d.Server.Address, "listen `address` (server.address)",
		func(c *Config, v string) { c.Server.Address = v })
	add("log-level", d.Log.Level, "log `level`: "+strings.Join(logLevels, ", ")+" (log.level)",
		func(c *Config, v string) { c.Log.Level = v })
	add("log-format", d.Log.Format, "log `format`: "+strings.Join(logFormats, ", ")+" (log.format)",
		func(c *Config, v string) { c.Log.Format = v })
	add("registry", d.Registry.Type, "registry `type`: "+strings.Join(registryTypes, ", ")+" (registry.type)",
		func(c *Config, v string) { c.Registry.Type = v })
	add("namespace", *d.Resolver.Namespace, "service `namespace`, may be empty (resolver.namespace)",
		func(c *Config, v string) { c.Resolver.Namespace = &v })
	return fset, fv
}

// decode reads data over the defaults without completing or validating. file, when not empty,
// is named in errors.
func decode(data []byte, file string) (Config, error) {
	cfg := Default()
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return cfg, nil
		}
		return Config{}, wrapFile(file, err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return Config{}, wrapFile(file, errors.New("want one YAML document, found a second (remove the extra ---)"))
	}

	// First walk the tree against the Config type to report every problem with its key path;
	// the yaml decoder alone stops at the first bad value and names lines, not keys.
	c := checker{file: file, seen: map[checked]bool{}}
	if len(root.Content) == 1 {
		c.check(root.Content[0], reflect.TypeFor[Config](), "")
	}
	if len(c.errs) > 0 {
		return Config{}, errors.Join(c.errs...)
	}

	dec = yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, wrapFile(file, err)
	}
	return cfg, nil
}

// checker walks a YAML tree alongside the Go type it decodes into.
type checker struct {
	file string
	errs []error
	seen map[checked]bool // alias targets already walked: anchors are checked once per type
}

type checked struct {
	n *yaml.Node
	t reflect.Type
}

func (c *checker) fail(n *yaml.Node, key string, err error) {
	c.errs = append(c.errs, &KeyError{File: c.file, Line: n.Line, Key: key, Err: err})
}

func (c *checker) check(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil || c.seen[checked{n.Alias, t}] {
			return
		}
		c.seen[checked{n.Alias, t}] = true
		c.check(n.Alias, t, path)
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // null leaves a value alone or clears a pointer, list or map
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[yaml.Unmarshaler]()) {
		c.leaf(n, t, path)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		c.check(n, t.Elem(), path)
	case reflect.Struct:
		c.mapping(n, path, func(k *yaml.Node) (reflect.Type, string, bool) {
			f, ok := fieldByKey(t, k.Value)
			if !ok {
				where := "top-level keys"
				if path != "" {
					where = "keys of " + path
				}
				c.fail(k, join(path, k.Value), fmt.Errorf("unknown key (known %s: %s)",
					where, strings.Join(yamlKeys(t), ", ")))
				return nil, "", false
			}
			return f.Type, join(path, k.Value), true
		}, t)
	case reflect.Map:
		c.mapping(n, path, func(k *yaml.Node) (reflect.Type, string, bool) {
			key := path + "[" + strconv.Quote(k.Value) + "]"
			if k.Kind != yaml.ScalarNode {
				c.fail(k, path, fmt.Errorf("want a string key, got %s", describeNode(k)))
				return nil, "", false
			}
			return t.Elem(), key, true
		}, t)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			c.fail(n, orTop(path), fmt.Errorf("want a list, got %s", describeNode(n)))
			return
		}
		for i, e := range n.Content {
			c.check(e, t.Elem(), path+"["+strconv.Itoa(i)+"]")
		}
	default:
		c.leaf(n, t, path)
	}
}

// mapping checks a mapping node whose values decode into the type that field returns for a
// key, following merge keys ("<<") into the mappings they merge.
func (c *checker) mapping(n *yaml.Node, path string, field func(k *yaml.Node) (reflect.Type, string, bool), t reflect.Type) {
	if n.Kind != yaml.MappingNode {
		c.fail(n, orTop(path), fmt.Errorf("want a mapping, got %s", describeNode(n)))
		return
	}
	lines := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			c.merge(v, t, path)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			c.fail(k, orTop(path), fmt.Errorf("want a key, got %s", describeNode(k)))
			continue
		}
		if l, dup := lines[k.Value]; dup {
			c.fail(k, join(path, k.Value), fmt.Errorf("set twice (first at line %d)", l))
			continue
		}
		lines[k.Value] = k.Line
		if ft, key, ok := field(k); ok {
			c.check(v, ft, key)
		}
	}
}

// merge checks the value of a merge key: a mapping, an alias of one, or a list of those.
func (c *checker) merge(v *yaml.Node, t reflect.Type, path string) {
	if v.Kind == yaml.SequenceNode {
		for _, e := range v.Content {
			c.check(e, t, path)
		}
		return
	}
	c.check(v, t, path)
}

// leaf checks a value of a scalar type by decoding it on its own.
func (c *checker) leaf(n *yaml.Node, t reflect.Type, path string) {
	err := n.Decode(reflect.New(t).Interface())
	if err == nil {
		return
	}
	if te := (*yaml.TypeError)(nil); errors.As(err, &te) {
		err = fmt.Errorf("want %s, got %s", describeType(t), describeNode(n))
	}
	c.fail(n, orTop(path), err)
}

// fieldByKey finds the field of struct type t whose yaml name is key.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() && yamlName(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// yamlKeys lists the yaml names of struct type t's fields.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() && yamlName(f) != "" {
			keys = append(keys, yamlName(f))
		}
	}
	slices.Sort(keys)
	return keys
}

// yamlName is a field's key in YAML, "" when it has none.
func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return fmt.Sprintf("a %d-bit integer", t.Bits())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("a whole number from 0 to %d", uint64(math.MaxUint64)>>(64-t.Bits()))
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a " + t.String()
}

// wrapFile prefixes an error that has no key with the file it came from.
func wrapFile(file string, err error) error {
	if file == "" {
		return fmt.Errorf("config: %w", err)
	}
	return fmt.Errorf("config: %s: %w", file, err)
}

// join appends a YAML key to a dotted path; a key that is not a plain word is quoted in
// brackets so that the path stays readable ("metadata[\"a.b\"]", "[\"\"]").
func join(path, key string) string {
	plain := key != ""
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			plain = false
			break
		}
	}
	switch {
	case !plain:
		return path + "[" + strconv.Quote(key) + "]"
	case path == "":
		return key
	}
	return path + "." + key
}

func orTop(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}
