package main

import (
	"context"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rca-engine/api/internal/faults"
	"github.com/rca-engine/api/internal/pgtest"
)

// These benchmarks produce the figures in docs/benchmarks.md:
//
//	go test ./cmd/api -run '^$' -bench . -benchtime 20x -count 1

// BenchmarkStartupDatabaseUnreachable: from run() to the first 200 on
// /api/health/live while the database is blackholed (packets vanish, the
// worst case for a service that waits for its pool at start-up).
func BenchmarkStartupDatabaseUnreachable(b *testing.B) {
	dbURL, host := pgtest.NewDatabase(b)
	proxy := faults.NewT(b, host)
	restore, err := proxy.Blackhole()
	if err != nil {
		b.Fatal(err)
	}
	defer restore()
	env := fastEnv(pgtest.WithHost(b, dbURL, proxy.Addr()))
	env["DB_CONNECT_TIMEOUT"] = "5s"
	env["LOG_LEVEL"] = "error"
	var took []time.Duration
	for b.Loop() {
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan string, 1)
		done := make(chan error, 1)
		began := time.Now()
		go func() { done <- run(ctx, mapLookup(env), nil, discardWriter{}, ready) }()
		addr := <-ready
		for {
			resp, err := http.Get("http://" + addr + "/api/health/live")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
		}
		took = append(took, time.Since(began))
		cancel()
		<-done
	}
	report(b, took)
}

// BenchmarkFastFail: latency of GET /api/jobs answered 503 while PostgreSQL
// is down.
func BenchmarkFastFail(b *testing.B) {
	dbURL, host := pgtest.NewDatabase(b)
	proxy := faults.NewT(b, host)
	proxy.Down()
	env := fastEnv(pgtest.WithHost(b, dbURL, proxy.Addr()))
	env["LOG_LEVEL"] = "error"
	svc := startServiceB(b, env)
	c := &http.Client{Timeout: 10 * time.Second}
	var took []time.Duration
	for b.Loop() {
		began := time.Now()
		resp, err := c.Get(svc + "/api/jobs")
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		took = append(took, time.Since(began))
		if resp.StatusCode != 503 {
			b.Fatalf("status %d, want 503", resp.StatusCode)
		}
	}
	report(b, took)
}

// BenchmarkRecovery: from the database accepting connections again to the
// first 200 on GET /api/jobs, for a client polling every 10ms, after an
// outage long enough for the backoff to reach its cap.
func BenchmarkRecovery(b *testing.B) {
	dbURL, host := pgtest.NewDatabase(b)
	proxy := faults.NewT(b, host)
	env := fastEnv(pgtest.WithHost(b, dbURL, proxy.Addr()))
	env["DB_RECONNECT_MAX"] = "15s" // the production default
	env["DB_CHECK_INTERVAL"] = "5s"
	env["LOG_LEVEL"] = "error"
	svc := startServiceB(b, env)
	c := &http.Client{Timeout: 10 * time.Second}
	status := func() int {
		resp, err := c.Get(svc + "/api/jobs")
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	pgtest.Eventually(b, 20*time.Second, "up", func() bool { return status() == 200 })
	var took []time.Duration
	for b.Loop() {
		proxy.Down()
		pgtest.Eventually(b, 20*time.Second, "down", func() bool { return status() == 503 })
		time.Sleep(3 * time.Second) // several failed attempts: the backoff has grown
		if err := proxy.Up(); err != nil {
			b.Fatal(err)
		}
		began := time.Now()
		for status() != 200 {
			time.Sleep(10 * time.Millisecond)
		}
		took = append(took, time.Since(began))
	}
	report(b, took)
}

func report(b *testing.B, took []time.Duration) {
	slices.Sort(took)
	pct := func(p float64) float64 {
		return float64(took[int(p*float64(len(took)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "max-ms")
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }

func mapLookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		if !ok && k == "UPLOAD_DIR" {
			return testUploadDir(), true // never the repository's ./uploads
		}
		return v, ok
	}
}

// testUploadDir is one temp directory for the services a test binary
// starts without an UPLOAD_DIR of their own.
var testUploadDir = sync.OnceValue(func() string {
	dir, err := os.MkdirTemp("", "rca-api-test-uploads-")
	if err != nil {
		panic(err)
	}
	return dir
})

// startServiceB starts a service for the whole benchmark.
func startServiceB(b *testing.B, env map[string]string) string {
	b.Helper()
	base, stop := startStoppable(b, env)
	b.Cleanup(stop)
	return base
}

// startStoppable starts a service and returns its URL and how to stop it
// (waiting for run to return), for benchmarks that run several in turn.
func startStoppable(b *testing.B, env map[string]string) (base string, stop func()) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, mapLookup(env), nil, discardWriter{}, ready) }()
	select {
	case addr := <-ready:
		return "http://" + addr, func() { cancel(); <-done }
	case err := <-done:
		cancel()
		b.Fatalf("service did not start: %v", err)
	}
	return "", func() {}
}

// BenchmarkStartupNaivePingFirst is the baseline for the start-up figure: the
// common pattern of building a pgxpool and pinging it before serving, against
// the same blackholed database. connect_timeout is set to 5s, the same bound
// this service uses; with pgx's defaults the ping would wait 2 minutes.
func BenchmarkStartupNaivePingFirst(b *testing.B) {
	dbURL, host := pgtest.NewDatabase(b)
	proxy := faults.NewT(b, host)
	restore, err := proxy.Blackhole()
	if err != nil {
		b.Fatal(err)
	}
	defer restore()
	url := pgtest.WithParams(b, pgtest.WithHost(b, dbURL, proxy.Addr()), "connect_timeout", "5")
	var took []time.Duration
	for b.Loop() {
		began := time.Now()
		pool, err := pgxpool.New(context.Background(), url)
		if err != nil {
			b.Fatal(err)
		}
		if err := pool.Ping(context.Background()); err == nil {
			b.Fatal("ping through a blackhole succeeded")
		}
		took = append(took, time.Since(began)) // only now could it start serving
		pool.Close()
	}
	report(b, took)
}
