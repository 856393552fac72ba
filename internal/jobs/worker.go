package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/eventlog"
)

// Note is one event a worker reports on the attempt it holds.
type Note struct {
	Type eventlog.Type
	Data any
}

// Report appends notes (progress, phases, files) to the job of the attempt
// under lease l, in one short transaction that also renews the lease by
// extend (when positive). It is a heartbeat that says something: an attempt
// that no longer holds the job (cancelled, rescued and claimed again) gets
// ErrLeaseLost and nothing is written, so a superseded worker's late
// progress never reaches the job's stream.
func (s *Service) Report(ctx context.Context, l Lease, extend time.Duration, notes ...Note) error {
	err := s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
		// The row lock is taken before the appends, as package eventlog
		// requires; the UPDATE takes it.
		tag, err := tx.Exec(ctx, `UPDATE jobs SET lease_until = CASE WHEN $4 > 0
				THEN now() + make_interval(secs => $4) ELSE lease_until END
			WHERE id = $1 AND status = 'running' AND claimed_by = $2 AND attempt = $3`,
			l.JobID, l.Worker, l.Attempt, extend.Seconds())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrLeaseLost
		}
		for _, n := range notes {
			if err := s.log.Append(tx, l.JobID, n.Type, n.Data); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("report on job: %w", err)
	}
	return nil
}

// Release hands the attempt under lease l back without an outcome, because
// its worker is stopping (SIGTERM): the job is pending again at once, and
// the failed-attempt count is not raised, since nothing failed. The event
// is "retrying" (status pending) with handed_back true. ErrLeaseLost if l
// is no longer the job's current attempt.
func (s *Service) Release(ctx context.Context, l Lease, reason string) (Job, error) {
	var j Job
	err := s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
		cur, err := GetTx(ctx, tx, l.JobID, true)
		if err != nil {
			return err
		}
		if !holds(cur, l) {
			return ErrLeaseLost
		}
		j, err = one(ctx, tx, `UPDATE jobs SET status = 'pending', run_after = now(), lease_until = NULL,
				claimed_by = NULL
			WHERE id = $1 RETURNING `+columns, l.JobID)
		if err != nil {
			return err
		}
		return s.log.Append(tx, l.JobID, eventlog.Retrying, map[string]any{
			"attempt": cur.Attempt, "error": reason, "run_after": j.RunAfter, "handed_back": true})
	})
	if err != nil {
		return Job{}, fmt.Errorf("release job: %w", err)
	}
	return s.ready(j), nil
}

// Queue is what the metrics read of the jobs table: jobs by status, how
// many pending jobs are ready to run now, and how long the oldest of them
// has been ready.
type Queue struct {
	ByStatus    map[Status]int
	Ready       int
	OldestReady time.Duration
}

// QueueStats reads Queue in one cheap query (the claimable index and a
// count over the status index).
func (s *Service) QueueStats(ctx context.Context) (Queue, error) {
	q := Queue{ByStatus: map[Status]int{}}
	for _, st := range Statuses {
		q.ByStatus[st] = 0
	}
	settle := s.Policy().Settle.Seconds()
	err := s.db.Read(ctx, func(ctx context.Context, qr db.Querier) error {
		rows, err := qr.Query(ctx, `SELECT status, count(*) FROM jobs GROUP BY status`)
		if err != nil {
			return err
		}
		var st string
		var n int
		if _, err := pgx.ForEachRow(rows, []any{&st, &n}, func() error { q.ByStatus[Status(st)] = n; return nil }); err != nil {
			return err
		}
		var oldest *float64
		err = qr.QueryRow(ctx, `SELECT count(*), EXTRACT(EPOCH FROM now() - min(GREATEST(run_after,
				COALESCE(ready_at, last_upload_at + make_interval(secs => $1)))))
			FROM jobs WHERE status = 'pending' AND run_after <= now() AND logs_count > 0
				AND (ready_at IS NOT NULL OR last_upload_at <= now() - make_interval(secs => $1))`, settle).
			Scan(&q.Ready, &oldest)
		if oldest != nil && *oldest > 0 {
			q.OldestReady = time.Duration(*oldest * float64(time.Second))
		}
		return err
	})
	if err != nil {
		return Queue{}, fmt.Errorf("queue stats: %w", err)
	}
	return q, nil
}

// NextReady says when the earliest pending job that is not claimable yet
// (its settle window or its retry backoff still running) will be: the
// worker sets a timer for it rather than polling. ok is false when there
// is none.
func (s *Service) NextReady(ctx context.Context) (at time.Time, ok bool, err error) {
	settle := s.Policy().Settle.Seconds()
	var next *time.Time
	err = s.db.Read(ctx, func(ctx context.Context, q db.Querier) error {
		return q.QueryRow(ctx, `SELECT min(GREATEST(run_after, COALESCE(ready_at, last_upload_at + make_interval(secs => $1))))
			FROM jobs WHERE status = 'pending' AND logs_count > 0
				AND (ready_at IS NOT NULL OR last_upload_at IS NOT NULL)`, settle).Scan(&next)
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next ready job: %w", err)
	}
	if next == nil {
		return time.Time{}, false, nil
	}
	return *next, true, nil
}

// Redacted blanks what a job holds that is derived from its logs
// (result_data, outputs) for a caller who may not see its content under
// the policy: job metadata stays readable to whoever AUTH_MODE lets read,
// the analysis does not.
func (p Policy) Redacted(a *Actor, j Job) Job {
	if p.MaySee(a, j) != nil {
		j.ResultData, j.Outputs = nil, nil
	}
	return j
}

// eventResult is the part of a result that a completed event carries: the
// counts and the severity, never log content (the event is readable by
// whoever may read the job; the content only through the summary routes)
// nor megabytes of report on every stream.
func eventResult(result json.RawMessage) json.RawMessage {
	var full map[string]json.RawMessage
	if json.Unmarshal(result, &full) != nil {
		return json.RawMessage(`{}`)
	}
	keep := map[string]json.RawMessage{}
	for _, k := range []string{"job_id", "analysis_type", "generated_at", "metrics", "severity"} {
		if v, ok := full[k]; ok {
			keep[k] = v
		}
	}
	b, _ := json.Marshal(keep)
	return b
}

// markProcessedTx marks the logs of job id analysed, in the transaction
// that records the outcome (the original's files.processed).
func markProcessedTx(ctx context.Context, tx *db.Tx, id uuid.UUID) error {
	_, err := tx.Exec(ctx, `UPDATE files SET processed = true, processed_at = now() WHERE job_id = $1 AND kind = 'log'`, id)
	return err
}
