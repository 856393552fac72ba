package main

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/pgtest"
)

// BenchmarkAuthCost measures what authentication and rate limiting cost a
// request: the same routes on one database, served by an instance with
// AUTH_MODE=off and no limits (the baseline) and by one with the defaults
// (AUTH_MODE=writes, limits in Redis, set high enough never to refuse),
// anonymous, with an access token (a session lookup per request) and with
// an API token, in alternating rounds:
//
//	go test ./cmd/api -run '^$' -bench AuthCost -benchtime 1x -timeout 20m
//
// LOAD_SECONDS (default 5) and LOAD_CONCURRENCY (default 16) as for
// BenchmarkAPIvsBare.
func BenchmarkAuthCost(b *testing.B) {
	seconds, conc := loadSettings()
	dbURL, _ := pgtest.NewDatabase(b)
	base := fastEnv(dbURL)
	base["LOG_LEVEL"] = "error"
	base["DB_MAX_CONNS"] = "8"
	base["JWT_SECRET_KEY"] = rand.Text() + rand.Text()
	open := startServiceB(b, base)
	guarded := map[string]string{}
	for k, v := range base {
		guarded[k] = v
	}
	guarded["AUTH_MODE"], guarded["RATE_LIMITING_ENABLED"] = "writes", "true"
	guarded["REDIS_URL"] = "redis://" + pgtest.RequireRedis(b) + "/0"
	for _, k := range []string{"RATE_LIMIT_READ", "RATE_LIMIT_WRITE", "RATE_LIMIT_AUTH"} {
		guarded[k] = "10000000/minute"
	}
	guarded["ADMIN_EMAIL"], guarded["ADMIN_USERNAME"], guarded["ADMIN_PASSWORD"] = "b@example.com", "bench", "bench-password-1"
	secured := startServiceB(b, guarded)

	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc * 2}, Timeout: 10 * time.Second}
	var access string
	pgtest.Eventually(b, 15*time.Second, "admin can sign in", func() bool {
		resp, err := c.PostForm(secured+"/api/auth/login", url.Values{"username": {"bench"}, "password": {"bench-password-1"}})
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
	req, _ := http.NewRequest("POST", secured+"/api/auth/tokens", strings.NewReader(`{"name":"bench"}`))
	req.Header.Set("Authorization", "Bearer "+access)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	var created struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	pgtest.Exec(b, dbURL, `INSERT INTO jobs (job_type) SELECT 'rca_analysis' FROM generate_series(1, 100)`)
	id := ""
	{
		resp, err := c.Get(open + "/api/jobs?limit=1")
		if err != nil {
			b.Fatal(err)
		}
		var list []struct{ ID string }
		json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		id = list[0].ID
	}
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	body := []byte(`{"job_type":"rca_analysis","input_manifest":{"files":["a.log"]}}`)
	type variant struct {
		name, base string
		header     http.Header
	}
	cases := []struct {
		name, method, path string
		body               []byte
		want               int
		variants           []variant
	}{
		{"GET_job", "GET", "/api/jobs/" + id, nil, 200, []variant{
			{"off", open, nil}, {"anonymous", secured, nil}, {"access", secured, bearer(access)}, {"apitoken", secured, bearer(created.Token)}}},
		{"POST_job", "POST", "/api/jobs", body, 201, []variant{
			{"off", open, nil}, {"access", secured, bearer(access)}, {"apitoken", secured, bearer(created.Token)}}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			results := make([]loadResult, len(tc.variants))
			for range 2 {
				for i, v := range tc.variants {
					results[i].add(driveWith(b, c, tc.method, v.base+tc.path, tc.body, v.header, tc.want, conc, time.Duration(seconds)*time.Second))
				}
			}
			for i, v := range tc.variants {
				b.ReportMetric(results[i].rps(), v.name+"-rps")
				b.ReportMetric(results[i].p99(), v.name+"-p99-ms")
				if i > 0 {
					b.ReportMetric(results[i].rps()/results[0].rps(), v.name+"-rps-ratio")
				}
			}
		})
	}
}
