package worker_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rca-engine/api/internal/dbtest"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/uploads"
	"github.com/rca-engine/api/internal/worker"
)

// benchLog writes a synthetic service log of about size bytes: a dozen
// components, requests with ids and latencies, periodic warnings, a
// connection pool that runs dry two thirds in and the errors after it.
func benchLog(tb testing.TB, path string, size int64) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	comps := []string{"api", "auth", "billing", "cache", "db", "gateway", "mailer", "queue", "search", "storage", "web", "worker"}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var n int64
	for i := 0; n < size; i++ {
		ts := t0.Add(time.Duration(i) * 5 * time.Millisecond).Format("2006-01-02T15:04:05.000Z")
		c := comps[i%len(comps)]
		var line string
		switch {
		case n > size*2/3 && i%11 == 0:
			line = fmt.Sprintf("%s ERROR [%s] pool exhausted: waited %d ms for a connection to db-%d:5432 (request %08x)\n", ts, c, 500+i%4500, i%3, i)
		case i%97 == 0:
			line = fmt.Sprintf("%s WARN [%s] slow response from upstream-%d: %d ms\n", ts, c, i%7, 200+i%1800)
		case i%13 == 0:
			line = fmt.Sprintf("%s DEBUG [%s] cache miss for key user:%d:profile\n", ts, c, i%50000)
		default:
			line = fmt.Sprintf("%s INFO [%s] GET /v1/items/%d?page=%d 200 %d bytes in %d ms user=u%05d\n", ts, c, i%100000, i%20, 200+i%9000, 1+i%80, i%20000)
		}
		m, _ := bw.WriteString(line)
		n += int64(m)
	}
	if err := bw.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
}

// uploadPath attaches the file at path to a new job without starting it.
func (e *env) uploadPath(tb testing.TB, path string) uuid.UUID {
	tb.Helper()
	ctx := context.Background()
	j, err := e.jobs.Create(ctx, nil, jobs.NewJob{JobType: "rca_analysis"})
	if err != nil {
		tb.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	u := e.files.NewUpload(nil, "bench")
	defer u.Abort()
	if err := u.Receive(ctx, filepath.Base(path), "text/plain", f); err != nil {
		tb.Fatal(err)
	}
	if _, err := u.Commit(ctx, uploads.Target{JobID: j.ID}); err != nil {
		tb.Fatal(err)
	}
	return j.ID
}

// startAndWait starts job id and returns how long until it completed.
func (e *env) startAndWait(tb testing.TB, ids ...uuid.UUID) time.Duration {
	tb.Helper()
	sub, _, _ := e.hub.Subscribe(nil, 1<<16)
	defer sub.Close()
	left := map[uuid.UUID]bool{}
	for _, id := range ids {
		left[id] = true
	}
	began := time.Now()
	for _, id := range ids {
		if _, err := e.jobs.Start(context.Background(), nil, id); err != nil {
			tb.Fatal(err)
		}
	}
	deadline := time.After(10 * time.Minute)
	for len(left) > 0 {
		select {
		case m := <-sub.C:
			if m.Event.Type == eventlog.Completed || m.Event.Type == eventlog.Failed {
				if m.Event.Type == eventlog.Failed {
					tb.Fatalf("job %s failed: %s", m.Event.JobID, m.Event.Data)
				}
				delete(left, m.Event.JobID)
			}
		case <-sub.Evicted():
			tb.Fatal("the benchmark's subscription was evicted")
		case <-deadline:
			tb.Fatal("jobs did not complete within 10 minutes")
		}
	}
	return time.Since(began)
}

// BenchmarkJob100MB: the time from "start" to "completed" of a job with
// one ~100 MB log, against the engine's own command (cmd/rca, built) on
// the same file. The difference is the worker's: reading from the store,
// rendering the three outputs, storing them and the events.
//
//	go test -run '^$' -bench BenchmarkJob100MB -benchtime 3x ./internal/worker
func BenchmarkJob100MB(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "rca")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/rca")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		b.Fatalf("build cmd/rca: %v", err)
	}
	path := filepath.Join(dir, "service.log")
	const size = 96 << 20
	benchLog(b, path, size)
	st, _ := os.Stat(path)

	d, url := dbtest.New(b)
	e := newEnvSettle(b, d, url, time.Hour) // nothing starts by itself
	cfg := worker.Config{Concurrency: 1}
	cfg.Analysis.Redact.Enabled = true // as the service's default and the command's
	if os.Getenv("BENCH_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	e.worker(b, cfg)
	var cli, wk time.Duration
	var ratios []float64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		id := e.uploadPath(b, path)
		runtime.GC()
		b.StartTimer()
		w1 := e.startAndWait(b, id)
		wk += w1
		b.StopTimer()
		runtime.GC()
		began := time.Now()
		cmd := exec.Command(bin, "analyze", "-q", "-format", "json", "-o", os.DevNull, path)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			b.Fatalf("rca analyze: %v", err)
		}
		c1 := time.Since(began)
		cli += c1
		ratios = append(ratios, w1.Seconds()/c1.Seconds())
		b.Logf("worker %.2f s, rca analyze %.2f s", w1.Seconds(), c1.Seconds())
		b.StartTimer()
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "median-worker/cli")
	n := float64(b.N)
	b.ReportMetric(wk.Seconds()/n, "worker-s/job")
	b.ReportMetric(cli.Seconds()/n, "cli-s/job")
	b.ReportMetric(wk.Seconds()/cli.Seconds(), "worker/cli")
	b.ReportMetric(float64(st.Size())/(1<<20)/(wk.Seconds()/n), "worker-MB/s")
}

// BenchmarkSmallJobsPerMinute: jobs of one ~200 KB log each, started
// together, run by one worker with one slot and by two workers with two
// slots each, on the same database.
//
//	go test -run '^$' -bench BenchmarkSmallJobsPerMinute -benchtime 1x ./internal/worker
func BenchmarkSmallJobsPerMinute(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "small.log")
	benchLog(b, path, 200<<10)
	const jobsPerRound = 60
	for _, tc := range []struct {
		name           string
		workers, slots int
	}{{"1x1", 1, 1}, {"2x2", 2, 2}} {
		b.Run(tc.name, func(b *testing.B) {
			d, url := dbtest.New(b)
			e := newEnvSettle(b, d, url, time.Hour)
			for i := range tc.workers {
				e.worker(b, worker.Config{ID: fmt.Sprintf("bench_%d", i), Concurrency: tc.slots})
			}
			var total time.Duration
			for range b.N {
				b.StopTimer()
				ids := make([]uuid.UUID, jobsPerRound)
				for i := range ids {
					ids[i] = e.uploadPath(b, path)
				}
				b.StartTimer()
				total += e.startAndWait(b, ids...)
			}
			b.ReportMetric(float64(jobsPerRound*b.N)/total.Minutes(), "jobs/min")
		})
	}
}
