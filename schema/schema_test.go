package schema_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bufbuild/protocompile"
	"github.com/pb33f/jsonschema/v6"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/edgeapi/gateway/schema"
)

// kitchen compiles testdata/kitchen.proto, with its comments, and returns the message name.
func kitchen(t *testing.T, name string) protoreflect.MessageDescriptor {
	t.Helper()
	c := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: []string{"testdata"}}),
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	files, err := c.Compile(context.Background(), "kitchen.proto")
	if err != nil {
		t.Fatal(err)
	}
	d := files[0].Messages().ByName(protoreflect.Name(strings.TrimPrefix(name, "kitchen.")))
	if d == nil {
		t.Fatalf("no message %s", name)
	}
	return d
}

func compact(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFieldSchemas(t *testing.T) {
	md := kitchen(t, "kitchen.Everything")
	b := schema.NewBuilder(schema.Options{})
	ref := b.Message(md)
	if got, want := compact(t, ref), `{"$ref":"#/components/schemas/kitchen.Everything"}`; got != want {
		t.Fatalf("message schema %s, want %s", got, want)
	}
	def := b.Defs()["kitchen.Everything"]
	if def == nil {
		t.Fatalf("no definition of kitchen.Everything in %v", b.Defs())
	}
	const int64s = `"type":["string","integer"],"format":"int64","pattern":"^-?[0-9]+$"`
	tests := []struct{ field, want string }{
		{"text", `{"description":"A plain string.","type":"string"}`},
		{"flag", `{"type":"boolean"}`},
		{"i32", `{"type":"integer","format":"int32"}`},
		{"s32", `{"type":"integer","format":"int32"}`},
		{"sf32", `{"type":"integer","format":"int32"}`},
		{"u32", `{"type":"integer","format":"uint32","minimum":0}`},
		{"f32", `{"type":"integer","format":"uint32","minimum":0}`},
		{"i64", `{` + int64s + `}`},
		{"s64", `{` + int64s + `}`},
		{"sf64", `{` + int64s + `}`},
		{"u64", `{"type":["string","integer"],"format":"uint64","pattern":"^[0-9]+$","minimum":0}`},
		{"f64", `{"type":["string","integer"],"format":"uint64","pattern":"^[0-9]+$","minimum":0}`},
		{"fl", `{"type":"number","format":"float"}`},
		{"db", `{"type":"number","format":"double"}`},
		{"raw", `{"type":"string","contentEncoding":"base64"}`},
		{"mood", `{"$ref":"#/components/schemas/kitchen.Mood"}`},
		{"tags", `{"type":"array","items":{"type":"string"}}`},
		{"bigNumbers", `{"type":"array","items":{` + int64s + `}}`},
		{"counts", `{"type":"object","additionalProperties":{` + int64s + `}}`},
		{"treesById", `{"type":"object","additionalProperties":{"$ref":"#/components/schemas/kitchen.Tree"},"propertyNames":{"pattern":"^-?[0-9]+$"}}`},
		{"yesNo", `{"type":"object","additionalProperties":{"type":"string"},"propertyNames":{"enum":["true","false"]}}`},
		{"at", `{"type":["string","null"],"format":"date-time","examples":["1972-01-01T10:00:20.021Z"]}`},
		{"took", `{"description":"A duration in seconds with an s suffix.","type":["string","null"],"pattern":"^-?[0-9]+(\\.[0-9]{1,9})?s$","examples":["1.5s"]}`},
		{"doc", `{"type":["object","null"]}`},
		{"anything", `{"description":"Any JSON value."}`},
		{"list", `{"type":["array","null"]}`},
		{"mask", `{"description":"Comma-separated field paths in lowerCamel case.","type":["string","null"]}`},
		{"maybeBig", `{` + strings.Replace(int64s, `"integer"]`, `"integer","null"]`, 1) + `}`},
		{"maybeText", `{"type":["string","null"]}`},
		{"maybeFlag", `{"type":["boolean","null"]}`},
		{"maybeRatio", `{"type":["number","null"],"format":"double"}`},
		{"maybeRaw", `{"type":["string","null"],"contentEncoding":"base64"}`},
		{"maybeSmall", `{"type":["integer","null"],"format":"int32"}`},
		{"maybeFloat", `{"type":["number","null"],"format":"float"}`},
		{"nothing", `{"type":"null"}`},
		{"tree", `{"anyOf":[{"$ref":"#/components/schemas/kitchen.Tree"},{"type":"null"}]}`},
		{"maybe", `{"type":"string"}`},
		{"byName", `{"description":"Part of oneof choice: set at most one of its fields.","type":"string"}`},
		{"otherName", `{"type":"string"}`},
		{"moods", `{"type":"array","items":{"$ref":"#/components/schemas/kitchen.Mood"}}`},
		{"times", `{"type":"array","items":{"type":"string","format":"date-time","examples":["1972-01-01T10:00:20.021Z"]}}`},
		{"empty", `{"anyOf":[{"$ref":"#/components/schemas/google.protobuf.Empty"},{"type":"null"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			s := def.Properties.Get(tt.field)
			if s == nil {
				t.Fatalf("no property %q", tt.field)
			}
			if got := compact(t, s); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	if got, want := compact(t, b.Defs()["kitchen.Mood"]), `{"title":"Mood","type":"string","enum":["MOOD_UNSPECIFIED","MOOD_HAPPY"],"x-proto-type":"kitchen.Mood"}`; got != want {
		t.Errorf("enum definition %s, want %s", got, want)
	}
	// Declaration order is kept.
	if def.Properties[0].Name != "text" || def.Properties[len(def.Properties)-1].Name != "empty" {
		t.Errorf("properties out of declaration order: first %s, last %s", def.Properties[0].Name, def.Properties[len(def.Properties)-1].Name)
	}
	if def.Description != "Everything has one field of every kind." {
		t.Errorf("message description %q", def.Description)
	}
}

func TestProtoNames(t *testing.T) {
	b := schema.NewBuilder(schema.Options{UseProtoNames: true, RefPrefix: "#/$defs/", NamePrefix: "svc."})
	if got, want := compact(t, b.Message(kitchen(t, "kitchen.Everything"))), `{"$ref":"#/$defs/svc.kitchen.Everything"}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	def := b.Defs()["svc.kitchen.Everything"]
	for _, name := range []string{"big_numbers", "trees_by_id", "renamed", "maybe_big"} {
		if def.Properties.Get(name) == nil {
			t.Errorf("no property %q with proto names", name)
		}
	}
}

func TestRecursion(t *testing.T) {
	b := schema.NewBuilder(schema.Options{})
	b.Message(kitchen(t, "kitchen.Tree"))
	got := compact(t, b.Defs())
	want := `{"kitchen.Tree":{"title":"Tree","description":"Tree is recursive.","type":"object","properties":{"label":{"type":"string"},` +
		`"children":{"type":"array","items":{"$ref":"#/components/schemas/kitchen.Tree"}},` +
		`"parent":{"anyOf":[{"$ref":"#/components/schemas/kitchen.Tree"},{"type":"null"}]}},"x-proto-type":"kitchen.Tree"}}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// validator compiles the stand-alone schema of md.
func validator(t *testing.T, md protoreflect.MessageDescriptor, opts schema.Options) *jsonschema.Schema {
	t.Helper()
	opts.RefPrefix = "#/$defs/"
	doc := compact(t, schema.NewBuilder(opts).Standalone(md))
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("mem:///schema.json", v); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("mem:///schema.json")
	if err != nil {
		t.Fatalf("compiling %s: %v", doc, err)
	}
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, data []byte) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(v); err != nil {
		t.Errorf("%s\ndoes not validate: %v", data, err)
	}
}

// sample sets every field of Everything.
const sample = `{
  "text": "hi", "flag": true, "i32": -3, "s32": 4, "sf32": -5, "u32": 6, "f32": 7,
  "i64": "-9007199254740993", "s64": 9, "sf64": "10", "u64": "18446744073709551615", "f64": 12,
  "fl": 1.5, "db": -2.25, "raw": "aGVsbG8=", "mood": "MOOD_HAPPY",
  "tags": ["a", "b"], "bigNumbers": ["1", 2], "counts": {"x": "5"},
  "treesById": {"7": {"label": "seven", "children": [{"label": "leaf"}]}}, "yesNo": {"true": "yes"},
  "at": "2024-05-01T12:00:00.5Z", "took": "1.500s", "doc": {"k": [1, "two", null]},
  "anything": [1, {"a": true}], "list": [1, "x"],
  "packed": {"@type": "type.googleapis.com/google.protobuf.Duration", "value": "3s"},
  "mask": "text,bigNumbers", "maybeBig": "77", "maybeText": "", "maybeFlag": false,
  "maybeRatio": 0.5, "maybeRaw": "AA==", "maybeSmall": 1, "maybeUnsigned": 2, "maybeHuge": "3",
  "maybeFloat": 1.25, "nothing": null, "tree": {"label": "root", "parent": {"label": "up"}},
  "maybe": "set", "byId": "42", "otherName": "renamed", "moods": ["MOOD_UNSPECIFIED"],
  "times": ["2020-01-01T00:00:00Z"], "empty": {}
}`

// Whatever protojson writes, in every mode the gateway can use, is valid by the schema.
func TestProtojsonOutputValidates(t *testing.T) {
	md := kitchen(t, "kitchen.Everything")
	full := dynamicpb.NewMessage(md)
	if err := (protojson.UnmarshalOptions{}).Unmarshal([]byte(sample), full); err != nil {
		t.Fatal(err)
	}
	for _, protoNames := range []bool{false, true} {
		s := validator(t, md, schema.Options{UseProtoNames: protoNames})
		for _, emit := range []bool{false, true} {
			for name, msg := range map[string]*dynamicpb.Message{"full": full, "empty": dynamicpb.NewMessage(md)} {
				mo := protojson.MarshalOptions{UseProtoNames: protoNames, EmitUnpopulated: emit}
				out, err := mo.Marshal(msg)
				if err != nil {
					t.Fatal(err)
				}
				t.Run(name, func(t *testing.T) { validate(t, s, out) })
			}
		}
	}
	// The sample itself (numbers where strings are written, too) is valid input.
	validate(t, validator(t, md, schema.Options{}), []byte(sample))
}

func TestTemplate(t *testing.T) {
	md := kitchen(t, "kitchen.Everything")
	for _, protoNames := range []bool{false, true} {
		opts := schema.Options{UseProtoNames: protoNames}
		tmpl := schema.Template(md, opts)
		if err := (protojson.UnmarshalOptions{}).Unmarshal(tmpl, dynamicpb.NewMessage(md)); err != nil {
			t.Errorf("template does not decode: %v\n%s", err, tmpl)
		}
		validate(t, validator(t, md, opts), tmpl)
	}
	got := string(schema.Template(kitchen(t, "kitchen.Tree"), schema.Options{}))
	if want := `{"label":"","children":[],"parent":null}`; got != want {
		t.Errorf("recursive template %s, want %s", got, want)
	}
	tmpl := string(schema.Template(md, schema.Options{}))
	for _, want := range []string{`"text":""`, `"i64":0`, `"mood":"MOOD_UNSPECIFIED"`, `"at":"1970-01-01T00:00:00Z"`, `"tree":{"label":"","children":[],"parent":null}`, `"byName":""`, `"otherName":""`} {
		if !strings.Contains(tmpl, want) {
			t.Errorf("template lacks %s:\n%s", want, tmpl)
		}
	}
	if strings.Contains(tmpl, `"byId"`) {
		t.Errorf("template sets two fields of a oneof:\n%s", tmpl)
	}
}
