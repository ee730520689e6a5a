package config

import (
	"strconv"
	"strings"
)

// A KeyError reports one bad configuration key. Parse, Load and Validate return them, joined
// with errors.Join when there are several, so that a user sees every problem at once; find them
// with errors.As.
type KeyError struct {
	// File is the YAML file the key was read from; empty when unknown.
	File string
	// Line is the 1-based line of the key in the YAML source; 0 when not from YAML.
	Line int
	// Key names what is wrong: a YAML path ("server.address", "routes[2].handler",
	// `rpc.services["order"].descriptors`), an environment variable or a flag ("-log-level").
	Key string
	// Value is the offending value as written, when the message shows it.
	Value string
	// Err says what is wrong with it.
	Err error

	hasValue bool // Value is shown in the message, even when empty
}

// Error formats the error as `[file:line: ]key[ "value"]: reason`.
func (e *KeyError) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		b.WriteString(e.File + ":" + strconv.Itoa(e.Line) + ": ")
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	b.WriteString(e.Key)
	if e.hasValue {
		b.WriteString(" " + strconv.Quote(e.Value))
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying reason.
func (e *KeyError) Unwrap() error { return e.Err }
