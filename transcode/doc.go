// Package transcode converts between JSON and protobuf wire bytes directly, driven by message
// descriptors, without building a message: the rpc handler uses it to turn a JSON body into
// the bytes of a gRPC request and the bytes of the answer into JSON, and sends and receives
// those bytes with a pass-through codec.
//
// # Contract
//
// Compile builds a [Plan] once per message descriptor (callers cache it, keyed by
// descriptor); a Plan is immutable and safe for concurrent use. Then, per call:
//
//   - [Plan.AppendWire] accepts exactly the JSON that protojson.Unmarshal (default options)
//     accepts for the message and appends wire bytes that proto.Unmarshal reads back into a
//     message proto.Equal to protojson's: fields by JSON name or proto name; 64-bit integers as
//     numbers or strings, 32-bit bounds checked, integral exponents (1e2) allowed; floats as
//     numbers or strings, "NaN", "Infinity", "-Infinity"; bytes in standard or URL-safe base64,
//     padded or not; enums by name or number; null leaves a field unset (except
//     google.protobuf.Value and NullValue). It rejects what protojson rejects: malformed JSON,
//     invalid UTF-8, unknown fields, duplicate fields (by either name) and map keys, two
//     members of a oneof, values of the wrong type or out of range, nesting beyond 10,000.
//     The bytes are valid protobuf but not necessarily proto.Marshal's: fields come in JSON
//     order, zero values of fields without presence are left out, map entries always carry
//     their key and value.
//   - [Plan.AppendJSON] writes what protojson.Marshal writes for the message proto.Unmarshal
//     reads from the wire bytes (with [Options] UseProtoNames and EmitUnpopulated), byte for
//     byte except that protojson randomly adds spaces: fields in declaration order, 64-bit
//     integers as strings, enums by name (number when unknown), bytes in standard base64,
//     floats in protojson's shortest form, map keys sorted. Wire input is read as
//     proto.Unmarshal reads it: last value wins for scalars, repeated occurrences of a message
//     merge, packed and unpacked lists are both accepted, unknown fields (and fields with an
//     unexpected wire type) are skipped, and it is rejected when proto.Unmarshal would reject
//     it (malformed, invalid UTF-8 in proto3 strings) or protojson.Marshal would fail
//     (invalid UTF-8 in any string, a Timestamp or Duration out of range, an empty
//     google.protobuf.Value, a FieldMask path without a lowerCamel form).
//   - Errors are *[Error], with the path of the offending value ("items[1].price") and a
//     sentinel for errors.Is: every AppendWire error but [ErrUnsupported] is the client's
//     fault (400); AppendJSON errors are the backend's.
//   - Both append to dst and allocate nothing else when dst has room (state is pooled), except
//     on rare paths: a message occurring more than once on the wire (merged), maps of more than
//     32 entries in JSON input, requests large enough that pooled state is not kept, errors.
//   - Both take time linear in their input (length prefixes of nested messages are inserted
//     in one final pass), and nesting is bounded like protojson and proto.Unmarshal bound it.
//   - AppendWire rejects empty input, as protojson does; callers that treat an empty body as
//     {} check for it first.
//
// # Well-known types
//
// google.protobuf.Timestamp, Duration, the wrappers (Int32Value, ...), Empty, Struct, Value,
// ListValue and FieldMask have their special JSON forms, as in protojson.
// google.protobuf.Any needs a type resolver: Compile returns an error wrapping ErrUnsupported
// for a message that contains one (at any depth), and the caller keeps using protojson for it.
// So does it for groups (proto2 and delimited encoding), proto2 required fields, extensions
// declared as fields and message-set wire format. Extensions of a message are not read from
// the wire (they are skipped like unknown fields) and "[ext.name]" keys are unknown fields.
//
// # Deliberate differences from protojson
//
//   - AppendWire's output is not proto.Marshal's byte sequence (see above); it decodes equal.
//   - AppendJSON's output has no random spaces: it is deterministic.
//   - Error messages differ; only the accept/reject decision is the same.
//   - A map entry whose key occurs again with another wire type makes protobuf-go's
//     reflective decoder (dynamicpb, v1.36.12) panic; AppendJSON reads it as generated code
//     does: the second occurrence is an unknown field.
package transcode
