// Command regscale measures routing with a large registry, using the gateway's own packages the
// way cmd/gateway wires them: a registry/cache snapshot, the selector table built from it
// (Update, Select) and the router with its registry route table (UpdateRoutes).
//
// Every service declares one endpoint with a path template, so the registry route table holds
// one route per service (the worst case for the table; services without path metadata cost
// the table nothing). It prints one JSON object: lookup costs, heap sizes, and the time to
// rebuild after one service changed.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeapi/gateway/bench/internal/stats"
	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/registry/cache"
	"github.com/edgeapi/gateway/resolver"
	"github.com/edgeapi/gateway/router"
	"github.com/edgeapi/gateway/selector"
)

// Result is the JSON regscale prints.
type Result struct {
	Services int `json:"services"`
	Nodes    int `json:"nodes_per_service"`
	// Lookup costs, ns per operation (allocations per operation alongside).
	SnapshotLookupNs float64 `json:"snapshot_lookup_ns"`
	SelectNs         float64 `json:"select_ns"`
	SelectAllocs     int64   `json:"select_allocs"`
	// The same with a failure ratio configured, which makes every pick take its node's breaker
	// (the default lets a healthy node's picks skip it).
	SelectCountedNs     float64 `json:"select_counted_ns"`
	SelectCountedAllocs int64   `json:"select_counted_allocs"`
	RouteResolverNs     float64 `json:"route_resolver_ns"`
	RouteResolverAlloc  int64   `json:"route_resolver_allocs"`
	RouteTableNs        float64 `json:"route_table_ns"`
	RouteTableAllocs    int64   `json:"route_table_allocs"`
	// The same on a 100-service registry, to show whether cost grows with size.
	Small struct {
		SelectNs        float64 `json:"select_ns"`
		RouteResolverNs float64 `json:"route_resolver_ns"`
		RouteTableNs    float64 `json:"route_table_ns"`
	} `json:"small"`
	// Heap held, bytes (measured after forced GCs).
	SnapshotBytes   int64 `json:"snapshot_bytes"` // the services themselves and the cache map
	SelectorBytes   int64 `json:"selector_bytes"`
	RouteTableBytes int64 `json:"route_table_bytes"`
	// Rebuild after one service changed (one node replaced), medians over the repetitions, ms.
	RebuildTotalMs    float64 `json:"rebuild_total_ms"` // watch event in -> every listener done
	RebuildSelectorMs float64 `json:"rebuild_selector_ms"`
	RebuildRoutesMs   float64 `json:"rebuild_routes_ms"`
	// Building from scratch (the first snapshot, or a full relist), ms.
	FullSelectorMs float64 `json:"full_selector_ms"`
	FullRoutesMs   float64 `json:"full_routes_ms"`
	PeakRSSBytes   int64   `json:"peak_rss_bytes"`
}

func main() {
	services := flag.Int("services", 10000, "services")
	nodes := flag.Int("nodes", 5, "nodes per service")
	reps := flag.Int("reps", 5, "rebuild repetitions")
	flag.Parse()
	res, err := measure(*services, *nodes, *reps)
	if err != nil {
		log.Fatal(err)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(res)
}

// fakeRegistry lists a fixed set once and then delivers the events sent on its channel.
type fakeRegistry struct {
	list   []*registry.Service
	events chan registry.Event
}

func (f *fakeRegistry) GetService(context.Context, string) (*registry.Service, error) {
	return nil, registry.ErrNotFound
}

func (f *fakeRegistry) ListServices(context.Context) ([]*registry.Service, error) {
	return f.list, nil
}

// Watch forwards the events sent on f.events until ctx ends, then closes, as the contract asks.
func (f *fakeRegistry) Watch(ctx context.Context) (<-chan registry.Event, error) {
	out := make(chan registry.Event)
	go func() {
		defer close(out)
		for {
			select {
			case ev := <-f.events:
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func service(i, nodes int) *registry.Service {
	name := fmt.Sprintf("go.micro.api.svc%05d", i)
	s := &registry.Service{
		Name: name,
		Endpoints: []registry.Endpoint{{Name: "Svc.Call", Metadata: map[string]string{
			router.MetaHandler: "rpc", router.MetaMethod: "GET", router.MetaPath: fmt.Sprintf("/r/svc%05d/{id}", i),
		}}},
		Nodes: make([]registry.Node, nodes),
	}
	for j := range s.Nodes {
		s.Nodes[j] = registry.Node{
			ID:      fmt.Sprintf("svc%05d-%d", i, j),
			Address: fmt.Sprintf("10.%d.%d.%d:%d", i/65536, i/256%256, i%256, 8000+j),
		}
	}
	return s
}

func heap() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// world is one registry size wired like cmd/gateway: cache -> selector + router.
type world struct {
	cache *cache.Cache
	sel   *selector.Selector
	rt    *router.Router
	reg   *fakeRegistry
	stop  func()
	// Timings of the last listener run.
	selDur, routesDur atomic.Int64
	changed           chan struct{}
	// Timings of the build from scratch.
	fullSel, fullRoutes time.Duration
}

func build(n, nodes int, measureHeap func(stage string)) (*world, error) {
	measureHeap("start")
	list := make([]*registry.Service, n)
	for i := range list {
		list[i] = service(i, nodes)
	}
	w := &world{reg: &fakeRegistry{list: list, events: make(chan registry.Event, 16)}, changed: make(chan struct{}, 16)}
	log := slog.New(slog.DiscardHandler)
	var err error
	if w.sel, err = selector.New(selector.Config{}); err != nil {
		return nil, err
	}
	res, err := resolver.New("micro", "go.micro.api")
	if err != nil {
		return nil, err
	}
	// The rpc handler stands for any handler: it selects a node and reports success.
	pick := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		ep := resolver.EndpointFrom(r.Context())
		p, err := w.sel.Select(ep.Service)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusServiceUnavailable)
			return
		}
		p.Done(nil)
	})
	w.rt, err = router.New(router.Config{Log: log, Resolver: res, Handlers: map[string]http.Handler{"rpc": pick}, DefaultHandler: "rpc"})
	if err != nil {
		return nil, err
	}
	w.cache = cache.New(w.reg, log, cache.Config{})
	first := true
	w.cache.OnChange(func(s *cache.Snapshot) {
		if first { // the initial listing: sizes are measured stage by stage below
			first = false
			return
		}
		t := time.Now()
		w.sel.Update(s.Services)
		w.selDur.Store(int64(time.Since(t)))
		t = time.Now()
		w.rt.UpdateRoutes(s.Services)
		w.routesDur.Store(int64(time.Since(t)))
		w.changed <- struct{}{}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.cache.Run(ctx); close(done) }()
	w.stop = func() { cancel(); <-done }
	sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
	defer scancel()
	if err := w.cache.WaitSynced(sctx); err != nil {
		return nil, err
	}
	w.reg.list = nil // only the snapshot holds the services now
	measureHeap("snapshot")
	snap := w.cache.Snapshot()
	t := time.Now()
	w.sel.Update(snap.Services)
	w.fullSel = time.Since(t)
	measureHeap("selector")
	t = time.Now()
	conflicts := w.rt.UpdateRoutes(snap.Services)
	w.fullRoutes = time.Since(t)
	if len(conflicts) > 0 {
		return nil, fmt.Errorf("unexpected route conflicts: %v", conflicts[0])
	}
	if got := w.rt.RegistryRoutes(); got != n {
		return nil, fmt.Errorf("route table serves %d routes, want %d", got, n)
	}
	measureHeap("routes")
	return w, nil
}

// lookups measures Select, a resolver-routed request and a table-routed request, through the
// router's whole chain (middleware included), with names spread over the registry.
func (w *world) lookups(n int) (sel, counted, resolverRoute, tableRoute testing.BenchmarkResult, lookupNs float64, err error) {
	const spread = 4096
	rnd := rand.New(rand.NewPCG(1, 2))
	names := make([]string, spread)
	viaResolver := make([]*http.Request, spread)
	viaTable := make([]*http.Request, spread)
	for i := range names {
		k := rnd.IntN(n)
		names[i] = fmt.Sprintf("go.micro.api.svc%05d", k)
		viaResolver[i] = httptest.NewRequest(http.MethodGet, fmt.Sprintf("/svc%05d/Svc/Call", k), nil)
		viaTable[i] = httptest.NewRequest(http.MethodGet, fmt.Sprintf("/r/svc%05d/%d", k, i), nil)
	}
	for _, reqs := range [][]*http.Request{viaResolver[:1], viaTable[:1]} {
		rec := httptest.NewRecorder()
		w.rt.ServeHTTP(rec, reqs[0])
		if rec.Code != http.StatusOK {
			return sel, counted, resolverRoute, tableRoute, 0, fmt.Errorf("%s: status %d: %s", reqs[0].URL.Path, rec.Code, rec.Body)
		}
	}
	snap := w.cache.Snapshot()
	lk := testing.Benchmark(func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, ok := snap.Lookup(names[i%spread]); !ok {
				b.Fatal("missing")
			}
		}
	})
	selects := func(s *selector.Selector) testing.BenchmarkResult {
		return testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				p, err := s.Select(names[i%spread])
				if err != nil {
					b.Fatal(err)
				}
				p.Done(nil)
			}
		})
	}
	sel = selects(w.sel)
	countedSel, err := selector.New(selector.Config{Breaker: selector.BreakerConfig{FailureRatio: 0.5}})
	if err != nil {
		return sel, counted, resolverRoute, tableRoute, 0, err
	}
	countedSel.Update(snap.Services)
	counted = selects(countedSel)
	serve := func(reqs []*http.Request) testing.BenchmarkResult {
		return testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			rw := discardWriter{h: http.Header{}}
			for i := 0; b.Loop(); i++ {
				w.rt.ServeHTTP(rw, reqs[i%spread])
			}
		})
	}
	resolverRoute, tableRoute = serve(viaResolver), serve(viaTable)
	return sel, counted, resolverRoute, tableRoute, float64(lk.NsPerOp()), nil
}

type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header       { clear(d.h); return d.h }
func (discardWriter) Write(b []byte) (int, error) { return io.Discard.Write(b) }
func (discardWriter) WriteHeader(int)             {}

func ns(r testing.BenchmarkResult) float64 { return float64(r.T.Nanoseconds()) / float64(r.N) }

func measure(n, nodes, reps int) (*Result, error) {
	out := &Result{Services: n, Nodes: nodes}

	small, err := build(100, nodes, func(string) {})
	if err != nil {
		return nil, err
	}
	s, _, rr, tr, _, err := small.lookups(100)
	if err != nil {
		return nil, err
	}
	out.Small.SelectNs, out.Small.RouteResolverNs, out.Small.RouteTableNs = ns(s), ns(rr), ns(tr)
	small.stop()
	small = nil

	var last int64
	sizes := map[string]int64{}
	w, err := build(n, nodes, func(stage string) {
		h := heap()
		if stage != "start" {
			sizes[stage] = h - last
		}
		last = h
	})
	if err != nil {
		return nil, err
	}
	defer w.stop()
	out.FullSelectorMs, out.FullRoutesMs = ms(w.fullSel), ms(w.fullRoutes)
	out.SnapshotBytes, out.SelectorBytes, out.RouteTableBytes = sizes["snapshot"], sizes["selector"], sizes["routes"]

	s, sc, rr, tr, lk, err := w.lookups(n)
	if err != nil {
		return nil, err
	}
	out.SnapshotLookupNs = lk
	out.SelectNs, out.SelectAllocs = ns(s), s.AllocsPerOp()
	out.SelectCountedNs, out.SelectCountedAllocs = ns(sc), sc.AllocsPerOp()
	out.RouteResolverNs, out.RouteResolverAlloc = ns(rr), rr.AllocsPerOp()
	out.RouteTableNs, out.RouteTableAllocs = ns(tr), tr.AllocsPerOp()

	// One change: service k gets a node replaced, as when an instance restarts elsewhere.
	var total, selT, routesT []float64
	for rep := range reps {
		k := (rep*2477 + 13) % n
		svc := service(k, nodes)
		svc.Nodes[0].ID += fmt.Sprintf("-r%d", rep)
		svc.Nodes[0].Address = fmt.Sprintf("10.200.%d.%d:9000", rep, k%256)
		runtime.GC()
		t := time.Now()
		w.reg.events <- registry.Event{Type: registry.EventUpdate, Name: svc.Name, Service: svc}
		select {
		case <-w.changed:
		case <-time.After(time.Minute):
			return nil, fmt.Errorf("no rebuild after a change")
		}
		total = append(total, ms(time.Since(t)))
		selT = append(selT, ms(time.Duration(w.selDur.Load())))
		routesT = append(routesT, ms(time.Duration(w.routesDur.Load())))
	}
	out.RebuildTotalMs, out.RebuildSelectorMs, out.RebuildRoutesMs = stats.Median(total), stats.Median(selT), stats.Median(routesT)
	out.PeakRSSBytes = peakRSS()
	return out, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	var kb int64
	for _, line := range strings.Split(string(b), "\n") {
		if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kb); err == nil {
			return kb << 10
		}
	}
	return 0
}
