package worker

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rca-engine/api/internal/jobs"
)

// Metrics are the worker's Prometheus collectors.
type Metrics struct {
	claims     prometheus.Counter
	rescued    prometheus.Counter
	retries    prometheus.Counter
	outcomes   *prometheus.CounterVec
	duration   prometheus.Histogram
	throughput prometheus.Histogram
}

func newMetrics() *Metrics {
	return &Metrics{
		claims: prometheus.NewCounter(prometheus.CounterOpts{Name: "rca_worker_claims_total",
			Help: "Jobs this process's worker claimed (attempts started)."}),
		rescued: prometheus.NewCounter(prometheus.CounterOpts{Name: "rca_worker_rescued_leases_total",
			Help: "Attempts ended by this process's rescuer because their worker stopped renewing the lease."}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "rca_worker_retries_total",
			Help: "Attempts that failed in a way another may fix, the job going back to pending after a backoff."}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rca_worker_attempts_total",
			Help: "Attempts ended by this process's worker, by how: completed, failed, retried, handed_back, abandoned (cancelled or lease lost)."},
			[]string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "rca_analysis_duration_seconds",
			Help:    "Time from claim to a recorded completion, per job.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800}}),
		throughput: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "rca_analysis_throughput_mb_per_second",
			Help:    "Bytes of logs analysed per second of a job's attempt, in MiB/s.",
			Buckets: []float64{.5, 1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200}}),
	}
}

// Collectors are the worker's own metrics, for metrics.New.
func (w *Worker) Collectors() []prometheus.Collector {
	return []prometheus.Collector{w.m.claims, w.m.rescued, w.m.retries, w.m.outcomes, w.m.duration, w.m.throughput,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rca_worker_running_jobs",
			Help: "Jobs this process's worker is running now."}, func() float64 { return float64(w.Running()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rca_worker_slots",
			Help: "WORKER_CONCURRENCY of this process."}, func() float64 { return float64(w.cfg.Concurrency) }),
	}
}

// QueueCollector reports the jobs table as gauges: jobs by status, ready
// jobs (queue depth) and the age of the oldest ready one. The query runs at
// most every interval, whatever the scrape rate, and never while
// PostgreSQL is down (the last figures are reported, with
// rca_jobs_stats_age_seconds saying how old they are).
type QueueCollector struct {
	jobs     *jobs.Service
	interval time.Duration
	up       func() bool

	mu   sync.Mutex
	last jobs.Queue
	at   time.Time

	byStatus *prometheus.Desc
	depth    *prometheus.Desc
	oldest   *prometheus.Desc
	age      *prometheus.Desc
}

// NewQueueCollector reads js at most every interval (default 5s); up says
// whether PostgreSQL is up.
func NewQueueCollector(js *jobs.Service, interval time.Duration, up func() bool) *QueueCollector {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	return &QueueCollector{jobs: js, interval: interval, up: up,
		byStatus: prometheus.NewDesc("rca_jobs", "Jobs by status.", []string{"status"}, nil),
		depth:    prometheus.NewDesc("rca_jobs_queue_depth", "Pending jobs ready to be claimed now.", nil, nil),
		oldest: prometheus.NewDesc("rca_jobs_queue_oldest_ready_seconds",
			"How long the oldest ready job has waited to be claimed (0 when none).", nil, nil),
		age: prometheus.NewDesc("rca_jobs_stats_age_seconds", "Age of the job figures above.", nil, nil),
	}
}

func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.byStatus
	ch <- c.depth
	ch <- c.oldest
	ch <- c.age
}

func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) >= c.interval && (c.up == nil || c.up()) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		q, err := c.jobs.QueueStats(ctx)
		cancel()
		if err == nil {
			c.last, c.at = q, time.Now()
		}
	}
	if c.at.IsZero() {
		return
	}
	for st, n := range c.last.ByStatus {
		ch <- prometheus.MustNewConstMetric(c.byStatus, prometheus.GaugeValue, float64(n), string(st))
	}
	ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(c.last.Ready))
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, c.last.OldestReady.Seconds())
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, time.Since(c.at).Seconds())
}
