// Package debugsrv serves a process's profiling endpoints on a side listener: net/http/pprof's
// /debug/pprof/ and /debug/bench/allocs, the heap allocations so far as JSON
// {"objects":N,"bytes":N}, which the harness reads before and after a run to report
// allocations per request. bench/overlay/debug.go.in is the same for the gateway binary.
package debugsrv

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"runtime/metrics"
)

// Start listens on addr in the background when addr is not empty; errors are ignored (the
// harness then reports no allocation figures).
func Start(addr string) {
	if addr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/bench/allocs", Allocs)
	go func() { _ = http.ListenAndServe(addr, mux) }()
}

// Allocs writes the cumulative heap allocations of the process.
func Allocs(w http.ResponseWriter, _ *http.Request) {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}, {Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]uint64{"objects": s[0].Value.Uint64(), "bytes": s[1].Value.Uint64()})
}
