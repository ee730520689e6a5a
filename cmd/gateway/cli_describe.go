package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/edgeapi/gateway/descriptor"
	"github.com/edgeapi/gateway/registry"
)

var describeCommand = command{
	name:     "describe",
	synopsis: "<service>",
	minArgs:  1,
	maxArgs:  1,
	about: `Describes a registered service from its descriptors (server reflection, or the configured
.proto files or protoset): each gRPC service, and for each method the endpoint name to call it
by, its gRPC path, whether it streams, and the request and response message schemas. Fields
are listed by the JSON name the gateway reads and writes, with their types; a nested message
or enum is expanded where a method's schema first uses it and named afterwards. Well-known
types (google.protobuf.*) are named, not expanded.

--json prints the same as one JSON document: the gRPC services with their methods, and every
message and enum the methods use, keyed by full name.

Exit status: 0 success; 1 the service or its descriptors could not be found; 2 usage error.
`,
}

func (c *cli) describe(args []string) int {
	cmd := describeCommand
	fs := cmd.flagSet()
	var f commonFlags
	f.addConfig(fs)
	f.addTimeout(fs, 15*time.Second, "`deadline` for finding the service and loading its descriptors")
	f.addJSON(fs)
	pos, code, ok := c.parse(cmd, fs, args)
	if !ok {
		return code
	}
	service := pos[0]
	if f.timeout <= 0 {
		return c.usage(cmd, fmt.Errorf("-timeout %s: must be positive", f.timeout))
	}
	cfg, err := c.loadConfig(fs, &f)
	if err != nil {
		return c.usage(cmd, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	b, err := openBackend(ctx, cfg, c.logger(&f))
	if err != nil {
		return c.fail(cmd, service, err)
	}
	defer b.close()
	svc, err := b.service(service)
	if err != nil {
		return c.fail(cmd, service, err)
	}
	set, err := b.descriptors(ctx, service)
	if err != nil {
		return c.fail(cmd, service, err)
	}
	d := describer{protoNames: cfg.RPC.UseProtoNames}
	if f.json {
		_ = c.printValue(d.document(svc, set))
		return exitOK
	}
	d.text(c.stdout, svc, set)
	return exitOK
}

// describer renders descriptors for people (text) and programs (JSON).
type describer struct {
	protoNames bool // fields are named as in the .proto file (rpc.use_proto_names)
}

// endpointNames maps each method to the endpoint name that calls it: the gRPC service's short
// name where no other service shares it, its full name otherwise (as descriptor.Set resolves).
func endpointNames(set *descriptor.Set) map[protoreflect.FullName]string {
	count := map[protoreflect.Name]int{}
	for _, sd := range set.Services {
		count[sd.Name()]++
	}
	out := map[protoreflect.FullName]string{}
	for _, sd := range set.Services {
		name := string(sd.Name())
		if count[sd.Name()] > 1 {
			name = string(sd.FullName())
		}
		for i := range sd.Methods().Len() {
			md := sd.Methods().Get(i)
			out[md.FullName()] = name + "." + string(md.Name())
		}
	}
	return out
}

func streamKind(md protoreflect.MethodDescriptor) string {
	switch {
	case md.IsStreamingClient() && md.IsStreamingServer():
		return "bidi streaming"
	case md.IsStreamingClient():
		return "client streaming"
	case md.IsStreamingServer():
		return "server streaming"
	}
	return "unary"
}

func wellKnown(md protoreflect.MessageDescriptor) bool {
	return md.ParentFile() != nil && strings.HasPrefix(string(md.FullName()), "google.protobuf.")
}

// fieldName is the field's name in the gateway's JSON.
func (d describer) fieldName(fd protoreflect.FieldDescriptor) string {
	if d.protoNames {
		return string(fd.Name())
	}
	return fd.JSONName()
}

// typeName is a field's type as written in text: "string", "testsvc.v1.Nested",
// "enum testsvc.v1.Color", with repeated and map<k, v> around it.
func typeName(fd protoreflect.FieldDescriptor) string {
	if fd.IsMap() {
		return "map<" + elemType(fd.MapKey()) + ", " + elemType(fd.MapValue()) + ">"
	}
	t := elemType(fd)
	if fd.IsList() {
		t = "repeated " + t
	}
	return t
}

func elemType(fd protoreflect.FieldDescriptor) string {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return string(fd.Message().FullName())
	case protoreflect.EnumKind:
		return "enum " + string(fd.Enum().FullName())
	}
	return fd.Kind().String()
}

// text writes the description for people.
func (d describer) text(w io.Writer, svc *registry.Service, set *descriptor.Set) {
	nodes := "nodes"
	if len(svc.Nodes) == 1 {
		nodes = "node"
	}
	fmt.Fprintf(w, "%s (%d %s)\n", svc.Name, len(svc.Nodes), nodes)
	if len(set.Services) == 0 {
		fmt.Fprintln(w, "\nno gRPC services besides reflection")
	}
	names := endpointNames(set)
	for _, sd := range set.Services {
		fmt.Fprintf(w, "\nservice %s\n", sd.FullName())
		for i := range sd.Methods().Len() {
			md := sd.Methods().Get(i)
			fmt.Fprintf(w, "\n  %s  (%s)\n", names[md.FullName()], streamKind(md))
			fmt.Fprintf(w, "    path %s\n", "/"+string(sd.FullName())+"/"+string(md.Name()))
			seen := map[protoreflect.FullName]bool{}
			req, resp := "request", "response"
			if md.IsStreamingClient() {
				req = "request stream of"
			}
			if md.IsStreamingServer() {
				resp = "response stream of"
			}
			d.message(w, "    ", req+" "+string(md.Input().FullName()), md.Input(), seen)
			d.message(w, "    ", resp+" "+string(md.Output().FullName()), md.Output(), seen)
		}
	}
}

// message writes header (which names md) and, the first time md appears within a method, its
// fields indented below it in braces; later it only notes that md was expanded above.
func (d describer) message(w io.Writer, indent, header string, md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) {
	switch {
	case wellKnown(md):
		fmt.Fprintf(w, "%s%s\n", indent, header)
		return
	case seen[md.FullName()]:
		fmt.Fprintf(w, "%s%s (see above)\n", indent, header)
		return
	}
	seen[md.FullName()] = true
	fields := md.Fields()
	if fields.Len() == 0 {
		fmt.Fprintf(w, "%s%s {}\n", indent, header)
		return
	}
	fmt.Fprintf(w, "%s%s {\n", indent, header)
	for i := range fields.Len() {
		d.field(w, indent+"  ", fields.Get(i), seen)
	}
	fmt.Fprintf(w, "%s}\n", indent)
}

// field writes "name: type" and expands a message or enum type the first time it appears.
func (d describer) field(w io.Writer, indent string, fd protoreflect.FieldDescriptor, seen map[protoreflect.FullName]bool) {
	header := d.fieldName(fd) + ": "
	if fd.HasOptionalKeyword() {
		header += "optional "
	}
	header += typeName(fd)
	if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
		header += fmt.Sprintf(" (oneof %s)", od.Name())
	}
	elem := fd
	if fd.IsMap() {
		elem = fd.MapValue()
	}
	switch elem.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		d.message(w, indent, header, elem.Message(), seen)
	case protoreflect.EnumKind:
		if ed := elem.Enum(); !seen[ed.FullName()] {
			seen[ed.FullName()] = true
			header += ": " + strings.Join(enumValueNames(ed), " | ")
		}
		fmt.Fprintf(w, "%s%s\n", indent, header)
	default:
		fmt.Fprintf(w, "%s%s\n", indent, header)
	}
}

func enumValueNames(ed protoreflect.EnumDescriptor) []string {
	vals := ed.Values()
	out := make([]string, 0, vals.Len())
	for i := range vals.Len() {
		out = append(out, string(vals.Get(i).Name()))
	}
	return out
}

// The JSON form.

type describeDoc struct {
	Service  string                 `json:"service"`
	Nodes    []registry.Node        `json:"nodes"`
	Services []grpcServiceDoc       `json:"grpc_services"`
	Messages map[string]*messageDoc `json:"messages"`
	Enums    map[string][]enumValue `json:"enums"`
}

type grpcServiceDoc struct {
	Name    string      `json:"name"`
	Methods []methodDoc `json:"methods"`
}

type methodDoc struct {
	Name            string `json:"name"`
	Endpoint        string `json:"endpoint"`
	Path            string `json:"path"`
	ClientStreaming bool   `json:"client_streaming"`
	ServerStreaming bool   `json:"server_streaming"`
	Request         string `json:"request"`
	Response        string `json:"response"`
}

type messageDoc struct {
	// WellKnown marks google.protobuf types, whose JSON form is special (Timestamp is an RFC
	// 3339 string, Struct any object...); their fields are not listed.
	WellKnown bool       `json:"well_known,omitempty"`
	Fields    []fieldDoc `json:"fields"`
}

type fieldDoc struct {
	Name      string `json:"name"` // as the gateway reads and writes it
	ProtoName string `json:"proto_name"`
	Number    int32  `json:"number"`
	// Kind is scalar, message or enum (of a map: of its values).
	Kind string `json:"kind"`
	// Type is the scalar type ("int64") or the message or enum's full name.
	Type     string `json:"type"`
	Repeated bool   `json:"repeated,omitempty"`
	MapKey   string `json:"map_key,omitempty"`
	Oneof    string `json:"oneof,omitempty"`
	Optional bool   `json:"optional,omitempty"`
}

type enumValue struct {
	Name   string `json:"name"`
	Number int32  `json:"number"`
}

func (d describer) document(svc *registry.Service, set *descriptor.Set) describeDoc {
	doc := describeDoc{
		Service:  svc.Name,
		Nodes:    svc.Nodes,
		Services: []grpcServiceDoc{},
		Messages: map[string]*messageDoc{},
		Enums:    map[string][]enumValue{},
	}
	names := endpointNames(set)
	for _, sd := range set.Services {
		sdoc := grpcServiceDoc{Name: string(sd.FullName()), Methods: []methodDoc{}}
		for i := range sd.Methods().Len() {
			md := sd.Methods().Get(i)
			sdoc.Methods = append(sdoc.Methods, methodDoc{
				Name:            string(md.Name()),
				Endpoint:        names[md.FullName()],
				Path:            "/" + string(sd.FullName()) + "/" + string(md.Name()),
				ClientStreaming: md.IsStreamingClient(),
				ServerStreaming: md.IsStreamingServer(),
				Request:         string(md.Input().FullName()),
				Response:        string(md.Output().FullName()),
			})
			d.collect(&doc, md.Input())
			d.collect(&doc, md.Output())
		}
		doc.Services = append(doc.Services, sdoc)
	}
	return doc
}

// collect adds md and every message and enum reachable from it to doc.
func (d describer) collect(doc *describeDoc, md protoreflect.MessageDescriptor) {
	name := string(md.FullName())
	if _, ok := doc.Messages[name]; ok {
		return
	}
	m := &messageDoc{Fields: []fieldDoc{}}
	doc.Messages[name] = m
	if wellKnown(md) {
		m.WellKnown = true
		return
	}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		f := fieldDoc{
			Name:      d.fieldName(fd),
			ProtoName: string(fd.Name()),
			Number:    int32(fd.Number()),
			Repeated:  fd.IsList(),
			Optional:  fd.HasOptionalKeyword(),
		}
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			f.Oneof = string(od.Name())
		}
		elem := fd
		if fd.IsMap() {
			f.MapKey = fd.MapKey().Kind().String()
			elem = fd.MapValue()
		}
		switch elem.Kind() {
		case protoreflect.MessageKind, protoreflect.GroupKind:
			f.Kind, f.Type = "message", string(elem.Message().FullName())
			d.collect(doc, elem.Message())
		case protoreflect.EnumKind:
			ed := elem.Enum()
			f.Kind, f.Type = "enum", string(ed.FullName())
			if _, ok := doc.Enums[f.Type]; !ok {
				vals := ed.Values()
				list := make([]enumValue, 0, vals.Len())
				for j := range vals.Len() {
					list = append(list, enumValue{Name: string(vals.Get(j).Name()), Number: int32(vals.Get(j).Number())})
				}
				doc.Enums[f.Type] = list
			}
		default:
			f.Kind, f.Type = "scalar", elem.Kind().String()
		}
		m.Fields = append(m.Fields, f)
	}
}
