// Package jobs holds analysis jobs: their shape, which the original UI
// reads field by field, the rules of their lifecycle, and the use cases
// that change them (Service). Every change writes its event to the event
// log in the same transaction.
//
// Lifecycle: a job is created pending; a worker claims it (running, with a
// lease it renews by heartbeats); the attempt ends completed or failed, or,
// when the worker failed in a way another attempt may fix or died and let
// its lease run out, the job returns to pending for another attempt (event
// retrying) until max_retries attempts have failed. A pending or running
// job can be cancelled. Completed, failed and cancelled are final.
package jobs

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/rca-engine/api/internal/apperr"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/validate"
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

// StatusAfter returns the status a job has after an event of type t, for
// the event types that change it.
func StatusAfter(t eventlog.Type) (Status, bool) {
	switch t {
	case eventlog.Started:
		return Running, true
	case eventlog.Retrying:
		return Pending, true
	case eventlog.Completed:
		return Completed, true
	case eventlog.Failed:
		return Failed, true
	case eventlog.Cancelled:
		return Cancelled, true
	}
	return "", false
}

// Defaults of a new job, the original's.
const (
	DefaultUserID   = "anonymous"
	DefaultProvider = "ollama"
	DefaultModel    = "llama2"
	DefaultPriority = 0
	// DefaultCancelReason is the reason of a cancellation that gives none.
	DefaultCancelReason = "cancelled by request"
)

// Job is an analysis job, with the original's field names.
type Job struct {
	ID              uuid.UUID       `json:"id"`
	JobType         string          `json:"job_type"`
	Status          Status          `json:"status"`
	UserID          string          `json:"user_id"`
	OwnerID         *uuid.UUID      `json:"owner_id"`
	Provider        string          `json:"provider"`
	Model           string          `json:"model"`
	ModelConfig     json.RawMessage `json:"model_config"`
	InputManifest   json.RawMessage `json:"input_manifest"`
	Priority        int             `json:"priority"`
	RetryCount      int             `json:"retry_count"`
	MaxRetries      int             `json:"max_retries"`
	Attempt         int             `json:"attempt"`
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
	// Ours: how many files the job has (archives and their members), and
	// whether it is ready for analysis (see Ready).
	FilesCount int        `json:"files_count"`
	Ready      bool       `json:"ready"`
	ReadyAt    *time.Time `json:"ready_at"`
	// LogsCount is how many of the files are logs to analyse;
	// LastUploadAt when the last upload committed.
	LogsCount    int        `json:"-"`
	LastUploadAt *time.Time `json:"-"`
	// The worker's view of an attempt; not shown to clients.
	RunAfter   time.Time  `json:"-"`
	LeaseUntil *time.Time `json:"-"`
	ClaimedBy  *string    `json:"-"`
}

// readyAt says when j is, or will be, ready for analysis: when a client
// started it, or settle after its last upload once it has a log to analyse
// (the original UI never starts a job). A job without a log is never
// ready: nil.
func (j Job) readyAt(settle time.Duration) *time.Time {
	switch {
	case j.LogsCount == 0:
		return nil
	case j.ReadyAt != nil:
		return j.ReadyAt
	case j.LastUploadAt != nil:
		t := j.LastUploadAt.Add(settle)
		return &t
	}
	return nil
}

// withReadiness fills in Ready and ReadyAt as of now.
func (j Job) withReadiness(settle time.Duration, now time.Time) Job {
	at := j.readyAt(settle)
	j.Ready = at != nil && !at.After(now)
	if j.Ready {
		j.ReadyAt = at
	}
	return j
}

// ErrNothingToStart refuses to start a job that has no log to analyse yet.
var ErrNothingToStart = apperr.New(apperr.Conflict,
	"The job has no file to analyse yet: upload a log (or an archive of logs) first.")

// ListFilter selects and pages jobs. Zero fields do not filter.
type ListFilter struct {
	UserID string
	Status Status
	Limit  int
	Offset int
}

// Owner is the signed-in user a job is created for. A job created without
// one (AUTH_MODE=off) keeps the user_id its creator sent.
type Owner struct {
	ID       uuid.UUID
	Username string
}

// NewJob is what a client sends to create a job. json.RawMessage fields
// must be JSON objects when present.
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

// Validate checks n's rules; the error is an apperr.Invalid naming fields.
func (n NewJob) Validate() error { return validate.Struct(n) }

// withDefaults returns n with the defaults filled in and the owner
// applied: a signed-in caller's jobs are theirs, whatever user_id says
// (the original trusted it, and it could name anyone).
func (n NewJob) withDefaults(owner *Owner) NewJob {
	if owner != nil {
		n.UserID = owner.Username
	}
	if n.UserID == "" {
		n.UserID = DefaultUserID
	}
	if n.Provider == "" {
		n.Provider = DefaultProvider
	}
	if n.Model == "" {
		n.Model = DefaultModel
	}
	if n.Priority == nil {
		p := DefaultPriority
		n.Priority = &p
	}
	if isAbsent(n.InputManifest) {
		n.InputManifest = json.RawMessage(`{}`)
	}
	return n
}

// CancelRequest is the optional body of a cancellation.
type CancelRequest struct {
	Reason string `json:"reason" validate:"omitempty,max=500,text"`
}

// Validate checks c's rules.
func (c CancelRequest) Validate() error { return validate.Struct(c) }

// ErrNotFound is returned for a job id that does not exist.
var ErrNotFound = eventlog.ErrJobNotFound

// checkCancel is the rule for cancelling: only a job that is not final.
func checkCancel(j Job) error {
	if j.Status.Terminal() {
		return apperr.Newf(apperr.Conflict, "The job is already %s; only pending or running jobs can be cancelled.", j.Status)
	}
	return nil
}

// ErrLeaseLost is returned to a worker that reports on an attempt it no
// longer holds: the job was cancelled, or its lease ran out and it was
// given to another attempt. The worker must stop and not report again.
var ErrLeaseLost = apperr.New(apperr.Conflict, "This worker no longer holds the job's lease.")

// Lease names one attempt at a job: the job, the worker that claimed it
// and the attempt's number. Reports on an attempt carry its lease, so that
// an attempt that has been superseded (rescued and claimed again, even by
// the same worker) cannot heartbeat, complete or fail the new one.
type Lease struct {
	JobID   uuid.UUID
	Worker  string
	Attempt int
}

// LeaseOf returns the lease of the attempt a claimed job is under.
func LeaseOf(j Job) Lease {
	l := Lease{JobID: j.ID, Attempt: j.Attempt}
	if j.ClaimedBy != nil {
		l.Worker = *j.ClaimedBy
	}
	return l
}

// holds reports whether l is j's current attempt.
func holds(j Job, l Lease) bool {
	return j.Status == Running && j.ClaimedBy != nil && *j.ClaimedBy == l.Worker && j.Attempt == l.Attempt
}

// Retry decides what a failed attempt leads to: another attempt after
// backoff while fewer than MaxRetries attempts have failed and the failure
// is worth retrying, else the end.
type Retry struct {
	Again bool
	After time.Duration
}

// retryAfter is the backoff before attempt n+1 (n >= 1 failed so far):
// 10 s, 40 s, 90 s, ... capped at 10 minutes, as River's attempt² rule.
func retryAfter(failed int) time.Duration {
	const limit = 10 * time.Minute
	if failed >= 8 { // 8² × 10 s is past the cap; larger counts would overflow
		return limit
	}
	return min(time.Duration(failed*failed)*10*time.Second, limit)
}

func decideRetry(j Job, retryable bool) Retry {
	failed := j.RetryCount + 1
	if !retryable || failed >= j.MaxRetries {
		return Retry{}
	}
	return Retry{Again: true, After: retryAfter(failed)}
}

// isAbsent reports whether a JSON value was not sent or sent as null.
func isAbsent(r json.RawMessage) bool { return len(r) == 0 || string(r) == "null" }
