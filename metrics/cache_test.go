package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeapi/gateway/router"
)

// TestSeriesCache: requests of one label set share collectors resolved once, statuses and
// classes included; concurrent first requests of new label sets and statuses agree on the
// series they count in.
func TestSeriesCache(t *testing.T) {
	m := New(Sources{Known: func(s string) bool { return s == "a" || s == "b" }})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	info := router.RouteInfo{Route: "resolver", Handler: "rpc", Service: "a"}
	if m.seriesFor(seriesKey{"resolver", "a", "rpc"}) != m.seriesFor(seriesKey{"resolver", "a", "rpc"}) {
		t.Fatal("one label set resolved twice")
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			in := info
			if i%2 == 1 {
				in.Service = "b"
			}
			status := []int{200, 404, 503, 201, 200}[i%5]
			m.Start(req, in)(status, time.Millisecond)
		})
	}
	wg.Wait()
	// Unknown services share the "unknown" series.
	m.Start(req, router.RouteInfo{Route: "resolver", Handler: "rpc", Service: "zzz"})(200, time.Millisecond)
	m.Start(req, router.RouteInfo{Route: "resolver", Handler: "rpc", Service: "yyy"})(200, time.Millisecond)

	out := scrape(t, m)
	for _, want := range []string{
		`gateway_requests_total{handler="rpc",route="resolver",service="a",status="200"} 10`,
		`gateway_requests_total{handler="rpc",route="resolver",service="a",status="201"} 5`,
		`gateway_requests_total{handler="rpc",route="resolver",service="b",status="404"} 5`,
		`gateway_requests_total{handler="rpc",route="resolver",service="b",status="503"} 5`,
		`gateway_requests_total{handler="rpc",route="resolver",service="unknown",status="200"} 2`,
		`gateway_request_duration_seconds_count{class="2xx",handler="rpc",route="resolver",service="a"} 15`,
		`gateway_request_duration_seconds_count{class="4xx",handler="rpc",route="resolver",service="b"} 5`,
		`gateway_requests_in_flight{handler="rpc",route="resolver",service="a"} 0`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s", want)
		}
	}
	if n := len(*m.series.Load()); n != 3 {
		t.Errorf("%d label sets cached, want 3 (a, b, unknown)", n)
	}
}

func BenchmarkStart(b *testing.B) {
	m := New(Sources{Known: func(string) bool { return true }})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	info := router.RouteInfo{Route: "resolver", Handler: "rpc", Service: "go.micro.api.orders"}
	b.ReportAllocs()
	for b.Loop() {
		m.Start(req, info)(200, time.Millisecond)
	}
}
