// Package tickets files ITSM tickets (ServiceNow incidents, Jira issues)
// for jobs, previews them as dry runs, and keeps the integration toggles.
//
// The rules are the original's (reference: original-api.md, section 8),
// with its stale-toggle bug fixed: the toggles are read from PostgreSQL on
// every decision, so a change made through any replica applies at once
// everywhere.
package tickets

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/validate"
)

// Platform is an ITSM system.
type Platform string

const (
	ServiceNow Platform = "servicenow"
	Jira       Platform = "jira"
)

// Platforms lists the platforms in dispatch order: ServiceNow first, so a
// Jira issue can link to the incident in dual tracking.
var Platforms = []Platform{ServiceNow, Jira}

// StatusDryRun is the status of every ticket that was not filed remotely.
const StatusDryRun = "dry-run"

// Ticket is a ticket as stored, in the original's shape.
type Ticket struct {
	ID          uuid.UUID       `json:"id"`
	JobID       uuid.UUID       `json:"job_id"`
	Platform    Platform        `json:"platform"`
	TicketID    string          `json:"ticket_id"`
	URL         *string         `json:"url"`
	Status      string          `json:"status"`
	ProfileName *string         `json:"profile_name"`
	DryRun      bool            `json:"dry_run"`
	Payload     json.RawMessage `json:"payload"`
	Metadata    json.RawMessage `json:"metadata"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// NewTicket is the body of POST /api/tickets. DryRun defaults to true.
type NewTicket struct {
	JobID       string          `json:"job_id" validate:"required,uuid"`
	Platform    Platform        `json:"platform" validate:"required,oneof=servicenow jira"`
	Payload     json.RawMessage `json:"payload" validate:"object"`
	ProfileName *string         `json:"profile_name" validate:"omitempty,max=100,text"`
	DryRun      *bool           `json:"dry_run"`
	TicketID    *string         `json:"ticket_id" validate:"omitempty,min=1,max=128,text"`
	URL         *string         `json:"url" validate:"omitempty,max=512,http_url"`
	Metadata    json.RawMessage `json:"metadata" validate:"object"`
}

// Validate checks t's rules.
func (t NewTicket) Validate() error { return validate.Struct(t) }

// Payloads are per-platform overrides for a dispatch.
type Payloads struct {
	ServiceNow json.RawMessage `json:"servicenow" validate:"object"`
	Jira       json.RawMessage `json:"jira" validate:"object"`
}

// DispatchRequest is the body of POST /api/tickets/dispatch. DryRun
// defaults to false: dispatch files for real on every enabled platform.
type DispatchRequest struct {
	JobID       string   `json:"job_id" validate:"required,uuid"`
	Payloads    Payloads `json:"payloads"`
	ProfileName *string  `json:"profile_name" validate:"omitempty,max=100,text"`
	DryRun      *bool    `json:"dry_run"`
}

// Validate checks d's rules.
func (d DispatchRequest) Validate() error { return validate.Struct(d) }

// Settings are the integration toggles.
type Settings struct {
	ServiceNowEnabled bool `json:"servicenow_enabled"`
	JiraEnabled       bool `json:"jira_enabled"`
	DualMode          bool `json:"dual_mode"`
}

// Enabled reports whether p is switched on.
func (s Settings) Enabled(p Platform) bool {
	if p == ServiceNow {
		return s.ServiceNowEnabled
	}
	return s.JiraEnabled
}

// SettingsUpdate changes the toggles that are not nil.
type SettingsUpdate struct {
	ServiceNowEnabled *bool `json:"servicenow_enabled"`
	JiraEnabled       *bool `json:"jira_enabled"`
	DualMode          *bool `json:"dual_mode"`
}

// Service holds the ticket use cases. Each method opens its own
// transaction; the ...Tx variants run inside a caller's. None of them
// calls an ITSM system: nothing outside the database may happen inside a
// transaction that can be retried. Filing for real is the delivery
// outbox's work (to come); until then a live request is recorded as a dry
// run that says why, as the original did without a client.
type Service struct {
	db       *db.DB
	log      *eventlog.Log
	policy   jobs.Policy
	defaults Defaults
	initial  Settings
}

// New returns a Service. policy decides who may file tickets for a job (as
// for any change to it); initial seeds the toggles the first time they are
// read (SERVICENOW_ENABLED and friends).
func New(d *db.DB, log *eventlog.Log, policy jobs.Policy, defaults Defaults, initial Settings) *Service {
	return &Service{db: d, log: log, policy: policy, defaults: defaults, initial: initial}
}

const ticketColumns = `id, job_id, platform, ticket_id, url, status, profile_name, dry_run, payload, metadata,
	created_at, updated_at`

// Settings returns the toggles, creating the row from the initial values on
// first use.
func (s *Service) Settings(ctx context.Context) (Settings, error) {
	var out Settings
	err := s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
		var err error
		out, err = s.settingsTx(ctx, tx)
		return err
	})
	return out, err
}

func (s *Service) settingsTx(ctx context.Context, tx *db.Tx) (Settings, error) {
	var out Settings
	_, err := tx.Exec(ctx, `INSERT INTO ticket_integration_settings (id, servicenow_enabled, jira_enabled, dual_mode)
		VALUES (1, $1, $2, $3) ON CONFLICT (id) DO NOTHING`,
		s.initial.ServiceNowEnabled, s.initial.JiraEnabled, s.initial.DualMode)
	if err != nil {
		return out, err
	}
	err = tx.QueryRow(ctx, `SELECT servicenow_enabled, jira_enabled, dual_mode FROM ticket_integration_settings WHERE id = 1`).
		Scan(&out.ServiceNowEnabled, &out.JiraEnabled, &out.DualMode)
	return out, err
}

// UpdateSettings applies u and returns the result. The next ticket
// decision on any replica sees it.
func (s *Service) UpdateSettings(ctx context.Context, u SettingsUpdate) (Settings, error) {
	var out Settings
	err := s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
		var err error
		out, err = s.updateSettingsTx(ctx, tx, u)
		return err
	})
	return out, err
}

func (s *Service) updateSettingsTx(ctx context.Context, tx *db.Tx, u SettingsUpdate) (Settings, error) {
	if _, err := s.settingsTx(ctx, tx); err != nil {
		return Settings{}, err
	}
	var out Settings
	err := tx.QueryRow(ctx, `UPDATE ticket_integration_settings SET
			servicenow_enabled = COALESCE($1, servicenow_enabled),
			jira_enabled = COALESCE($2, jira_enabled),
			dual_mode = COALESCE($3, dual_mode)
		WHERE id = 1 RETURNING servicenow_enabled, jira_enabled, dual_mode`,
		u.ServiceNowEnabled, u.JiraEnabled, u.DualMode).Scan(&out.ServiceNowEnabled, &out.JiraEnabled, &out.DualMode)
	return out, err
}

// Create files (or previews) one ticket for a job on behalf of a, with its
// "ticket-created" event. Filing for someone else's job is refused as any
// change to it is (jobs.Policy).
func (s *Service) Create(ctx context.Context, a *jobs.Actor, in NewTicket) (Ticket, error) {
	var t Ticket
	err := s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
		var err error
		t, err = s.CreateTx(ctx, tx, a, in)
		return err
	})
	return t, err
}

// CreateTx is Create inside tx.
func (s *Service) CreateTx(ctx context.Context, tx *db.Tx, a *jobs.Actor, in NewTicket) (Ticket, error) {
	if err := in.Validate(); err != nil {
		return Ticket{}, err
	}
	jobID, err := uuid.Parse(in.JobID)
	if err != nil {
		return Ticket{}, jobs.ErrNotFound
	}
	job, err := jobs.GetTx(ctx, tx, jobID, false)
	if err != nil {
		return Ticket{}, err
	}
	if err := s.policy.MayChange(a, job); err != nil {
		return Ticket{}, err
	}
	settings, err := s.settingsTx(ctx, tx)
	if err != nil {
		return Ticket{}, err
	}
	dryRun := in.DryRun == nil || *in.DryRun
	return s.file(ctx, tx, job, settings, fileRequest{
		platform: in.Platform, overrides: in.Payload, profile: in.ProfileName, dryRun: dryRun,
		ticketID: in.TicketID, url: in.URL, metadata: in.Metadata,
	})
}

// Dispatch files a ticket on every enabled platform, ServiceNow first, on
// behalf of a (as Create). No platform enabled means no ticket (an empty
// list).
func (s *Service) Dispatch(ctx context.Context, a *jobs.Actor, in DispatchRequest) ([]Ticket, error) {
	var out []Ticket
	err := s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
		var err error
		out, err = s.DispatchTx(ctx, tx, a, in)
		return err
	})
	return out, err
}

// DispatchTx is Dispatch inside tx.
func (s *Service) DispatchTx(ctx context.Context, tx *db.Tx, a *jobs.Actor, in DispatchRequest) ([]Ticket, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	jobID, err := uuid.Parse(in.JobID)
	if err != nil {
		return nil, jobs.ErrNotFound
	}
	job, err := jobs.GetTx(ctx, tx, jobID, false)
	if err != nil {
		return nil, err
	}
	if err := s.policy.MayChange(a, job); err != nil {
		return nil, err
	}
	settings, err := s.settingsTx(ctx, tx)
	if err != nil {
		return nil, err
	}
	dryRun := in.DryRun != nil && *in.DryRun
	out := []Ticket{}
	for _, p := range Platforms {
		if !settings.Enabled(p) {
			continue
		}
		overrides := in.Payloads.ServiceNow
		if p == Jira {
			overrides = in.Payloads.Jira
		}
		// Dual tracking (the Jira issue naming the live ServiceNow
		// incident) needs a filed incident; it comes with the delivery
		// outbox, as "the Jira delivery waits for the ServiceNow one".
		req := fileRequest{platform: p, overrides: overrides, profile: in.ProfileName, dryRun: dryRun}
		t, err := s.file(ctx, tx, job, settings, req)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

type fileRequest struct {
	platform  Platform
	overrides json.RawMessage
	profile   *string
	dryRun    bool
	ticketID  *string
	url       *string
	metadata  json.RawMessage
}

func (s *Service) file(ctx context.Context, tx *db.Tx, job jobs.Job, settings Settings, req fileRequest) (Ticket, error) {
	payload, err := BuildPayload(req.platform, job, s.defaults, req.overrides)
	if err != nil {
		return Ticket{}, err
	}
	meta := map[string]any{}
	if len(req.metadata) > 0 && string(req.metadata) != "null" {
		if err := json.Unmarshal(req.metadata, &meta); err != nil {
			return Ticket{}, fmt.Errorf("metadata: %w", err)
		}
	}
	// Every ticket is a dry run until delivery lands: no remote call may
	// happen inside this transaction.
	t := Ticket{Platform: req.platform, ProfileName: req.profile, DryRun: true, Status: StatusDryRun, URL: req.url,
		TicketID: string(req.platform) + "-" + randomHex(4)}
	if req.ticketID != nil {
		t.TicketID = *req.ticketID
	}
	switch {
	case req.dryRun:
		meta["dry_run_reason"] = "preview"
	case !settings.Enabled(req.platform):
		meta["dry_run_reason"] = "feature-toggle-disabled"
	default:
		// As in the original without a client: the live request is kept
		// as a dry run that says why, and the request still succeeds.
		meta["error"] = string(req.platform) + " " + errNoClient
	}
	payloadJSON, err := json.Marshal(payload)
	if err != nil {
		return Ticket{}, err
	}
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return Ticket{}, err
	}
	rows, err := tx.Query(ctx, `INSERT INTO tickets (job_id, platform, ticket_id, url, status, profile_name, dry_run, payload, metadata)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb) RETURNING `+ticketColumns,
		job.ID, t.Platform, t.TicketID, t.URL, t.Status, t.ProfileName, t.DryRun, string(payloadJSON), string(metaJSON))
	if err != nil {
		return Ticket{}, err
	}
	t, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Ticket])
	if err != nil {
		return Ticket{}, fmt.Errorf("insert ticket: %w", err)
	}
	err = s.log.Append(tx, job.ID, eventlog.TicketCreated,
		map[string]any{"ticket_id": t.TicketID, "platform": t.Platform, "status": t.Status, "dry_run": t.DryRun})
	return t, err
}

// errNoClient is recorded on a live request while no platform has a
// delivery client.
const errNoClient = "client is not configured"

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ForJob returns a job's tickets in creation order. With refresh, live
// tickets would be re-read from their platforms; with no clients there is
// nothing to refresh.
func (s *Service) ForJob(ctx context.Context, jobID uuid.UUID, refresh bool) ([]Ticket, error) {
	var out []Ticket
	err := s.db.Read(ctx, func(ctx context.Context, q db.Querier) error {
		var exists bool
		if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM jobs WHERE id = $1)`, jobID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return jobs.ErrNotFound
		}
		rows, err := q.Query(ctx, `SELECT `+ticketColumns+` FROM tickets WHERE job_id = $1 ORDER BY created_at, id`, jobID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Ticket])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("job tickets: %w", err)
	}
	return out, nil
}

// ListFilter selects tickets for the dashboard. Zero fields do not filter.
type ListFilter struct {
	Platform Platform
	Status   string
	JobID    *uuid.UUID
	// Query matches the ticket id or the payload's short_description or
	// summary, case-insensitively, as a substring.
	Query  string
	Limit  int
	Offset int
}

// Page is one page of tickets and the total that match.
type Page struct {
	Tickets []Ticket `json:"tickets"`
	Total   int64    `json:"total"`
	Limit   int      `json:"limit"`
	Offset  int      `json:"offset"`
}

// List returns tickets newest first; ties on created_at are broken by id,
// so pages never overlap or skip.
func (s *Service) List(ctx context.Context, f ListFilter) (Page, error) {
	page := Page{Limit: f.Limit, Offset: f.Offset, Tickets: []Ticket{}}
	pattern := ""
	if f.Query != "" {
		pattern = "%" + likeEscaper.Replace(f.Query) + "%"
	}
	where := `($1 = '' OR platform = $1) AND ($2 = '' OR status = $2) AND ($3::uuid IS NULL OR job_id = $3)
		AND ($4 = '' OR ticket_id ILIKE $4 OR payload->>'short_description' ILIKE $4 OR payload->>'summary' ILIKE $4)`
	args := []any{string(f.Platform), f.Status, f.JobID, pattern}
	err := s.db.Read(ctx, func(ctx context.Context, q db.Querier) error {
		if err := q.QueryRow(ctx, `SELECT count(*) FROM tickets WHERE `+where, args...).Scan(&page.Total); err != nil {
			return err
		}
		rows, err := q.Query(ctx, `SELECT `+ticketColumns+` FROM tickets WHERE `+where+`
			ORDER BY created_at DESC, id DESC LIMIT $5 OFFSET $6`, append(args, f.Limit, f.Offset)...)
		if err != nil {
			return err
		}
		page.Tickets, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Ticket])
		return err
	})
	if err != nil {
		return Page{}, fmt.Errorf("list tickets: %w", err)
	}
	return page, nil
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
