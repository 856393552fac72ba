package tickets_test

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/rca-engine/api/internal/apperr"
	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/dbtest"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/pgtest"
	"github.com/rca-engine/api/internal/tickets"
)

type env struct {
	d    *db.DB
	url  string
	log  *eventlog.Log
	svc  *tickets.Service
	jobs *jobs.Service
}

var defaults = tickets.Defaults{ServiceNowCategory: "Software", JiraProjectKey: "OPS", JiraLabels: []string{"rca"}}

func newEnv(t *testing.T, initial tickets.Settings) env {
	t.Helper()
	d, url := dbtest.New(t)
	log := eventlog.New(d)
	return env{d: d, url: url, log: log, svc: tickets.New(d, log, jobs.Policy{}, defaults, initial), jobs: jobs.NewService(d, log, jobs.Policy{})}
}

// job creates a job whose outcome has a summary, so that payloads show
// where they came from.
func (e env) job(t *testing.T) jobs.Job {
	t.Helper()
	j, err := e.jobs.Create(context.Background(), nil, jobs.NewJob{JobType: "rca"})
	if err != nil {
		t.Fatal(err)
	}
	pgtest.Exec(t, e.url, `UPDATE jobs SET outputs = '{"json":{"summary":"Disk full on db-1","severity":"high"}}' WHERE id = $1`, j.ID)
	return j
}

func (e env) set(t *testing.T, s tickets.Settings) {
	t.Helper()
	_, err := e.svc.UpdateSettings(context.Background(), tickets.SettingsUpdate{
		ServiceNowEnabled: &s.ServiceNowEnabled, JiraEnabled: &s.JiraEnabled, DualMode: &s.DualMode})
	if err != nil {
		t.Fatal(err)
	}
}

func (e env) count(t *testing.T, sql string, args ...any) int64 {
	t.Helper()
	return pgtest.QueryInt(t, e.url, sql, args...)
}

// ticketEvents returns the data of a job's ticket-created events.
func (e env) ticketEvents(t *testing.T, jobID uuid.UUID) []map[string]any {
	t.Helper()
	evs, err := e.log.ForJob(context.Background(), jobID, eventlog.Filter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, ev := range evs {
		if ev.Type != eventlog.TicketCreated {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(ev.Data, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func decode(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return m
}

func str(s string) *string { return &s }

var generatedID = regexp.MustCompile(`^(servicenow|jira)-[0-9a-f]{8}$`)

// TestCreate: every ticket is stored as a dry run for now, and its
// metadata says why, so that the UI can tell a preview from a live request
// that could not be filed.
func TestCreate(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name     string
		platform tickets.Platform
		dryRun   *bool
		enabled  bool
		wantMeta map[string]any
	}{
		{"dry_run defaults to true", tickets.ServiceNow, nil, true, map[string]any{"dry_run_reason": "preview"}},
		{"explicit dry run, toggle off", tickets.Jira, &yes, false, map[string]any{"dry_run_reason": "preview"}},
		{"live, ServiceNow enabled: no client", tickets.ServiceNow, &no, true,
			map[string]any{"error": "servicenow client is not configured"}},
		{"live, Jira enabled: no client", tickets.Jira, &no, true, map[string]any{"error": "jira client is not configured"}},
		{"live, ServiceNow off (Jira on)", tickets.ServiceNow, &no, false, map[string]any{"dry_run_reason": "feature-toggle-disabled"}},
		{"live, Jira off (ServiceNow on)", tickets.Jira, &no, false, map[string]any{"dry_run_reason": "feature-toggle-disabled"}},
	}
	e := newEnv(t, tickets.Settings{})
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The platform's toggle as the case says, the other one opposite.
			e.set(t, tickets.Settings{
				ServiceNowEnabled: tt.enabled == (tt.platform == tickets.ServiceNow),
				JiraEnabled:       tt.enabled == (tt.platform == tickets.Jira)})
			j := e.job(t)
			got, err := e.svc.Create(ctx, nil, tickets.NewTicket{JobID: j.ID.String(), Platform: tt.platform, DryRun: tt.dryRun})
			if err != nil {
				t.Fatal(err)
			}
			if !got.DryRun || got.Status != tickets.StatusDryRun || got.JobID != j.ID || got.Platform != tt.platform ||
				!generatedID.MatchString(got.TicketID) || !strings.HasPrefix(got.TicketID, string(tt.platform)) {
				t.Errorf("ticket = %+v", got)
			}
			if meta := decode(t, got.Metadata); !mapsEqual(meta, tt.wantMeta) {
				t.Errorf("metadata = %v, want %v", meta, tt.wantMeta)
			}
			title := "short_description"
			if tt.platform == tickets.Jira {
				title = "summary"
			}
			if p := decode(t, got.Payload); p[title] != "Disk full on db-1" {
				t.Errorf("payload %s = %v", title, p[title])
			}
			stored, err := e.svc.ForJob(ctx, j.ID, false)
			if err != nil || len(stored) != 1 || stored[0].ID != got.ID || stored[0].TicketID != got.TicketID {
				t.Fatalf("ForJob = %+v, %v", stored, err)
			}
			evs := e.ticketEvents(t, j.ID)
			if len(evs) != 1 || evs[0]["ticket_id"] != got.TicketID || evs[0]["platform"] != string(tt.platform) ||
				evs[0]["status"] != tickets.StatusDryRun || evs[0]["dry_run"] != true {
				t.Errorf("ticket-created events = %v", evs)
			}
		})
	}

	t.Run("the client's ticket_id, url, profile, metadata and overrides are kept", func(t *testing.T) {
		j := e.job(t)
		got, err := e.svc.Create(ctx, nil, tickets.NewTicket{JobID: strings.ToUpper(j.ID.String()), Platform: tickets.Jira,
			TicketID: str("OPS-7"), URL: str("https://jira.example.com/browse/OPS-7"), ProfileName: str("prod"),
			Metadata: json.RawMessage(`{"source":"ui"}`), Payload: json.RawMessage(`{"priority":"Low","assignee":null}`)})
		if err != nil {
			t.Fatal(err)
		}
		if got.TicketID != "OPS-7" || got.URL == nil || *got.URL != "https://jira.example.com/browse/OPS-7" ||
			got.ProfileName == nil || *got.ProfileName != "prod" {
			t.Errorf("ticket = %+v", got)
		}
		if meta := decode(t, got.Metadata); !mapsEqual(meta, map[string]any{"source": "ui", "dry_run_reason": "preview"}) {
			t.Errorf("metadata = %v", meta)
		}
		p := decode(t, got.Payload)
		if _, has := p["assignee"]; p["priority"] != "Low" || has || p["project_key"] != "OPS" {
			t.Errorf("payload = %v", p)
		}
	})
}

func mapsEqual(a, b map[string]any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestCreateRefusals(t *testing.T) {
	e := newEnv(t, tickets.Settings{ServiceNowEnabled: true, JiraEnabled: true})
	ctx := context.Background()
	j := e.job(t)
	ok := tickets.NewTicket{JobID: j.ID.String(), Platform: tickets.ServiceNow}
	with := func(f func(*tickets.NewTicket)) tickets.NewTicket { n := ok; f(&n); return n }
	tests := []struct {
		name     string
		in       tickets.NewTicket
		notFound bool
		field    string // the Invalid field, when not notFound
	}{
		{"unknown job", with(func(n *tickets.NewTicket) { n.JobID = uuid.NewString() }), true, ""},
		// A job id that is not a UUID never reaches the lookup: the client
		// is told which field is wrong rather than that a job is missing.
		{"malformed job id", with(func(n *tickets.NewTicket) { n.JobID = "job-1" }), false, "job_id"},
		{"missing job id", with(func(n *tickets.NewTicket) { n.JobID = "" }), false, "job_id"},
		{"unknown platform", with(func(n *tickets.NewTicket) { n.Platform = "pagerduty" }), false, "platform"},
		{"payload not an object", with(func(n *tickets.NewTicket) { n.Payload = json.RawMessage(`[1]`) }), false, "payload"},
		{"metadata not an object", with(func(n *tickets.NewTicket) { n.Metadata = json.RawMessage(`"x"`) }), false, "metadata"},
		{"empty ticket_id", with(func(n *tickets.NewTicket) { n.TicketID = str("") }), false, "ticket_id"},
		{"ticket_id with a NUL", with(func(n *tickets.NewTicket) { n.TicketID = str("OPS-1\x00") }), false, "ticket_id"},
		{"url not http", with(func(n *tickets.NewTicket) { n.URL = str("javascript:alert(1)") }), false, "url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.Create(ctx, nil, tt.in)
			if tt.notFound {
				if !errors.Is(err, jobs.ErrNotFound) {
					t.Fatalf("Create = %v, want jobs.ErrNotFound", err)
				}
			} else {
				ae, ok := apperr.As(err)
				if !ok || ae.Kind != apperr.Invalid || len(ae.Fields) != 1 || ae.Fields[0].Name != tt.field {
					t.Fatalf("Create = %v, want Invalid naming %s", err, tt.field)
				}
			}
			if n := e.count(t, `SELECT count(*) FROM tickets`); n != 0 {
				t.Fatalf("%d tickets written", n)
			}
			if n := e.count(t, `SELECT count(*) FROM job_events WHERE event_type = 'ticket-created'`); n != 0 {
				t.Fatalf("%d ticket-created events written", n)
			}
		})
	}
	t.Run("dispatch for an unknown job", func(t *testing.T) {
		if _, err := e.svc.Dispatch(ctx, nil, tickets.DispatchRequest{JobID: uuid.NewString()}); !errors.Is(err, jobs.ErrNotFound) {
			t.Fatalf("Dispatch = %v, want jobs.ErrNotFound", err)
		}
		if _, err := e.svc.Dispatch(ctx, nil, tickets.DispatchRequest{JobID: "nope"}); apperr.KindOf(err) != apperr.Invalid {
			t.Fatalf("Dispatch(malformed) = %v, want Invalid", err)
		}
		if n := e.count(t, `SELECT count(*) FROM tickets`); n != 0 {
			t.Fatalf("%d tickets written", n)
		}
	})
	t.Run("ForJob of an unknown job", func(t *testing.T) {
		if _, err := e.svc.ForJob(ctx, uuid.New(), false); !errors.Is(err, jobs.ErrNotFound) {
			t.Fatalf("ForJob = %v, want jobs.ErrNotFound", err)
		}
	})
}

// TestDispatch: one ticket per enabled platform, ServiceNow first, each
// with its own overrides and its own event.
func TestDispatch(t *testing.T) {
	yes := true
	tests := []struct {
		name     string
		settings tickets.Settings
		dryRun   *bool
		want     []tickets.Platform
		wantMeta map[string]any
	}{
		{"none enabled: no ticket", tickets.Settings{}, nil, []tickets.Platform{}, nil},
		{"ServiceNow only", tickets.Settings{ServiceNowEnabled: true}, nil, []tickets.Platform{tickets.ServiceNow},
			map[string]any{"error": "servicenow client is not configured"}},
		{"Jira only", tickets.Settings{JiraEnabled: true}, nil, []tickets.Platform{tickets.Jira},
			map[string]any{"error": "jira client is not configured"}},
		{"both, ServiceNow first", tickets.Settings{ServiceNowEnabled: true, JiraEnabled: true, DualMode: true}, nil,
			[]tickets.Platform{tickets.ServiceNow, tickets.Jira}, nil},
		{"both as a preview", tickets.Settings{ServiceNowEnabled: true, JiraEnabled: true}, &yes,
			[]tickets.Platform{tickets.ServiceNow, tickets.Jira}, map[string]any{"dry_run_reason": "preview"}},
	}
	e := newEnv(t, tickets.Settings{})
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.set(t, tt.settings)
			j := e.job(t)
			got, err := e.svc.Dispatch(ctx, nil, tickets.DispatchRequest{JobID: j.ID.String(), DryRun: tt.dryRun,
				Payloads: tickets.Payloads{
					ServiceNow: json.RawMessage(`{"assignment_group":"DBA"}`),
					Jira:       json.RawMessage(`{"issue_type":"Bug"}`),
				}})
			if err != nil {
				t.Fatal(err)
			}
			if got == nil {
				t.Fatal("Dispatch returned nil; the API must answer [] not null")
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d tickets, want %d", len(got), len(tt.want))
			}
			for i, tk := range got {
				if tk.Platform != tt.want[i] {
					t.Errorf("ticket %d on %s, want %s", i, tk.Platform, tt.want[i])
				}
				p := decode(t, tk.Payload)
				// Each platform gets its own overrides, not the other's.
				if tk.Platform == tickets.ServiceNow && (p["assignment_group"] != "DBA" || p["issue_type"] != nil) {
					t.Errorf("ServiceNow payload = %v", p)
				}
				if tk.Platform == tickets.Jira && (p["issue_type"] != "Bug" || p["assignment_group"] != nil) {
					t.Errorf("Jira payload = %v", p)
				}
				meta := decode(t, tk.Metadata)
				want := tt.wantMeta
				if want == nil {
					want = map[string]any{"error": string(tk.Platform) + " client is not configured"}
				}
				if !mapsEqual(meta, want) {
					t.Errorf("%s metadata = %v, want %v", tk.Platform, meta, want)
				}
			}
			evs := e.ticketEvents(t, j.ID)
			if len(evs) != len(got) {
				t.Fatalf("%d ticket-created events for %d tickets", len(evs), len(got))
			}
			for i, ev := range evs {
				if ev["ticket_id"] != got[i].TicketID || ev["platform"] != string(got[i].Platform) {
					t.Errorf("event %d = %v, ticket %+v", i, ev, got[i])
				}
			}
			if n := e.count(t, `SELECT count(*) FROM tickets WHERE job_id = $1`, j.ID); n != int64(len(tt.want)) {
				t.Errorf("%d tickets stored, want %d", n, len(tt.want))
			}
		})
	}
}

// TestSettings: an update changes only what it names, and every Service on
// the database sees it at once. The original cached the toggles per
// process, so a change through one replica was ignored by the others.
func TestSettings(t *testing.T) {
	e := newEnv(t, tickets.Settings{ServiceNowEnabled: true})
	ctx := context.Background()
	if s, err := e.svc.Settings(ctx); err != nil || s != (tickets.Settings{ServiceNowEnabled: true}) {
		t.Fatalf("initial settings = %+v, %v", s, err)
	}
	// Another replica, started with other environment values: the stored
	// row wins over its initial values.
	other := tickets.New(e.d, e.log, jobs.Policy{}, defaults, tickets.Settings{JiraEnabled: true, DualMode: true})
	if s, err := other.Settings(ctx); err != nil || s != (tickets.Settings{ServiceNowEnabled: true}) {
		t.Fatalf("the other replica reads %+v, %v", s, err)
	}

	on, off := true, false
	tests := []struct {
		name   string
		update tickets.SettingsUpdate
		want   tickets.Settings
	}{
		{"jira on only", tickets.SettingsUpdate{JiraEnabled: &on}, tickets.Settings{ServiceNowEnabled: true, JiraEnabled: true}},
		{"dual mode on only", tickets.SettingsUpdate{DualMode: &on}, tickets.Settings{ServiceNowEnabled: true, JiraEnabled: true, DualMode: true}},
		{"servicenow off only", tickets.SettingsUpdate{ServiceNowEnabled: &off}, tickets.Settings{JiraEnabled: true, DualMode: true}},
		{"nothing given: nothing changes", tickets.SettingsUpdate{}, tickets.Settings{JiraEnabled: true, DualMode: true}},
		{"all at once", tickets.SettingsUpdate{ServiceNowEnabled: &on, JiraEnabled: &off, DualMode: &off},
			tickets.Settings{ServiceNowEnabled: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.svc.UpdateSettings(ctx, tt.update)
			if err != nil || got != tt.want {
				t.Fatalf("UpdateSettings = %+v, %v; want %+v", got, err, tt.want)
			}
			if seen, err := other.Settings(ctx); err != nil || seen != tt.want {
				t.Fatalf("the other replica sees %+v, %v; want %+v", seen, err, tt.want)
			}
		})
	}

	// The other replica's decisions follow the change made through this
	// one: it files on the platform now enabled, not on what it started with.
	j := e.job(t)
	if _, err := e.svc.UpdateSettings(ctx, tickets.SettingsUpdate{ServiceNowEnabled: &off, JiraEnabled: &on}); err != nil {
		t.Fatal(err)
	}
	got, err := other.Dispatch(ctx, nil, tickets.DispatchRequest{JobID: j.ID.String()})
	if err != nil || len(got) != 1 || got[0].Platform != tickets.Jira {
		t.Fatalf("the other replica dispatched %+v, %v; want one Jira ticket", got, err)
	}
	tk, err := other.Create(ctx, nil, tickets.NewTicket{JobID: j.ID.String(), Platform: tickets.ServiceNow, DryRun: &off})
	if err != nil {
		t.Fatal(err)
	}
	if meta := decode(t, tk.Metadata); meta["dry_run_reason"] != "feature-toggle-disabled" {
		t.Fatalf("a live request on the platform just switched off: metadata %v", meta)
	}
}
