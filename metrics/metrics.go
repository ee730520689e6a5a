// Package metrics exposes the gateway's Prometheus metrics: requests, latency and in-flight
// requests by route, service, handler and status; circuit breaker state per node; registry
// staleness; events published and failed.
//
// Contract: label values come only from the gateway's configuration and registry, never
// straight from a request, so a client cannot grow the series count: a service the registry
// does not know is recorded as "unknown", an unmatched path as route "" (none).
// Collectors live in the Metrics' own registry (no global default registry). The request
// collectors of a label set are resolved the first time it is seen and kept, so observing a
// request hashes no label values and allocates nothing; the cache grows with the series, which
// the contract above bounds.
package metrics

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
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
	retries  *prometheus.CounterVec

	// series caches the request collectors of every label set seen (see seriesFor): a
	// copy-on-write map, read without locking; mu serialises additions.
	series atomic.Pointer[map[seriesKey]*series]
	mu     sync.Mutex
}

var _ router.Observer = (*Metrics)(nil)

// New registers every collector in a fresh registry.
func New(src Sources) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), known: src.Known}
	m.series.Store(&map[seriesKey]*series{})
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
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_retries_total",
		Help: "Retries on another node by service and outcome: retried, or over_budget (the route's retry budget refused it).",
	}, []string{"service", "outcome"})
	m.reg.MustRegister(m.requests, m.duration, m.inflight, m.events, m.retries,
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
	s := m.seriesFor(seriesKey{route: info.Route, service: service, handler: info.Handler})
	s.inflight.Inc()
	return s.done
}

// seriesKey is a label set of the request collectors, after the service is bounded.
type seriesKey struct {
	route, service, handler string
}

// series holds the collectors of one label set, resolved once rather than by hashing the
// label values on every request (GetMetricWithLabelValues). There is one per label set the
// collectors have a series for, so the cache is exactly as bounded as the labels are; series
// are never deleted from the vectors, so a cached child stays the one exported.
type series struct {
	key      seriesKey
	m        *Metrics
	inflight prometheus.Gauge
	done     func(status int, d time.Duration) // made once: Start allocates nothing

	// statuses are the children by status code seen so far: copy-on-write, read without
	// locking; mu serialises additions.
	statuses atomic.Pointer[[]*statusSeries]
	mu       sync.Mutex
}

// statusSeries holds the collectors of one label set and status code.
type statusSeries struct {
	status   int
	requests prometheus.Counter
	duration prometheus.Observer
}

// seriesFor returns the collectors of k, resolving them the first time k is seen.
func (m *Metrics) seriesFor(k seriesKey) *series {
	if s, ok := (*m.series.Load())[k]; ok {
		return s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := *m.series.Load()
	if s, ok := cur[k]; ok {
		return s
	}
	s := &series{key: k, m: m, inflight: m.inflight.WithLabelValues(k.route, k.service, k.handler)}
	s.done = s.end
	next := make(map[seriesKey]*series, len(cur)+1)
	maps.Copy(next, cur)
	next[k] = s
	m.series.Store(&next)
	return s
}

// end is the done function Start returns.
func (s *series) end(status int, d time.Duration) {
	s.inflight.Dec()
	st := s.status(status)
	st.requests.Inc()
	st.duration.Observe(d.Seconds())
}

// status returns the collectors of status, resolving them the first time it is seen. A label
// set sees a handful of status codes, so a linear scan beats any map.
func (s *series) status(code int) *statusSeries {
	if cur := s.statuses.Load(); cur != nil {
		for _, st := range *cur {
			if st.status == code {
				return st
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []*statusSeries
	if cur := s.statuses.Load(); cur != nil {
		for _, st := range *cur {
			if st.status == code {
				return st
			}
		}
		list = *cur
	}
	k, m := s.key, s.m
	st := &statusSeries{
		status:   code,
		requests: m.requests.WithLabelValues(k.route, k.service, k.handler, strconv.Itoa(code)),
		duration: m.duration.WithLabelValues(k.route, k.service, k.handler, strconv.Itoa(code/100)+"xx"),
	}
	next := append(slices.Clip(list), st) // never writes into the slice readers hold
	s.statuses.Store(&next)
	return st
}

// EventPublished counts an acknowledged event; EventFailed one the broker did not take.
func (m *Metrics) EventPublished() { m.events.WithLabelValues("published").Inc() }

// Retry counts a retry the policy allowed: granted, or refused by the retry budget. Services
// the registry does not know are counted as "unknown", like the request metrics.
func (m *Metrics) Retry(service string, granted bool) {
	if m.known != nil && !m.known(service) {
		service = "unknown"
	}
	outcome := "retried"
	if !granted {
		outcome = "over_budget"
	}
	m.retries.WithLabelValues(service, outcome).Inc()
}

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
