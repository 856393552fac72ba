package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/eventlog"
)

// Service holds the job use cases. Each method opens its own transaction;
// the ...Tx variants run inside a caller's (the HTTP edge's idempotency
// record shares it).
type Service struct {
	db     *db.DB
	log    *eventlog.Log
	policy Policy
	// onReady are told, after commit, that a job was started (the worker
	// in this process claims it at once; see OnReady).
	onReady []func()
}

// OnReady registers fn to be called, after the commit, whenever a job is
// started (POST /api/jobs/{id}/start) in this process: a start writes no
// event, so this is how a worker here hears of it at once (a worker on
// another replica finds it at its next poll). fn must not block. Register
// before serving.
func (s *Service) OnReady(fn func()) { s.onReady = append(s.onReady, fn) }

// NewService returns the job use cases on database d, writing events to
// log, deciding who may change a job by policy.
func NewService(d *db.DB, log *eventlog.Log, policy Policy) *Service {
	return &Service{db: d, log: log, policy: policy}
}

// Policy is who may change a job.
func (s *Service) Policy() Policy {
	p := s.policy
	if p.Visibility == "" {
		p.Visibility = VisibilityOwner
	}
	if p.Settle <= 0 {
		p.Settle = DefaultSettle
	}
	return p
}

// ready fills in j's Ready and ReadyAt under the settle window.
func (s *Service) ready(j Job) Job { return j.withReadiness(s.Policy().Settle, time.Now()) }

// Ready is ready for callers outside the package that read a job in their
// own transaction (GetTx).
func (s *Service) Ready(j Job) Job { return s.ready(j) }

const columns = `id, job_type, status, user_id, owner_id, provider, model, model_config, input_manifest,
	priority, retry_count, max_retries, attempt, created_at, updated_at, started_at, completed_at,
	result_data, outputs, ticketing, source, error_message, run_after, lease_until, claimed_by,
	files_count, logs_count, ready_at, last_upload_at`

// listColumns are columns for a listing: result_data without its outputs
// and per-file summaries, and no outputs, so that a page of 50 analysed
// jobs is kilobytes, not the megabytes of 50 reports (GET /api/jobs/{id}
// and /api/summary/{id} have them).
var listColumns = strings.Replace(columns, "result_data, outputs,",
	"result_data - 'outputs' - 'files' AS result_data, NULL::jsonb AS outputs,", 1)

func scanJob(row pgx.CollectableRow) (Job, error) {
	var j Job
	err := row.Scan(&j.ID, &j.JobType, &j.Status, &j.UserID, &j.OwnerID, &j.Provider, &j.Model, &j.ModelConfig,
		&j.InputManifest, &j.Priority, &j.RetryCount, &j.MaxRetries, &j.Attempt, &j.CreatedAt, &j.UpdatedAt,
		&j.StartedAt, &j.CompletedAt, &j.ResultData, &j.Outputs, &j.Ticketing, &j.Source, &j.ErrorMessage,
		&j.RunAfter, &j.LeaseUntil, &j.ClaimedBy, &j.FilesCount, &j.LogsCount, &j.ReadyAt, &j.LastUploadAt)
	if err != nil {
		return Job{}, err
	}
	j.Ready = j.ReadyAt != nil && j.LogsCount > 0 // the settle rule needs the policy: Service.ready
	if j.StartedAt != nil && j.CompletedAt != nil {
		d := j.CompletedAt.Sub(*j.StartedAt).Seconds()
		j.DurationSeconds = &d
	}
	return j, nil
}

func one(ctx context.Context, q db.Querier, sql string, args ...any) (Job, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return Job{}, err
	}
	j, err := pgx.CollectExactlyOneRow(rows, scanJob)
	if errors.Is(err, pgx.ErrNoRows) {
		return Job{}, ErrNotFound
	}
	return j, err
}

// List returns the jobs that match f, newest first. Ties on created_at are
// broken by id so that pages never overlap or skip.
func (s *Service) List(ctx context.Context, f ListFilter) ([]Job, error) {
	var out []Job
	err := s.db.Read(ctx, func(ctx context.Context, q db.Querier) error {
		rows, err := q.Query(ctx, `SELECT `+listColumns+` FROM jobs
			WHERE ($1 = '' OR user_id = $1) AND ($2 = '' OR status = $2)
			ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4`,
			f.UserID, string(f.Status), f.Limit, f.Offset)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanJob)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	for i := range out {
		out[i] = s.ready(out[i])
	}
	if out == nil {
		out = []Job{}
	}
	return out, nil
}

// Get returns one job, or ErrNotFound.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (Job, error) {
	var j Job
	err := s.db.Read(ctx, func(ctx context.Context, q db.Querier) error {
		var err error
		j, err = one(ctx, q, `SELECT `+columns+` FROM jobs WHERE id = $1`, id)
		return err
	})
	if err != nil {
		return Job{}, fmt.Errorf("get job: %w", err)
	}
	return s.ready(j), nil
}

// GetTx returns one job inside tx, its row locked against other changes (FOR NO
// KEY UPDATE) if forUpdate.
func GetTx(ctx context.Context, tx *db.Tx, id uuid.UUID, forUpdate bool) (Job, error) {
	sql := `SELECT ` + columns + ` FROM jobs WHERE id = $1`
	if forUpdate {
		sql += ` FOR NO KEY UPDATE` // not FOR UPDATE: see package eventlog
	}
	return one(ctx, tx, sql, id)
}

// Events returns a job's most recent events matching f, oldest first.
func (s *Service) Events(ctx context.Context, id uuid.UUID, f eventlog.Filter) ([]eventlog.Event, error) {
	out, err := s.log.ForJob(ctx, id, f)
	if out == nil && err == nil {
		out = []eventlog.Event{}
	}
	return out, err
}

// Create validates in and inserts a pending job for owner (nil: nobody
// signed in) with its "created" event.
func (s *Service) Create(ctx context.Context, owner *Owner, in NewJob) (Job, error) {
	var j Job
	err := s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
		var err error
		j, err = s.CreateTx(ctx, tx, owner, in)
		return err
	})
	return j, err
}

// CreateTx is Create inside tx.
func (s *Service) CreateTx(ctx context.Context, tx *db.Tx, owner *Owner, in NewJob) (Job, error) {
	if err := in.Validate(); err != nil {
		return Job{}, err
	}
	in = in.withDefaults(owner)
	var ownerID *uuid.UUID
	if owner != nil {
		ownerID = &owner.ID
	}
	j, err := one(ctx, tx, `INSERT INTO jobs (job_type, user_id, owner_id, input_manifest, provider, model, priority,
			model_config, ticketing, source)
		VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8::jsonb, $9::jsonb, $10::jsonb)
		RETURNING `+columns,
		in.JobType, in.UserID, ownerID, string(in.InputManifest), in.Provider, in.Model, *in.Priority,
		rawOrNil(in.ModelConfig), rawOrNil(in.Ticketing), rawOrNil(in.Source))
	if err != nil {
		return Job{}, fmt.Errorf("insert job: %w", err)
	}
	err = s.log.Append(tx, j.ID, eventlog.Created, map[string]json.RawMessage{"input_manifest": j.InputManifest})
	return j, err
}

// Cancel moves a pending or running job to cancelled on behalf of a, with
// a "cancelled" event. A finished job is a Conflict; someone else's job
// (under the policy) ErrNotYours. A worker running it finds out at its
// next heartbeat (ErrLeaseLost) or from the event.
func (s *Service) Cancel(ctx context.Context, a *Actor, id uuid.UUID, in CancelRequest) (Job, error) {
	var j Job
	err := s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
		var err error
		j, err = s.CancelTx(ctx, tx, a, id, in)
		return err
	})
	return j, err
}

// CancelTx is Cancel inside tx.
func (s *Service) CancelTx(ctx context.Context, tx *db.Tx, a *Actor, id uuid.UUID, in CancelRequest) (Job, error) {
	if err := in.Validate(); err != nil {
		return Job{}, err
	}
	j, err := GetTx(ctx, tx, id, true)
	if err != nil {
		return Job{}, err
	}
	if err := s.policy.MayChange(a, j); err != nil {
		return Job{}, err
	}
	if err := checkCancel(j); err != nil {
		return Job{}, err
	}
	reason := in.Reason
	if reason == "" {
		reason = DefaultCancelReason
	}
	j, err = one(ctx, tx, `UPDATE jobs SET status = 'cancelled', completed_at = now(), error_message = $2,
			lease_until = NULL
		WHERE id = $1 RETURNING `+columns, id, reason)
	if err != nil {
		return Job{}, fmt.Errorf("cancel job: %w", err)
	}
	err = s.log.Append(tx, id, eventlog.Cancelled, map[string]string{"reason": reason})
	return j, err
}

// Start makes job id ready for analysis on behalf of a (POST
// /api/jobs/{id}/start): the next claim may take it, without waiting for
// the settle window. Starting a job twice is not an error. A job without a
// log to analyse is ErrNothingToStart; someone else's ErrNotYours.
func (s *Service) Start(ctx context.Context, a *Actor, id uuid.UUID) (Job, error) {
	var j Job
	err := s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
		var err error
		j, err = s.StartTx(ctx, tx, a, id)
		return err
	})
	return j, err
}

// StartTx is Start inside tx.
func (s *Service) StartTx(ctx context.Context, tx *db.Tx, a *Actor, id uuid.UUID) (Job, error) {
	j, err := GetTx(ctx, tx, id, true)
	if err != nil {
		return Job{}, err
	}
	if err := s.policy.MayChange(a, j); err != nil {
		return Job{}, err
	}
	if j.LogsCount == 0 {
		return Job{}, ErrNothingToStart
	}
	if j.ReadyAt == nil {
		j, err = one(ctx, tx, `UPDATE jobs SET ready_at = now() WHERE id = $1 RETURNING `+columns, id)
		if err != nil {
			return Job{}, fmt.Errorf("start job: %w", err)
		}
	}
	for _, fn := range s.onReady {
		tx.AfterCommit(fn)
	}
	return s.ready(j), nil
}

// Arriving says that an upload to job id is under way (its bytes are
// still coming): the settle window of a job nobody started restarts, so
// the job is not claimed with a file missing. An upload calls it every
// third of the window while it lasts; a job not yet holding a log, or
// already started, is left alone.
func (s *Service) Arriving(ctx context.Context, id uuid.UUID) error {
	_, err := s.db.Exec(ctx, `UPDATE jobs SET last_upload_at = now()
		WHERE id = $1 AND ready_at IS NULL AND logs_count > 0 AND status = 'pending'`, id)
	if err != nil {
		return fmt.Errorf("upload arriving: %w", err)
	}
	return nil
}

// RecordUploadTx records, inside the upload's transaction tx, that files
// files (logs of them to analyse) were added to job id now: its counts and
// last_upload_at, which restarts the settle window; with start, the job is
// also ready at once if it has a log. The caller holds the job's row lock
// (GetTx forUpdate, or CreateTx).
func RecordUploadTx(ctx context.Context, tx *db.Tx, id uuid.UUID, files, logs int, start bool) (Job, error) {
	j, err := one(ctx, tx, `UPDATE jobs SET files_count = files_count + $2, logs_count = logs_count + $3,
			last_upload_at = now(),
			ready_at = CASE WHEN $4 AND logs_count + $3 > 0 THEN COALESCE(ready_at, now()) ELSE ready_at END
		WHERE id = $1 RETURNING `+columns, id, files, logs, start)
	if err != nil {
		return Job{}, fmt.Errorf("record upload: %w", err)
	}
	return j, nil
}

// Claim gives worker the most urgent pending job that may run now and is
// ready for analysis (it has a log, and was started or has had no upload
// for the settle window; highest priority, then oldest), running under a lease of the given length, with
// its "started" event; ok is false when there is none. Concurrent claims
// never get the same job (SKIP LOCKED) and never wait for one another.
func (s *Service) Claim(ctx context.Context, worker string, lease time.Duration) (j Job, ok bool, err error) {
	err = s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
		j, ok = Job{}, false
		var err error
		j, err = one(ctx, tx, `UPDATE jobs SET status = 'running', attempt = attempt + 1,
				started_at = COALESCE(started_at, now()), claimed_by = $1,
				lease_until = now() + make_interval(secs => $2)
			WHERE id = (SELECT id FROM jobs WHERE status = 'pending' AND run_after <= now()
				AND logs_count > 0
				AND (ready_at IS NOT NULL OR last_upload_at <= now() - make_interval(secs => $3))
				ORDER BY priority DESC, run_after, created_at LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED)
			RETURNING `+columns, worker, lease.Seconds(), s.Policy().Settle.Seconds())
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		ok = true
		j = s.ready(j)
		return s.log.Append(tx, j.ID, eventlog.Started, map[string]any{"worker_id": worker, "attempt": j.Attempt})
	})
	if err != nil {
		return Job{}, false, fmt.Errorf("claim a job: %w", err)
	}
	return j, ok, nil
}

// Heartbeat extends lease l by d. ErrLeaseLost means the worker must stop:
// the job was cancelled or given to another attempt.
func (s *Service) Heartbeat(ctx context.Context, l Lease, d time.Duration) error {
	tag, err := s.db.Exec(ctx, `UPDATE jobs SET lease_until = now() + make_interval(secs => $4)
		WHERE id = $1 AND status = 'running' AND claimed_by = $2 AND attempt = $3`,
		l.JobID, l.Worker, l.Attempt, d.Seconds())
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrLeaseLost
	}
	return nil
}

// Outcome is what a finished attempt produced.
type Outcome struct {
	Result  json.RawMessage // result_data; a JSON object
	Outputs json.RawMessage // outputs; a JSON object or nil
	// Event, when set, is what the completed event carries as its result
	// instead of Result: the worker sends the counts and severity only
	// (EventResult), since the event is readable by whoever may read the
	// job and goes to every stream, while the result holds log content.
	Event json.RawMessage
}

// EventResult is the part of a result fit for the completed event: job_id,
// analysis_type, generated_at, metrics and severity.
func EventResult(result json.RawMessage) json.RawMessage { return eventResult(result) }

// Complete records the result of the attempt under lease l and makes the
// job completed, with a "completed" event carrying the result.
// ErrLeaseLost if l is no longer the job's current attempt: its result is
// then dropped, never recorded twice.
func (s *Service) Complete(ctx context.Context, l Lease, out Outcome) (Job, error) {
	id := l.JobID
	if isAbsent(out.Result) {
		out.Result = json.RawMessage(`{}`)
	}
	var j Job
	err := s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
		cur, err := GetTx(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if !holds(cur, l) {
			return ErrLeaseLost
		}
		j, err = one(ctx, tx, `UPDATE jobs SET status = 'completed', completed_at = now(), result_data = $2::jsonb,
				outputs = $3::jsonb, error_message = NULL, lease_until = NULL
			WHERE id = $1 RETURNING `+columns, id, string(out.Result), rawOrNil(out.Outputs))
		if err != nil {
			return err
		}
		if err := markProcessedTx(ctx, tx, id); err != nil {
			return err
		}
		ev := out.Result
		if !isAbsent(out.Event) {
			ev = out.Event
		}
		return s.log.Append(tx, id, eventlog.Completed, map[string]json.RawMessage{"result": ev})
	})
	if err != nil {
		return Job{}, fmt.Errorf("complete job: %w", err)
	}
	return j, nil
}

// Fail ends the attempt under lease l with message. When retryable and
// fewer than max_retries attempts have failed, the job goes back to
// pending after a backoff (event "retrying"); otherwise it is failed
// (event "failed"). ErrLeaseLost if l is no longer the current attempt.
func (s *Service) Fail(ctx context.Context, l Lease, message string, retryable bool) (Job, error) {
	var j Job
	err := s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
		cur, err := GetTx(ctx, tx, l.JobID, true)
		if err != nil {
			return err
		}
		if !holds(cur, l) {
			return ErrLeaseLost
		}
		j, err = s.endAttempt(ctx, tx, cur, message, retryable)
		return err
	})
	if err != nil {
		return Job{}, fmt.Errorf("fail job: %w", err)
	}
	return j, nil
}

// endAttempt applies the retry rule to a running job whose attempt ended
// without an outcome.
func (s *Service) endAttempt(ctx context.Context, tx *db.Tx, cur Job, message string, retryable bool) (Job, error) {
	r := decideRetry(cur, retryable)
	if r.Again {
		j, err := one(ctx, tx, `UPDATE jobs SET status = 'pending', retry_count = retry_count + 1,
				run_after = now() + make_interval(secs => $3), error_message = $2,
				lease_until = NULL, claimed_by = NULL
			WHERE id = $1 RETURNING `+columns, cur.ID, message, r.After.Seconds())
		if err != nil {
			return Job{}, err
		}
		return j, s.log.Append(tx, cur.ID, eventlog.Retrying, map[string]any{
			"attempt": cur.Attempt, "error": message, "run_after": j.RunAfter})
	}
	j, err := one(ctx, tx, `UPDATE jobs SET status = 'failed', retry_count = retry_count + 1, completed_at = now(),
			error_message = $2, lease_until = NULL
		WHERE id = $1 RETURNING `+columns, cur.ID, message)
	if err != nil {
		return Job{}, err
	}
	return j, s.log.Append(tx, cur.ID, eventlog.Failed, map[string]string{"error": message})
}

// RescueExpired ends the attempts whose lease ran out (their worker died
// or lost the database for longer than the lease) as retryable failures,
// at most limit of them, and returns how many it ended. Safe to run on
// every replica at once: each job is taken by one rescuer (SKIP LOCKED).
func (s *Service) RescueExpired(ctx context.Context, limit int) (int, error) {
	n := 0
	err := s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
		n = 0
		rows, err := tx.Query(ctx, `SELECT `+columns+` FROM jobs WHERE status = 'running' AND lease_until < now()
			ORDER BY lease_until LIMIT $1 FOR NO KEY UPDATE SKIP LOCKED`, limit)
		if err != nil {
			return err
		}
		expired, err := pgx.CollectRows(rows, scanJob)
		if err != nil {
			return err
		}
		for _, j := range expired {
			if _, err := s.endAttempt(ctx, tx, j, "the worker stopped renewing its lease", true); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("rescue expired leases: %w", err)
	}
	return n, nil
}

// rawOrNil maps an absent or null JSON value to SQL NULL.
func rawOrNil(r json.RawMessage) any {
	if isAbsent(r) {
		return nil
	}
	return string(r)
}
