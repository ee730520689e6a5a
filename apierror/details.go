package apierror

import (
	"encoding/json"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoregistry"

	// The standard google.rpc detail messages (BadRequest, ErrorInfo, RetryInfo...) must be
	// known to the type registry for their JSON form.
	_ "google.golang.org/genproto/googleapis/rpc/errdetails"
)

// TypeResolver resolves Any type URLs; handlers that know a service's own message types pass
// one that also knows those to DetailsJSON.
type TypeResolver interface {
	protoregistry.ExtensionTypeResolver
	protoregistry.MessageTypeResolver
}

// detailsJSON renders the status details. Details whose type is unknown keep their type URL and
// base64 value, so nothing the backend said is lost.
func detailsJSON(st *status.Status) []json.RawMessage {
	return DetailsJSON(st, protoregistry.GlobalTypes)
}

// DetailsJSON renders st's details as JSON using types to resolve their messages.
func DetailsJSON(st *status.Status, types TypeResolver) []json.RawMessage {
	raw := st.Proto().GetDetails()
	if len(raw) == 0 {
		return nil
	}
	out := make([]json.RawMessage, 0, len(raw))
	opts := protojson.MarshalOptions{Resolver: types}
	for _, a := range raw {
		b, err := opts.Marshal(a)
		if err != nil {
			b, _ = json.Marshal(struct {
				Type  string `json:"@type"`
				Value []byte `json:"value"`
			}{a.GetTypeUrl(), a.GetValue()})
		}
		out = append(out, b)
	}
	return out
}
