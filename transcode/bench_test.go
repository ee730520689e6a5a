package transcode

import (
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// The benchmarks compare this package with what the rpc handler does today: protojson with
// dynamicpb messages, then proto (JSON -> wire), and the reverse (wire -> JSON).

var benchCases = []struct {
	name string
	msg  protoreflect.FullName
	json string
}{
	{"EchoRequest", "testsvc.v1.EchoRequest", echoRequestJSON},
	{"EchoResponse", "testsvc.v1.EchoResponse", echoResponseJSON},
	{"OrderResponse", "order.OrderResponse", `{"id":"1","product":"keyboard","quantity":"2","priceCents":"4999","userId":"1","username":"alice","address":"1 Main St","phone":"555-0100"}`},
	{"ListOrdersResponse", "order.ListOrdersResponse", ordersJSON},
	{"AccountRequest", "user.AccountRequest", `{"id":"42"}`},
}

func BenchmarkJSONToWire(b *testing.B) {
	for _, bc := range benchCases {
		md := testMessage(b, bc.msg)
		in := []byte(bc.json)
		b.Run(bc.name+"/transcode", func(b *testing.B) {
			p := plan(b, md)
			buf := make([]byte, 0, 4096)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				out, err := p.AppendWire(buf[:0], in)
				if err != nil {
					b.Fatal(err)
				}
				buf = out
			}
		})
		b.Run(bc.name+"/protojson", func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				m := dynamicpb.NewMessage(md)
				if err := protojson.Unmarshal(in, m); err != nil {
					b.Fatal(err)
				}
				out, err := proto.MarshalOptions{}.MarshalAppend(buf[:0], m)
				if err != nil {
					b.Fatal(err)
				}
				buf = out
			}
		})
	}
}

func BenchmarkWireToJSON(b *testing.B) {
	for _, bc := range benchCases {
		md := testMessage(b, bc.msg)
		m := dynamicpb.NewMessage(md)
		if err := protojson.Unmarshal([]byte(bc.json), m); err != nil {
			b.Fatal(err)
		}
		wire, err := proto.Marshal(m)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name+"/transcode", func(b *testing.B) {
			p := plan(b, md)
			buf := make([]byte, 0, 4096)
			b.SetBytes(int64(len(wire)))
			b.ReportAllocs()
			for b.Loop() {
				out, err := p.AppendJSON(buf[:0], wire, Options{})
				if err != nil {
					b.Fatal(err)
				}
				buf = out
			}
		})
		b.Run(bc.name+"/protojson", func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			b.SetBytes(int64(len(wire)))
			b.ReportAllocs()
			for b.Loop() {
				m := dynamicpb.NewMessage(md)
				if err := proto.Unmarshal(wire, m); err != nil {
					b.Fatal(err)
				}
				out, err := protojson.MarshalOptions{}.MarshalAppend(buf[:0], m)
				if err != nil {
					b.Fatal(err)
				}
				buf = out
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	md := testMessage(b, "testsvc.v1.EchoResponse")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(md); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJSONToWireDeep is 5,000 nested messages around a 1 MiB string: linear time, since
// length prefixes are fixed in one pass.
func BenchmarkJSONToWireDeep(b *testing.B) {
	p := plan(b, testMessage(b, "transcode.test.All"))
	n := 5000
	in := []byte(repeat(`{"recursive":`, n) + `{"fString":"` + repeat("x", 1<<20) + `"}` + repeat(`}`, n))
	var buf []byte
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		out, err := p.AppendWire(buf[:0], in)
		if err != nil {
			b.Fatal(err)
		}
		buf = out
	}
}
