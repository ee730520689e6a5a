package selector_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/registry/cache"
	"github.com/edgeapi/gateway/selector"
)

const (
	benchServices = 10000
	benchNodes    = 5
)

// bigList returns services "svc.00000".. with nodes each, sorted by name.
func bigList(services, nodes int) []*registry.Service {
	out := make([]*registry.Service, services)
	for i := range out {
		s := &registry.Service{
			Name:      fmt.Sprintf("svc.%05d", i),
			Endpoints: []registry.Endpoint{{Name: "Svc.Call", Metadata: map[string]string{"handler": "rpc"}}},
			Nodes:     make([]registry.Node, nodes),
		}
		for j := range s.Nodes {
			s.Nodes[j] = registry.Node{
				ID:      fmt.Sprintf("svc.%05d-%d", i, j),
				Address: fmt.Sprintf("10.%d.%d.%d:8080", i/65536, i/256%256, i%256+j),
			}
		}
		out[i] = s
	}
	return out
}

func bigTable(services, nodes int) (map[string]*registry.Service, []string) {
	list := bigList(services, nodes)
	m := make(map[string]*registry.Service, len(list))
	names := make([]string, len(list))
	for i, s := range list {
		m[s.Name] = s
		names[i] = s.Name
	}
	return m, names
}

func benchSelector(b *testing.B, strategy selector.Strategy, services, nodes int) (*selector.Selector, []string) {
	b.Helper()
	m, names := bigTable(services, nodes)
	s, err := selector.New(selector.Config{Strategy: strategy})
	if err != nil {
		b.Fatal(err)
	}
	s.Update(m)
	return s, names
}

// BenchmarkSelectRoundRobin is Select + Done on a table of 10,000 services x 5 nodes; the
// smaller table shows the cost does not grow with the table (a map lookup).
func BenchmarkSelectRoundRobin(b *testing.B) {
	for _, n := range []int{100, benchServices} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			s, names := benchSelector(b, selector.RoundRobin, n, benchNodes)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p, err := s.Select(names[i%len(names)])
				if err != nil {
					b.Fatal(err)
				}
				p.Done(nil)
			}
		})
	}
}

// BenchmarkSelectStrategies compares the strategies on the 10,000 x 5 table.
func BenchmarkSelectStrategies(b *testing.B) {
	for _, strategy := range []selector.Strategy{selector.RoundRobin, selector.Random, selector.LeastOutstanding} {
		b.Run(string(strategy), func(b *testing.B) {
			s, names := benchSelector(b, strategy, benchServices, benchNodes)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p, err := s.Select(names[i%len(names)])
				if err != nil {
					b.Fatal(err)
				}
				p.Done(nil)
			}
		})
	}
}

// BenchmarkSelectParallel is Select + Done from GOMAXPROCS goroutines, spread over services.
func BenchmarkSelectParallel(b *testing.B) {
	for _, tc := range []struct {
		name string
		hot  bool // every goroutine on the same service
	}{{"spread", false}, {"one-service", true}} {
		b.Run(tc.name, func(b *testing.B) {
			s, names := benchSelector(b, selector.RoundRobin, benchServices, benchNodes)
			var seed atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seed.Add(7919))
				for pb.Next() {
					name := names[0]
					if !tc.hot {
						name = names[i%len(names)]
						i++
					}
					p, err := s.Select(name)
					if err != nil {
						b.Error(err)
						return
					}
					p.Done(nil)
				}
			})
		})
	}
}

// BenchmarkUpdate10k measures rebuilding the table for 10,000 services x 5 nodes with every
// node staying: "unchanged" passes the same *Service values again (a snapshot swap where
// other services changed), "all-changed" new values with the same nodes (a full relist).
func BenchmarkUpdate10k(b *testing.B) {
	m, _ := bigTable(benchServices, benchNodes)
	relisted := make(map[string]*registry.Service, len(m))
	for name, s := range m {
		relisted[name] = s.Clone()
	}
	for _, tc := range []struct {
		name string
		maps []map[string]*registry.Service
	}{
		{"unchanged", []map[string]*registry.Service{m}},
		{"all-changed", []map[string]*registry.Service{m, relisted}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := selector.New(selector.Config{})
			if err != nil {
				b.Fatal(err)
			}
			s.Update(m)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.Update(tc.maps[(i+1)%len(tc.maps)])
			}
		})
	}
}

// listRegistry serves a fixed list once; its watch only ends with ctx.
type listRegistry struct{ list []*registry.Service }

func (l *listRegistry) GetService(context.Context, string) (*registry.Service, error) {
	return nil, registry.ErrNotFound
}

func (l *listRegistry) ListServices(context.Context) ([]*registry.Service, error) {
	return l.list, nil
}

func (l *listRegistry) Watch(ctx context.Context) (<-chan registry.Event, error) {
	ch := make(chan registry.Event)
	context.AfterFunc(ctx, func() { close(ch) })
	return ch, nil
}

func heapInUse() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// BenchmarkSnapshotHeap10k reports the heap held by a cache snapshot of 10,000 services x 5
// nodes (the services themselves included) plus the selector table built from it:
// B/snapshot is the sum, B/cache and B/table the parts. The timed loop is Select on that
// table. Sizes are measured once per run with forced GCs; nothing asserts on them.
func BenchmarkSnapshotHeap10k(b *testing.B) {
	before := heapInUse()

	reg := &listRegistry{list: bigList(benchServices, benchNodes)}
	c := cache.New(reg, nil, cache.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(context.Background(), time.Minute)
	err := c.WaitSynced(wctx)
	wcancel()
	cancel()
	<-done
	if err != nil {
		b.Fatal(err)
	}
	reg.list = nil // only the snapshot holds the services now
	snap := c.Snapshot()
	afterCache := heapInUse()

	sel, err := selector.New(selector.Config{})
	if err != nil {
		b.Fatal(err)
	}
	sel.Update(snap.Services)
	afterTable := heapInUse()

	names := make([]string, 0, len(snap.Services))
	for name := range snap.Services {
		names = append(names, name)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := sel.Select(names[i%len(names)])
		if err != nil {
			b.Fatal(err)
		}
		p.Done(nil)
	}
	b.StopTimer()
	// Reported after the loop: ResetTimer drops metrics reported before it.
	cacheBytes, tableBytes := afterCache-before, afterTable-afterCache
	b.ReportMetric(float64(cacheBytes+tableBytes), "B/snapshot")
	b.ReportMetric(float64(cacheBytes), "B/cache")
	b.ReportMetric(float64(tableBytes), "B/table")
	b.ReportMetric(float64(cacheBytes+tableBytes)/benchServices, "B/service")
	runtime.KeepAlive(c)
	runtime.KeepAlive(sel)
}
