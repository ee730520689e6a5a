package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// EnvPrefix starts the name of every environment variable Load reads.
const EnvPrefix = "GATEWAY_"

// EnvVars lists the environment variables Load reads, one per scalar key, in field order.
func EnvVars() []string {
	var names []string
	var c Config
	walkEnv(reflect.ValueOf(&c).Elem(), EnvPrefix, func(name string, _ reflect.Value) {
		names = append(names, name)
	})
	return names
}

// applyEnv sets every key whose variable getenv returns non-empty, and reports every bad value.
func applyEnv(c *Config, getenv func(string) string) error {
	var errs []error
	walkEnv(reflect.ValueOf(c).Elem(), EnvPrefix, func(name string, f reflect.Value) {
		s := getenv(name)
		if s == "" {
			return
		}
		v, err := parseScalar(f.Type(), s)
		if err != nil {
			errs = append(errs, &KeyError{Key: name, Err: err})
			return
		}
		f.Set(v)
	})
	return errors.Join(errs...)
}

// walkEnv calls fn for each scalar field under the struct v, with its variable name: prefix plus
// the yaml path in upper case, its parts joined by "_". Lists and maps have no variables.
func walkEnv(v reflect.Value, prefix string, fn func(name string, f reflect.Value)) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		key := yamlName(sf)
		if !sf.IsExported() || key == "" {
			continue
		}
		name := prefix + strings.ToUpper(key)
		f := v.Field(i)
		switch {
		case isScalar(sf.Type):
			fn(name, f)
		case sf.Type.Kind() == reflect.Struct:
			walkEnv(f, name+"_", fn)
		}
	}
}

var (
	durationType = reflect.TypeFor[Duration]()
	sizeType     = reflect.TypeFor[Size]()
)

// isScalar reports whether an environment variable can set a field of type t.
func isScalar(t reflect.Type) bool {
	if t == durationType || t == sizeType {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	case reflect.Pointer:
		return t.Elem().Kind() == reflect.String
	}
	return false
}

// parseScalar reads s as a value of type t (one isScalar accepts). Errors quote s.
func parseScalar(t reflect.Type, s string) (reflect.Value, error) {
	switch t {
	case durationType:
		d, err := ParseDuration(s)
		return reflect.ValueOf(d), err
	case sizeType:
		n, err := ParseSize(s)
		return reflect.ValueOf(n), err
	}
	v := reflect.New(t).Elem()
	switch t.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		p.Elem().SetString(s)
		v.Set(p)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return v, fmt.Errorf("invalid value %q: want true or false", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, t.Bits())
		if err != nil {
			return v, fmt.Errorf("invalid value %q: want %s", s, describeType(t))
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, t.Bits())
		if err != nil {
			return v, fmt.Errorf("invalid value %q: want %s", s, describeType(t))
		}
		v.SetUint(n)
	default:
		return v, fmt.Errorf("cannot set a %s from the environment", t)
	}
	return v, nil
}
