// Package metrics exposes the service's Prometheus metrics. Everything is
// registered on a registry the package creates, never the global one, so
// several instances can live in one process (tests run three replicas).
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rca-engine/api/internal/dependency"
)

// Metrics holds the HTTP metrics and the registry.
type Metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	// series caches each (method, route, status)'s counter and histogram,
	// so that a request costs no label hashing, no vector lookup and no
	// status formatting; bounded by maxCachedSeries (beyond, the vectors
	// are asked each time).
	mu     sync.RWMutex
	series map[seriesKey]*series
}

type seriesKey struct {
	method, route string
	status        int
}

type series struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

const maxCachedSeries = 1024

// New registers the HTTP metrics, Go and process metrics, and collectors that
// read the dependencies' states and the pool's figures at scrape time (so
// nothing is kept up to date in the background).
//
// extra collectors are registered too (the event streams' gauges, say).
func New(deps dependency.Set, poolStat func() *pgxpool.Stat, extra ...prometheus.Collector) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rca_http_requests_total",
			Help: "HTTP requests by method, route pattern and status code.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rca_http_request_duration_seconds",
			Help:    "HTTP request latency by method and route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
	}
	m.registry.MustRegister(m.requests, m.duration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&depCollector{deps: deps}, &poolCollector{stat: poolStat})
	m.registry.MustRegister(extra...)
	return m
}

// Observe records one finished request. route is the chi pattern, never the
// raw path, so that ids do not explode the label set.
func (m *Metrics) Observe(method, route string, status int, d time.Duration) {
	k := seriesKey{method, route, status}
	m.mu.RLock()
	sr, ok := m.series[k]
	m.mu.RUnlock()
	if !ok {
		sr = &series{count: m.requests.WithLabelValues(method, route, strconv.Itoa(status)),
			duration: m.duration.WithLabelValues(method, route)}
		m.mu.Lock()
		if m.series == nil {
			m.series = map[seriesKey]*series{}
		}
		if len(m.series) < maxCachedSeries {
			m.series[k] = sr
		}
		m.mu.Unlock()
	}
	sr.count.Inc()
	sr.duration.Observe(d.Seconds())
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

var (
	depUp = prometheus.NewDesc("rca_dependency_up",
		"1 if the dependency is usable, 0 if not; disabled dependencies are not reported.", []string{"dependency"}, nil)
	depAttempts = prometheus.NewDesc("rca_dependency_connect_attempts_total",
		"Connection attempts made by the dependency's supervisor since start-up.", []string{"dependency"}, nil)
	depFailures = prometheus.NewDesc("rca_dependency_consecutive_failures",
		"Failed attempts since the dependency was last up.", []string{"dependency"}, nil)
	depLatency = prometheus.NewDesc("rca_dependency_check_latency_seconds",
		"Duration of the last successful check.", []string{"dependency"}, nil)
)

type depCollector struct{ deps dependency.Set }

func (c *depCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- depUp
	ch <- depAttempts
	ch <- depFailures
	ch <- depLatency
}

func (c *depCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.deps.States() {
		if st.Status == dependency.Disabled {
			continue
		}
		up := 0.0
		if st.Status == dependency.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(depUp, prometheus.GaugeValue, up, st.Name)
		ch <- prometheus.MustNewConstMetric(depAttempts, prometheus.CounterValue, float64(st.TotalAttempts), st.Name)
		ch <- prometheus.MustNewConstMetric(depFailures, prometheus.GaugeValue, float64(st.Attempts), st.Name)
		ch <- prometheus.MustNewConstMetric(depLatency, prometheus.GaugeValue, st.Latency.Seconds(), st.Name)
	}
}

var (
	poolConns = prometheus.NewDesc("rca_db_pool_connections",
		"PostgreSQL pool connections by state (acquired, idle, constructing) and the maximum.", []string{"state"}, nil)
	poolAcquires = prometheus.NewDesc("rca_db_pool_acquires_total",
		"Connection acquisitions by outcome: ok, waited (the pool was empty) or canceled.", []string{"outcome"}, nil)
	poolAcquireWait = prometheus.NewDesc("rca_db_pool_acquire_wait_seconds_total",
		"Total time spent waiting for a connection.", nil, nil)
	poolOpened = prometheus.NewDesc("rca_db_pool_connections_opened_total",
		"Connections opened by the pool.", nil, nil)
	poolClosed = prometheus.NewDesc("rca_db_pool_connections_closed_total",
		"Connections the pool closed for being idle too long or too old.", []string{"reason"}, nil)
)

type poolCollector struct{ stat func() *pgxpool.Stat }

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolConns
	ch <- poolAcquires
	ch <- poolAcquireWait
	ch <- poolOpened
	ch <- poolClosed
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	if c.stat == nil {
		return
	}
	s := c.stat()
	gauge := func(v float64, state string) {
		ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, v, state)
	}
	gauge(float64(s.AcquiredConns()), "acquired")
	gauge(float64(s.IdleConns()), "idle")
	gauge(float64(s.ConstructingConns()), "constructing")
	gauge(float64(s.MaxConns()), "max")
	ch <- prometheus.MustNewConstMetric(poolAcquires, prometheus.CounterValue, float64(s.AcquireCount()), "ok")
	ch <- prometheus.MustNewConstMetric(poolAcquires, prometheus.CounterValue, float64(s.EmptyAcquireCount()), "waited")
	ch <- prometheus.MustNewConstMetric(poolAcquires, prometheus.CounterValue, float64(s.CanceledAcquireCount()), "canceled")
	ch <- prometheus.MustNewConstMetric(poolAcquireWait, prometheus.CounterValue, s.AcquireDuration().Seconds())
	ch <- prometheus.MustNewConstMetric(poolOpened, prometheus.CounterValue, float64(s.NewConnsCount()))
	ch <- prometheus.MustNewConstMetric(poolClosed, prometheus.CounterValue, float64(s.MaxIdleDestroyCount()), "idle")
	ch <- prometheus.MustNewConstMetric(poolClosed, prometheus.CounterValue, float64(s.MaxLifetimeDestroyCount()), "lifetime")
}
