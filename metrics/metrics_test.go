package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edgeapi/gateway/router"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return string(b)
}

func TestRequestMetrics(t *testing.T) {
	m := New(Sources{Known: func(s string) bool { return s == "go.micro.api.orders" }})
	req := httptest.NewRequest(http.MethodGet, "/orders/1", nil)

	done := m.Start(req, router.RouteInfo{Route: "/orders/{id}", Handler: "rpc", Service: "go.micro.api.orders"})
	if out := scrape(t, m); !strings.Contains(out, `gateway_requests_in_flight{handler="rpc",route="/orders/{id}",service="go.micro.api.orders"} 1`) {
		t.Fatalf("in-flight not counted:\n%s", out)
	}
	done(200, 3*time.Millisecond)
	// A service the registry does not know must not become a label value of its own.
	m.Start(req, router.RouteInfo{Route: "resolver", Handler: "rpc", Service: "go.micro.api.attacker-chosen-123"})(404, time.Millisecond)

	out := scrape(t, m)
	for _, want := range []string{
		`gateway_requests_total{handler="rpc",route="/orders/{id}",service="go.micro.api.orders",status="200"} 1`,
		`gateway_requests_in_flight{handler="rpc",route="/orders/{id}",service="go.micro.api.orders"} 0`,
		`gateway_request_duration_seconds_count{class="2xx",handler="rpc",route="/orders/{id}",service="go.micro.api.orders"} 1`,
		`gateway_requests_total{handler="rpc",route="resolver",service="unknown",status="404"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s", want)
		}
	}
	if strings.Contains(out, "attacker-chosen") {
		t.Error("an unknown service name became a label value")
	}
}

func TestSampledMetrics(t *testing.T) {
	since := time.Now().Add(-3 * time.Second)
	stale := false
	m := New(Sources{
		Breakers: func() []Breaker {
			return []Breaker{{"svc", "n1", "closed"}, {"svc", "n2", "half-open"}, {"svc", "n3", "open"}}
		},
		Stale: func() (bool, time.Time) { return stale, since },
	})
	m.EventPublished()
	m.EventPublished()
	m.EventFailed()
	out := scrape(t, m)
	for _, want := range []string{
		`gateway_breaker_state{node="n1",service="svc"} 0`,
		`gateway_breaker_state{node="n2",service="svc"} 1`,
		`gateway_breaker_state{node="n3",service="svc"} 2`,
		`gateway_registry_stale_seconds 0`,
		`gateway_events_total{outcome="published"} 2`,
		`gateway_events_total{outcome="failed"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s", want)
		}
	}
	stale = true
	if out := scrape(t, m); strings.Contains(out, "gateway_registry_stale_seconds 0\n") {
		t.Error("staleness not reported while the registry is unreachable")
	}
}
