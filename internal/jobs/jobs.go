// Package jobs holds analysis jobs: their shape, which the original UI reads
// field by field, and their storage in PostgreSQL.
package jobs

import (
	"context"
	"encoding/json"
	"fmt"
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
