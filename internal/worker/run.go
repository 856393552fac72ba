package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rca-engine/api/internal/analysis"
	"github.com/rca-engine/api/internal/apperr"
	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/events"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/textenc"
	"github.com/rca-engine/api/internal/uploads"
)

// ProgressType is the event type of the progress reports.
const ProgressType = eventlog.AnalysisProgress

// run is one attempt at one job.
type run struct {
	w      *Worker
	job    jobs.Job
	lease  jobs.Lease
	ctx    context.Context
	cancel context.CancelCauseFunc
	rep    *reporter
	// Where the attempt's time went, for the log: reading and parsing,
	// ranking, rendering the outputs (and encoding the result).
	read, rank, render time.Duration
	resultBytes        int
}

// badInput is a failure another attempt cannot fix: the job fails at once.
type badInput struct{ msg string }

func (e *badInput) Error() string { return e.msg }

// start runs j in its own goroutine; done is called when it has ended.
func (w *Worker) start(j jobs.Job, done func()) {
	ctx, cancel := context.WithCancelCause(w.baseCtx)
	r := &run{w: w, job: j, lease: jobs.LeaseOf(j), ctx: ctx, cancel: cancel}
	r.rep = newReporter(w, r)
	w.mu.Lock()
	w.running[r] = struct{}{}
	w.mu.Unlock()
	w.inFlight.Add(1)
	w.runs.Add(1)
	go func() {
		defer w.runs.Done()
		defer done()
		defer w.inFlight.Add(-1)
		defer func() {
			w.mu.Lock()
			delete(w.running, r)
			w.mu.Unlock()
		}()
		defer cancel(nil)
		r.do()
	}()
}

// do runs the attempt and records its end.
func (r *run) do() {
	w := r.w
	log := w.log.With("job_id", r.job.ID, "attempt", r.lease.Attempt)
	log.Info("job claimed")
	began := time.Now()

	var helpers sync.WaitGroup
	helpers.Add(2)
	go func() { defer helpers.Done(); r.watch() }()
	go func() { defer helpers.Done(); r.heartbeat() }()
	repDone := make(chan struct{})
	go func() { defer close(repDone); r.rep.loop() }()

	out, bytes, err := r.analyse()
	analysed := time.Now()
	r.rep.close()
	<-repDone

	switch cause := context.Cause(r.ctx); {
	case err == nil:
		// The outcome is written even if the worker is stopping: it is
		// done, and writing it is quicker than doing it again.
		if r.finish(func(ctx context.Context) error {
			_, err := w.deps.Jobs.Complete(ctx, r.lease, out)
			return err
		}) {
			took := time.Since(began)
			w.m.duration.Observe(took.Seconds())
			if took > 0 {
				w.m.throughput.Observe(float64(bytes) / (1 << 20) / took.Seconds())
			}
			w.m.outcomes.WithLabelValues("completed").Inc()
			log.Info("job completed", "took", took, "bytes", bytes, "read", r.read, "rank", r.rank,
				"render", r.render, "record", time.Since(analysed), "stored_bytes", r.resultBytes)
		}
	case errors.Is(cause, errCancelled), errors.Is(cause, errLeaseLost):
		w.m.outcomes.WithLabelValues("abandoned").Inc()
		log.Info("job run stopped", "reason", cause)
	case errors.Is(cause, errHandBack):
		if r.finish(func(ctx context.Context) error {
			_, err := w.deps.Jobs.Release(ctx, r.lease, "the worker was stopped; the job was handed back")
			return err
		}) {
			w.m.outcomes.WithLabelValues("handed_back").Inc()
			log.Info("job handed back")
		}
	default:
		var bad *badInput
		final := errors.As(err, &bad)
		msg := describe(err)
		if final {
			msg = bad.msg
		}
		var after jobs.Job
		if r.finish(func(ctx context.Context) error {
			var err error
			after, err = w.deps.Jobs.Fail(ctx, r.lease, msg, !final)
			return err
		}) {
			if after.Status == jobs.Pending {
				w.m.retries.Inc()
				w.m.outcomes.WithLabelValues("retried").Inc()
				log.Warn("job attempt failed; it will be retried", "error", err, "run_after", after.RunAfter)
			} else {
				w.m.outcomes.WithLabelValues("failed").Inc()
				log.Warn("job failed", "error", err, "error_message", msg)
			}
		}
	}
	r.cancel(nil)
	helpers.Wait()
}

// finish writes an attempt's end with write, retrying while PostgreSQL is
// unavailable (the outcome waits for the database rather than being lost)
// until the lease is lost or the worker's stop deadline passes. It reports
// whether the write took effect.
func (r *run) finish(write func(ctx context.Context) error) bool {
	w := r.w
	for {
		if !w.waitForDB(w.hardCtx) {
			return false
		}
		err := write(w.hardCtx)
		switch {
		case err == nil:
			return true
		case errors.Is(err, jobs.ErrLeaseLost):
			w.log.Info("outcome dropped: the lease was lost (rescued or cancelled)", "job_id", r.job.ID)
			return false
		case errors.Is(err, db.ErrOutcomeUnknown):
			// The commit may have happened: writing again is safe, since
			// a second write is refused by the lease if the first won.
		case !errors.Is(err, db.ErrUnavailable):
			if k, ok := apperr.As(err); !ok || k.Kind != apperr.Unavailable {
				w.log.Error("could not record the job's outcome", "job_id", r.job.ID, "error", err)
				return false
			}
		}
		w.sleep(w.hardCtx, 200*time.Millisecond)
		if w.hardCtx.Err() != nil {
			return false
		}
	}
}

// watch cancels the run when the job is cancelled, or when another event
// says the attempt is over (a rescue), as the event feed reports it.
func (r *run) watch() {
	hub := r.w.deps.Hub
	if hub == nil {
		<-r.ctx.Done()
		return
	}
	for r.ctx.Err() == nil {
		sub, _, _ := hub.Subscribe(&r.job.ID, 64)
		for evicted := false; !evicted; {
			select {
			case <-r.ctx.Done():
				sub.Close()
				return
			case <-sub.Evicted():
				evicted = true
			case m := <-sub.C:
				if m.Kind != events.JobEvent {
					continue
				}
				switch m.Event.Type {
				case eventlog.Cancelled:
					r.cancel(errCancelled)
				case eventlog.Retrying, eventlog.Failed, eventlog.Completed, eventlog.Started:
					// Ours or another attempt's: the lease says.
					r.check()
				}
			}
		}
		sub.Close()
	}
}

// heartbeat renews the lease every Heartbeat; a lost lease stops the run.
func (r *run) heartbeat() {
	t := time.NewTicker(r.w.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		r.check()
	}
}

// check renews the lease, and cancels the run if it is lost: a cancelled
// job is told apart from a rescued one by its status.
func (r *run) check() {
	if !r.w.dbUp() {
		return // the lease may run out; the outcome write will tell
	}
	err := r.w.deps.Jobs.Heartbeat(r.ctx, r.lease, r.w.cfg.Lease)
	if !errors.Is(err, jobs.ErrLeaseLost) {
		return
	}
	j, gerr := r.w.deps.Jobs.Get(r.ctx, r.job.ID)
	if gerr == nil && j.Status == jobs.Cancelled {
		r.cancel(errCancelled)
		return
	}
	r.cancel(errLeaseLost)
}

// analyse reads the job's logs and runs the engine: the outcome to record
// and the bytes read.
func (r *run) analyse() (jobs.Outcome, int64, error) {
	w := r.w
	ctx, cancel := context.WithTimeout(r.ctx, w.cfg.Timeout)
	defer cancel()
	r.rep.note(eventlog.WorkerAssigned, map[string]any{"worker_id": w.cfg.ID, "attempt": r.lease.Attempt})

	files, err := r.listFiles(ctx)
	if err != nil {
		return jobs.Outcome{}, 0, err
	}
	var logs []uploads.File
	for _, f := range files {
		if f.Kind == uploads.KindLog {
			logs = append(logs, f)
		}
	}
	if len(logs) == 0 {
		return jobs.Outcome{}, 0, &badInput{"The job has no log to analyse: upload a log file (or an archive of logs)."}
	}

	// Refuse what is not text before reading anything in full: a file
	// that is not a log is the input's fault, and no retry fixes it.
	var (
		usable  []uploads.File
		skipped []map[string]string
		total   int64
	)
	for _, f := range logs {
		why, err := r.sniff(ctx, f)
		if err != nil {
			return jobs.Outcome{}, 0, err
		}
		if why != "" {
			skipped = append(skipped, map[string]string{"file_id": f.ID.String(), "filename": f.Filename, "reason": why})
			continue
		}
		usable = append(usable, f)
		total += f.FileSize
	}
	if len(usable) == 0 {
		parts := make([]string, len(skipped))
		for i, s := range skipped {
			parts[i] = s["filename"] + ": " + s["reason"]
		}
		return jobs.Outcome{}, 0, &badInput{"None of the job's files is a text log that can be analysed (" +
			strings.Join(parts, "; ") + ")."}
	}

	opts := w.cfg.Analysis
	opts.JobID = r.job.ID.String()
	opts.AnalysisType = r.job.JobType
	if opts.AnalysisType == "" {
		opts.AnalysisType = "rca_analysis"
	}
	opts.BytesTotal = total
	var ticketing map[string]any
	if len(r.job.Ticketing) > 0 {
		_ = json.Unmarshal(r.job.Ticketing, &ticketing)
	}
	opts.Ticketing = ticketing
	current := &currentFile{}
	opts.Progress = func(p analysis.Progress) {
		r.rep.progress(p, current.get())
		if hook := w.onProgress; hook != nil {
			hook(r.ctx, r.job, p)
		}
	}
	// A file's figures as it is read to its end: the original's
	// file-processing-completed keys, plus lines and records.
	var lines atomic.Int64
	opts.FileDone = func(d analysis.FileDone) {
		hits := 0
		for _, n := range d.RedactionCounts {
			hits += n
		}
		lines.Add(int64(d.Lines))
		r.rep.note(eventlog.FileProcessingCompleted, map[string]any{"file_id": d.ID, "filename": current.get().Filename,
			"chunks": 0, "errors": d.Errors, "warnings": d.Warnings, "critical": d.Critical,
			"pii_redacted": hits > 0, "redaction_hits": hits, "lines": d.Lines, "records": d.Records, "bytes": d.Bytes})
	}
	a, err := analysis.NewAnalyzer(opts)
	if err != nil {
		return jobs.Outcome{}, 0, &badInput{"The analysis settings are not valid: " + err.Error()}
	}

	r.rep.note(eventlog.AnalysisPhase, map[string]any{"phase": "ingestion", "status": "started",
		"files": len(usable), "bytes_total": total})
	t0 := time.Now()
	for _, f := range usable {
		current.set(f)
		r.rep.note(eventlog.FileProcessingStarted, map[string]any{"file_id": f.ID, "filename": f.Filename, "size": f.FileSize})
		if err := r.add(ctx, a, f); err != nil {
			return jobs.Outcome{}, 0, err
		}
	}
	current.set(uploads.File{})
	r.rep.note(eventlog.AnalysisPhase, map[string]any{"phase": "ingestion", "status": "completed",
		"files": len(usable), "chunks": 0, "lines": lines.Load(), "bytes": total})
	r.rep.note(eventlog.AnalysisPhase, map[string]any{"phase": "ranking", "status": "started"})
	t1 := time.Now()
	report, err := a.Report(ctx)
	if err != nil {
		return jobs.Outcome{}, 0, err
	}
	t2 := time.Now()
	r.read, r.rank = t1.Sub(t0), t2.Sub(t1)
	defer func() { r.render = time.Since(t2) }()
	res, err := report.Result() // the original's result_data, outputs rendered
	if err != nil {
		return jobs.Outcome{}, 0, err
	}
	outputs := res.Outputs
	var bytesRead int64
	for _, fs := range report.Files {
		bytesRead += fs.BytesRead
	}
	r.rep.note(eventlog.AnalysisPhase, map[string]any{"phase": "ranking", "status": "completed",
		"causes": len(report.Causes), "signatures": report.Metrics.Signatures})

	result, err := json.Marshal(resultData{Result: res, Severity: report.Severity, Summary: report.Summary, Skipped: skipped})
	if err != nil {
		return jobs.Outcome{}, 0, err
	}
	outJSON, err := json.Marshal(outputs)
	if err != nil {
		return jobs.Outcome{}, 0, err
	}
	r.resultBytes = len(result) + len(outJSON)
	return jobs.Outcome{Result: result, Outputs: outJSON, Event: jobs.EventResult(result)}, bytesRead, nil
}

// listFiles lists the job's files, waiting out a PostgreSQL outage
// (bounded by ctx) rather than spending an attempt on it: the claim has
// just succeeded, so the outage is brief or the lease will tell.
func (r *run) listFiles(ctx context.Context) ([]uploads.File, error) {
	for {
		files, err := r.w.deps.Files.List(ctx, nil, r.job.ID)
		if err == nil || !errors.Is(err, db.ErrUnavailable) {
			return files, err
		}
		if !r.w.waitForDB(ctx) {
			return nil, err
		}
	}
}

// resultData is the job's result_data: the original's keys (job_id,
// analysis_type, generated_at, metrics, files, llm, outputs, and
// suspected_error_logs for log_analysis), then ours.
type resultData struct {
	analysis.Result
	Severity string `json:"severity"`
	Summary  string `json:"summary"`
	// Skipped are the files that were not analysed, and why.
	Skipped []map[string]string `json:"skipped"`
}

// sniff says why f is not a text log ("" when it is), from its first bytes.
func (r *run) sniff(ctx context.Context, f uploads.File) (string, error) {
	_, obj, err := r.w.deps.Files.Open(ctx, nil, f.ID)
	if err != nil {
		return "", openError(f, err)
	}
	defer obj.Close()
	head := make([]byte, textenc.SniffSize)
	n, err := obj.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read %s: %w", f.Filename, err)
	}
	if info := textenc.Sniff(head[:n]); !info.Text {
		return info.Reason, nil
	}
	return "", nil
}

// add streams one file into the analysis.
func (r *run) add(ctx context.Context, a *analysis.Analyzer, f uploads.File) error {
	_, obj, err := r.w.deps.Files.Open(ctx, nil, f.ID)
	if err != nil {
		return openError(f, err)
	}
	defer obj.Close()
	name := f.Filename
	if f.ArchivePath != nil && *f.ArchivePath != "" {
		name = *f.ArchivePath
	}
	src := analysis.Source{Name: name, Size: f.FileSize, ID: f.ID.String(), Checksum: f.Checksum, ContentType: f.ContentType}
	if err := a.Add(ctx, src, obj); err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("read %s: %w", f.Filename, err)
	}
	return nil
}

// openError classifies a failure to open a file's content: its content
// missing from the store cannot come back by retrying.
func openError(f uploads.File, err error) error {
	var s *uploads.StorageError
	var u *db.UnavailableError
	if errors.As(err, &s) || errors.As(err, &u) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if strings.Contains(err.Error(), "missing from storage") {
		return &badInput{fmt.Sprintf("The content of %s is missing from the file storage; upload it again.", f.Filename)}
	}
	return err
}

// currentFile is the file being read, for progress events.
type currentFile struct {
	mu sync.Mutex
	f  uploads.File
}

func (c *currentFile) set(f uploads.File) { c.mu.Lock(); c.f = f; c.mu.Unlock() }
func (c *currentFile) get() uploads.File  { c.mu.Lock(); defer c.mu.Unlock(); return c.f }
