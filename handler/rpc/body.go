package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// unmarshalJSON decodes a JSON body into msg. On failure it finds the field at fault, so the
// client is told which field is wrong instead of a parser position.
func unmarshalJSON(data []byte, msg protoreflect.Message, opts protojson.UnmarshalOptions) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	err := opts.Unmarshal(data, msg.Interface())
	if err == nil {
		return nil
	}
	if field, ferr := diagnose(data, msg.Descriptor(), opts, ""); field != "" {
		return &FieldError{Field: field, Err: ferr}
	}
	return &FieldError{Err: fmt.Errorf("invalid JSON body for %s: %w", msg.Descriptor().FullName(), err)}
}

// maxDiagnoseDepth bounds how deep diagnose descends.
const maxDiagnoseDepth = 32

// diagnose walks the JSON object field by field and returns the path of the first field that
// does not decode, with the reason. It runs only on the error path.
func diagnose(data []byte, md protoreflect.MessageDescriptor, opts protojson.UnmarshalOptions, prefix string) (string, error) {
	// Each level re-decodes its subtree, so deep self-nesting would cost quadratic time: past
	// a sane depth the deepest path reached is answer enough.
	if strings.Count(prefix, ".")+strings.Count(prefix, "[") >= maxDiagnoseDepth {
		return prefix, errors.New("nested too deeply to pinpoint the error")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return "", err
		}
		return prefix, fmt.Errorf("want a JSON object for %s", md.FullName())
	}
	// Walk the members in document order, so that "first" means the same on every run.
	for _, key := range memberOrder(data, len(obj)) {
		raw := obj[key]
		path := key
		if prefix != "" {
			path = prefix + "." + key
		}
		fd := findField(md, key)
		if fd == nil {
			if opts.DiscardUnknown {
				continue
			}
			return path, fmt.Errorf("unknown field in %s", md.FullName())
		}
		if fd.Kind() == protoreflect.MessageKind && !fd.IsMap() && !isWellKnown(fd.Message()) {
			if fd.IsList() {
				var elems []json.RawMessage
				if json.Unmarshal(raw, &elems) == nil {
					for i, e := range elems {
						if p, err := diagnose(e, fd.Message(), opts, path+"["+strconv.Itoa(i)+"]"); p != "" {
							return p, err
						}
					}
				}
			} else if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
				if p, err := diagnose(raw, fd.Message(), opts, path); p != "" {
					return p, err
				}
				continue
			}
		}
		one, _ := json.Marshal(map[string]json.RawMessage{key: raw})
		if err := opts.Unmarshal(one, dynamicpb.NewMessage(md)); err != nil {
			return path, fmt.Errorf("invalid value %s for %s field", truncate(raw, 64), kindName(fd))
		}
	}
	return "", nil
}

// memberOrder returns the member names of the JSON object data (valid JSON) in document order,
// each once.
func memberOrder(data []byte, n int) []string {
	keys := make([]string, 0, n)
	seen := make(map[string]bool, n)
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // '{'
		return keys
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			break
		}
		if key, ok := tok.(string); ok && !seen[key] {
			seen[key] = true
			keys = append(keys, key)
		}
	}
	return keys
}

func kindName(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.IsMap():
		return "map"
	case fd.IsList():
		return "repeated " + kindOf(fd)
	}
	return kindOf(fd)
}

func kindOf(fd protoreflect.FieldDescriptor) string {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return string(fd.Message().FullName())
	case protoreflect.EnumKind:
		return string(fd.Enum().FullName())
	}
	return fd.Kind().String()
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}
