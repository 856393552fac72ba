// Package worker analyses jobs: it claims ready jobs from the jobs table
// (jobs.Service.Claim: FOR NO KEY UPDATE SKIP LOCKED, priority then age,
// under a lease), reads their logs from the content store (uploads), runs
// the analysis engine on them, and records the outcome exactly once
// (jobs.Service.Complete or Fail, fenced by the lease), with the job's
// events on its stream all the way.
//
// The shapes are riverqueue/river's (a producer that fetches as slots
// free up, a lease, a rescuer, retries with attempt² backoff, a soft stop
// that hands work back), built on the jobs table rather than River's own:
// see the commit that added this package for why.
//
// Wake-ups, so that a ready job is taken at once and an idle worker costs
// the database almost nothing: every committed job event reaches this
// process through events.Hub (whichever replica wrote it), and an upload,
// a retry or a local start wakes the claimer; when no job is claimable the
// claimer asks when the next one will be (the settle window after an
// upload, a retry's backoff) and sleeps until then, or Poll at most (a
// start on another replica writes no event). While PostgreSQL is down it
// makes no attempt at all and waits for the database's state to change.
package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rca-engine/api/internal/analysis"
	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/events"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/uploads"
)

// Config tunes a worker. Zero values take the defaults.
type Config struct {
	// ID names this worker in leases and events (default
	// worker_<host>_<random>); it must be unique among live workers.
	ID string
	// Concurrency is how many jobs run at once (WORKER_CONCURRENCY,
	// default 2).
	Concurrency int
	// Lease is how long a claim holds without a heartbeat (default 30s):
	// the job of a worker that died is taken up again this long after its
	// last heartbeat.
	Lease time.Duration
	// Heartbeat is how often a running job's lease is renewed and its
	// state checked (default 2s): a cancellation that the event feed did
	// not carry is noticed within it.
	Heartbeat time.Duration
	// Poll bounds the sleep of an idle claimer (default 2s).
	Poll time.Duration
	// RescueEvery is how often expired leases are looked for (default 5s).
	RescueEvery time.Duration
	// ProgressEvery is the least time between two progress events of a job
	// (default 500ms).
	ProgressEvery time.Duration
	// Timeout bounds one attempt (WORKER_TIMEOUT, default 30m); an attempt
	// that runs out is retried.
	Timeout time.Duration
	// Analysis is the template of each job's analysis options (redaction,
	// parsing, mining); JobID, Progress and Ticketing are set per job.
	Analysis analysis.Options
	Logger   *slog.Logger
}

func (c *Config) setDefaults() {
	if c.ID == "" {
		host, _ := os.Hostname()
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		c.ID = "worker_" + host + "_" + hex.EncodeToString(b)
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 2
	}
	def(&c.Lease, 30*time.Second)
	def(&c.Heartbeat, 2*time.Second)
	def(&c.Poll, 2*time.Second)
	def(&c.RescueEvery, 5*time.Second)
	def(&c.ProgressEvery, 500*time.Millisecond)
	def(&c.Timeout, 30*time.Minute)
	if c.Heartbeat > c.Lease/3 {
		c.Heartbeat = c.Lease / 3
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Deps is what a worker works with.
type Deps struct {
	Jobs  *jobs.Service
	Files *uploads.Service
	// Hub carries every committed job event of every replica (a Tailer
	// must be running): wake-ups and cancellations.
	Hub *events.Hub
	// Database is PostgreSQL's state: the worker pauses while it is not up.
	Database *dependency.Tracker
	// Storage is the content store's state (uploads.Storage.Tracker): no
	// job is claimed while it is down, since its attempt could only fail
	// and spend one of the job's retries. Nil: not watched.
	Storage *dependency.Tracker
}

// Worker claims and runs jobs. It is a lifecycle.Component.
type Worker struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	m    *Metrics

	wake chan struct{}

	mu       sync.Mutex
	running  map[*run]struct{}
	cancel   context.CancelFunc // ends the claimer, the rescuer and the wake-ups
	handBack context.CancelCauseFunc
	hard     context.CancelFunc
	loops    sync.WaitGroup
	runs     sync.WaitGroup
	started  bool
	baseCtx  context.Context // the runs' parent: cancelled with errHandBack on Stop
	hardCtx  context.Context // outcome writes: cancelled when Stop's deadline passes
	inFlight atomic.Int32

	// onProgress, in tests, runs on the analysis goroutine at each
	// progress report: it can hold an analysis mid-run.
	onProgress func(ctx context.Context, j jobs.Job, p analysis.Progress)
}

// New returns a worker; Start runs it.
func New(cfg Config, deps Deps) *Worker {
	cfg.setDefaults()
	return &Worker{cfg: cfg, deps: deps, log: cfg.Logger.With("worker_id", cfg.ID), m: newMetrics(),
		wake: make(chan struct{}, 1), running: map[*run]struct{}{}}
}

// ID is the worker's id.
func (w *Worker) ID() string { return w.cfg.ID }

// Running is how many jobs the worker runs now.
func (w *Worker) Running() int { return int(w.inFlight.Load()) }

// Wake makes the claimer look for work now. It never blocks. Wire it to
// what makes a job ready in this process (jobs.Service.OnReady).
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

var (
	errHandBack  = errors.New("the worker is stopping")
	errCancelled = errors.New("the job was cancelled")
	errLeaseLost = errors.New("the worker lost the job's lease")
)

// Start launches the claimer, the rescuer and the wake-ups. It connects to
// nothing: with PostgreSQL down it waits for it.
func (w *Worker) Start(context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return nil
	}
	w.started = true
	ctx, cancel := context.WithCancel(context.Background())
	base, handBack := context.WithCancelCause(context.Background())
	hard, hardCancel := context.WithCancel(context.Background())
	w.cancel, w.baseCtx, w.handBack, w.hardCtx, w.hard = cancel, base, handBack, hard, hardCancel
	w.loops.Add(3)
	go func() { defer w.loops.Done(); w.claimLoop(ctx) }()
	go func() { defer w.loops.Done(); w.rescueLoop(ctx) }()
	go func() { defer w.loops.Done(); w.listen(ctx) }()
	w.log.Info("worker started", "concurrency", w.cfg.Concurrency, "lease", w.cfg.Lease)
	return nil
}

// Stop stops claiming and hands the running jobs back (pending again at
// once, no attempt counted), so that the next worker takes them up; an
// attempt that already has its outcome records it first. It returns when
// every run has ended, or when ctx ends (then the remaining jobs come back
// when their leases expire).
func (w *Worker) Stop(ctx context.Context) error {
	w.mu.Lock()
	if !w.started {
		w.mu.Unlock()
		return nil
	}
	w.started = false
	cancel, handBack, hard := w.cancel, w.handBack, w.hard
	w.mu.Unlock()

	cancel()
	w.loops.Wait()
	handBack(errHandBack)
	done := make(chan struct{})
	go func() { w.runs.Wait(); close(done) }()
	select {
	case <-done:
		hard()
		return nil
	case <-ctx.Done():
		hard()
		<-done // the runs end promptly once their writes are cancelled
		return ctx.Err()
	}
}

// dbUp reports whether PostgreSQL is up.
func (w *Worker) dbUp() bool {
	return w.deps.Database == nil || w.deps.Database.Get().Status == dependency.Up
}

// waitForDB returns once PostgreSQL is up, or false when ctx ends first.
func (w *Worker) waitForDB(ctx context.Context) bool {
	return w.waitFor(ctx, w.deps.Database)
}

// waitToClaim returns once PostgreSQL and the storage are both up.
func (w *Worker) waitToClaim(ctx context.Context) bool {
	return w.waitFor(ctx, w.deps.Database) && w.waitFor(ctx, w.deps.Storage) && w.waitFor(ctx, w.deps.Database)
}

// waitFor returns once t's dependency is up (at once for a nil t), or
// false when ctx ends first.
func (w *Worker) waitFor(ctx context.Context, t *dependency.Tracker) bool {
	if t == nil {
		return ctx.Err() == nil
	}
	states, stop := t.Subscribe()
	defer stop()
	for t.Get().Status != dependency.Up {
		select {
		case <-ctx.Done():
			return false
		case <-states:
		case <-time.After(5 * time.Second): // a missed update cannot stall us
		}
	}
	return ctx.Err() == nil
}

// claimLoop claims jobs while slots are free.
func (w *Worker) claimLoop(ctx context.Context) {
	slots := make(chan struct{}, w.cfg.Concurrency)
	for ctx.Err() == nil {
		if !w.waitToClaim(ctx) {
			return
		}
		// A free slot first: no claim for a job nobody can run.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		j, ok, err := w.deps.Jobs.Claim(ctx, w.cfg.ID, w.cfg.Lease)
		if err != nil {
			<-slots
			if !errors.Is(err, db.ErrUnavailable) && ctx.Err() == nil {
				w.log.Warn("claim failed", "error", err)
			}
			w.sleep(ctx, time.Second)
			continue
		}
		if ok {
			w.m.claims.Inc()
			w.start(j, func() { <-slots; w.Wake() })
			continue
		}
		<-slots
		w.idle(ctx)
	}
}

// idle sleeps until a wake-up, the next job's readiness, or Poll.
func (w *Worker) idle(ctx context.Context) {
	d := w.cfg.Poll
	if at, ok, err := w.deps.Jobs.NextReady(ctx); err == nil && ok {
		d = min(d, max(time.Until(at)+5*time.Millisecond, 5*time.Millisecond))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-w.wake:
	case <-t.C:
	}
}

func (w *Worker) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// listen turns committed job events into wake-ups: an upload (the job may
// be ready now or after its settle window), a retry, a hand-back.
func (w *Worker) listen(ctx context.Context) {
	if w.deps.Hub == nil {
		<-ctx.Done()
		return
	}
	for ctx.Err() == nil {
		sub, _, _ := w.deps.Hub.Subscribe(nil, 1024)
		w.Wake()
	loop:
		for {
			select {
			case <-ctx.Done():
				sub.Close()
				return
			case <-sub.Evicted():
				break loop // resubscribe; the wake above covers what was missed
			case m := <-sub.C:
				if m.Kind == events.Ready {
					w.Wake()
				}
				if m.Kind != events.JobEvent {
					continue
				}
				switch m.Event.Type {
				case eventlog.FileUploaded, eventlog.Retrying:
					w.Wake()
				}
			}
		}
		sub.Close()
	}
}

// rescueLoop ends the attempts whose lease ran out (a worker that died) as
// retryable failures, every RescueEvery while PostgreSQL is up.
func (w *Worker) rescueLoop(ctx context.Context) {
	t := time.NewTicker(w.cfg.RescueEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !w.dbUp() {
			continue
		}
		n, err := w.deps.Jobs.RescueExpired(ctx, 100)
		if err != nil {
			if !errors.Is(err, db.ErrUnavailable) && ctx.Err() == nil {
				w.log.Warn("rescue failed", "error", err)
			}
			continue
		}
		if n > 0 {
			w.m.rescued.Add(float64(n))
			w.log.Info("rescued jobs whose worker stopped renewing its lease", "jobs", n)
			w.Wake()
		}
	}
}

// describe is an error for people: a job's error_message, readable by
// whoever may read the job, so it names no server path, address or
// PostgreSQL text (the log has the whole error).
func describe(err error) string {
	var u *db.UnavailableError
	var s *uploads.StorageError
	var pe *fs.PathError
	switch {
	case errors.As(err, &u):
		return "PostgreSQL was unavailable during the analysis."
	case errors.As(err, &s):
		return "The file storage was unavailable during the analysis."
	case errors.Is(err, context.DeadlineExceeded):
		return "The analysis took longer than WORKER_TIMEOUT allows."
	case errors.As(err, &pe):
		return fmt.Sprintf("The analysis could not read a file: %s: %v.", pe.Op, pe.Err)
	}
	return fmt.Sprintf("The analysis failed: %v", err)
}
