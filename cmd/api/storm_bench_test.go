package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rca-engine/api/internal/pgtest"
)

// BenchmarkStreamStorm measures what a reconnect storm (every browser
// coming back at once, after a deploy say) does to ordinary reads: while 4
// clients read GET /api/jobs/{id} in a loop, STORM_STREAMS (default 1,000)
// event streams open at the same moment, every one resuming with a
// Last-Event-ID so that each has events to replay from PostgreSQL: half on
// /api/sse/events (100 missed events each), half on /api/sse/jobs/{id}
// (a job's 20 events each). The window lasts until every accepted stream
// has its replay (at most 60 s).
//
//	go test ./cmd/api -run '^$' -bench StreamStorm -benchtime 1x -timeout 30m
//
// Two storms: from 50 client addresses (20 streams each, under the
// per-client cap) and from one address (as the probe did). Each runs with
// the stream caps and the catch-up bound off (SSE_MAX_STREAMS=0,
// SSE_MAX_STREAMS_PER_CLIENT=0, SSE_MAX_CATCHUPS=0: the code before they
// existed) and at the defaults, in STORM_ROUNDS (default 3) alternating
// rounds (off, defaults, off, defaults, …), each on a service of its own
// with production timeouts and pool size; figures are over all rounds.
// Loopback only: the client addresses are 127.0.0.2 and up.
func BenchmarkStreamStorm(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("STORM_STREAMS"))
	if n <= 0 {
		n = 1000
	}
	rounds, _ := strconv.Atoi(os.Getenv("STORM_ROUNDS"))
	if rounds <= 0 {
		rounds = 3
	}
	dbURL, _ := pgtest.NewDatabase(b)
	// The schema comes from the first service; then 100 jobs of 20 events.
	_, stop := startStormService(b, stormEnv(dbURL, nil))
	stop()
	pgtest.Exec(b, dbURL, `INSERT INTO jobs (job_type, user_id) SELECT 'storm', 'u' || i FROM generate_series(1, 100) AS i`)
	pgtest.Exec(b, dbURL, `INSERT INTO job_events (job_id, event_type, data)
		SELECT j.id, 'analysis-phase', jsonb_build_object('phase', e, 'detail', repeat('x', 200))
		FROM (SELECT id, row_number() OVER (ORDER BY id) AS r FROM jobs) j, generate_series(1, 20) AS e
		ORDER BY e, j.r`)
	pgtest.Exec(b, dbURL, `ANALYZE jobs; ANALYZE job_events`)
	jobIDs := queryStrings(b, dbURL, `SELECT id::text FROM jobs ORDER BY id`)
	maxID := pgtest.QueryInt(b, dbURL, `SELECT max(id) FROM job_events`)

	variants := []struct {
		name string
		env  map[string]string
	}{
		{"off", map[string]string{"SSE_MAX_STREAMS": "0", "SSE_MAX_STREAMS_PER_CLIENT": "0", "SSE_MAX_CATCHUPS": "0"}},
		{"defaults", nil},
	}
	for _, sc := range []struct {
		name  string
		addrs int
	}{{"50-addresses", 50}, {"one-address", 1}} {
		b.Run(sc.name, func(b *testing.B) {
			var res [2]stormResult
			for range rounds {
				for i, v := range variants {
					res[i].add(stormRound(b, stormEnv(dbURL, v.env), n, sc.addrs, jobIDs, maxID))
				}
			}
			for i, v := range variants {
				r := res[i]
				b.ReportMetric(r.reads.pct(0.99), v.name+"-read-p99-ms")
				b.ReportMetric(float64(r.failed), v.name+"-read-failed")
				b.Logf("%s, %s: reads p50 %.1f ms, p99 %.1f ms, max %.1f ms, %.0f/s, %d of %d failed (idle p99 %.1f ms); "+
					"streams accepted %d, refused 429 %d, 503 %d (slowest refusal %s), other %d; "+
					"replays complete after %s, %d incomplete",
					sc.name, v.name, r.reads.pct(0.5), r.reads.pct(0.99), r.reads.pct(1),
					float64(len(r.reads))/r.window.Seconds(), r.failed, len(r.reads)+r.failed,
					r.idle.pct(0.99), r.accepted, r.refused429, r.refused503, r.slowestRefusal.Round(time.Millisecond),
					r.other, r.drain.Round(time.Millisecond), r.incomplete)
			}
			b.ReportMetric(res[1].reads.pct(0.99)/res[0].reads.pct(0.99), "p99-ratio")
		})
	}
}

// stormEnv is the service at production timeouts and pool size, quiet.
func stormEnv(dbURL string, extra map[string]string) map[string]string {
	env := fastEnv(dbURL)
	for _, k := range []string{"DB_ACQUIRE_TIMEOUT", "DB_QUERY_TIMEOUT", "HTTP_REQUEST_TIMEOUT"} {
		delete(env, k)
	}
	env["LOG_LEVEL"] = "error"
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// startStormService starts a service and waits until its database is up.
func startStormService(b *testing.B, env map[string]string) (base string, stop func()) {
	b.Helper()
	base, stop = startStoppable(b, env)
	c := &http.Client{Timeout: 5 * time.Second}
	pgtest.Eventually(b, 20*time.Second, "up", func() bool {
		resp, err := c.Get(base + "/api/jobs")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return base, stop
}

type durations []time.Duration

func (d durations) pct(p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[int(p*float64(len(s)-1))].Microseconds()) / 1000
}

type stormResult struct {
	idle, reads                             durations
	failed                                  int
	accepted, refused429, refused503, other int
	incomplete                              int
	slowestRefusal, drain                   time.Duration
	window                                  time.Duration // the storms' lengths, summed
}

func (r *stormResult) add(o stormResult) {
	r.idle = append(r.idle, o.idle...)
	r.reads = append(r.reads, o.reads...)
	r.failed += o.failed
	r.accepted += o.accepted
	r.refused429 += o.refused429
	r.refused503 += o.refused503
	r.other += o.other
	r.incomplete += o.incomplete
	r.slowestRefusal = max(r.slowestRefusal, o.slowestRefusal)
	r.drain = max(r.drain, o.drain)
	r.window += o.window
}

// readLoop runs conc clients reading url until stop is called, which
// returns their latencies and the number of failed reads.
func readLoop(c *http.Client, url string, conc int) (stop func() (durations, int)) {
	var (
		mu     sync.Mutex
		lat    durations
		failed int
		wg     sync.WaitGroup
	)
	done := make(chan struct{})
	const maxReads = 1_000_000 // bounded in count as well as in time
	for range conc {
		wg.Go(func() {
			for i := 0; i < maxReads/conc; i++ {
				select {
				case <-done:
					return
				default:
				}
				t0 := time.Now()
				resp, err := c.Get(url)
				ok := err == nil && resp.StatusCode == 200
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				mu.Lock()
				if ok {
					lat = append(lat, time.Since(t0))
				} else {
					failed++
				}
				mu.Unlock()
			}
		})
	}
	return func() (durations, int) {
		close(done)
		wg.Wait()
		return lat, failed
	}
}

// stormRound starts a service, measures ordinary reads for a second, then
// during a storm of n streams from addrs addresses, and stops the service.
func stormRound(b *testing.B, env map[string]string, n, addrs int, jobIDs []string, maxID int64) stormResult {
	base, stopService := startStormService(b, env)
	defer stopService()
	var r stormResult
	reader := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: 60 * time.Second}
	url := base + "/api/jobs/" + jobIDs[0]
	stop := readLoop(reader, url, 4)
	time.Sleep(time.Second)
	r.idle, r.failed = stop()

	clients := make([]*http.Client, addrs)
	for i := range clients {
		clients[i] = addrClient(2 + i)
	}
	reqs := make([]stormReq, n)
	want := make([]int, n)
	for i := range reqs {
		c := clients[i%addrs]
		if i%2 == 0 {
			reqs[i] = stormReq{client: c, path: "/api/sse/events", lastEventID: strconv.FormatInt(maxID-100, 10)}
			want[i] = 100
		} else {
			reqs[i] = stormReq{client: c, path: "/api/sse/jobs/" + jobIDs[(i/2)%len(jobIDs)], lastEventID: "0"}
			want[i] = 20
		}
	}
	stop = readLoop(reader, url, 4)
	began := time.Now()
	streams := openStorm(b, base, reqs)
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	deadline := began.Add(60 * time.Second)
	for i, s := range streams {
		switch {
		case s.err != nil:
			r.other++
		case s.status == 200:
			r.accepted++
			wg.Go(func() {
				ok := s.waitFor(want[i], deadline)
				took := time.Since(began)
				mu.Lock()
				defer mu.Unlock()
				if !ok {
					r.incomplete++
					return
				}
				r.drain = max(r.drain, took)
			})
		case s.status == 429 || s.status == 503:
			if s.status == 429 {
				r.refused429++
			} else {
				r.refused503++
			}
			r.slowestRefusal = max(r.slowestRefusal, s.took)
		default:
			r.other++
		}
	}
	wg.Wait()
	lat, failed := stop()
	r.window = time.Since(began)
	r.reads, r.failed = lat, r.failed+failed
	closeAll(streams)
	for _, c := range clients {
		c.CloseIdleConnections()
	}
	reader.CloseIdleConnections()
	if r.other > 0 {
		for _, s := range streams {
			if s.err != nil || (s.status != 200 && s.status != 429 && s.status != 503) {
				b.Logf("a stream failed: %v %d %s", s.err, s.status, s.body)
				break
			}
		}
	}
	return r
}

// queryStrings returns the one text column a query selects.
func queryStrings(b *testing.B, dbURL, query string) []string {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, query)
	if err != nil {
		b.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatal(err)
	}
	return out
}
