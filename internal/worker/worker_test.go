package worker_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rca-engine/api/internal/analysis"
	"github.com/rca-engine/api/internal/blob"
	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/dbtest"
	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/events"
	"github.com/rca-engine/api/internal/faults"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/pgtest"
	"github.com/rca-engine/api/internal/uploads"
	"github.com/rca-engine/api/internal/worker"
	"github.com/rca-engine/api/migrations"
)

// env is one service's worth of parts on a database of its own: the jobs,
// the uploads on a real directory store, the event log followed by a
// tailer into a hub, as cmd/api wires them.
type env struct {
	db      *db.DB
	url     string
	log     *eventlog.Log
	jobs    *jobs.Service
	files   *uploads.Service
	store   blob.Store
	storage *uploads.Storage
	blobs   string // the store's directory
	hub     *events.Hub
}

func newEnv(t testing.TB) *env {
	t.Helper()
	d, url := dbtest.New(t)
	return newEnvOn(t, d, url)
}

func newEnvOn(t testing.TB, d *db.DB, url string) *env {
	return newEnvSettle(t, d, url, 50*time.Millisecond)
}

// newEnvSettle is newEnvOn with the settle window after an upload.
func newEnvSettle(t testing.TB, d *db.DB, url string, settle time.Duration) *env {
	t.Helper()
	log := eventlog.New(d)
	js := jobs.NewService(d, log, jobs.Policy{Settle: settle})
	dir := t.TempDir()
	store, err := blob.NewFS(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	st := uploads.NewStorage(store, time.Second, nil)
	st.Start(context.Background())
	t.Cleanup(st.Stop)
	pgtest.Eventually(t, 5*time.Second, "storage up", func() bool { return st.Tracker().Get().Status == dependency.Up })
	files, err := uploads.New(d, log, js, st, uploads.Config{Dir: dir, MaxFileBytes: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	hub := events.NewHub()
	tailer := events.NewTailer(log, hub, events.TailerConfig{FastPoll: 50 * time.Millisecond})
	log.OnCommit(func(int64) { tailer.Wake() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); tailer.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &env{db: d, url: url, log: log, jobs: js, files: files, store: store, storage: st,
		blobs: filepath.Join(dir, "blobs"), hub: hub}
}

// worker starts a worker on e; it is stopped when the test ends.
func (e *env) worker(t testing.TB, cfg worker.Config) *worker.Worker {
	t.Helper()
	if cfg.Lease == 0 {
		cfg.Lease = 5 * time.Second
	}
	if cfg.RescueEvery == 0 {
		cfg.RescueEvery = 200 * time.Millisecond
	}
	if cfg.Poll == 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	if cfg.ProgressEvery == 0 {
		cfg.ProgressEvery = 100 * time.Millisecond
	}
	w := worker.New(cfg, worker.Deps{Jobs: e.jobs, Files: e.files, Hub: e.hub, Database: e.db.Tracker(),
		Storage: e.storage.Tracker()})
	e.jobs.OnReady(w.Wake)
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = w.Stop(ctx)
	})
	return w
}

// logText is a small log with a clear cause: a steady INFO stream, then a
// disk that fills up and the errors that follow.
func logText(lines int, host string) string {
	var b strings.Builder
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for i := range lines {
		ts := t0.Add(time.Duration(i) * 100 * time.Millisecond).Format("2006-01-02 15:04:05.000")
		switch {
		case i == lines*3/4:
			fmt.Fprintf(&b, "%s ERROR [storage] No space left on device writing /var/lib/db/segment-%d on %s\n", ts, i, host)
		case i > lines*3/4 && i%7 == 0:
			fmt.Fprintf(&b, "%s ERROR [api] request %d failed: database write timeout after 5000 ms\n", ts, i)
		case i%50 == 0:
			fmt.Fprintf(&b, "%s WARN [gc] pause of %d ms\n", ts, 10+i%40)
		default:
			fmt.Fprintf(&b, "%s INFO [api] GET /items/%d 200 in %d ms\n", ts, i, 3+i%17)
		}
	}
	return b.String()
}

// job creates a job with the given files (name, content pairs), started.
func (e *env) job(t *testing.T, files ...string) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	j, err := e.jobs.Create(ctx, nil, jobs.NewJob{JobType: "rca_analysis"})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		return j.ID
	}
	u := e.files.NewUpload(nil, "tester")
	defer u.Abort()
	for i := 0; i+1 < len(files); i += 2 {
		if err := u.Receive(ctx, files[i], "text/plain", strings.NewReader(files[i+1])); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := u.Commit(ctx, uploads.Target{JobID: j.ID, Start: true}); err != nil {
		t.Fatal(err)
	}
	return j.ID
}

func (e *env) get(t *testing.T, id uuid.UUID) jobs.Job {
	t.Helper()
	j, err := e.jobs.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func (e *env) events(t *testing.T, id uuid.UUID) []eventlog.Event {
	t.Helper()
	evs, err := e.jobs.Events(context.Background(), id, eventlog.Filter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func (e *env) count(t *testing.T, id uuid.UUID, typ eventlog.Type) int {
	t.Helper()
	n := 0
	for _, ev := range e.events(t, id) {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

func (e *env) waitStatus(t *testing.T, id uuid.UUID, within time.Duration, want ...jobs.Status) jobs.Job {
	t.Helper()
	var j jobs.Job
	pgtest.Eventually(t, within, fmt.Sprintf("job %s %v", id, want), func() bool {
		var err error
		j, err = e.jobs.Get(context.Background(), id)
		if err != nil {
			return false
		}
		for _, s := range want {
			if j.Status == s {
				return true
			}
		}
		return false
	})
	return j
}

func types(evs []eventlog.Event) []eventlog.Type {
	out := make([]eventlog.Type, 0, len(evs))
	for _, ev := range evs {
		if ev.Type != eventlog.AnalysisProgress {
			out = append(out, ev.Type)
		}
	}
	return out
}

func data(t *testing.T, ev eventlog.Event) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(ev.Data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// hold returns a progress hook that holds every analysis of job id at its
// first progress report until release is closed (or its run ends), and a
// channel closed when it first held.
func hold(id *uuid.UUID) (hook func(context.Context, jobs.Job, analysis.Progress), held <-chan struct{}, release func()) {
	h := make(chan struct{})
	r := make(chan struct{})
	var once, ronce sync.Once
	return func(ctx context.Context, j jobs.Job, _ analysis.Progress) {
			if id != nil && j.ID != *id {
				return
			}
			once.Do(func() { close(h) })
			select {
			case <-r:
			case <-ctx.Done():
			}
		}, h, func() {
			ronce.Do(func() { close(r) })
		}
}

func TestAnalysesAJob(t *testing.T) {
	e := newEnv(t)
	e.worker(t, worker.Config{})
	id := e.job(t, "app.log", logText(2000, "db-1"), "web.log", logText(500, "web-1"))
	j := e.waitStatus(t, id, 20*time.Second, jobs.Completed, jobs.Failed)
	if j.Status != jobs.Completed {
		t.Fatalf("job %s: %v", j.Status, derefS(j.ErrorMessage))
	}

	got := types(e.events(t, id))
	want := []eventlog.Type{eventlog.Created, eventlog.FileUploaded, eventlog.FileUploaded, eventlog.Started,
		eventlog.WorkerAssigned, eventlog.AnalysisPhase, eventlog.FileProcessingStarted, eventlog.FileProcessingCompleted,
		eventlog.FileProcessingStarted, eventlog.FileProcessingCompleted,
		eventlog.AnalysisPhase, eventlog.AnalysisPhase, eventlog.AnalysisPhase, eventlog.Completed}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events\n got %v\nwant %v", got, want)
	}
	var sawProgress bool
	if n := e.count(t, id, eventlog.AnalysisProgress); n > 2*101 {
		t.Errorf("%d progress events: at most one per percent point and phase", n)
	}
	for _, ev := range e.events(t, id) {
		d := data(t, ev)
		switch ev.Type {
		case eventlog.AnalysisProgress:
			sawProgress = true
			if _, ok := d["bytes_read"]; !ok {
				t.Errorf("progress without bytes_read: %v", d)
			}
		case eventlog.FileProcessingStarted:
			for _, k := range []string{"file_id", "filename", "size"} {
				if _, ok := d[k]; !ok {
					t.Errorf("file-processing-started lacks %s: %v", k, d)
				}
			}
		case eventlog.FileProcessingCompleted:
			for _, k := range []string{"file_id", "filename", "chunks", "errors", "warnings", "critical", "pii_redacted", "redaction_hits", "lines"} {
				if _, ok := d[k]; !ok {
					t.Errorf("file-processing-completed lacks %s: %v", k, d)
				}
			}
			if d["filename"] == "app.log" && d["errors"].(float64) < 1 {
				t.Errorf("app.log's errors = %v, want some", d["errors"])
			}
		case eventlog.Completed:
			r, _ := d["result"].(map[string]any)
			if r["severity"] == nil || r["metrics"] == nil || r["outputs"] != nil || r["files"] != nil {
				t.Errorf("completed event's result = %v: want the counts and severity, not the content", r)
			}
		}
	}
	if !sawProgress {
		t.Error("no analysis-progress event")
	}

	var result map[string]json.RawMessage
	if err := json.Unmarshal(j.ResultData, &result); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"job_id", "analysis_type", "generated_at", "metrics", "files", "llm", "outputs"} {
		if _, ok := result[k]; !ok {
			t.Errorf("result_data lacks %q", k)
		}
	}
	var outputs analysis.Outputs
	if err := json.Unmarshal(j.Outputs, &outputs); err != nil {
		t.Fatal(err)
	}
	if outputs.JSON == nil || len(outputs.JSON.Causes) == 0 || !strings.Contains(outputs.Markdown, "No space left on device") {
		t.Fatalf("outputs lack the cause: %s", trunc(string(j.Outputs), 600))
	}
	if top := outputs.JSON.Causes[0]; !strings.Contains(top.Template+top.Title, "space left") {
		t.Errorf("top cause %q, want the full disk", top.Title)
	}
	list, err := e.files.List(context.Background(), nil, id)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range list {
		if !f.Processed || f.ProcessedAt == nil {
			t.Errorf("file %s not marked processed", f.Filename)
		}
	}
	if j.LeaseUntil != nil || j.Attempt != 1 || j.RetryCount != 0 {
		t.Errorf("completed job: lease %v attempt %d retries %d", j.LeaseUntil, j.Attempt, j.RetryCount)
	}
}

func TestAJobWithoutFilesIsNeverClaimed(t *testing.T) {
	e := newEnv(t)
	w := e.worker(t, worker.Config{Poll: 50 * time.Millisecond})
	id := e.job(t)
	withFile := e.job(t, "a.log", logText(100, "h"))
	e.waitStatus(t, withFile, 20*time.Second, jobs.Completed)
	time.Sleep(300 * time.Millisecond) // several polls
	if j := e.get(t, id); j.Status != jobs.Pending || j.Attempt != 0 || j.StartedAt != nil {
		t.Fatalf("a job without files: status %s, attempt %d", j.Status, j.Attempt)
	}
	if n := e.count(t, id, eventlog.Started); n != 0 {
		t.Fatalf("%d started events for a job without files", n)
	}
	if w.Running() != 0 {
		t.Fatalf("worker runs %d jobs", w.Running())
	}
}

// insertFile attaches content to job id as a log behind the uploads'
// back: uploads refuse binary content, but a file may still be unreadable
// as a log by the time it is analysed (an older upload, a restored
// database).
func (e *env) insertFile(t *testing.T, id uuid.UUID, name string, content []byte) {
	t.Helper()
	ctx := context.Background()
	sum := sha256.Sum256(content)
	key := hex.EncodeToString(sum[:])
	if err := e.store.Put(ctx, key, strings.NewReader(string(content)), int64(len(content))); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `INSERT INTO blobs (key, size) VALUES ($1, $2) ON CONFLICT DO NOTHING`, key, len(content))
	if err == nil {
		_, err = conn.Exec(ctx, `INSERT INTO files (job_id, filename, original_filename, file_path, content_type, file_size, checksum)
			VALUES ($1, $2, $2, $3, 'text/plain', $4, $3)`, id, name, key, len(content))
	}
	if err == nil {
		_, err = conn.Exec(ctx, `UPDATE jobs SET files_count = files_count + 1, logs_count = logs_count + 1,
			last_upload_at = now(), ready_at = now() WHERE id = $1`, id)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestAFileThatIsNotALogFailsTheJobAtOnce(t *testing.T) {
	e := newEnv(t)
	id := e.job(t)
	e.insertFile(t, id, "core.log", append([]byte("ELF"), make([]byte, 4000)...))
	e.worker(t, worker.Config{})
	j := e.waitStatus(t, id, 20*time.Second, jobs.Failed, jobs.Completed)
	if j.Status != jobs.Failed {
		t.Fatalf("status %s, want failed", j.Status)
	}
	msg := derefS(j.ErrorMessage)
	if !strings.Contains(msg, "core.log") || !strings.Contains(msg, "binary") {
		t.Errorf("error_message %q: want the file and why", msg)
	}
	if j.Attempt != 1 {
		t.Errorf("attempts %d: bad input must not be retried", j.Attempt)
	}
	if n := e.count(t, id, eventlog.Retrying); n != 0 {
		t.Errorf("%d retrying events", n)
	}
	evs := e.events(t, id)
	if last := evs[len(evs)-1]; last.Type != eventlog.Failed || !strings.Contains(string(last.Data), "core.log") {
		t.Errorf("last event %s %s, want failed naming the file", last.Type, last.Data)
	}
}

func TestCancelStopsARunningAnalysis(t *testing.T) {
	e := newEnv(t)
	w := e.worker(t, worker.Config{Heartbeat: 5 * time.Second}) // the event, not the heartbeat, must stop it
	hook, held, release := hold(nil)
	defer release()
	w.SetProgressHook(hook)
	id := e.job(t, "app.log", logText(3000, "db"))
	select {
	case <-held:
	case <-time.After(20 * time.Second):
		t.Fatal("the analysis never started")
	}
	start := time.Now()
	if _, err := e.jobs.Cancel(context.Background(), nil, id, jobs.CancelRequest{Reason: "wrong files"}); err != nil {
		t.Fatal(err)
	}
	pgtest.Eventually(t, 5*time.Second, "the worker lets go", func() bool { return w.Running() == 0 })
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the run took %v to stop after the cancel, want under 2 s", took)
	}
	j := e.get(t, id)
	if j.Status != jobs.Cancelled || j.Outputs != nil {
		t.Fatalf("status %s, outputs %s", j.Status, j.Outputs)
	}
	if n := e.count(t, id, eventlog.Completed); n != 0 {
		t.Fatalf("%d completed events after a cancel", n)
	}
	// The worker is free for the next job.
	release()
	next := e.job(t, "b.log", logText(100, "h"))
	e.waitStatus(t, next, 20*time.Second, jobs.Completed)
}

func TestAJobWhoseWorkerDiedIsCompletedOnceByAnother(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.job(t, "app.log", logText(1000, "db"))
	// A worker claims it and dies at once: no heartbeat, no outcome.
	dead, ok, err := e.jobs.Claim(ctx, "worker_dead", 500*time.Millisecond)
	if err != nil || !ok || dead.ID != id {
		t.Fatalf("claim: %v %v %v", dead.ID, ok, err)
	}
	e.worker(t, worker.Config{})
	j := e.waitStatus(t, id, 20*time.Second, jobs.Completed, jobs.Failed)
	if j.Status != jobs.Completed || j.Attempt != 2 || j.RetryCount != 1 {
		t.Fatalf("status %s attempt %d retries %d", j.Status, j.Attempt, j.RetryCount)
	}
	// The dead worker comes back and reports: refused, nothing written.
	before := len(e.events(t, id))
	if _, err := e.jobs.Complete(ctx, jobs.LeaseOf(dead), jobs.Outcome{Result: json.RawMessage(`{"late":true}`)}); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Fatalf("late Complete = %v, want ErrLeaseLost", err)
	}
	if err := e.jobs.Report(ctx, jobs.LeaseOf(dead), 0, jobs.Note{Type: eventlog.AnalysisProgress}); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Fatalf("late Report = %v, want ErrLeaseLost", err)
	}
	if n := len(e.events(t, id)); n != before {
		t.Fatalf("the late reports wrote %d events", n-before)
	}
	if n := e.count(t, id, eventlog.Completed); n != 1 {
		t.Fatalf("%d completed events, want 1", n)
	}
	if got := e.get(t, id); strings.Contains(string(got.ResultData), `"late"`) {
		t.Fatal("the late result overwrote the real one")
	}
}

func TestStopHandsTheJobBackAndTheNextWorkerCompletesIt(t *testing.T) {
	e := newEnv(t)
	first := worker.New(worker.Config{ID: "worker_first", Lease: 30 * time.Second},
		worker.Deps{Jobs: e.jobs, Files: e.files, Hub: e.hub, Database: e.db.Tracker()})
	hook, held, release := hold(nil)
	defer release()
	first.SetProgressHook(hook)
	if err := first.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	id := e.job(t, "app.log", logText(2000, "db"))
	select {
	case <-held:
	case <-time.After(20 * time.Second):
		t.Fatal("the analysis never started")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := first.Stop(ctx); err != nil { // SIGTERM
		t.Fatalf("stop: %v", err)
	}
	j := e.get(t, id)
	if j.Status != jobs.Pending || j.RetryCount != 0 || j.ClaimedBy != nil {
		t.Fatalf("after stop: status %s retries %d claimed by %v", j.Status, j.RetryCount, j.ClaimedBy)
	}
	evs := e.events(t, id)
	if last := data(t, evs[len(evs)-1]); evs[len(evs)-1].Type != eventlog.Retrying || last["handed_back"] != true {
		t.Fatalf("last event %s %v, want retrying handed_back", evs[len(evs)-1].Type, last)
	}
	// The next worker takes it up at once (no lease to wait for).
	began := time.Now()
	e.worker(t, worker.Config{ID: "worker_second"})
	j = e.waitStatus(t, id, 20*time.Second, jobs.Completed)
	if time.Since(began) > 15*time.Second {
		t.Errorf("the next worker took %v", time.Since(began))
	}
	if j.ClaimedBy == nil || *j.ClaimedBy != "worker_second" || e.count(t, id, eventlog.Completed) != 1 {
		t.Fatalf("completed by %v, %d completed events", j.ClaimedBy, e.count(t, id, eventlog.Completed))
	}
}

func TestTwoWorkersTenJobsEachOnce(t *testing.T) {
	e := newEnv(t)
	var claimed sync.Map
	var dup atomic.Int32
	for i := range 2 {
		w := e.worker(t, worker.Config{ID: fmt.Sprintf("worker_%d", i), Concurrency: 2})
		w.SetProgressHook(func(_ context.Context, j jobs.Job, p analysis.Progress) {
			key := fmt.Sprintf("%s/%d", j.ID, j.Attempt)
			if prev, loaded := claimed.LoadOrStore(key, w.ID()); loaded && prev != w.ID() {
				dup.Add(1)
			}
		})
	}
	var ids []uuid.UUID
	for i := range 10 {
		ids = append(ids, e.job(t, fmt.Sprintf("app-%d.log", i), logText(300+i*10, fmt.Sprintf("h%d", i))))
	}
	for _, id := range ids {
		j := e.waitStatus(t, id, 60*time.Second, jobs.Completed, jobs.Failed)
		if j.Status != jobs.Completed || j.Attempt != 1 {
			t.Errorf("job %s: %s after %d attempts", id, j.Status, j.Attempt)
		}
		if n := e.count(t, id, eventlog.Completed); n != 1 {
			t.Errorf("job %s: %d completed events", id, n)
		}
		if n := e.count(t, id, eventlog.Started); n != 1 {
			t.Errorf("job %s: %d started events", id, n)
		}
	}
	if dup.Load() != 0 {
		t.Fatalf("%d attempts ran on two workers", dup.Load())
	}
	by := map[string]int{}
	claimed.Range(func(_, v any) bool { by[v.(string)]++; return true })
	t.Logf("jobs per worker: %v", by)
}

func TestPostgresDownMidJobPausesAndCompletes(t *testing.T) {
	url, host := pgtest.NewDatabase(t) // the service reaches it through a proxy, and migrates it
	proxy := faults.NewT(t, host)
	d, err := db.New(db.Config{URL: pgtest.WithHost(t, url, proxy.Addr()), Migrations: migrations.FS,
		CheckInterval: 200 * time.Millisecond, ReconnectMax: 500 * time.Millisecond, QueryTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	d.Start(context.Background())
	t.Cleanup(d.Close)
	pgtest.Eventually(t, 10*time.Second, "database up", func() bool { return d.State().Status == dependency.Up })
	e := newEnvOn(t, d, url)
	w := e.worker(t, worker.Config{Lease: 30 * time.Second})
	hook, held, release := hold(nil)
	defer release()
	w.SetProgressHook(hook)
	id := e.job(t, "app.log", logText(2000, "db"))
	select {
	case <-held:
	case <-time.After(20 * time.Second):
		t.Fatal("the analysis never started")
	}
	proxy.Down()
	pgtest.Eventually(t, 10*time.Second, "database down", func() bool { return d.State().Status != dependency.Up })
	release() // the analysis finishes while the database is away
	time.Sleep(time.Second)
	if w.Running() != 1 {
		t.Fatalf("running %d during the outage: the finished outcome must wait for the database", w.Running())
	}
	if err := proxy.Up(); err != nil {
		t.Fatal(err)
	}
	j := e.waitStatus(t, id, 30*time.Second, jobs.Completed, jobs.Failed)
	if j.Status != jobs.Completed || j.Attempt != 1 {
		t.Fatalf("status %s after %d attempts: %s", j.Status, j.Attempt, derefS(j.ErrorMessage))
	}
	if n := e.count(t, id, eventlog.Completed); n != 1 {
		t.Fatalf("%d completed events", n)
	}
	// Every phase and file event made it, in order, before the outcome.
	got := types(e.events(t, id))
	if got[len(got)-1] != eventlog.Completed || e.count(t, id, eventlog.FileProcessingCompleted) != 1 {
		t.Fatalf("events %v", got)
	}
}

// TestStorageDown: no job is claimed while the content store is down
// (its attempt could only fail); an attempt that meets the store going away
// mid-job is retried after a backoff and completes once it is back.
func TestStorageDownPausesClaimsAndRetries(t *testing.T) {
	e := newEnv(t)
	id := e.job(t, "a.log", logText(500, "a"), "b.log", logText(500, "b"))
	aside := e.blobs + ".away"
	if err := os.Rename(e.blobs, aside); err != nil {
		t.Fatal(err)
	}
	pgtest.Eventually(t, 10*time.Second, "storage down", func() bool { return e.storage.Tracker().Get().Status != dependency.Up })
	w := e.worker(t, worker.Config{})
	hook, held, release := hold(nil)
	defer release()
	w.SetProgressHook(hook)
	time.Sleep(time.Second)
	if j := e.get(t, id); j.Status != jobs.Pending || j.Attempt != 0 {
		t.Fatalf("claimed while the storage was down: %s, attempt %d", j.Status, j.Attempt)
	}
	if err := os.Rename(aside, e.blobs); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held: // the first file is being read
	case <-time.After(20 * time.Second):
		t.Fatal("the job was not taken up once the storage was back")
	}
	// The store goes away before the second file is opened.
	if err := os.Rename(e.blobs, aside); err != nil {
		t.Fatal(err)
	}
	pgtest.Eventually(t, 10*time.Second, "storage down", func() bool { return e.storage.Tracker().Get().Status != dependency.Up })
	release()
	j := e.waitStatus(t, id, 10*time.Second, jobs.Pending, jobs.Failed, jobs.Completed)
	if j.Status != jobs.Pending || j.RetryCount != 1 || !strings.Contains(derefS(j.ErrorMessage), "storage was unavailable") {
		t.Fatalf("after the store went away: %s, retries %d, %q", j.Status, j.RetryCount, derefS(j.ErrorMessage))
	}
	if err := os.Rename(aside, e.blobs); err != nil {
		t.Fatal(err)
	}
	j = e.waitStatus(t, id, 30*time.Second, jobs.Completed, jobs.Failed) // after the 10 s backoff
	if j.Status != jobs.Completed || j.Attempt != 2 || e.count(t, id, eventlog.Completed) != 1 {
		t.Fatalf("status %s attempt %d, %d completed events", j.Status, j.Attempt, e.count(t, id, eventlog.Completed))
	}
}

func derefS(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// TestAJobNobodyStartsIsTakenWhenItSettles: the original UI uploads and
// never starts; the worker takes the job when the settle window after the
// last upload ends, by a timer, not at its next poll.
func TestAJobNobodyStartsIsTakenWhenItSettles(t *testing.T) {
	d, url := dbtest.New(t)
	e := newEnvSettle(t, d, url, time.Second)
	e.worker(t, worker.Config{Poll: 30 * time.Second})
	time.Sleep(200 * time.Millisecond) // the worker is idle, sleeping for up to Poll
	ctx := context.Background()
	j, err := e.jobs.Create(ctx, nil, jobs.NewJob{JobType: "rca_analysis"})
	if err != nil {
		t.Fatal(err)
	}
	u := e.files.NewUpload(nil, "tester")
	defer u.Abort()
	if err := u.Receive(ctx, "a.log", "text/plain", strings.NewReader(logText(200, "h"))); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Commit(ctx, uploads.Target{JobID: j.ID}); err != nil {
		t.Fatal(err)
	}
	uploaded := time.Now()
	got := e.waitStatus(t, j.ID, 10*time.Second, jobs.Completed)
	if got.StartedAt == nil || got.StartedAt.Sub(uploaded) < 900*time.Millisecond || got.StartedAt.Sub(uploaded) > 3*time.Second {
		t.Fatalf("claimed %v after the upload; want about the 1 s settle window", got.StartedAt.Sub(uploaded))
	}
}
