package openapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/edgeapi/gateway/descriptor"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/resolver"
	"github.com/edgeapi/gateway/router"
	"github.com/edgeapi/gateway/schema"
)

// Route is a route the router tries before its resolver: from the config, or declared by a
// service in its registry endpoint metadata.
type Route struct {
	Method   string // HTTP method; empty: any
	Path     string // chi pattern, e.g. /orders/{id}
	Handler  string // rpc, api, http, web, event
	Service  string
	Endpoint string // "Svc.Method" (rpc, api)
	Host     string // registry routes bound to a host
}

// RegistryRoutes returns the routes services declare in their endpoint metadata, as the
// router's table reads them (handler rpc when unset), sorted by service and endpoint.
func RegistryRoutes(services map[string]*registry.Service) []Route {
	var out []Route
	for name, svc := range services {
		for _, ep := range svc.Endpoints {
			p := ep.Metadata[router.MetaPath]
			if p == "" {
				continue
			}
			h := ep.Metadata[router.MetaHandler]
			if h == "" {
				h = "rpc"
			}
			out = append(out, Route{
				Method: strings.ToUpper(ep.Metadata[router.MetaMethod]), Path: p, Handler: h,
				Service: name, Endpoint: ep.Name, Host: strings.ToLower(ep.Metadata[router.MetaHost]),
			})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Endpoint < out[j].Endpoint
	})
	return out
}

// input is everything one generation reads.
type input struct {
	services []string                   // sorted: registry services and route targets
	sets     map[string]*descriptor.Set // services whose descriptors loaded
	failed   map[string]string          // services whose descriptors did not load, why
	config   []Route
	registry []Route
}

// output is one generation: the whole document and one per service.
type output struct {
	all      *Document
	services map[string]*Document
}

// passes, in the order the router tries them: config routes, registry routes, the resolver.
const (
	passConfig = iota
	passRegistry
	passResolver
)

// operation is one generated operation and where it goes.
type operation struct {
	pass   int
	method string
	path   string // OpenAPI template
	op     *Operation
}

// serviceBuild is what one service contributes.
type serviceBuild struct {
	name string
	b    *schema.Builder
	ops  []operation
}

type generator struct {
	res            resolver.Resolver
	defaultHandler string
	useProtoNames  bool
	title          string
}

var anyMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

func (g *generator) generate(in input, version string) output {
	desc := "Generated live from the gateway's routes and the descriptors of the services in its registry; " +
		"regenerated when they change. rpc calls take and return JSON following the protobuf JSON mapping."
	all := newDocument(g.title, version, desc)
	out := output{all: all, services: map[string]*Document{}}
	sh := newShadow(append(append([]Route(nil), in.config...), hostless(in.registry)...))

	routesOf := map[string][]operationSource{}
	for _, r := range in.config {
		routesOf[r.Service] = append(routesOf[r.Service], operationSource{pass: passConfig, route: r})
	}
	for _, r := range in.registry {
		routesOf[r.Service] = append(routesOf[r.Service], operationSource{pass: passRegistry, route: r})
	}
	names := append([]string(nil), in.services...)
	if _, ok := routesOf[""]; ok {
		names = append([]string{""}, names...) // routes for no service (events): the gateway's own
	}

	var builds []*serviceBuild
	for _, name := range names {
		set := in.sets[name]
		sb := g.service(name, set, routesOf[name], sh, "")
		if conflicts(all.Components.Schemas, sb.b.Defs()) {
			// Another service defines one of these names differently: keep this one's apart.
			sb = g.service(name, set, routesOf[name], sh, safeName(name)+".")
		}
		for k, v := range sb.b.Defs() {
			all.Components.Schemas[k] = v
		}
		builds = append(builds, sb)

		if name == "" {
			continue
		}
		if len(sb.ops) == 0 {
			if reason, bad := in.failed[name]; bad {
				setSkipped(all, name, reason)
			} else if set != nil {
				setSkipped(all, name, "no method is reachable through the resolver or a route")
			}
			continue
		}
		doc := newDocument(g.title+": "+name, version, desc)
		for k, v := range sb.b.Defs() {
			doc.Components.Schemas[k] = v
		}
		for _, pass := range []int{passConfig, passRegistry, passResolver} {
			addOps(doc, sb, pass)
		}
		doc.Tags = []Tag{tag(name, set)}
		out.services[name] = doc
	}
	for _, pass := range []int{passConfig, passRegistry, passResolver} {
		for _, sb := range builds {
			addOps(all, sb, pass)
		}
	}
	for _, sb := range builds {
		if len(sb.ops) > 0 {
			all.Tags = append(all.Tags, tag(sb.name, in.sets[sb.name]))
		}
	}
	return out
}

type operationSource struct {
	pass  int
	route Route
}

func hostless(rs []Route) []Route {
	var out []Route
	for _, r := range rs {
		if r.Host == "" {
			out = append(out, r)
		}
	}
	return out
}

func setSkipped(d *Document, name, reason string) {
	if d.Skipped == nil {
		d.Skipped = map[string]string{}
	}
	d.Skipped[name] = reason
}

func tagName(service string) string {
	if service == "" {
		return "gateway"
	}
	return service
}

func tag(service string, set *descriptor.Set) Tag {
	t := Tag{Name: tagName(service)}
	if set != nil {
		var names []string
		for _, sd := range set.Services {
			if !Infrastructure(sd.FullName()) {
				names = append(names, string(sd.FullName()))
			}
		}
		t.Description = "gRPC services: " + strings.Join(names, ", ")
	} else if service == "" {
		t.Description = "Routes of the gateway itself"
	}
	return t
}

// addOps adds the operations of one pass of sb to d. The first operation for a method and a
// path shape wins (the router tries passes in this order too); a template of a shape already
// used with other variable names is left out, as OpenAPI forbids both.
func addOps(d *Document, sb *serviceBuild, pass int) {
	for _, o := range sb.ops {
		if o.pass != pass {
			continue
		}
		item := d.Paths[o.path]
		if item == nil {
			s := shape(o.path)
			clash := false
			for p := range d.Paths {
				if shape(p) == s {
					clash = true
					break
				}
			}
			if clash {
				continue
			}
			item = &PathItem{}
			d.Paths[o.path] = item
		}
		slot := item.slot(o.method)
		if slot == nil || *slot != nil {
			continue
		}
		op := *o.op
		op.OperationID = uniqueID(d, op.OperationID)
		*slot = &op
	}
}

// uniqueID returns id, or id with a number appended when d already uses it, and marks it used.
func uniqueID(d *Document, id string) string {
	if d.ids == nil {
		d.ids = map[string]bool{}
	}
	c := id
	for i := 2; d.ids[c]; i++ {
		c = fmt.Sprintf("%s_%d", id, i)
	}
	d.ids[c] = true
	return c
}

// conflicts reports whether defs defines a name of have differently.
func conflicts(have, defs map[string]*schema.Schema) bool {
	for k, v := range defs {
		if old, ok := have[k]; ok {
			a, _ := json.Marshal(old)
			b, _ := json.Marshal(v)
			if string(a) != string(b) {
				return true
			}
		}
	}
	return false
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safeName(s string) string { return unsafeChars.ReplaceAllString(s, "_") }

// service builds the operations of one service: its routes, then its methods through the
// resolver (when the default handler is rpc and no route takes their path first).
func (g *generator) service(name string, set *descriptor.Set, routes []operationSource, sh shadow, prefix string) *serviceBuild {
	sb := &serviceBuild{name: name, b: schema.NewBuilder(schema.Options{UseProtoNames: g.useProtoNames, NamePrefix: prefix})}
	for _, src := range routes {
		r := src.route
		tmpl, params := templatePath(r.Path, r.Handler)
		var m *descriptor.Method
		if set != nil && (r.Handler == "rpc" || r.Handler == "") {
			m, _ = set.Method(r.Endpoint)
		}
		methods := []string{strings.ToUpper(r.Method)}
		if r.Method == "" {
			switch {
			case r.Handler == "event" || r.Handler == "rpc" || r.Handler == "":
				methods = []string{http.MethodPost}
			default:
				methods = anyMethods
			}
			if m != nil && m.ClientStreaming() {
				methods = []string{http.MethodGet}
			}
		}
		for _, method := range methods {
			var op *Operation
			switch r.Handler {
			case "rpc", "":
				op = sb.rpcOp(name, r.Endpoint, m, method, params)
			case "event":
				op = sb.eventOp(method, params)
			default:
				op = sb.proxyOp(name, r.Handler, method, params)
			}
			op.OperationID = routeID(method, tmpl)
			op.Host = r.Host
			sb.ops = append(sb.ops, operation{pass: src.pass, method: method, path: tmpl, op: op})
		}
	}
	if set == nil || g.defaultHandler != "rpc" || name == "" {
		return sb
	}
	for _, sd := range set.Services {
		if Infrastructure(sd.FullName()) {
			continue
		}
		for i := range sd.Methods().Len() {
			md := sd.Methods().Get(i)
			m, err := set.Method(string(sd.FullName()) + "." + string(md.Name()))
			if err != nil {
				continue
			}
			p, ok := CallPath(g.res, name, set, m)
			if !ok {
				continue
			}
			method := http.MethodPost
			if m.ClientStreaming() {
				method = http.MethodGet
			}
			if sh.takes(method, p) {
				continue
			}
			op := sb.rpcOp(name, string(sd.Name())+"."+string(md.Name()), m, method, nil)
			op.OperationID = name + "." + string(sd.Name()) + "." + string(md.Name())
			sb.ops = append(sb.ops, operation{pass: passResolver, method: method, path: p, op: op})
		}
	}
	return sb
}

var idChars = regexp.MustCompile(`[^A-Za-z0-9]+`)

func routeID(method, tmpl string) string {
	return strings.ToLower(method) + "_" + strings.Trim(idChars.ReplaceAllString(tmpl, "_"), "_")
}

func stringSchema() *schema.Schema { return &schema.Schema{Type: schema.Types{"string"}} }

func objectSchema() *schema.Schema { return &schema.Schema{Type: schema.Types{"object"}} }

func okHeaders() map[string]*Header {
	return map[string]*Header{RequestIDHeader: {Ref: ref("headers", RequestIDHeader)}}
}

// pathParameters describes a route's variables. For an rpc route a variable that names a
// request field (dotted for nested ones) gets the field's schema.
func (sb *serviceBuild) pathParameters(params []pathParam, input protoreflect.MessageDescriptor) []*Parameter {
	var out []*Parameter
	for _, p := range params {
		prm := &Parameter{Name: p.name, In: "path", Required: true, Schema: stringSchema()}
		switch {
		case p.rest:
			prm.Description = "The rest of the path (it may contain slashes)."
		case p.pattern != "":
			prm.Schema.Pattern = "^(?:" + p.pattern + ")$"
		}
		if input != nil && !p.rest {
			if fd := fieldByPath(input, p.name); fd != nil {
				prm.Schema = sb.b.Field(fd)
				prm.Description = fmt.Sprintf("Sets the request field %s.", p.name)
			}
		}
		out = append(out, prm)
	}
	return out
}

// fieldByPath finds a scalar field by a dotted path of JSON or proto names.
func fieldByPath(md protoreflect.MessageDescriptor, path string) protoreflect.FieldDescriptor {
	parts := strings.Split(path, ".")
	for i, part := range parts {
		fd := md.Fields().ByJSONName(part)
		if fd == nil {
			fd = md.Fields().ByTextName(part)
		}
		if fd == nil {
			return nil
		}
		if i == len(parts)-1 {
			if fd.IsList() || fd.IsMap() || fd.Message() != nil {
				return nil
			}
			return fd
		}
		if fd.IsList() || fd.IsMap() || fd.Message() == nil {
			return nil
		}
		md = fd.Message()
	}
	return nil
}

// queryParameters describes the top-level fields of a GET request that a query can set:
// scalars, enums, repeated scalars and well-known types written as strings.
func (sb *serviceBuild) queryParameters(input protoreflect.MessageDescriptor, bound []pathParam) []*Parameter {
	taken := map[string]bool{}
	for _, p := range bound {
		taken[p.name] = true
	}
	var out []*Parameter
	fields := input.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		name := sb.b.FieldName(fd)
		if taken[name] || taken[fd.TextName()] || fd.IsMap() {
			continue
		}
		if md := fd.Message(); md != nil {
			switch md.FullName() {
			case "google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask",
				"google.protobuf.StringValue", "google.protobuf.Int32Value", "google.protobuf.Int64Value",
				"google.protobuf.UInt32Value", "google.protobuf.UInt64Value", "google.protobuf.BoolValue",
				"google.protobuf.DoubleValue", "google.protobuf.FloatValue", "google.protobuf.BytesValue":
			default:
				continue
			}
		}
		out = append(out, &Parameter{Name: name, In: "query", Schema: sb.b.Field(fd)})
	}
	return out
}

// rpcOp describes a call of method m (nil when the service's descriptors are unavailable).
func (sb *serviceBuild) rpcOp(service, endpoint string, m *descriptor.Method, method string, params []pathParam) *Operation {
	op := &Operation{
		Tags: []string{tagName(service)}, Summary: endpoint, Handler: "rpc", Service: service, Endpoint: endpoint,
		Responses: map[string]*Response{"default": errorResponse()},
	}
	if m == nil {
		op.Description = "The descriptors of " + service + " are not available: request and answer are described as any JSON object."
		op.Parameters = append(sb.pathParameters(params, nil), &Parameter{Ref: ref("parameters", TimeoutParam)})
		if method != http.MethodGet && method != http.MethodHead {
			op.RequestBody = &RequestBody{Content: map[string]MediaType{"application/json": {Schema: objectSchema()}}}
		}
		op.Responses["200"] = &Response{Description: "The answer.", Headers: okHeaders(), Content: map[string]MediaType{"application/json": {Schema: objectSchema()}}}
		return op
	}
	op.GRPC = m.Path
	op.Description = strings.TrimSpace(comment(m.Desc) + "\n\ngRPC method " + m.Path + " of " + service + ".")
	op.Parameters = sb.pathParameters(params, m.Input)
	if !m.ClientStreaming() {
		op.Parameters = append(op.Parameters, &Parameter{Ref: ref("parameters", TimeoutParam)})
	}
	in, out := sb.b.Message(m.Input), sb.b.Message(m.Output)
	switch {
	case m.ClientStreaming():
		op.Streaming = "client"
		if m.ServerStreaming() {
			op.Streaming = "bidi"
		}
		op.WebSocket = map[string]*schema.Schema{"send": in, "receive": out}
		op.Responses["101"] = &Response{Description: "Switching Protocols: the stream runs over WebSocket, one JSON message (see x-gateway-websocket) per text frame each way. " +
			"The client's close frame ends its side; the backend's end of the stream closes the socket with 1000, an error sends an {\"error\": Error} frame and closes with 1011."}
		return op
	case method == http.MethodGet || method == http.MethodHead:
		op.Parameters = append(op.Parameters, sb.queryParameters(m.Input, params)...)
	default:
		op.RequestBody = &RequestBody{
			Description: "The request message " + string(m.Input.FullName()) + " as JSON (an empty body is the empty message). Query parameters and path variables set fields on top of it.",
			Content:     map[string]MediaType{"application/json": {Schema: in}},
		}
	}
	if m.ServerStreaming() {
		op.Streaming = "server"
		line := &schema.Schema{
			Type: schema.Types{"object"},
			Properties: schema.Properties{
				{Name: "result", Schema: out},
				{Name: "error", Schema: &schema.Schema{Ref: ref("schemas", ErrorSchema)}},
			},
			Description: "One line per message: {\"result\": message}; an error after the first message ends the stream as an {\"error\": Error} line.",
		}
		op.Responses["200"] = &Response{
			Description: "A stream of " + string(m.Output.FullName()) + " messages, each flushed as it arrives: NDJSON by default, server-sent events with Accept: text/event-stream.",
			Headers:     okHeaders(),
			Content: map[string]MediaType{
				"application/x-ndjson": {Schema: line},
				"text/event-stream": {Schema: &schema.Schema{Type: schema.Types{"string"},
					Description: "Server-sent events: each message a \"data:\" event holding its JSON (with an increasing id); an error is an \"event: error\" event holding Error."}},
			},
		}
		return op
	}
	op.Responses["200"] = &Response{Description: "The answer " + string(m.Output.FullName()) + ".", Headers: okHeaders(), Content: map[string]MediaType{"application/json": {Schema: out}}}
	return op
}

func (sb *serviceBuild) eventOp(method string, params []pathParam) *Operation {
	op := &Operation{
		Tags: []string{"gateway"}, Summary: "Publish an event", Handler: "event",
		Description: "The body becomes the data of a CloudEvents 1.0 event published on <namespace>.<topic>, with type <topic>.<name> (dots for slashes). " +
			"The answer comes only after the broker stored the event; a retry with the same Ce-Id stores it once.",
		Parameters: append(sb.pathParameters(params, nil), &Parameter{Name: "Ce-Id", In: "header", Description: "The event id; by default a new UUID.", Schema: stringSchema()}),
		RequestBody: &RequestBody{Description: "The event data, sent as is; Content-Type becomes its datacontenttype.", Required: true,
			Content: map[string]MediaType{"application/json": {Schema: &schema.Schema{}}, "*/*": {Schema: &schema.Schema{}}}},
		Responses: map[string]*Response{
			"202": {Description: "The broker stored the event.", Headers: okHeaders(), Content: map[string]MediaType{"application/json": {Schema: &schema.Schema{
				Type: schema.Types{"object"}, Properties: schema.Properties{{Name: "id", Schema: stringSchema()}}, Required: []string{"id"},
			}}}},
			"default": errorResponse(),
		},
	}
	if method != http.MethodPost {
		op.Description += " Only POST is accepted (405 otherwise)."
	}
	return op
}

func (sb *serviceBuild) proxyOp(service, handler, method string, params []pathParam) *Operation {
	desc := map[string]string{
		"http": "Proxied to a node of " + service + " (http handler); the answer is the service's own.",
		"web":  "Proxied to a node of " + service + " (web handler), WebSocket upgrades included; the answer is the service's own.",
		"api":  "The whole HTTP request goes to " + service + " as an api.Request (api handler); its api.Response decides the answer.",
	}[handler]
	if desc == "" {
		desc = "Handled by the " + handler + " handler for " + service + "."
	}
	return &Operation{
		Tags: []string{tagName(service)}, Summary: strings.ToUpper(method) + " via " + handler, Description: desc,
		Handler: handler, Service: service, Parameters: sb.pathParameters(params, nil),
		Responses: map[string]*Response{"default": {
			Description: "The service's answer. The gateway's own failures (no live node 503, unreachable 502, timeout 504) have the Error body (see components).",
		}},
	}
}

// comment is the leading comment of d, when its descriptors carry source info.
func comment(d protoreflect.Descriptor) string {
	f := d.ParentFile()
	if f == nil {
		return ""
	}
	return strings.TrimSpace(f.SourceLocations().ByDescriptor(d).LeadingComments)
}
