package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/rca-engine/api/internal/idempotency"
	"github.com/rca-engine/api/internal/tickets"
)

// createTicket serves POST /api/tickets: one ticket, a dry run unless the
// client says dry_run=false.
func (s *server) createTicket(w http.ResponseWriter, r *http.Request) {
	var in tickets.NewTicket
	body, ok := s.decodeJSON(w, r, &in)
	if !ok {
		return
	}
	s.writeOnce(w, r, body, func(ctx context.Context, tx *idempotency.Tx) (int, any, string, error) {
		t, err := s.tickets.CreateTx(ctx, tx, s.actorOf(r.Context()), in)
		return http.StatusCreated, t, "", err
	})
}

// dispatch serves POST /api/tickets/dispatch: a ticket on every enabled
// platform.
func (s *server) dispatch(w http.ResponseWriter, r *http.Request) {
	var in tickets.DispatchRequest
	body, ok := s.decodeJSON(w, r, &in)
	if !ok {
		return
	}
	s.writeOnce(w, r, body, func(ctx context.Context, tx *idempotency.Tx) (int, any, string, error) {
		list, err := s.tickets.DispatchTx(ctx, tx, s.actorOf(r.Context()), in)
		return http.StatusCreated, jobTickets{JobID: in.JobID, Tickets: list}, "", err
	})
}

type jobTickets struct {
	JobID   string           `json:"job_id"`
	Tickets []tickets.Ticket `json:"tickets"`
}

// jobTickets serves GET /api/tickets/{job_id}?refresh=.
func (s *server) jobTickets(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "job_id", "Job")
	if !ok {
		return
	}
	q := newQuery(r, "refresh")
	refresh := q.boolean("refresh")
	if len(q.errs) > 0 {
		invalid(w, r, q.errs)
		return
	}
	list, err := s.tickets.ForJob(r.Context(), id, refresh)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if list == nil {
		list = []tickets.Ticket{}
	}
	writeJSON(w, http.StatusOK, jobTickets{JobID: id.String(), Tickets: list})
}

var platformNames = []string{string(tickets.ServiceNow), string(tickets.Jira)}

// listTickets serves GET /api/tickets: the dashboard's list.
func (s *server) listTickets(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r, "platform", "status", "job_id", "q", "limit", "offset")
	f := tickets.ListFilter{
		Platform: tickets.Platform(q.oneOf("platform", platformNames)),
		Status:   q.str("status", 50),
		Query:    strings.TrimSpace(q.str("q", 200)),
		Limit:    q.intRange("limit", 50, 1, 200),
		Offset:   q.intRange("offset", 0, 0, 1_000_000),
	}
	if v := q.str("job_id", 36); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			q.errs = append(q.errs, FieldError{Field: "job_id", Message: "must be a UUID"})
		} else {
			f.JobID = &id
		}
	}
	if len(q.errs) > 0 {
		invalid(w, r, q.errs)
		return
	}
	page, err := s.tickets.List(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// getSettings serves GET /api/tickets/settings/state.
func (s *server) getSettings(w http.ResponseWriter, r *http.Request) {
	st, err := s.tickets.Settings(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// putSettings serves PUT /api/tickets/settings/state: fields left out or
// null keep their value. The next ticket decision on any replica sees it.
func (s *server) putSettings(w http.ResponseWriter, r *http.Request) {
	var in tickets.SettingsUpdate
	if _, ok := s.decodeJSON(w, r, &in); !ok {
		return
	}
	out, err := s.tickets.UpdateSettings(r.Context(), in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
