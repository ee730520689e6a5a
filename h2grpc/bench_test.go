package h2grpc

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// pool is a BufferPool without recycling tricks, to count the client's own allocations.
type benchPool struct{ free []*[]byte }

func (p *benchPool) Get(n int) *[]byte {
	if len(p.free) > 0 {
		b := p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
		if cap(*b) >= n {
			*b = (*b)[:n]
			return b
		}
	}
	b := make([]byte, n, max(n, 4096))
	return &b
}

func (p *benchPool) Put(b *[]byte) { p.free = append(p.free, b) }

// BenchmarkInvoke: one small unary call to a grpc-go server on loopback, with h2grpc and, for
// comparison, with grpc-go's own client.
func BenchmarkInvoke(b *testing.B) {
	srv := startServer(b, nil, echo)
	req := []byte("\x0a\x05bench\x10\x07\x1a\x01a\x1a\x01b")
	b.Run("h2grpc", func(b *testing.B) {
		c := newClient(b, srv.addr, Config{})
		ctx := context.Background()
		pool := &benchPool{}
		call := &Call{}
		b.ReportAllocs()
		for b.Loop() {
			call.Reset()
			call.Method, call.Request, call.Buffers = "/s/M", req, pool
			if err := c.Invoke(ctx, call); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("grpc-go", func(b *testing.B) {
		cc, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
		if err != nil {
			b.Fatal(err)
		}
		defer cc.Close()
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			var out []byte
			if err := cc.Invoke(ctx, "/s/M", &req, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkInvokeParallel is BenchmarkInvoke from 64 goroutines, as the gateway calls under load.
func BenchmarkInvokeParallel(b *testing.B) {
	srv := startServer(b, nil, echo)
	req := []byte("\x0a\x05bench\x10\x07\x1a\x01a\x1a\x01b")
	b.Run("h2grpc", func(b *testing.B) {
		c := newClient(b, srv.addr, Config{})
		b.ReportAllocs()
		b.SetParallelism(32)
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			call := &Call{}
			for pb.Next() {
				call.Reset()
				call.Method, call.Request = "/s/M", req
				if err := c.Invoke(ctx, call); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("grpc-go", func(b *testing.B) {
		cc, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
		if err != nil {
			b.Fatal(err)
		}
		defer cc.Close()
		b.ReportAllocs()
		b.SetParallelism(32)
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				var out []byte
				if err := cc.Invoke(ctx, "/s/M", &req, &out); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
