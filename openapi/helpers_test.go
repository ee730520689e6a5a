package openapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bufbuild/protocompile"
	"github.com/pb33f/jsonschema/v6"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/edgeapi/gateway/descriptor"
	"github.com/edgeapi/gateway/internal/testsvc"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/registry/cache"
)

// snapshots is a registry view the test sets.
type snapshots struct {
	cur atomic.Pointer[cache.Snapshot]
}

func (s *snapshots) Snapshot() *cache.Snapshot { return s.cur.Load() }

// set replaces the view with services (each with one node).
func (s *snapshots) set(version uint64, services ...*registry.Service) {
	m := map[string]*registry.Service{}
	for _, svc := range services {
		if len(svc.Nodes) == 0 {
			svc.Nodes = []registry.Node{{ID: svc.Name + "-1", Address: "127.0.0.1:1"}}
		}
		m[svc.Name] = svc
	}
	s.cur.Store(&cache.Snapshot{Version: version, Services: m})
}

// descs serves fixed sets, fails for the rest, and counts the loads.
type descs struct {
	mu    sync.Mutex
	sets  map[string]*descriptor.Set
	calls map[string]int
}

func (d *descs) Get(_ context.Context, service string) (*descriptor.Set, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls[service]++
	if s, ok := d.sets[service]; ok {
		return s, nil
	}
	return nil, errors.New("connection refused")
}

func (d *descs) count(service string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[service]
}

const (
	orders = "go.micro.api.orderservice"
	users  = "go.micro.api.userservices"
	echo   = "go.micro.api.echo"
	hello  = "go.micro.api.hello"
	broken = "go.micro.api.broken"
)

// seedDescs holds the seed services' descriptors (compiled from examples/proto) and the test
// service's (every streaming kind).
func seedDescs(t *testing.T) *descs {
	t.Helper()
	ctx := context.Background()
	order, err := descriptor.CompileProtos(ctx, []string{"../examples/proto"}, []string{"order/order.proto"})
	if err != nil {
		t.Fatal(err)
	}
	user, err := descriptor.CompileProtos(ctx, []string{"../examples/proto"}, []string{"user/user.proto"})
	if err != nil {
		t.Fatal(err)
	}
	td := testsvc.WriteDescriptors(t)
	echoSet, err := descriptor.CompileProtos(ctx, []string{td.ImportPath}, []string{td.V1Proto})
	if err != nil {
		t.Fatal(err)
	}
	return &descs{sets: map[string]*descriptor.Set{orders: order, users: user, echo: echoSet}, calls: map[string]int{}}
}

// compileSet compiles .proto sources given as text into a Set.
func compileSet(t *testing.T, files map[string]string) *descriptor.Set {
	t.Helper()
	var names []string
	for n := range files {
		names = append(names, n)
	}
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(files),
	})}
	compiled, err := c.Compile(context.Background(), names...)
	if err != nil {
		t.Fatal(err)
	}
	reg := new(protoregistry.Files)
	for _, f := range compiled {
		if err := reg.RegisterFile(f); err != nil {
			t.Fatal(err)
		}
	}
	set, err := descriptor.NewSet(reg, []protoreflect.FullName{})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// decode parses a document into generic JSON.
func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("document is not JSON: %v", err)
	}
	return m
}

// at walks decoded JSON by keys ("paths", "/x", "post", ...).
func at(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// resolve follows a local $ref in doc.
func resolve(doc map[string]any, v any) any {
	for range 10 {
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		r, ok := m["$ref"].(string)
		if !ok {
			return v
		}
		v = at(doc, strings.Split(strings.TrimPrefix(r, "#/"), "/")...)
	}
	return v
}

// validateDocument checks doc against the OpenAPI 3.1 schema (libopenapi-validator, with the
// official schema libopenapi ships), then compiles every component schema as a JSON Schema
// 2020-12 (which checks each against the meta-schema) and returns a validator for requests and
// responses.
func validateDocument(t *testing.T, doc []byte) validator.Validator {
	t.Helper()
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		t.Fatalf("libopenapi cannot read the document: %v", err)
	}
	v, errs := validator.NewValidator(d)
	if len(errs) > 0 {
		t.Fatalf("building the validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("invalid OpenAPI 3.1: %s: %s", e.Message, e.Reason)
			for _, se := range e.SchemaValidationErrors {
				t.Errorf("  at %s (%s): %s", se.FieldPath, se.KeywordLocation, se.Reason)
			}
		}
		t.FailNow()
	}
	root, err := jsonschema.UnmarshalJSON(strings.NewReader(string(doc)))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("mem:///openapi.json", root); err != nil {
		t.Fatal(err)
	}
	for name := range at(root, "components", "schemas").(map[string]any) {
		if _, err := c.Compile(fmt.Sprintf("mem:///openapi.json#/components/schemas/%s", name)); err != nil {
			t.Errorf("component schema %s: %v", name, err)
		}
	}
	return v
}
