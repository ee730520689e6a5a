package transcode

import (
	"bytes"
	"errors"
	"strconv"
)

// Sentinel errors. Every error AppendWire and AppendJSON return is an *Error whose Err is one of
// these; Compile returns ErrUnsupported (wrapped) for descriptors this package does not handle.
var (
	// ErrUnsupported: the message (or one it contains) needs protojson; see the package comment.
	ErrUnsupported = errors.New("transcode: unsupported message type")
	// ErrSyntax: the input is not well-formed JSON.
	ErrSyntax = errors.New("malformed JSON")
	// ErrUnknownField: an object key names no field of the message.
	ErrUnknownField = errors.New("unknown field")
	// ErrDuplicate: a field (by either of its names) or a map key appears twice.
	ErrDuplicate = errors.New("duplicate field")
	// ErrOneof: two members of one oneof are set.
	ErrOneof = errors.New("oneof already set")
	// ErrInvalidValue: a value has the wrong JSON type or is out of range for its field, or (for
	// AppendJSON) a value cannot be written as JSON (invalid UTF-8, timestamp out of range, ...).
	ErrInvalidValue = errors.New("invalid value")
	// ErrTooDeep: messages are nested deeper than protobuf's default recursion limit (10,000).
	ErrTooDeep = errors.New("nesting too deep")
	// ErrWire: the protobuf input of AppendJSON is malformed.
	ErrWire = errors.New("malformed protobuf")
)

// Error is a failure of AppendWire or AppendJSON, located in the message.
type Error struct {
	// Path names the offending value: "items[1].price", `labels["en"]`, "" for the message
	// itself. AppendWire uses the keys as the input spelled them; AppendJSON the JSON names.
	Path string
	// Offset is the byte offset in the input where the problem was found.
	Offset int
	// Err is one of the package's sentinel errors.
	Err error
	// Detail is a human-readable explanation; do not parse it.
	Detail string
}

func (e *Error) Error() string {
	s := "transcode: "
	if e.Path != "" {
		s += e.Path + ": "
	}
	s += e.Err.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the sentinel, for errors.Is.
func (e *Error) Unwrap() error { return e.Err }

func newError(sentinel error, off int, detail string) *Error {
	return &Error{Offset: off, Err: sentinel, Detail: detail}
}

// inField prefixes the error's path with a field name: a plan name, or an object key as the
// input has it (escapes are resolved here). Paths are built only as errors unwind, so the hot
// path pays nothing for them.
func inField(err error, name []byte) error {
	if bytes.IndexByte(name, '\\') >= 0 {
		name = unescape(nil, name)
	}
	if e, ok := err.(*Error); ok {
		switch {
		case e.Path == "":
			e.Path = string(name)
		case e.Path[0] == '[':
			e.Path = string(name) + e.Path
		default:
			e.Path = string(name) + "." + e.Path
		}
	}
	return err
}

// inIndex prefixes the error's path with a list index.
func inIndex(err error, i int) error {
	if e, ok := err.(*Error); ok {
		seg := "[" + strconv.Itoa(i) + "]"
		if e.Path == "" || e.Path[0] == '[' {
			e.Path = seg + e.Path
		} else {
			e.Path = seg + "." + e.Path
		}
	}
	return err
}

// inKey prefixes the error's path with a map key, given as a JSON string literal or a number.
func inKey(err error, lit []byte) error {
	if e, ok := err.(*Error); ok {
		seg := "[" + string(lit) + "]"
		if e.Path == "" || e.Path[0] == '[' {
			e.Path = seg + e.Path
		} else {
			e.Path = seg + "." + e.Path
		}
	}
	return err
}
