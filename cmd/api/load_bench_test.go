package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/pgtest"
)

// BenchmarkAPIvsBare compares this service's job routes with a bare
// net/http + pgxpool server running the same SQL on the same database,
// driven by the same in-process load generator at the same concurrency, in
// alternating rounds:
//
//	go test ./cmd/api -run '^$' -bench APIvsBare -benchtime 1x -timeout 20m
//
// LOAD_SECONDS (default 5) sets the length of each round, LOAD_CONCURRENCY
// (default 16) the number of concurrent clients.
func BenchmarkAPIvsBare(b *testing.B) {
	seconds, conc := loadSettings()
	dbURL, _ := pgtest.NewDatabase(b)
	env := fastEnv(dbURL)
	env["LOG_LEVEL"] = "error"
	env["DB_MAX_CONNS"] = "8"
	ours := startServiceB(b, env)
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc * 2}, Timeout: 10 * time.Second}
	pgtest.Eventually(b, 10*time.Second, "up", func() bool {
		resp, err := c.Get(ours + "/api/jobs")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	pool, err := pgxpool.New(context.Background(), dbURL+"&pool_max_conns=8")
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	bare := httptest.NewServer(bareHandler(pool))
	defer bare.Close()

	// 2,000 jobs, so that the list reads a real page.
	pgtest.Exec(b, dbURL, `INSERT INTO jobs (job_type, user_id, input_manifest, created_at)
		SELECT 'rca_analysis', 'user' || (i % 10), jsonb_build_object('files', jsonb_build_array('a.log', 'b.log')),
		       now() - make_interval(secs => i) FROM generate_series(1, 2000) AS i`)
	// Plan as a live table would be planned: with statistics, not
	// whatever autovacuum happened to have gathered by then.
	pgtest.Exec(b, dbURL, `ANALYZE jobs`)
	var id string
	row := pool.QueryRow(context.Background(), `SELECT id::text FROM jobs ORDER BY created_at DESC LIMIT 1`)
	if err := row.Scan(&id); err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"job_type":"rca_analysis","user_id":"bench","input_manifest":{"files":["a.log"]}}`)
	cases := []struct {
		name, method, path string
		body               []byte
		want               int
	}{
		{"GET_job", "GET", "/api/jobs/" + id, nil, 200},
		{"GET_jobs_limit_50", "GET", "/api/jobs?limit=50", nil, 200},
		{"POST_job", "POST", "/api/jobs", body, 201},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var results [2]loadResult
			for round := range 2 {
				for i, base := range []string{bare.URL, ours} {
					r := drive(b, c, tc.method, base+tc.path, tc.body, tc.want, conc, time.Duration(seconds)*time.Second)
					results[i].add(r)
					_ = round
				}
			}
			bareR, oursR := results[0], results[1]
			b.ReportMetric(bareR.rps(), "bare-rps")
			b.ReportMetric(oursR.rps(), "ours-rps")
			b.ReportMetric(oursR.rps()/bareR.rps(), "rps-ratio")
			b.ReportMetric(bareR.p99(), "bare-p99-ms")
			b.ReportMetric(oursR.p99(), "ours-p99-ms")
			b.ReportMetric(oursR.p99()/bareR.p99(), "p99-ratio")
		})
	}
}

// loadSettings reads LOAD_SECONDS (default 5), the length of one round,
// and LOAD_CONCURRENCY (default 16), the number of concurrent clients.
func loadSettings() (seconds, conc int) {
	seconds, _ = strconv.Atoi(os.Getenv("LOAD_SECONDS"))
	if seconds <= 0 {
		seconds = 5
	}
	conc, _ = strconv.Atoi(os.Getenv("LOAD_CONCURRENCY"))
	if conc <= 0 {
		conc = 16
	}
	return seconds, conc
}

type loadResult struct {
	n       int
	elapsed time.Duration
	lat     []time.Duration
}

func (r *loadResult) add(o loadResult) {
	r.n += o.n
	r.elapsed += o.elapsed
	r.lat = append(r.lat, o.lat...)
}

func (r loadResult) rps() float64 { return float64(r.n) / r.elapsed.Seconds() }

func (r loadResult) p99() float64 {
	slices.Sort(r.lat)
	return float64(r.lat[int(0.99*float64(len(r.lat)-1))].Microseconds()) / 1000
}

// drive runs conc clients against url for d, bounded in time and count.
func drive(b *testing.B, c *http.Client, method, url string, body []byte, want, conc int, d time.Duration) loadResult {
	return driveWith(b, c, method, url, body, nil, want, conc, d)
}

// driveWith is drive with extra request headers (a bearer token).
func driveWith(b *testing.B, c *http.Client, method, url string, body []byte, header http.Header, want, conc int, d time.Duration) loadResult {
	var (
		mu    sync.Mutex
		lat   []time.Duration
		count atomic.Int64
		wg    sync.WaitGroup
	)
	const maxRequests = 2_000_000
	deadline := time.Now().Add(d)
	began := time.Now()
	for range conc {
		wg.Go(func() {
			var local []time.Duration
			for time.Now().Before(deadline) && count.Add(1) <= maxRequests {
				req, _ := http.NewRequest(method, url, bytes.NewReader(body))
				if body != nil {
					req.Header.Set("Content-Type", "application/json")
				}
				for k, v := range header {
					req.Header[k] = v
				}
				t0 := time.Now()
				resp, err := c.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				local = append(local, time.Since(t0))
				if resp.StatusCode != want {
					b.Errorf("%s %s = %d", method, url, resp.StatusCode)
					return
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return loadResult{n: len(lat), elapsed: time.Since(began), lat: lat}
}

// bareHandler is the baseline: plain net/http and pgxpool, the same SQL and
// JSON shape, and none of this service's validation, deadlines, retries,
// fail-fast gate, metrics, logging or middleware.
func bareHandler(pool *pgxpool.Pool) http.Handler {
	const cols = `id, job_type, status, user_id, provider, model, model_config, input_manifest,
		priority, retry_count, max_retries, created_at, updated_at, started_at, completed_at,
		result_data, outputs, ticketing, source, error_message`
	scan := func(row pgx.Row) (jobs.Job, error) {
		var j jobs.Job
		err := row.Scan(&j.ID, &j.JobType, &j.Status, &j.UserID, &j.Provider, &j.Model, &j.ModelConfig,
			&j.InputManifest, &j.Priority, &j.RetryCount, &j.MaxRetries, &j.CreatedAt, &j.UpdatedAt,
			&j.StartedAt, &j.CompletedAt, &j.ResultData, &j.Outputs, &j.Ticketing, &j.Source, &j.ErrorMessage)
		return j, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := uuid.Parse(r.PathValue("id"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		j, err := scan(pool.QueryRow(r.Context(), `SELECT `+cols+` FROM jobs WHERE id = $1`, id))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(j)
	})
	mux.HandleFunc("GET /api/jobs", func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		rows, err := pool.Query(r.Context(), `SELECT `+cols+` FROM jobs
			WHERE ($1 = '' OR user_id = $1) AND ($2 = '' OR status = $2)
			ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4`, "", "", limit, 0)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (jobs.Job, error) { return scan(row) })
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(list)
	})
	mux.HandleFunc("POST /api/jobs", func(w http.ResponseWriter, r *http.Request) {
		var in jobs.NewJob
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		tx, err := pool.Begin(r.Context())
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer tx.Rollback(context.Background())
		j, err := scan(tx.QueryRow(r.Context(), `INSERT INTO jobs (job_type, user_id, input_manifest)
			VALUES ($1, $2, $3::jsonb) RETURNING `+cols, in.JobType, in.UserID, string(in.InputManifest)))
		if err == nil {
			_, err = tx.Exec(r.Context(), `SELECT pg_advisory_xact_lock(1)`)
		}
		if err == nil {
			_, err = tx.Exec(r.Context(), `INSERT INTO job_events (job_id, event_type, data) VALUES ($1, 'created', $2::jsonb)`,
				j.ID, fmt.Sprintf(`{"input_manifest":%s}`, j.InputManifest))
		}
		if err == nil {
			err = tx.Commit(r.Context())
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(j)
	})
	return mux
}
