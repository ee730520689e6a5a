package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"testing"

	"github.com/edgeapi/gateway/registry"
	"github.com/edgeapi/gateway/registry/cache"
	"github.com/edgeapi/gateway/resolver"
	"github.com/edgeapi/gateway/router"
	"github.com/edgeapi/gateway/selector"
)

const (
	discoveryBenchServices = 10000
	discoveryBenchNodes    = 5
)

// discoveryServices returns services "go.micro.api.s00000".. with nodes nodes each; with path
// set, each declares one endpoint routed by path (/s00000/{id}), as registry routes do.
func discoveryServices(services, nodes int, path bool) (map[string]*registry.Service, []string) {
	m := make(map[string]*registry.Service, services)
	names := make([]string, 0, services)
	for i := range services {
		short := fmt.Sprintf("s%05d", i)
		s := &registry.Service{
			Name:      "go.micro.api." + short,
			Version:   "1.0.0",
			Endpoints: []registry.Endpoint{{Name: "Echo.Unary"}},
			Nodes:     make([]registry.Node, nodes),
		}
		if path {
			s.Endpoints[0].Metadata = map[string]string{router.MetaPath: "/" + short + "/{name}", router.MetaMethod: http.MethodGet}
		}
		for j := range s.Nodes {
			s.Nodes[j] = registry.Node{
				ID:      fmt.Sprintf("%s-%d", short, j),
				Address: fmt.Sprintf("10.%d.%d.%d:9090", j, i/256, i%256),
			}
		}
		m[s.Name] = s
		names = append(names, s.Name)
	}
	return m, names
}

func heapBytes() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// BenchmarkSnapshotLookup is the discovery part of every request: look the service up in the
// registry cache's snapshot, then Select a node (and Done it) from the selector's table, for
// 10,000 services x 5 nodes, cycling through the services. It reports the heap the snapshot
// holds (services, nodes and the map: B/snapshot) and the selector table built from it
// (B/table), measured once per run with forced GCs.
func BenchmarkSnapshotLookup(b *testing.B) {
	before := heapBytes()
	services, names := discoveryServices(discoveryBenchServices, discoveryBenchNodes, false)
	snap := &cache.Snapshot{Version: 1, Services: services}
	afterSnap := heapBytes()
	sel, err := selector.New(selector.Config{})
	if err != nil {
		b.Fatal(err)
	}
	sel.Update(snap.Services)
	afterTable := heapBytes()

	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := names[i%len(names)]
		if _, ok := snap.Lookup(name); !ok {
			b.Fatalf("%s not in the snapshot", name)
		}
		p, err := sel.Select(name)
		if err != nil {
			b.Fatal(err)
		}
		p.Done(nil)
	}
	b.StopTimer()
	// After the loop: ResetTimer drops metrics reported before it.
	b.ReportMetric(float64(afterSnap-before), "B/snapshot")
	b.ReportMetric(float64(afterTable-afterSnap), "B/table")
	b.ReportMetric(float64(afterSnap-before)/discoveryBenchServices, "B/service")
	runtime.KeepAlive(snap)
	runtime.KeepAlive(sel)
}

// BenchmarkRouteRebuild10k is the route table's cost of one registry change: 10,000 services
// each declaring one path-routed endpoint are in the table; each iteration one service's path
// changes and Router.UpdateRoutes rebuilds the table (it always rebuilds all of it).
func BenchmarkRouteRebuild10k(b *testing.B) {
	res, err := resolver.New("micro", "go.micro.api")
	if err != nil {
		b.Fatal(err)
	}
	rt, err := router.New(router.Config{
		Log:            slog.New(slog.DiscardHandler),
		Resolver:       res,
		Handlers:       map[string]http.Handler{"rpc": http.NotFoundHandler()},
		DefaultHandler: "rpc",
	})
	if err != nil {
		b.Fatal(err)
	}
	services, names := discoveryServices(discoveryBenchServices, 1, true)
	if c := rt.UpdateRoutes(services); len(c) != 0 {
		b.Fatalf("conflicts: %v", c)
	}
	if n := rt.RegistryRoutes(); n != discoveryBenchServices {
		b.Fatalf("%d registry routes, want %d", n, discoveryBenchServices)
	}
	// Two versions of one service, alternated: each UpdateRoutes sees exactly one change.
	changed := make(map[string]*registry.Service, len(services))
	for k, v := range services {
		changed[k] = v
	}
	one := services[names[len(names)/2]].Clone()
	one.Endpoints[0].Metadata[router.MetaPath] = "/moved/{name}"
	changed[one.Name] = one
	versions := []map[string]*registry.Service{changed, services}

	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if c := rt.UpdateRoutes(versions[i%2]); len(c) != 0 {
			b.Fatalf("conflicts: %v", c)
		}
	}
	b.StopTimer()
	if n := rt.RegistryRoutes(); n != discoveryBenchServices {
		b.Fatalf("%d registry routes after the changes, want %d", n, discoveryBenchServices)
	}
}
