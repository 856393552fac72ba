package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rca-engine/api/internal/faults"
	"github.com/rca-engine/api/internal/pgtest"
)

// service is one running instance of the whole binary's logic, configured
// only through the variables the test gives it (never the test process's
// own environment), on a free port.
type service struct {
	base string
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fastEnv shortens the reconnect and check intervals so that tests take
// seconds; the mechanisms are the production ones.
func fastEnv(dbURL string) map[string]string {
	return map[string]string{
		"PORT":                 "0",
		"HOST":                 "127.0.0.1",
		"ENVIRONMENT":          "test",
		"LOG_LEVEL":            "debug",
		"DATABASE_URL":         dbURL,
		"DB_CONNECT_TIMEOUT":   "1s",
		"DB_ACQUIRE_TIMEOUT":   "1s",
		"DB_QUERY_TIMEOUT":     "2s",
		"DB_PING_TIMEOUT":      "300ms",
		"DB_CHECK_INTERVAL":    "200ms",
		"DB_RECONNECT_MAX":     "500ms",
		"HTTP_REQUEST_TIMEOUT": "5s",
		// Tests of other behaviour; auth_test.go covers the defaults.
		"AUTH_MODE":             "off",
		"RATE_LIMITING_ENABLED": "false",
	}
}

func startService(t *testing.T, env map[string]string) *service {
	t.Helper()
	if _, ok := env["UPLOAD_DIR"]; !ok {
		env["UPLOAD_DIR"] = t.TempDir() // never the repository's ./uploads
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	logs := &syncBuffer{}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	go func() { done <- run(ctx, lookup, nil, logs, ready) }()
	select {
	case addr := <-ready:
		t.Cleanup(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("service did not shut down within 30s")
			}
			if t.Failed() {
				t.Logf("service logs:\n%s", logs.String())
			}
		})
		return &service{base: "http://" + addr, logs: logs}
	case err := <-done:
		cancel()
		t.Fatalf("service did not start: %v\n%s", err, logs.String())
	case <-time.After(5 * time.Second):
		cancel()
		t.Fatalf("service did not start listening within 5s")
	}
	return nil
}

type response struct {
	status int
	header http.Header
	body   []byte
	took   time.Duration
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

var client = &http.Client{Timeout: 20 * time.Second}

func (s *service) do(t *testing.T, method, path string, header map[string]string) response {
	t.Helper()
	return s.send(t, method, path, "", nil, header)
}

func (s *service) get(t *testing.T, path string) response { return s.do(t, "GET", path, nil) }

func TestDatabaseDownAtStartThenBack(t *testing.T) {
	dbURL, host := pgtest.NewDatabase(t)
	proxy := faults.NewT(t, host)
	proxy.Down()
	began := time.Now()
	svc := startService(t, fastEnv(pgtest.WithHost(t, dbURL, proxy.Addr())))

	live := svc.get(t, "/api/health/live")
	if live.status != 200 {
		t.Fatalf("live = %d, want 200 while the database is down", live.status)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("first 200 on /api/health/live took %s with the database down", took)
	}
	pgtest.Eventually(t, 5*time.Second, "postgres reported down", func() bool {
		return strings.Contains(string(svc.get(t, "/api/health").body), `"state":"down"`)
	})

	if r := svc.get(t, "/api/health/ready"); r.status != 503 {
		t.Errorf("ready = %d, want 503", r.status)
	}
	h := svc.get(t, "/api/health")
	if h.status != 503 || h.json(t)["status"] != "fail" || h.header.Get("Content-Type") != "application/health+json" {
		t.Errorf("health = %d %s %q, want 503 fail application/health+json", h.status, h.body, h.header.Get("Content-Type"))
	}
	if got := live.header.Get("X-Degraded"); got != "postgres" && svc.get(t, "/api/health/live").header.Get("X-Degraded") != "postgres" {
		t.Errorf("live X-Degraded = %q; every response must name the degraded dependency", got)
	}

	for _, path := range []string{"/api/jobs", "/api/jobs/"} {
		r := svc.get(t, path)
		if r.status != 503 {
			t.Fatalf("GET %s = %d %s, want 503", path, r.status, r.body)
		}
		if r.took > time.Second {
			t.Errorf("GET %s took %s while the database is down; it must fail fast", path, r.took)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("Content-Type = %q", ct)
		}
		if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 {
			t.Errorf("Retry-After = %q, want a whole number of seconds >= 1", r.header.Get("Retry-After"))
		}
		if got := r.header.Get("X-Degraded"); got != "postgres" {
			t.Errorf("X-Degraded = %q, want postgres", got)
		}
		body := r.json(t)
		dep, _ := body["dependency"].(map[string]any)
		if dep["name"] != "postgres" || dep["status"] != "down" || body["detail"] == "" || body["request_id"] != r.header.Get("X-Request-ID") {
			t.Errorf("problem body = %s", r.body)
		}
	}

	if err := proxy.Up(); err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	pgtest.Eventually(t, 10*time.Second, "GET /api/jobs succeeds after the database returns", func() bool {
		return svc.get(t, "/api/jobs").status == 200
	})
	t.Logf("recovered %s after the database returned", time.Since(began).Round(time.Millisecond))
	r := svc.get(t, "/api/jobs")
	if string(bytes.TrimSpace(r.body)) != "[]" || r.header.Get("X-Degraded") != "" {
		t.Errorf("after recovery: body %s, X-Degraded %q", r.body, r.header.Get("X-Degraded"))
	}
	if r := svc.get(t, "/api/health/ready"); r.status != 200 {
		t.Errorf("ready after recovery = %d", r.status)
	}
	if h := svc.get(t, "/api/health"); h.status != 200 || h.json(t)["status"] != "pass" {
		t.Errorf("health after recovery = %d %s", h.status, h.body)
	}
	if n := strings.Count(svc.logs.String(), "postgres is unavailable"); n != 1 {
		t.Errorf("logged the outage %d times; a state change is logged once", n)
	}
}

func TestRedisDownDegradesOnlyRedis(t *testing.T) {
	dbURL, _ := pgtest.NewDatabase(t)
	proxy := faults.NewT(t, pgtest.RequireRedis(t))
	proxy.Down()
	env := fastEnv(dbURL)
	env["REDIS_URL"] = "redis://" + proxy.Addr() + "/0"
	svc := startService(t, env)
	pgtest.Eventually(t, 10*time.Second, "postgres up and redis down", func() bool {
		r := svc.get(t, "/api/jobs")
		return r.status == 200 && r.header.Get("X-Degraded") == "redis"
	})
	h := svc.get(t, "/api/health")
	if h.status != 200 || h.json(t)["status"] != "warn" {
		t.Errorf("health with Redis down = %d %s, want 200 warn", h.status, h.body)
	}
	if r := svc.get(t, "/api/health/ready"); r.status != 200 {
		t.Errorf("ready with only Redis down = %d, want 200", r.status)
	}
	st := svc.get(t, "/api/status").json(t)
	if st["status"] != "degraded" {
		t.Errorf("/api/status = %v", st)
	}

	if err := proxy.Up(); err != nil {
		t.Fatal(err)
	}
	pgtest.Eventually(t, 10*time.Second, "redis back", func() bool {
		r := svc.get(t, "/api/health")
		return r.status == 200 && r.json(t)["status"] == "pass" && r.header.Get("X-Degraded") == ""
	})
}

// TestGoRedisLogsReachTheServiceLog: go-redis's own log lines come out in
// the service's structured log, not on stderr. Any go-redis client of the
// process logs through the logger the last run installed, so a client of
// the test's own shows it as well as the service's would.
func TestGoRedisLogsReachTheServiceLog(t *testing.T) {
	dbURL, _ := pgtest.NewDatabase(t)
	env := fastEnv(dbURL)
	env["REDIS_URL"] = "redis://" + pgtest.RequireRedis(t) + "/0"
	env["LOG_FORMAT"] = "json"
	svc := startUp(t, env)
	rdb := redis.NewClient(&redis.Options{Addr: pgtest.RequireRedis(t)})
	defer rdb.Close()
	// go-redis rounds an expiry under 1 ms up, and says so in its log.
	if err := rdb.Set(context.Background(), "test:cmd:"+strconv.FormatInt(time.Now().UnixNano(), 36), "v", 500*time.Microsecond).Err(); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(svc.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "go-redis" && m["level"] == "WARN" &&
			strings.Contains(fmt.Sprint(m["detail"]), "truncating to 1ms") {
			return
		}
	}
	t.Fatalf("no go-redis line in the service's log:\n%s", svc.logs.String())
}

func TestJobsListing(t *testing.T) {
	dbURL, _ := pgtest.NewDatabase(t)
	svc := startUp(t, fastEnv(dbURL))
	pgtest.Exec(t, dbURL, `INSERT INTO jobs (job_type, user_id, status, created_at)
		SELECT 'rca_analysis', CASE WHEN i % 2 = 0 THEN 'alice' ELSE 'bob' END,
		       CASE WHEN i % 3 = 0 THEN 'completed' ELSE 'pending' END,
		       now() - make_interval(secs => i)
		FROM generate_series(1, 7) AS i`)

	var all []map[string]any
	if err := json.Unmarshal(svc.get(t, "/api/jobs").body, &all); err != nil || len(all) != 7 {
		t.Fatalf("list = %d jobs (%v), want 7", len(all), err)
	}
	for i := 1; i < len(all); i++ {
		if all[i-1]["created_at"].(string) < all[i]["created_at"].(string) {
			t.Errorf("jobs are not newest first at %d", i)
		}
	}
	for _, field := range []string{"id", "job_type", "status", "user_id", "provider", "model", "input_manifest",
		"priority", "retry_count", "max_retries", "created_at", "updated_at", "duration_seconds", "error_message"} {
		if _, ok := all[0][field]; !ok {
			t.Errorf("job has no %q field: %v", field, all[0])
		}
	}

	tests := []struct {
		query string
		want  int
	}{
		{"?user_id=alice", 3},
		{"?status=completed", 2},
		{"?user_id=bob&status=pending", 3},
		{"?limit=2", 2},
		{"?limit=5&offset=5", 2},
		{"?offset=7", 0},
	}
	for _, tt := range tests {
		var got []map[string]any
		r := svc.get(t, "/api/jobs"+tt.query)
		if err := json.Unmarshal(r.body, &got); err != nil || r.status != 200 || len(got) != tt.want {
			t.Errorf("GET /api/jobs%s = %d, %d jobs, want %d", tt.query, r.status, len(got), tt.want)
		}
	}
	// Pages never overlap or skip, even with equal timestamps.
	pgtest.Exec(t, dbURL, `INSERT INTO jobs (job_type, created_at) SELECT 'same', '2020-01-01' FROM generate_series(1, 5)`)
	seen := map[string]bool{}
	for off := 0; off < 12; off += 3 {
		var page []map[string]any
		json.Unmarshal(svc.get(t, "/api/jobs?limit=3&offset="+strconv.Itoa(off)).body, &page)
		for _, j := range page {
			if seen[j["id"].(string)] {
				t.Errorf("job %s appears on two pages", j["id"])
			}
			seen[j["id"].(string)] = true
		}
	}
	if len(seen) != 12 {
		t.Errorf("paging saw %d jobs, want 12", len(seen))
	}
}

func TestBadQueriesAreRejected(t *testing.T) {
	dbURL, _ := pgtest.NewDatabase(t)
	svc := startUp(t, fastEnv(dbURL))
	tests := []struct{ query, field string }{
		{"?limit=0", "limit"},
		{"?limit=201", "limit"},
		{"?limit=ten", "limit"},
		{"?limit=99999999999999999999999", "limit"},
		{"?offset=-1", "offset"},
		{"?status=done", "status"},
		{"?stauts=pending", "stauts"},
		{"?user_id=" + strings.Repeat("x", 101), "user_id"},
		{"?user_id=%00", "user_id"},
		{"?user_id=%ff", "user_id"},
		{"?limit=1&limit=2", "limit"},
	}
	for _, tt := range tests {
		r := svc.get(t, "/api/jobs"+tt.query)
		if r.status != 422 || r.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET /api/jobs%s = %d %s, want 422 problem", tt.query, r.status, r.body)
			continue
		}
		body := r.json(t)
		errs, _ := body["errors"].([]any)
		if len(errs) == 0 || errs[0].(map[string]any)["field"] != tt.field || body["detail"] == "" {
			t.Errorf("GET /api/jobs%s: problem %s does not name field %q", tt.query, r.body, tt.field)
		}
	}
	if r := svc.get(t, "/api/nope"); r.status != 404 || r.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("unknown route = %d %s", r.status, r.body)
	}
	if r := svc.do(t, "DELETE", "/api/jobs", nil); r.status != 405 {
		t.Errorf("DELETE /api/jobs = %d, want 405", r.status)
	}
}

func TestEdgeBehaviour(t *testing.T) {
	dbURL, _ := pgtest.NewDatabase(t)
	env := fastEnv(dbURL)
	env["CORS_ALLOWED_ORIGINS"] = "https://ui.example.com"
	svc := startService(t, env)

	r := svc.do(t, "GET", "/api/", map[string]string{"X-Request-ID": "trace-123"})
	if r.status != 200 || r.header.Get("X-Request-ID") != "trace-123" {
		t.Errorf("GET /api/ = %d, X-Request-ID %q", r.status, r.header.Get("X-Request-ID"))
	}
	if r := svc.get(t, "/api"); r.status != 200 {
		t.Errorf("GET /api = %d, want 200 without a redirect", r.status)
	}
	r = svc.do(t, "GET", "/api/", map[string]string{"X-Request-ID": "bad id\twith spaces"})
	if id := r.header.Get("X-Request-ID"); id == "" || strings.ContainsAny(id, " \t") {
		t.Errorf("an unsafe client request id must be replaced, got %q", id)
	}
	for _, h := range []string{"X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy", "Referrer-Policy"} {
		if r.header.Get(h) == "" {
			t.Errorf("missing security header %s", h)
		}
	}

	ok := svc.do(t, "GET", "/api/health/live", map[string]string{"Origin": "https://ui.example.com"})
	if ok.header.Get("Access-Control-Allow-Origin") != "https://ui.example.com" || ok.header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("allowed origin: ACAO %q ACAC %q", ok.header.Get("Access-Control-Allow-Origin"), ok.header.Get("Access-Control-Allow-Credentials"))
	}
	evil := svc.do(t, "GET", "/api/health/live", map[string]string{"Origin": "https://evil.example.com"})
	if got := evil.header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("an origin not on the list got Access-Control-Allow-Origin %q", got)
	}

	pgtest.Eventually(t, 10*time.Second, "database up", func() bool { return svc.get(t, "/api/jobs").status == 200 })
	m := string(svc.get(t, "/metrics").body)
	for _, want := range []string{
		`rca_http_requests_total{method="GET",route="/api/jobs",status="200"}`,
		`rca_dependency_up{dependency="postgres"} 1`,
		`rca_db_pool_connections{state="max"}`,
		`rca_http_request_duration_seconds_bucket{method="GET",route="/api/jobs",le="0.005"}`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestHealthNeverTouchesADeadDatabase(t *testing.T) {
	dbURL, host := pgtest.NewDatabase(t)
	proxy := faults.NewT(t, host)
	svc := startService(t, fastEnv(pgtest.WithHost(t, dbURL, proxy.Addr())))
	pgtest.Eventually(t, 10*time.Second, "database up", func() bool { return svc.get(t, "/api/jobs").status == 200 })

	restore, err := proxy.Blackhole()
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	// While packets vanish, probes answer from the state kept in the
	// background: each one quickly, whatever the database does.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		for _, path := range []string{"/api/health", "/api/health/ready", "/api/health/live", "/api/status"} {
			if r := svc.get(t, path); r.took > 500*time.Millisecond {
				t.Fatalf("GET %s took %s during a blackhole", path, r.took)
			}
		}
	}
	pgtest.Eventually(t, 10*time.Second, "the blackhole is noticed", func() bool {
		return svc.get(t, "/api/health").status == 503
	})
}

func TestInvalidConfigurationNamesTheVariable(t *testing.T) {
	tests := map[string]string{
		"PORT":                 "eighty",
		"DB_QUERY_TIMEOUT":     "-5s",
		"CORS_ALLOWED_ORIGINS": "*",
		"DATABASE_URL":         "postgres://user:secret@host:notaport/db",
		"LOG_LEVEL":            "chatty",
	}
	for key, value := range tests {
		t.Run(key, func(t *testing.T) {
			env := map[string]string{"PORT": "0", key: value}
			lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
			err := run(context.Background(), lookup, nil, io.Discard, nil)
			if err == nil || !strings.Contains(err.Error(), key) {
				t.Errorf("run with %s=%q: err = %v, want one naming %s", key, value, err, key)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

// TestFirstRunCreatesTheDatabase is a newcomer's first `go run ./cmd/api`:
// PostgreSQL runs, the database in DATABASE_URL does not exist yet, and the
// service must end up fully working with no other step.
func TestFirstRunCreatesTheDatabase(t *testing.T) {
	name := "rca_first_run_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	dbURL := strings.Replace(pgtest.AdminURL(), "/postgres?", "/"+name+"?", 1)
	if dbURL == pgtest.AdminURL() {
		t.Fatalf("cannot derive a database URL from %s", pgtest.AdminURL())
	}
	t.Cleanup(func() { pgtest.Exec(t, pgtest.AdminURL(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	env := fastEnv(dbURL)
	env["ENVIRONMENT"] = "development" // DB_CREATE_DATABASE's default is on here
	svc := startService(t, env)
	pgtest.Eventually(t, 20*time.Second, "health passes", func() bool { return svc.get(t, "/api/health").status == 200 })
	if r := svc.postJSON(t, "/api/jobs", map[string]any{"job_type": "rca_analysis"}, nil); r.status != 201 {
		t.Fatalf("POST /api/jobs on the new database = %d %s", r.status, r.body)
	}
	if !strings.Contains(svc.logs.String(), "created database") {
		t.Errorf("the logs do not say the database was created:\n%s", svc.logs.String())
	}
}

// TestShutdownStopsEveryComponentInReverse: on SIGTERM run stops the HTTP
// server and then every background component, last started first, and
// waits for each, so that nothing is left running when it returns.
func TestShutdownStopsEveryComponentInReverse(t *testing.T) {
	dbURL, _ := pgtest.NewDatabase(t)
	env := fastEnv(dbURL)
	env["ADMIN_EMAIL"], env["ADMIN_USERNAME"], env["ADMIN_PASSWORD"] = "root@example.com", "root", "a-long-password-1"
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	logs := &syncBuffer{}
	go func() { done <- run(ctx, mapLookup(env), nil, logs, ready) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("did not start")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return within 30 s of the signal")
	}
	var started, stopped []string
	for _, line := range strings.Split(logs.String(), "\n") {
		_, c, ok := strings.Cut(line, "component=")
		c, _, _ = strings.Cut(c, " ")
		switch {
		case !ok:
		case strings.Contains(line, `msg="component started"`):
			started = append(started, c)
		case strings.Contains(line, `msg="component stopped"`):
			stopped = append(stopped, c)
		}
	}
	if len(started) < 5 {
		t.Fatalf("started only %q", started)
	}
	slices.Reverse(started)
	if !slices.Equal(started, stopped) {
		t.Fatalf("stopped %q, want the reverse of the start order %q", stopped, started)
	}
}
