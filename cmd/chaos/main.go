// Command chaos runs the service against PostgreSQL through fault-injecting
// proxies that behave like the middleboxes that broke the original (a port
// proxy forgetting idle connections, resets, blackholes, refusals, a
// database restart), drives a mixed workload through it, and reports what
// a user would notice: failures, fast 503s, the slowest request, recovery
// time after each fault, and the zero-loss checks: acknowledged writes
// missing from the database, duplicated writes, and SSE events missed or
// repeated. Analysis jobs are started through the API all along and run by
// two worker-only processes, one killed (SIGKILL) and one stopped (SIGTERM)
// while it runs a job, each replaced: every started job must reach exactly
// one outcome. It exits non-zero if any zero-loss check fails.
//
//	go run ./cmd/chaos -profile short            # about 45 s, what CI runs
//	go run ./cmd/chaos -profile full -out r.json # about 3 min
//	go run ./cmd/chaos -profile full -naive      # pgx defaults, no retries
//
// Everything runs on loopback and stops by itself: the workload is bounded in
// time and in request count.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rca-engine/api/internal/faults"
)

type fault struct {
	name     string
	duration time.Duration
	apply    func() (clear func(), err error)
}

type profile struct {
	warmup, gap, idleLimit time.Duration
	rounds                 int
	faultDur               time.Duration
	maxRequests            int64
}

var profiles = map[string]profile{
	"short": {warmup: 4 * time.Second, gap: 4 * time.Second, idleLimit: 3 * time.Second, rounds: 1, faultDur: 3 * time.Second, maxRequests: 200_000},
	"full":  {warmup: 10 * time.Second, gap: 10 * time.Second, idleLimit: 5 * time.Second, rounds: 2, faultDur: 8 * time.Second, maxRequests: 2_000_000},
}

// Report is what the run measured.
type Report struct {
	Profile          string          `json:"profile"`
	Naive            bool            `json:"naive"`
	RealRestart      bool            `json:"real_database_restart"`
	DurationSeconds  float64         `json:"duration_seconds"`
	Requests         int64           `json:"requests"`
	Successes        int64           `json:"successes"`
	Fast503          int64           `json:"fast_503"`
	Slow503          int64           `json:"slow_503"`
	OtherFailures    int64           `json:"other_failures"`
	SlowestMs        float64         `json:"slowest_request_ms"`
	P99Ms            float64         `json:"p99_ms"`
	WritesAttempted  int64           `json:"writes_attempted"`
	WritesAcked      int64           `json:"writes_acknowledged"`
	WritesGaveUp     int64           `json:"writes_given_up"`
	AckedMissing     int64           `json:"acknowledged_writes_missing"`
	Duplicates       int64           `json:"duplicated_writes"`
	SSEEvents        int64           `json:"sse_events_expected"`
	SSEMissed        int64           `json:"sse_events_missed"`
	SSERepeated      int64           `json:"sse_events_repeated"`
	SSEReconnects    int64           `json:"sse_reconnects"`
	IdleConnsDropped int64           `json:"idle_connections_forgotten_by_port_proxy"`
	Recovery         []RecoveryPoint `json:"recovery"`
	// Analysis: jobs started through the API while the faults ran, run by
	// two workers (the service's own and a worker-only process that is
	// killed and then stopped mid-run): each must reach exactly one outcome.
	Analysis AnalysisReport `json:"analysis"`
}

// RecoveryPoint is the time from the end of a fault to the first
// successful database-backed request started after it.
type RecoveryPoint struct {
	Fault string  `json:"fault"`
	Ms    float64 `json:"recovery_ms"`
}

func main() {
	prof := flag.String("profile", "short", "short or full")
	naive := flag.Bool("naive", false, "run the service with pgx defaults and no retries, for comparison")
	out := flag.String("out", "", "write the report as JSON to this file")
	adminURL := flag.String("db", envOr("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"), "PostgreSQL superuser URL (loopback)")
	restart := flag.String("restart-cmd", defaultRestart(), "command that restarts the local PostgreSQL server; empty simulates a restart at the proxy")
	flag.Parse()
	p, ok := profiles[*prof]
	if !ok {
		fail("unknown profile %q", *prof)
	}
	rep, err := runHarness(p, *prof, *naive, *adminURL, *restart)
	if err != nil {
		fail("%v", err)
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	fmt.Println(string(b))
	if *out != "" {
		if err := os.WriteFile(*out, b, 0o644); err != nil {
			fail("%v", err)
		}
	}
	var problems []string
	if rep.AckedMissing > 0 {
		problems = append(problems, fmt.Sprintf("%d acknowledged writes missing", rep.AckedMissing))
	}
	if rep.Duplicates > 0 {
		problems = append(problems, fmt.Sprintf("%d duplicated writes", rep.Duplicates))
	}
	if rep.SSEMissed > 0 || rep.SSERepeated > 0 {
		problems = append(problems, fmt.Sprintf("SSE: %d missed, %d repeated", rep.SSEMissed, rep.SSERepeated))
	}
	if a := rep.Analysis; a.Unfinished > 0 || a.Duplicates > 0 || a.Started == 0 {
		problems = append(problems, fmt.Sprintf("analysis: %d of %d started jobs not finished, %d with duplicate or inconsistent outcomes",
			a.Unfinished, a.Started, a.Duplicates))
	}
	if rep.WritesAcked == 0 || rep.SSEEvents == 0 {
		problems = append(problems, "the workload made no progress")
	}
	if len(problems) > 0 {
		fmt.Printf("chaos: FAILED: %s\n", strings.Join(problems, "; "))
		os.Exit(1)
	}
	fmt.Println("chaos: zero-loss checks passed")
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "chaos: "+format+"\n", args...)
	os.Exit(2)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// defaultRestart is the machine's own way to restart its PostgreSQL
// cluster, if there is one (Debian's pg_ctlcluster, as root).
func defaultRestart() string {
	entries, err := os.ReadDir("/etc/postgresql")
	if err != nil || len(entries) == 0 || os.Geteuid() != 0 {
		return ""
	}
	if _, err := exec.LookPath("pg_ctlcluster"); err != nil {
		return ""
	}
	return "pg_ctlcluster --skip-systemctl-redirect " + entries[0].Name() + " main restart -m fast"
}

// restartDatabase restarts the real server and waits until it accepts
// connections again.
func restartDatabase(restartCmd, adminURL string) error {
	args := strings.Fields(restartCmd)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", restartCmd, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, adminURL)
		cancel()
		if err == nil {
			c.Close(context.Background())
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errors.New("PostgreSQL did not come back within 60 s of its restart")
}

func runHarness(p profile, name string, naive bool, adminURL, restartCmd string) (*Report, error) {
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil, fmt.Errorf("reach PostgreSQL (set -db or TEST_DATABASE_URL): %w", err)
	}
	dbName := "rca_chaos_" + strings.ToLower(rand.Text()[:8])
	_, err = admin.Exec(ctx, "CREATE DATABASE "+dbName)
	admin.Close(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		// A new connection: a restart during the run ended the old one.
		if c, err := pgx.Connect(context.Background(), adminURL); err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+dbName+" WITH (FORCE)")
			c.Close(context.Background())
		}
	}()
	u, _ := url.Parse(adminURL)
	upstream := u.Host
	u.Path = "/" + dbName
	directURL := u.String()

	// service -> port proxy (forgets idle connections) -> toxiproxy -> PostgreSQL
	tox, err := faults.New("chaos-pg", upstream)
	if err != nil {
		return nil, err
	}
	defer tox.Close()
	pp, err := faults.NewPortProxy(tox.Addr(), p.idleLimit)
	if err != nil {
		return nil, err
	}
	defer pp.Close()
	u.Host = pp.Addr()
	serviceURL := u.String()

	// The API and two worker-only processes share the database path under
	// faults and the upload directory; workers are killed and stopped
	// mid-job below.
	uploadDir, err := os.MkdirTemp("", "rca-chaos-uploads")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(uploadDir)
	base, stop, _, err := startService(serviceURL, naive, p.idleLimit, uploadDir, "RCA_ROLES=api")
	if err != nil {
		return nil, err
	}
	defer stop()
	workers, err := startWorkers(2, func(id string) (func(), func(), error) {
		_, stop, kill, err := startService(serviceURL, naive, p.idleLimit, uploadDir, "RCA_ROLES=worker", "WORKER_ID="+id)
		return stop, kill, err
	})
	if err != nil {
		return nil, err
	}
	defer workers.stopAll()

	var startCursor int64
	if conn, err := pgx.Connect(ctx, directURL); err == nil {
		_ = conn.QueryRow(ctx, "SELECT COALESCE(max(id), 0) FROM job_events").Scan(&startCursor)
		conn.Close(ctx)
	}

	rep := &Report{Profile: name, Naive: naive}
	w := newWorkload(base, p.maxRequests)
	began := time.Now()
	w.start(startCursor)
	analysisJobs := newAnalysisLoad(base, 300*time.Millisecond, 500)
	analysisJobs.start()
	direct, err := pgx.Connect(ctx, directURL)
	if err != nil {
		return nil, err
	}
	defer direct.Close(ctx)

	// A real restart's apply returns once the server is back, so recovery
	// is measured from then; a simulated one lasts like the other faults.
	restartDur := p.faultDur
	if restartCmd != "" {
		restartDur = 0
	}
	faultList := []fault{
		{"idle longer than the port proxy's limit", p.idleLimit + 2*time.Second, func() (func(), error) {
			// Nothing reaches the database for a while: the port proxy
			// forgets the pooled connections, and the next requests meet
			// sockets that silently go nowhere.
			w.paused.Store(true)
			return func() { w.paused.Store(false) }, nil
		}},
		{"connection resets", p.faultDur, func() (func(), error) { return tox.ResetPeer() }},
		{"blackhole", p.faultDur, func() (func(), error) { return tox.Blackhole() }},
		{"refused", p.faultDur, func() (func(), error) { tox.Down(); return func() { _ = tox.Up() }, nil }},
		{"database restart", restartDur, func() (func(), error) {
			if restartCmd != "" {
				// The real thing: every backend terminated, then "the
				// database system is starting up" until it is.
				return func() {}, restartDatabase(restartCmd, adminURL)
			}
			// Simulated at the proxy: every connection dropped, refusals
			// until the "server" is back.
			tox.Down()
			return func() { _ = tox.Up() }, nil
		}},
	}
	rep.RealRestart = restartCmd != ""
	time.Sleep(p.warmup)
	for round := 0; round < p.rounds; round++ {
		for _, f := range faultList {
			clear, err := f.apply()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.name, err)
			}
			time.Sleep(f.duration)
			clear()
			switch f.name {
			case "connection resets", "blackhole":
				// A worker ends mid-job: killed (its lease runs out and
				// another takes the job up) or stopped (it hands it back).
				kill := f.name == "connection resets"
				if err := workers.endMidJob(ctx, direct, analysisJobs, kill); err != nil {
					return nil, fmt.Errorf("end a worker mid-job: %w", err)
				}
				rep.Analysis.WorkersEnded++
			}
			cleared := time.Now()
			rep.Recovery = append(rep.Recovery, RecoveryPoint{Fault: f.name, Ms: w.recovery(cleared, 60*time.Second)})
			time.Sleep(p.gap)
		}
	}
	w.stopWriters()
	started := analysisJobs.stop()
	rep.DurationSeconds = time.Since(began).Seconds()

	// Zero-loss checks, against the database directly.
	conn, err := pgx.Connect(ctx, directURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	var endCursor int64
	if err := conn.QueryRow(ctx, "SELECT COALESCE(max(id), 0) FROM job_events").Scan(&endCursor); err != nil {
		return nil, err
	}
	w.waitSSE(endCursor, 60*time.Second)
	w.stopAll()

	rows, err := conn.Query(ctx, `SELECT input_manifest->>'key', count(*) FROM jobs WHERE job_type = 'chaos' GROUP BY 1`)
	if err != nil {
		return nil, err
	}
	stored := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return nil, err
		}
		stored[k] = n
		if n > 1 {
			rep.Duplicates += n - 1
		}
	}
	rows.Close()
	for key := range w.acked() {
		if stored[key] == 0 {
			rep.AckedMissing++
		}
	}
	ids, err := conn.Query(ctx, `SELECT id FROM job_events WHERE id > $1 AND id <= $2 ORDER BY id`, startCursor, endCursor)
	if err != nil {
		return nil, err
	}
	want, err := pgx.CollectRows(ids, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	rep.SSEEvents = int64(len(want))
	for _, sub := range w.subs {
		missed, repeated := sub.compare(want)
		rep.SSEMissed += missed
		rep.SSERepeated += repeated
		rep.SSEReconnects += sub.reconnects.Load()
	}
	// A rescued job waits out its lease (5 s) and a first backoff (10 s).
	ended := rep.Analysis.WorkersEnded
	if rep.Analysis, err = checkAnalysis(ctx, conn, started, 45*time.Second); err != nil {
		return nil, err
	}
	rep.Analysis.WorkersEnded = ended
	w.fill(rep)
	rep.IdleConnsDropped = pp.Dropped()
	return rep, nil
}

// startService builds and starts the API as its own process on a free port.
// extra environment entries (KEY=value) are added; kill ends it with
// SIGKILL.
func startService(dbURL string, naive bool, idleLimit time.Duration, uploadDir string, extra ...string) (string, func(), func(), error) {
	dir, err := os.MkdirTemp("", "rca-chaos")
	if err != nil {
		return "", nil, nil, err
	}
	bin := filepath.Join(dir, "api")
	build := exec.Command("go", "build", "-o", bin, "./cmd/api")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", nil, nil, fmt.Errorf("build the service (run from the repository root): %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOST=127.0.0.1", "PORT=" + strconv.Itoa(port), "ENVIRONMENT=production",
		"LOG_LEVEL=warn", "DATABASE_URL=" + dbURL, "SSE_HEARTBEAT_INTERVAL=2s",
		// The harness measures the database path under faults, from one
		// address at hundreds of requests a second: without accounts, and
		// without the per-client limits that would (rightly) refuse it.
		"JWT_SECRET_KEY=" + rand.Text() + rand.Text(), "AUTH_MODE=off", "RATE_LIMITING_ENABLED=false",
		// Workers: a short lease so that a killed worker's job comes back
		// within the run.
		"UPLOAD_DIR=" + uploadDir, "WORKER_LEASE=5s",
	}
	env = append(env, extra...)
	if !naive {
		// As the README advises: close idle connections before the port
		// proxy forgets them.
		env = append(env, "DB_MAX_CONN_IDLE_TIME="+(idleLimit/2).String(), "DB_HEALTH_CHECK_PERIOD=500ms")
	}
	if naive {
		// The same code with pgx's pool defaults and no retries: the
		// configuration a service gets without this project's tuning.
		env = append(env, "DB_READ_RETRIES=0", "DB_WRITE_RETRIES=0", "DB_MAX_CONN_IDLE_TIME=30m",
			"DB_MAX_CONN_LIFETIME=1h", "DB_HEALTH_CHECK_PERIOD=1m", "DB_PING_TIMEOUT=30s", "DB_CONNECT_TIMEOUT=120s",
			"DB_KEEPALIVE_IDLE=15s", "DB_KEEPALIVE_INTERVAL=15s", "DB_KEEPALIVE_COUNT=9", "DB_TCP_USER_TIMEOUT=0",
			"DB_ACQUIRE_TIMEOUT=30s", "DB_QUERY_TIMEOUT=30s")
	}
	logFile, err := os.Create(filepath.Join(dir, "api.log"))
	if err != nil {
		return "", nil, nil, err
	}
	cmd := exec.Command(bin)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return "", nil, nil, err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	var once sync.Once
	end := func(sig os.Signal) {
		once.Do(func() { endProcess(cmd, logFile, dir, sig) })
	}
	stop := func() { end(os.Interrupt) }
	kill := func() { end(os.Kill) }
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/api/jobs?limit=1"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base, stop, kill, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	return "", nil, nil, errors.New("the service did not become ready within 30 s")
}

// endProcess signals the service (SIGINT: a graceful stop; SIGKILL: a
// crash), waits for it, and removes its binary.
func endProcess(cmd *exec.Cmd, logFile *os.File, dir string, sig os.Signal) {
	_ = cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	logFile.Close()
	os.RemoveAll(dir)
}

// workload drives readers, writers and SSE subscribers.
type workload struct {
	base    string
	client  *http.Client
	ctx     context.Context
	stop    context.CancelFunc
	wctx    context.Context
	wstop   context.CancelFunc
	wg, wwg sync.WaitGroup
	budget  atomic.Int64

	mu        sync.Mutex
	latencies []time.Duration
	successes []time.Time // start times of successful database-backed requests
	ackedKeys map[string]string
	ids       []string

	requests, ok, fast503, slow503, other atomic.Int64
	attempted, gaveUp                     atomic.Int64
	paused                                atomic.Bool // readers and writers wait
	subs                                  []*subscriber
}

func newWorkload(base string, maxRequests int64) *workload {
	w := &workload{base: base, ackedKeys: map[string]string{},
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}}
	w.ctx, w.stop = context.WithCancel(context.Background())
	w.wctx, w.wstop = context.WithCancel(w.ctx)
	w.budget.Store(maxRequests)
	return w
}

func (w *workload) start(cursor int64) {
	for range 4 {
		w.wg.Go(w.reader)
	}
	for range 2 {
		w.wwg.Go(w.writer)
	}
	for range 2 {
		s := &subscriber{base: w.base, last: cursor, seen: map[int64]int{}}
		w.subs = append(w.subs, s)
		w.wg.Go(func() { s.run(w.ctx) })
	}
}

// do sends one request and records it; it returns the status (0 for a
// network error) and the body.
func (w *workload) do(ctx context.Context, method, path string, body []byte, header map[string]string) (int, []byte, http.Header) {
	for w.paused.Load() && ctx.Err() == nil {
		sleep(ctx, 10*time.Millisecond)
	}
	if w.budget.Add(-1) < 0 {
		<-ctx.Done()
		return 0, nil, nil
	}
	req, _ := http.NewRequestWithContext(ctx, method, w.base+path, bytes.NewReader(body))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	began := time.Now()
	resp, err := w.client.Do(req)
	took := time.Since(began)
	if ctx.Err() != nil {
		return 0, nil, nil
	}
	w.requests.Add(1)
	w.mu.Lock()
	w.latencies = append(w.latencies, took)
	w.mu.Unlock()
	if err != nil {
		w.other.Add(1)
		return 0, nil, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	switch {
	case resp.StatusCode < 300:
		w.ok.Add(1)
		w.mu.Lock()
		w.successes = append(w.successes, began)
		w.mu.Unlock()
	case resp.StatusCode == 503 && took < time.Second:
		w.fast503.Add(1)
	case resp.StatusCode == 503:
		w.slow503.Add(1)
	default:
		w.other.Add(1)
	}
	return resp.StatusCode, b, resp.Header
}

func (w *workload) reader() {
	for i := 0; w.ctx.Err() == nil; i++ {
		path := "/api/jobs?limit=20"
		w.mu.Lock()
		if len(w.ids) > 0 && i%2 == 1 {
			path = "/api/jobs/" + w.ids[i%len(w.ids)]
		}
		w.mu.Unlock()
		w.do(w.ctx, "GET", path, nil, nil)
		sleep(w.ctx, 20*time.Millisecond)
	}
}

// writer creates jobs, each with its own Idempotency-Key, retrying like a
// careful client until acknowledged or 30 s have passed.
func (w *workload) writer() {
	for w.wctx.Err() == nil {
		key := rand.Text()
		body := []byte(`{"job_type":"chaos","input_manifest":{"key":"` + key + `"}}`)
		w.attempted.Add(1)
		giveUp := time.Now().Add(30 * time.Second)
		for {
			status, b, h := w.do(w.ctx, "POST", "/api/jobs", body, map[string]string{"Idempotency-Key": key})
			if status == 201 {
				var job struct{ ID string }
				_ = json.Unmarshal(b, &job)
				w.mu.Lock()
				w.ackedKeys[key] = job.ID
				w.ids = append(w.ids, job.ID)
				w.mu.Unlock()
				break
			}
			if w.ctx.Err() != nil || time.Now().After(giveUp) {
				w.gaveUp.Add(1)
				break
			}
			wait := 200 * time.Millisecond
			if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
			sleep(w.ctx, wait)
		}
		sleep(w.wctx, 50*time.Millisecond)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// recovery waits for the first successful request that started after
// cleared, and returns how long after cleared that was.
func (w *workload) recovery(cleared time.Time, bound time.Duration) float64 {
	deadline := cleared.Add(bound)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		for _, s := range w.successes[max(0, len(w.successes)-2000):] {
			if !s.Before(cleared) {
				w.mu.Unlock()
				return float64(s.Sub(cleared).Microseconds()) / 1000
			}
		}
		w.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	return -1
}

func (w *workload) stopWriters() { w.wstop(); w.wwg.Wait() }

// waitSSE lets the subscribers catch up to cursor.
func (w *workload) waitSSE(cursor int64, bound time.Duration) {
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		done := true
		for _, s := range w.subs {
			if s.lastID() < cursor {
				done = false
			}
		}
		if done {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (w *workload) stopAll() { w.stop(); w.wg.Wait() }

func (w *workload) acked() map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ackedKeys
}

func (w *workload) fill(r *Report) {
	r.Requests, r.Successes, r.Fast503, r.Slow503, r.OtherFailures = w.requests.Load(), w.ok.Load(), w.fast503.Load(), w.slow503.Load(), w.other.Load()
	r.WritesAttempted, r.WritesGaveUp = w.attempted.Load(), w.gaveUp.Load()
	w.mu.Lock()
	defer w.mu.Unlock()
	r.WritesAcked = int64(len(w.ackedKeys))
	slices.Sort(w.latencies)
	if n := len(w.latencies); n > 0 {
		r.SlowestMs = float64(w.latencies[n-1].Microseconds()) / 1000
		r.P99Ms = float64(w.latencies[n*99/100].Microseconds()) / 1000
	}
}

// subscriber follows /api/sse/events like EventSource: it reconnects after
// any error with the last id it received.
type subscriber struct {
	base       string
	mu         sync.Mutex
	last       int64
	seen       map[int64]int
	reconnects atomic.Int64
}

func (s *subscriber) lastID() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func (s *subscriber) run(ctx context.Context) {
	client := &http.Client{} // streams have no overall timeout; ctx ends them
	for ctx.Err() == nil {
		// Like a client on a flaky network: drop the stream after 1-4 s.
		cctx, cancel := context.WithTimeout(ctx, time.Second+time.Duration(randInt(3000))*time.Millisecond)
		req, _ := http.NewRequestWithContext(cctx, "GET", s.base+"/api/sse/events", nil)
		req.Header.Set("Last-Event-ID", strconv.FormatInt(s.lastID(), 10))
		resp, err := client.Do(req)
		if err == nil {
			if resp.StatusCode == 200 {
				s.read(resp.Body)
			}
			resp.Body.Close()
		}
		cancel()
		if ctx.Err() == nil {
			s.reconnects.Add(1)
			sleep(ctx, 200*time.Millisecond)
		}
	}
}

func randInt(n int) int {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return int(uint32(b[0])|uint32(b[1])<<8|uint32(b[2])<<16|uint32(b[3])<<24) % n
}

func (s *subscriber) read(body io.Reader) {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var id, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		case line == "":
			// A job event's data has event_type; others repeat the last id.
			if n, err := strconv.ParseInt(id, 10, 64); err == nil && strings.Contains(data, `"event_type"`) && strings.Contains(data, `"job_id"`) {
				s.mu.Lock()
				s.seen[n]++
				s.last = max(s.last, n)
				s.mu.Unlock()
			}
			id, data = "", ""
		}
	}
}

func (s *subscriber) compare(want []int64) (missed, repeated int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range want {
		switch n := s.seen[id]; {
		case n == 0:
			missed++
		case n > 1:
			repeated += int64(n - 1)
		}
	}
	return missed, repeated
}
