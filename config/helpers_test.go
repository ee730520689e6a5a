package config

import (
	"os"
	"path/filepath"
	"testing"
)

// keyErrors flattens err (joined or wrapped) into its *KeyErrors.
func keyErrors(err error) []*KeyError {
	var out []*KeyError
	var walk func(error)
	walk = func(err error) {
		if ke, ok := err.(*KeyError); ok {
			out = append(out, ke)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// keyError returns the *KeyError in err for key, failing the test when there is none.
func keyError(t *testing.T, err error, key string) *KeyError {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one for %s", key)
	}
	for _, ke := range keyErrors(err) {
		if ke.Key == key {
			return ke
		}
	}
	t.Fatalf("error does not name %s:\n%v", key, err)
	return nil
}

// env is a getenv over a map.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeFile writes data to name in a fresh directory and returns its path.
func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func ptr[T any](v T) *T { return &v }

// writeIn writes data to name in the current directory.
func writeIn(t *testing.T, name, data string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
