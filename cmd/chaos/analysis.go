package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// analysisLoad starts analysis jobs through the API while the faults run:
// a job is created, a log uploaded to it with start=true, and from then on
// the workers (the service's own and a worker-only process, killed and
// replaced mid-run) must bring it to exactly one terminal outcome.
type analysisLoad struct {
	base   string
	every  time.Duration
	max    int
	client *http.Client

	mu      sync.Mutex
	started []string // job ids whose log upload was acknowledged

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newAnalysisLoad(base string, every time.Duration, max int) *analysisLoad {
	ctx, cancel := context.WithCancel(context.Background())
	return &analysisLoad{base: base, every: every, max: max, ctx: ctx, cancel: cancel,
		client: &http.Client{Timeout: 10 * time.Second}}
}

func (a *analysisLoad) start() {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for n := 0; n < a.max && a.ctx.Err() == nil; n++ {
			a.one(n)
			sleep(a.ctx, a.every)
		}
	}()
}

// stop ends the load and returns the started jobs.
func (a *analysisLoad) stop() []string {
	a.cancel()
	a.wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.started...)
}

// one creates job n and uploads its log, retrying each step through the
// faults for a while; a job whose upload never got through has no log and
// is not a started job. It returns the job's id when it started.
func (a *analysisLoad) one(n int) string {
	lines := 1500
	if n%5 == 4 {
		lines = 60000 // a few MB
	}
	return a.sized(n, lines)
}

// sized is one with a log of the given number of lines.
func (a *analysisLoad) sized(n, lines int) string {
	var id string
	for try := 0; try < 20 && id == ""; try++ {
		resp, err := a.client.Post(a.base+"/api/jobs", "application/json",
			strings.NewReader(`{"job_type":"rca_analysis","input_manifest":{"chaos_analysis":true}}`))
		if err == nil {
			var j struct {
				ID string `json:"id"`
			}
			if resp.StatusCode == 201 {
				_ = json.NewDecoder(resp.Body).Decode(&j)
				id = j.ID
			}
			resp.Body.Close()
		}
		if id == "" {
			sleep(a.ctx, 250*time.Millisecond)
		}
		if a.ctx.Err() != nil {
			return ""
		}
	}
	if id == "" {
		return ""
	}
	body, ctype := chaosUpload(id, fmt.Sprintf("app-%d.log", n), chaosLog(n, lines))
	for try := 0; try < 20; try++ {
		resp, err := a.client.Post(a.base+"/api/files/upload", ctype, bytes.NewReader(body))
		if err == nil {
			resp.Body.Close()
			// 409: an earlier try that timed out did get through.
			if resp.StatusCode == 201 || resp.StatusCode == 409 {
				a.mu.Lock()
				a.started = append(a.started, id)
				a.mu.Unlock()
				return id
			}
		}
		sleep(a.ctx, 250*time.Millisecond)
		if a.ctx.Err() != nil {
			return ""
		}
	}
	return ""
}

func chaosUpload(jobID, name, content string) ([]byte, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	_ = mw.WriteField("job_id", jobID)
	_ = mw.WriteField("start", "true")
	fw, _ := mw.CreateFormFile("file", name)
	_, _ = fw.Write([]byte(content))
	_ = mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

func chaosLog(n, lines int) string {
	var b strings.Builder
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Hour)
	for i := range lines {
		ts := t0.Add(time.Duration(i) * 50 * time.Millisecond).Format("2006-01-02 15:04:05.000")
		switch {
		case i == lines*2/3:
			fmt.Fprintf(&b, "%s ERROR pool exhausted: 64 of 64 connections in use (job %d)\n", ts, n)
		case i > lines*2/3 && i%9 == 0:
			fmt.Fprintf(&b, "%s WARN request %d waited %d ms for a connection\n", ts, i, 100+i%900)
		default:
			fmt.Fprintf(&b, "%s INFO handled request %d in %d ms\n", ts, i, 2+i%30)
		}
	}
	return b.String()
}

// AnalysisReport is what the workers did with the started jobs.
type AnalysisReport struct {
	Started    int `json:"jobs_started"`
	Completed  int `json:"jobs_completed"`
	Failed     int `json:"jobs_failed"`
	Unfinished int `json:"jobs_not_finished"`
	// Jobs with more than one terminal event, or completed without
	// outputs, or whose status disagrees with their events.
	Duplicates int `json:"jobs_with_duplicate_or_inconsistent_outcomes"`
	Retries    int `json:"retrying_events"`
	// WorkersEnded counts the workers killed or stopped while they ran a
	// job (one of each per round); HandedBack the jobs a stopping worker
	// handed back.
	WorkersEnded int     `json:"workers_ended_mid_job"`
	HandedBack   int     `json:"jobs_handed_back"`
	WaitSeconds  float64 `json:"seconds_waited_for_the_last_outcome"`
}

// checkAnalysis waits (up to bound) for every started job to be final,
// then checks each against its events: exactly one terminal event, the
// one its status says, and outputs when completed.
func checkAnalysis(ctx context.Context, conn *pgx.Conn, ids []string, bound time.Duration) (AnalysisReport, error) {
	rep := AnalysisReport{Started: len(ids)}
	if len(ids) == 0 {
		return rep, nil
	}
	began := time.Now()
	for {
		var open int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE id::text = ANY($1) AND status NOT IN ('completed', 'failed', 'cancelled')`, ids).Scan(&open)
		if err != nil {
			return rep, err
		}
		if open == 0 || time.Since(began) > bound {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	rep.WaitSeconds = time.Since(began).Seconds()
	rows, err := conn.Query(ctx, `SELECT j.status, j.outputs IS NOT NULL,
			count(e.*) FILTER (WHERE e.event_type = 'completed'),
			count(e.*) FILTER (WHERE e.event_type = 'failed'),
			count(e.*) FILTER (WHERE e.event_type = 'cancelled'),
			count(e.*) FILTER (WHERE e.event_type = 'retrying'),
			count(e.*) FILTER (WHERE e.event_type = 'retrying' AND e.data->>'handed_back' = 'true')
		FROM jobs j LEFT JOIN job_events e ON e.job_id = j.id
		WHERE j.id::text = ANY($1) GROUP BY j.id`, ids)
	if err != nil {
		return rep, err
	}
	defer rows.Close()
	for rows.Next() {
		var status string
		var hasOutputs bool
		var completed, failed, cancelled, retrying, handedBack int
		if err := rows.Scan(&status, &hasOutputs, &completed, &failed, &cancelled, &retrying, &handedBack); err != nil {
			return rep, err
		}
		rep.Retries += retrying
		if handedBack > 0 {
			rep.HandedBack++
		}
		terminal := completed + failed + cancelled
		switch {
		case status == "completed" && completed == 1 && terminal == 1 && hasOutputs:
			rep.Completed++
		case status == "failed" && failed == 1 && terminal == 1:
			rep.Failed++
		case terminal == 0 && status != "completed" && status != "failed" && status != "cancelled":
			rep.Unfinished++
		default:
			rep.Duplicates++
		}
	}
	return rep, rows.Err()
}

// workerProcs are the worker-only processes, each with a WORKER_ID.
type workerProcs struct {
	mu    sync.Mutex
	start func(id string) (stop, kill func(), err error)
	gen   int
	procs map[string][2]func() // id -> stop, kill
}

func startWorkers(n int, start func(id string) (func(), func(), error)) (*workerProcs, error) {
	w := &workerProcs{start: start, procs: map[string][2]func(){}}
	for range n {
		if err := w.add(); err != nil {
			w.stopAll()
			return nil, err
		}
	}
	return w, nil
}

func (w *workerProcs) add() error {
	w.gen++
	id := fmt.Sprintf("chaos-worker-%d", w.gen)
	stop, kill, err := w.start(id)
	if err != nil {
		return err
	}
	w.procs[id] = [2]func(){stop, kill}
	return nil
}

func (w *workerProcs) stopAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, p := range w.procs {
		p[0]()
		delete(w.procs, id)
	}
}

// endMidJob starts a large job, waits until a worker runs it, ends that
// worker (SIGKILL or SIGTERM) and starts a replacement.
func (w *workerProcs) endMidJob(ctx context.Context, conn *pgx.Conn, load *analysisLoad, kill bool) error {
	id := load.sized(10_000+w.gen, 600_000) // about 40 MB: a second or two of analysis
	if id == "" {
		return fmt.Errorf("could not start a large job")
	}
	deadline := time.Now().Add(15 * time.Second)
	var holder string
	for time.Now().Before(deadline) && holder == "" {
		var status string
		var by *string
		if err := conn.QueryRow(ctx, `SELECT status, claimed_by FROM jobs WHERE id = $1`, id).Scan(&status, &by); err != nil {
			return err
		}
		if status == "running" && by != nil {
			holder = *by
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	p, ok := w.procs[holder]
	if !ok {
		return fmt.Errorf("job %s was not seen running on a worker (holder %q)", id, holder)
	}
	if kill {
		p[1]()
	} else {
		p[0]()
	}
	delete(w.procs, holder)
	return w.add()
}
