package openapi

import (
	"net/http"

	"github.com/edgeapi/gateway/schema"
)

// Version is the OpenAPI version of the documents.
const Version = "3.1.0"

// Document is an OpenAPI 3.1 document, with the parts the generator uses.
type Document struct {
	OpenAPI           string               `json:"openapi"`
	Info              Info                 `json:"info"`
	JSONSchemaDialect string               `json:"jsonSchemaDialect,omitempty"`
	Tags              []Tag                `json:"tags,omitempty"`
	Paths             map[string]*PathItem `json:"paths"`
	Components        Components           `json:"components"`
	// Skipped names the services left out, with the reason (x-gateway-skipped).
	Skipped map[string]string `json:"x-gateway-skipped,omitempty"`

	ids map[string]bool // operation ids in use
}

// Info is the document's info object.
type Info struct {
	Title       string `json:"title"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
}

// Tag groups the operations of one service.
type Tag struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// PathItem holds the operations of one path.
type PathItem struct {
	Get     *Operation `json:"get,omitempty"`
	Put     *Operation `json:"put,omitempty"`
	Post    *Operation `json:"post,omitempty"`
	Delete  *Operation `json:"delete,omitempty"`
	Options *Operation `json:"options,omitempty"`
	Head    *Operation `json:"head,omitempty"`
	Patch   *Operation `json:"patch,omitempty"`
	Trace   *Operation `json:"trace,omitempty"`
}

// slot returns where the operation of an HTTP method goes, or nil for a method OpenAPI has no
// slot for (CONNECT).
func (p *PathItem) slot(method string) **Operation {
	switch method {
	case http.MethodGet:
		return &p.Get
	case http.MethodPut:
		return &p.Put
	case http.MethodPost:
		return &p.Post
	case http.MethodDelete:
		return &p.Delete
	case http.MethodOptions:
		return &p.Options
	case http.MethodHead:
		return &p.Head
	case http.MethodPatch:
		return &p.Patch
	case http.MethodTrace:
		return &p.Trace
	}
	return nil
}

// Operation is one method on one path. The x-gateway-* extensions say what the gateway does
// with it.
type Operation struct {
	Tags        []string             `json:"tags,omitempty"`
	Summary     string               `json:"summary,omitempty"`
	Description string               `json:"description,omitempty"`
	OperationID string               `json:"operationId,omitempty"`
	Parameters  []*Parameter         `json:"parameters,omitempty"`
	RequestBody *RequestBody         `json:"requestBody,omitempty"`
	Responses   map[string]*Response `json:"responses"`

	Handler   string `json:"x-gateway-handler,omitempty"`
	Service   string `json:"x-gateway-service,omitempty"`
	Endpoint  string `json:"x-gateway-endpoint,omitempty"`
	GRPC      string `json:"x-gateway-grpc-method,omitempty"`
	Streaming string `json:"x-gateway-streaming,omitempty"` // server, client, bidi
	// WebSocket describes the messages of a client or bidi stream: send and receive schemas.
	WebSocket map[string]*schema.Schema `json:"x-gateway-websocket,omitempty"`
	Host      string                    `json:"x-gateway-host,omitempty"`
}

// Parameter is a path, query or header parameter, or a $ref to a shared one.
type Parameter struct {
	Ref         string         `json:"$ref,omitempty"`
	Name        string         `json:"name,omitempty"`
	In          string         `json:"in,omitempty"`
	Description string         `json:"description,omitempty"`
	Required    bool           `json:"required,omitempty"`
	Schema      *schema.Schema `json:"schema,omitempty"`
}

// RequestBody is an operation's body.
type RequestBody struct {
	Description string               `json:"description,omitempty"`
	Required    bool                 `json:"required,omitempty"`
	Content     map[string]MediaType `json:"content"`
}

// MediaType is the schema of one content type.
type MediaType struct {
	Schema *schema.Schema `json:"schema,omitempty"`
}

// Response is one answer, or a $ref to a shared one.
type Response struct {
	Ref         string               `json:"$ref,omitempty"`
	Description string               `json:"description,omitempty"`
	Headers     map[string]*Header   `json:"headers,omitempty"`
	Content     map[string]MediaType `json:"content,omitempty"`
}

// Header is a response header.
type Header struct {
	Ref         string         `json:"$ref,omitempty"`
	Description string         `json:"description,omitempty"`
	Schema      *schema.Schema `json:"schema,omitempty"`
}

// Components are the document's shared parts.
type Components struct {
	Schemas    map[string]*schema.Schema `json:"schemas,omitempty"`
	Responses  map[string]*Response      `json:"responses,omitempty"`
	Parameters map[string]*Parameter     `json:"parameters,omitempty"`
	Headers    map[string]*Header        `json:"headers,omitempty"`
}

// Names of the shared components every document has.
const (
	ErrorSchema     = "gateway.Error"
	ErrorResponse   = "Error"
	TimeoutParam    = "Timeout"
	RequestIDHeader = "X-Request-Id"
)

func ref(kind, name string) string { return "#/components/" + kind + "/" + name }

// newDocument returns a document with the shared components: the gateway's error body (see
// package apierror), the error response, the Timeout request header and the X-Request-Id
// response header.
func newDocument(title, version, description string) *Document {
	str := func() *schema.Schema { return &schema.Schema{Type: schema.Types{"string"}} }
	errSchema := &schema.Schema{
		Type:        schema.Types{"object"},
		Title:       "Error",
		Description: "The body of every failure: the gateway's own, and a backend's gRPC status mapped to HTTP.",
		Properties: schema.Properties{
			{Name: "id", Schema: &schema.Schema{Type: schema.Types{"string"}, Description: `Who failed: the service's name, or "gateway".`}},
			{Name: "code", Schema: &schema.Schema{Type: schema.Types{"integer"}, Description: "The HTTP status."}},
			{Name: "detail", Schema: &schema.Schema{Type: schema.Types{"string"}, Description: "What went wrong, in a sentence."}},
			{Name: "status", Schema: &schema.Schema{Type: schema.Types{"string"}, Description: "The HTTP status text."}},
			{Name: "grpc_code", Schema: &schema.Schema{Type: schema.Types{"string"}, Description: "The backend's gRPC status code, when it answered with one.", Examples: []any{"NotFound"}}},
			{Name: "details", Schema: &schema.Schema{Type: schema.Types{"array"}, Items: &schema.Schema{Type: schema.Types{"object"}}, Description: "google.rpc.Status details, as JSON with @type."}},
		},
		Required: []string{"id", "code", "detail", "status"},
	}
	return &Document{
		OpenAPI:           Version,
		Info:              Info{Title: title, Version: version, Description: description},
		JSONSchemaDialect: "https://spec.openapis.org/oas/3.1/dialect/base",
		Paths:             map[string]*PathItem{},
		Components: Components{
			Schemas: map[string]*schema.Schema{ErrorSchema: errSchema},
			Responses: map[string]*Response{ErrorResponse: {
				Description: "An error: unknown service or method (404), bad request field (400), no live node or open breaker (503), backend unreachable (502), timeout (504), or the backend's gRPC status mapped to HTTP.",
				Headers:     map[string]*Header{RequestIDHeader: {Ref: ref("headers", RequestIDHeader)}},
				Content:     map[string]MediaType{"application/json": {Schema: &schema.Schema{Ref: ref("schemas", ErrorSchema)}}},
			}},
			Parameters: map[string]*Parameter{TimeoutParam: {
				Name: "Timeout", In: "header",
				Description: `Deadline of the call ("5s", "250ms", or Grpc-Timeout's form), bounded by the route's maximum.`,
				Schema:      str(),
			}},
			Headers: map[string]*Header{RequestIDHeader: {Description: "The request's id, as sent or minted by the gateway.", Schema: str()}},
		},
	}
}

func errorResponse() *Response { return &Response{Ref: ref("responses", ErrorResponse)} }
