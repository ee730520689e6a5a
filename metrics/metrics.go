// Package metrics exposes the gateway's Prometheus metrics: requests, latency and in-flight
// requests by route, service, handler and status; circuit breaker state per node; registry
// staleness; events published and failed.
//
// Contract: label values come only from the gateway's configuration and registry, never
// straight from a request, so a client cannot grow the series count: a service the registry
// does not know is recorded as "unknown", an unmatched path as route "" (none).
// Collectors live in the Metrics' own registry (no global default registry).
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edgeapi/gateway/router"
)

// Sources are the read-only views the collectors sample at scrape time.
type Sources struct {
	// Known reports whether a service is in the registry (bounds the service label).
	Known func(service string) bool
	// Breakers lists every node's breaker state ("closed", "half-open", "open").
	Breakers func() []Breaker
	// Stale reports whether the registry is unreachable and since when.
	Stale func() (bool, time.Time)
}

// Breaker is one node's breaker state.
type Breaker struct {
	Service, Node, State string
}

// Metrics holds the collectors. Create with New.
type Metrics struct {
	reg      *prometheus.Registry
	known    func(string) bool
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight *prometheus.GaugeVec
	events   *prometheus.CounterVec
}

var _ router.Observer = (*Metrics)(nil)

// New registers every collector in a fresh registry.
func New(src Sources) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), known: src.Known}
	labels := []string{"route", "service", "handler"}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_requests_total", Help: "Requests answered, by route, service, handler and status code.",
	}, append(labels, "status"))
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gateway_request_duration_seconds",
		Help:    "Time from routing to the end of the answer, by route, service, handler and status class.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, append(labels, "class"))
	m.inflight = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gateway_requests_in_flight", Help: "Requests being served, by route, service and handler.",
	}, labels)
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_events_total", Help: "Events by outcome: published (acknowledged) or failed.",
	}, []string{"outcome"})
	m.reg.MustRegister(m.requests, m.duration, m.inflight, m.events,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if src.Breakers != nil {
		m.reg.MustRegister(&breakerCollector{list: src.Breakers, desc: prometheus.NewDesc(
			"gateway_breaker_state", "Circuit breaker state per node: 0 closed, 1 half-open, 2 open.",
			[]string{"service", "node"}, nil)})
	}
	if src.Stale != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gateway_registry_stale_seconds",
			Help: "How long the registry has been unreachable (0 when it is reachable); the gateway serves its last view meanwhile.",
		}, func() float64 {
			if stale, since := src.Stale(); stale {
				return time.Since(since).Seconds()
			}
			return 0
		}))
	}
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is where the collectors live (tests gather from it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Start implements router.Observer.
func (m *Metrics) Start(_ *http.Request, info router.RouteInfo) func(int, time.Duration) {
	service := info.Service
	if service != "" && m.known != nil && !m.known(service) {
		service = "unknown"
	}
	g := m.inflight.WithLabelValues(info.Route, service, info.Handler)
	g.Inc()
	return func(status int, d time.Duration) {
		g.Dec()
		m.requests.WithLabelValues(info.Route, service, info.Handler, strconv.Itoa(status)).Inc()
		m.duration.WithLabelValues(info.Route, service, info.Handler, strconv.Itoa(status/100)+"xx").Observe(d.Seconds())
	}
}

// EventPublished counts an acknowledged event; EventFailed one the broker did not take.
func (m *Metrics) EventPublished() { m.events.WithLabelValues("published").Inc() }

// EventFailed counts an event the broker did not acknowledge.
func (m *Metrics) EventFailed() { m.events.WithLabelValues("failed").Inc() }

type breakerCollector struct {
	list func() []Breaker
	desc *prometheus.Desc
}

func (c *breakerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *breakerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, b := range c.list() {
		v := 0.0
		switch b.State {
		case "half-open":
			v = 1
		case "open":
			v = 2
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, b.Service, b.Node)
	}
}
