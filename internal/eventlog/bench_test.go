package eventlog_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/pgtest"
	"github.com/rca-engine/api/migrations"
)

// BenchmarkEventWriters measures what the event log's lock costs writers,
// side by side with the scheme it replaced:
//
//	go test ./internal/eventlog -run '^$' -bench EventWriters -benchtime 1x
//
// "exclusive" is the previous scheme, reproduced here: every writer takes
// the advisory lock exclusively before its insert and holds it through its
// commit, and readers read without it. "shared" is eventlog.Append:
// writers share the lock, and the reader (a tailer following the log
// every 10 ms, as under load) takes it exclusively for its read. Each
// writer commits one event per transaction; "with a chatty worker" adds
// one writer that commits progress events back to back, as an analysis
// worker will, and reports the other writers' latency.
// LOAD_SECONDS (default 5) per round, LOAD_CONCURRENCY (default 16) writers.
func BenchmarkEventWriters(b *testing.B) {
	seconds, _ := strconv.Atoi(os.Getenv("LOAD_SECONDS"))
	if seconds <= 0 {
		seconds = 5
	}
	conc, _ := strconv.Atoi(os.Getenv("LOAD_CONCURRENCY"))
	if conc <= 0 {
		conc = 16
	}
	url, _ := pgtest.NewDatabase(b)
	d, err := db.New(db.Config{URL: url, Migrations: migrations.FS, MaxConns: int32(conc + 4)})
	if err != nil {
		b.Fatal(err)
	}
	d.Start(context.Background())
	b.Cleanup(d.Close)
	pgtest.Eventually(b, 10*time.Second, "up", func() bool { return d.State().Status == dependency.Up })
	log := eventlog.New(d)
	job := uuid.New()
	pgtest.Exec(b, url, `INSERT INTO jobs (id, job_type) VALUES ($1, 'bench')`, job)

	const lockKey = 0x6a6f625f65767473
	exclusiveWrite := func(ctx context.Context) error {
		return d.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO job_events (job_id, event_type, data) VALUES ($1, 'analysis-phase', '{"p":1}')`, job)
			return err
		})
	}
	sharedWrite := func(ctx context.Context) error {
		return d.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
			return log.Append(tx, job, eventlog.AnalysisPhase, map[string]int{"p": 1})
		})
	}
	plainRead := func(ctx context.Context, cursor int64) (int64, error) {
		var newest int64
		err := d.Read(ctx, func(ctx context.Context, q db.Querier) error {
			return q.QueryRow(ctx, `SELECT COALESCE(max(id), $1) FROM (SELECT id FROM job_events WHERE id > $1 ORDER BY id LIMIT 500) t`, cursor).Scan(&newest)
		})
		return newest, err
	}
	lockedRead := func(ctx context.Context, cursor int64) (int64, error) {
		evs, err := log.Since(ctx, cursor, 500)
		if len(evs) > 0 {
			cursor = evs[len(evs)-1].ID
		}
		return cursor, err
	}
	schemes := []struct {
		name  string
		write func(context.Context) error
		read  func(context.Context, int64) (int64, error)
	}{
		{"exclusive", exclusiveWrite, plainRead},
		{"shared", sharedWrite, lockedRead},
	}
	for _, chatty := range []bool{false, true} {
		for round := range 2 {
			for _, sc := range schemes {
				name := sc.name
				if chatty {
					name += "_with_a_chatty_worker"
				}
				b.Run(name+"/round"+strconv.Itoa(round+1), func(b *testing.B) {
					r := runWriters(b, sc.write, sc.read, conc, chatty, time.Duration(seconds)*time.Second)
					b.ReportMetric(r.rate, "events/s")
					b.ReportMetric(r.p50, "p50_ms")
					b.ReportMetric(r.p99, "p99_ms")
					if chatty {
						b.ReportMetric(r.chattyRate, "worker_events/s")
					}
				})
			}
		}
	}
}

type writersResult struct {
	rate, p50, p99, chattyRate float64
}

func runWriters(b *testing.B, write func(context.Context) error, read func(context.Context, int64) (int64, error),
	conc int, chatty bool, d time.Duration) writersResult {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var (
		mu      sync.Mutex
		lat     []time.Duration
		wg      sync.WaitGroup
		chattyN int
	)
	start := time.Now()
	for range conc {
		wg.Go(func() {
			var mine []time.Duration
			for ctx.Err() == nil {
				t0 := time.Now()
				if err := write(ctx); err != nil {
					// A call cut by the round's end: its own deadline can
					// fire a moment before ctx's.
					if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
						break
					}
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	if chatty {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := write(ctx); err == nil {
					chattyN++
				}
			}
		})
	}
	wg.Go(func() { // the tailer
		var cursor int64
		for ctx.Err() == nil {
			if c, err := read(ctx, cursor); err == nil {
				cursor = c
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	if len(lat) == 0 {
		b.Fatal("no write completed")
	}
	slices.Sort(lat)
	ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	return writersResult{rate: float64(len(lat)) / elapsed, p50: ms(0.5), p99: ms(0.99),
		chattyRate: float64(chattyN) / elapsed}
}
