// Package jobs holds analysis jobs: their shape, which the original UI reads
// field by field, and their storage in PostgreSQL.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rca-engine/api/internal/db"
)

// Status is a job's place in its lifecycle.
type Status string

const (
	Pending   Status = "pending"
	Running   Status = "running"
	Completed Status = "completed"
	Failed    Status = "failed"
	Cancelled Status = "cancelled"
)

// Statuses lists every status, for validating filters.
var Statuses = []Status{Pending, Running, Completed, Failed, Cancelled}

// Terminal reports whether a job in this status will never change again.
func (s Status) Terminal() bool {
	return s == Completed || s == Failed || s == Cancelled
}

// ErrNotFound is returned for a job id that does not exist.
var ErrNotFound = errors.New("job not found")

// ConflictError is returned for a change the job's status does not allow.
type ConflictError struct {
	ID     uuid.UUID
	Status Status
	Action string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("job %s is %s and cannot be %s", e.ID, e.Status, e.Action)
}

// Job is an analysis job, with the original's field names.
type Job struct {
	ID              uuid.UUID       `json:"id"`
	JobType         string          `json:"job_type"`
	Status          Status          `json:"status"`
	UserID          string          `json:"user_id"`
	Provider        string          `json:"provider"`
	Model           string          `json:"model"`
	ModelConfig     json.RawMessage `json:"model_config"`
	InputManifest   json.RawMessage `json:"input_manifest"`
	Priority        int             `json:"priority"`
	RetryCount      int             `json:"retry_count"`
	MaxRetries      int             `json:"max_retries"`
	CreatedAt       time.Time       `json:"created_at"`
	UpdatedAt       time.Time       `json:"updated_at"`
	StartedAt       *time.Time      `json:"started_at"`
	CompletedAt     *time.Time      `json:"completed_at"`
	DurationSeconds *float64        `json:"duration_seconds"`
	ResultData      json.RawMessage `json:"result_data"`
	Outputs         json.RawMessage `json:"outputs"`
	Ticketing       json.RawMessage `json:"ticketing"`
	Source          json.RawMessage `json:"source"`
	ErrorMessage    *string         `json:"error_message"`
}

// ListFilter selects and pages jobs. Zero fields do not filter.
type ListFilter struct {
	UserID string
	Status Status
	Limit  int
	Offset int
}

// NewJob is what a client sends to create a job. Defaults are the
// original's; `json.RawMessage` fields must be JSON objects when present.
type NewJob struct {
	UserID        string          `json:"user_id" validate:"omitempty,max=100,text"`
	JobType       string          `json:"job_type" validate:"required,max=50,text"`
	InputManifest json.RawMessage `json:"input_manifest" validate:"object"`
	Provider      string          `json:"provider" validate:"omitempty,max=50,text"`
	Model         string          `json:"model" validate:"omitempty,max=100,text"`
	Priority      *int            `json:"priority" validate:"omitempty,min=0,max=10"`
	ModelConfig   json.RawMessage `json:"model_config" validate:"object"`
	Ticketing     json.RawMessage `json:"ticketing" validate:"object"`
	Source        json.RawMessage `json:"source" validate:"object"`
}

// CancelRequest is the optional body of a cancellation.
type CancelRequest struct {
	Reason string `json:"reason" validate:"omitempty,max=500,text"`
}

// Event is one row of a job's event log, in the original's shape. ID grows
// in commit order; it is the SSE event id.
type Event struct {
	ID        int64           `json:"id"`
	JobID     uuid.UUID       `json:"job_id"`
	EventType string          `json:"event_type"`
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
}

// Notifier is told about events after the transaction that wrote them has
// committed, never before: a subscriber never hears of a change that was
// rolled back.
type Notifier interface {
	Notify(events ...Event)
}

// Store reads and writes jobs.
type Store struct {
	db *db.DB
}

// NewStore returns a Store on database d.
func NewStore(d *db.DB) *Store { return &Store{db: d} }

const columns = `id, job_type, status, user_id, provider, model, model_config, input_manifest,
	priority, retry_count, max_retries, created_at, updated_at, started_at, completed_at,
	result_data, outputs, ticketing, source, error_message`

// List returns the jobs that match f, newest first. Ties on created_at are
// broken by id so that pages never overlap or skip.
func (s *Store) List(ctx context.Context, f ListFilter) ([]Job, error) {
	var out []Job
	err := s.db.Read(ctx, func(ctx context.Context, q db.Querier) error {
		rows, err := q.Query(ctx, `SELECT `+columns+` FROM jobs
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
	return out, nil
}

// Get returns one job.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (Job, error) {
	var j Job
	err := s.db.Read(ctx, func(ctx context.Context, q db.Querier) error {
		rows, err := q.Query(ctx, `SELECT `+columns+` FROM jobs WHERE id = $1`, id)
		if err != nil {
			return err
		}
		j, err = pgx.CollectExactlyOneRow(rows, scanJob)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Job{}, ErrNotFound
	}
	if err != nil {
		return Job{}, fmt.Errorf("get job: %w", err)
	}
	return j, nil
}

// GetTx returns one job inside tx, locked for update if forUpdate.
func GetTx(ctx context.Context, tx pgx.Tx, id uuid.UUID, forUpdate bool) (Job, error) {
	sql := `SELECT ` + columns + ` FROM jobs WHERE id = $1`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	rows, err := tx.Query(ctx, sql, id)
	if err != nil {
		return Job{}, err
	}
	j, err := pgx.CollectExactlyOneRow(rows, scanJob)
	if errors.Is(err, pgx.ErrNoRows) {
		return Job{}, ErrNotFound
	}
	return j, err
}

// Create inserts a pending job and its "created" event in tx.
func (s *Store) Create(ctx context.Context, tx pgx.Tx, in NewJob) (Job, Event, error) {
	rows, err := tx.Query(ctx, `INSERT INTO jobs (job_type, user_id, input_manifest, provider, model, priority,
			model_config, ticketing, source)
		VALUES ($1, COALESCE(NULLIF($2, ''), 'anonymous'), COALESCE($3::jsonb, '{}'), COALESCE(NULLIF($4, ''), 'ollama'),
			COALESCE(NULLIF($5, ''), 'llama2'), COALESCE($6, 0), $7::jsonb, $8::jsonb, $9::jsonb)
		RETURNING `+columns,
		in.JobType, in.UserID, rawOrNil(in.InputManifest), in.Provider, in.Model, in.Priority,
		rawOrNil(in.ModelConfig), rawOrNil(in.Ticketing), rawOrNil(in.Source))
	if err != nil {
		return Job{}, Event{}, err
	}
	j, err := pgx.CollectExactlyOneRow(rows, scanJob)
	if err != nil {
		return Job{}, Event{}, fmt.Errorf("insert job: %w", err)
	}
	data, _ := json.Marshal(map[string]json.RawMessage{"input_manifest": j.InputManifest})
	ev, err := InsertEvent(ctx, tx, j.ID, "created", data)
	return j, ev, err
}

// Cancel moves a pending or running job to cancelled, with a "cancelled"
// event, in tx. A finished job is a *ConflictError.
func (s *Store) Cancel(ctx context.Context, tx pgx.Tx, id uuid.UUID, reason string) (Job, Event, error) {
	j, err := GetTx(ctx, tx, id, true)
	if err != nil {
		return Job{}, Event{}, err
	}
	if j.Status.Terminal() {
		return Job{}, Event{}, &ConflictError{ID: id, Status: j.Status, Action: "cancelled"}
	}
	if reason == "" {
		reason = "cancelled by request"
	}
	rows, err := tx.Query(ctx, `UPDATE jobs SET status = 'cancelled', completed_at = now(), error_message = $2
		WHERE id = $1 RETURNING `+columns, id, reason)
	if err != nil {
		return Job{}, Event{}, err
	}
	j, err = pgx.CollectExactlyOneRow(rows, scanJob)
	if err != nil {
		return Job{}, Event{}, fmt.Errorf("cancel job: %w", err)
	}
	data, _ := json.Marshal(map[string]string{"reason": reason})
	ev, err := InsertEvent(ctx, tx, id, "cancelled", data)
	return j, ev, err
}

// eventLockKey serialises event writers (pg_advisory_xact_lock), so that
// identity values are handed out in commit order: the lock is held from the
// insert to the commit, and no other writer can take a later value and
// commit first. Without it, a reader that has seen id 11 could later find
// a committed id 10 it will never be sent.
const eventLockKey int64 = 0x6a6f625f65767473 // "job_evts"

// InsertEvent appends an event to a job's log in tx. Call it as late in the
// transaction as possible: it serialises event writers until commit.
func InsertEvent(ctx context.Context, tx pgx.Tx, jobID uuid.UUID, eventType string, data json.RawMessage) (Event, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, eventLockKey); err != nil {
		return Event{}, err
	}
	ev := Event{JobID: jobID, EventType: eventType, Data: data}
	err := tx.QueryRow(ctx, `INSERT INTO job_events (job_id, event_type, data) VALUES ($1, $2, $3::jsonb)
		RETURNING id, created_at`, jobID, eventType, data).Scan(&ev.ID, &ev.CreatedAt)
	if err != nil {
		return Event{}, fmt.Errorf("insert %s event: %w", eventType, err)
	}
	return ev, nil
}

// EventFilter selects a job's events: those created after Since (if set),
// at most Limit of them, the most recent ones.
type EventFilter struct {
	Since *time.Time
	Limit int
}

// Events returns a job's most recent events matching f, oldest first.
func (s *Store) Events(ctx context.Context, id uuid.UUID, f EventFilter) ([]Event, error) {
	var out []Event
	err := s.db.Read(ctx, func(ctx context.Context, q db.Querier) error {
		var exists bool
		if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM jobs WHERE id = $1)`, id).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return ErrNotFound
		}
		rows, err := q.Query(ctx, `SELECT id, job_id, event_type, data, created_at FROM job_events
			WHERE job_id = $1 AND ($2::timestamptz IS NULL OR created_at > $2)
			ORDER BY id DESC LIMIT $3`, id, f.Since, f.Limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Event])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("job events: %w", err)
	}
	slices.Reverse(out)
	return out, nil
}

// LastEventID returns the id of a job's newest event (0 if none).
func (s *Store) LastEventID(ctx context.Context, id uuid.UUID) (int64, error) {
	var last int64
	err := s.db.Read(ctx, func(ctx context.Context, q db.Querier) error {
		return q.QueryRow(ctx, `SELECT COALESCE(max(id), 0) FROM job_events WHERE job_id = $1`, id).Scan(&last)
	})
	return last, err
}

// rawOrNil maps an absent or null JSON value to SQL NULL, so the column
// default (or NULL) applies.
func rawOrNil(r json.RawMessage) any {
	if len(r) == 0 || string(r) == "null" {
		return nil
	}
	return string(r)
}

func scanJob(row pgx.CollectableRow) (Job, error) {
	var j Job
	err := row.Scan(&j.ID, &j.JobType, &j.Status, &j.UserID, &j.Provider, &j.Model, &j.ModelConfig,
		&j.InputManifest, &j.Priority, &j.RetryCount, &j.MaxRetries, &j.CreatedAt, &j.UpdatedAt,
		&j.StartedAt, &j.CompletedAt, &j.ResultData, &j.Outputs, &j.Ticketing, &j.Source, &j.ErrorMessage)
	if err != nil {
		return Job{}, err
	}
	if j.StartedAt != nil && j.CompletedAt != nil {
		d := j.CompletedAt.Sub(*j.StartedAt).Seconds()
		j.DurationSeconds = &d
	}
	return j, nil
}
