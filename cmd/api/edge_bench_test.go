package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rca-engine/api/internal/pgtest"
)

// BenchmarkEdgeSpeed compares the service with every protection on
// (AUTH_MODE=writes, rate limits on and shared through Redis, set high
// enough never to refuse) to the bare net/http + pgxpool server of
// BenchmarkAPIvsBare, on the two cheapest reads, anonymous, with an access
// token and with an API token, in alternating rounds in one run:
//
//	go test ./cmd/api -run '^$' -bench EdgeSpeed -benchtime 1x -timeout 20m
//
// Besides rps and p99 it reports the process's allocations per request
// (the load generator's included, so compare with the bare server's).
// LOAD_SECONDS (default 5) and LOAD_CONCURRENCY (default 16) as for
// BenchmarkAPIvsBare.
func BenchmarkEdgeSpeed(b *testing.B) {
	seconds, conc := loadSettings()
	dbURL, _ := pgtest.NewDatabase(b)
	env := fastEnv(dbURL)
	env["LOG_LEVEL"] = "error"
	env["DB_MAX_CONNS"] = "8"
	env["JWT_SECRET_KEY"] = rand.Text() + rand.Text()
	env["AUTH_MODE"], env["RATE_LIMITING_ENABLED"] = "writes", "true"
	env["REDIS_URL"] = "redis://" + pgtest.RequireRedis(b) + "/0"
	for _, k := range []string{"RATE_LIMIT_READ", "RATE_LIMIT_WRITE", "RATE_LIMIT_AUTH"} {
		env[k] = "10000000/minute"
	}
	// A name of its own: sign-in attempts are limited per account in the
	// shared Redis, and waiting for the admin spends some.
	admin := "bench-" + strings.ToLower(rand.Text()[:8])
	env["ADMIN_EMAIL"], env["ADMIN_USERNAME"], env["ADMIN_PASSWORD"] = admin+"@example.com", admin, "bench-password-1"
	env["RATE_LIMIT_LOGIN_ACCOUNT"], env["RATE_LIMIT_LOGIN_ADDRESS"] = "10000/15m", "10000/15m"
	ours := startServiceB(b, env)

	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc * 2}, Timeout: 10 * time.Second}
	var access string
	pgtest.Eventually(b, 15*time.Second, "admin can sign in", func() bool {
		resp, err := c.PostForm(ours+"/api/auth/login", url.Values{"username": {admin}, "password": {"bench-password-1"}})
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var tr struct {
			AccessToken string `json:"access_token"`
		}
		json.NewDecoder(resp.Body).Decode(&tr)
		access = tr.AccessToken
		return resp.StatusCode == 200
	})
	req, _ := http.NewRequest("POST", ours+"/api/auth/tokens", strings.NewReader(`{"name":"bench"}`))
	req.Header.Set("Authorization", "Bearer "+access)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	var created struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()

	pool, err := pgxpool.New(context.Background(), dbURL+"&pool_max_conns=8")
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	bare := httptest.NewServer(bareHandler(pool))
	defer bare.Close()
	pgtest.Exec(b, dbURL, `INSERT INTO jobs (job_type, user_id, input_manifest, created_at)
		SELECT 'rca_analysis', 'user' || (i % 10), jsonb_build_object('files', jsonb_build_array('a.log', 'b.log')),
		       now() - make_interval(secs => i) FROM generate_series(1, 2000) AS i`)
	pgtest.Exec(b, dbURL, `ANALYZE jobs`)
	var id string
	if err := pool.QueryRow(context.Background(), `SELECT id::text FROM jobs ORDER BY created_at DESC LIMIT 1`).Scan(&id); err != nil {
		b.Fatal(err)
	}
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	variants := []struct {
		name, base string
		header     http.Header
	}{{"bare", bare.URL, nil}, {"anonymous", ours, nil}, {"access", ours, bearer(access)}, {"apitoken", ours, bearer(created.Token)}}
	for _, tc := range []struct{ name, path string }{
		{"GET_job", "/api/jobs/" + id},
		{"GET_jobs_limit_50", "/api/jobs?limit=50"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			results := make([]loadResult, len(variants))
			mallocs := make([]uint64, len(variants))
			for range 2 {
				for i, v := range variants {
					var before, after runtime.MemStats
					runtime.ReadMemStats(&before)
					r := driveWith(b, c, "GET", v.base+tc.path, nil, v.header, 200, conc, time.Duration(seconds)*time.Second)
					runtime.ReadMemStats(&after)
					mallocs[i] += after.Mallocs - before.Mallocs
					results[i].add(r)
				}
			}
			for i, v := range variants {
				b.ReportMetric(results[i].rps(), v.name+"-rps")
				b.ReportMetric(results[i].p99(), v.name+"-p99-ms")
				b.ReportMetric(float64(mallocs[i])/float64(results[i].n), v.name+"-allocs/req")
				if i > 0 {
					b.ReportMetric(results[i].rps()/results[0].rps(), v.name+"-rps-ratio")
					b.ReportMetric(results[i].p99()/results[0].p99(), v.name+"-p99-ratio")
				}
			}
		})
	}
}
