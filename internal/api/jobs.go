package api

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/rca-engine/api/internal/auth"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/idempotency"
	"github.com/rca-engine/api/internal/jobs"
)

// queryParams validates a query string against the parameters a route
// knows. Unknown parameters are errors rather than silently ignored, so a
// misspelt filter is noticed instead of returning everything.
type queryParams struct {
	values url.Values
	errs   []FieldError
}

func newQuery(r *http.Request, known ...string) *queryParams {
	q := &queryParams{values: r.URL.Query()}
	for name := range q.values {
		if !slices.Contains(known, name) {
			q.errs = append(q.errs, FieldError{Field: name, Message: "is not a known parameter"})
		}
	}
	slices.SortFunc(q.errs, func(a, b FieldError) int { return strings.Compare(a.Field, b.Field) })
	return q
}

// str returns a single-valued text parameter of at most maxLen characters.
func (q *queryParams) str(name string, maxLen int) string {
	vs, ok := q.values[name]
	if !ok {
		return ""
	}
	if len(vs) > 1 {
		q.errs = append(q.errs, FieldError{Field: name, Message: "must be given once"})
		return ""
	}
	v := vs[0]
	if !utf8.ValidString(v) || slices.Contains([]byte(v), 0) {
		q.errs = append(q.errs, FieldError{Field: name, Message: "must be valid UTF-8 text"})
		return ""
	}
	if utf8.RuneCountInString(v) > maxLen {
		q.errs = append(q.errs, FieldError{Field: name, Message: "must be at most " + strconv.Itoa(maxLen) + " characters"})
		return ""
	}
	return v
}

func (q *queryParams) intRange(name string, def, lo, hi int) int {
	v := q.str(name, 20)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		q.errs = append(q.errs, FieldError{Field: name,
			Message: "must be a whole number from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi)})
		return def
	}
	return n
}

func (q *queryParams) oneOf(name string, allowed []string) string {
	v := q.str(name, 50)
	if v != "" && !slices.Contains(allowed, v) {
		q.errs = append(q.errs, FieldError{Field: name, Message: "must be one of " + strings.Join(allowed, ", ")})
		return ""
	}
	return v
}

// boolean reads true/false (also 1/0, yes/no, on/off, as the original
// accepted); absent is false.
func (q *queryParams) boolean(name string) bool {
	switch strings.ToLower(q.str(name, 5)) {
	case "", "false", "0", "no", "off":
		return false
	case "true", "1", "yes", "on":
		return true
	}
	q.errs = append(q.errs, FieldError{Field: name, Message: "must be true or false"})
	return false
}

// timestamp reads an ISO 8601 time. One without a zone is UTC, as in the
// original.
func (q *queryParams) timestamp(name string) *time.Time {
	v := q.str(name, 40)
	if v == "" {
		return nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return &t
		}
	}
	q.errs = append(q.errs, FieldError{Field: name, Message: "must be an ISO 8601 time such as 2025-01-31T12:00:00Z"})
	return nil
}

var jobStatuses = func() []string {
	out := make([]string, len(jobs.Statuses))
	for i, s := range jobs.Statuses {
		out[i] = string(s)
	}
	return out
}()

// listJobs serves GET /api/jobs: newest first, filtered by user and status.
func (s *server) listJobs(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r, "user_id", "status", "limit", "offset")
	f := jobs.ListFilter{
		UserID: q.str("user_id", 100),
		Status: jobs.Status(q.oneOf("status", jobStatuses)),
		Limit:  q.intRange("limit", 50, 1, 200),
		Offset: q.intRange("offset", 0, 0, 1_000_000),
	}
	if len(q.errs) > 0 {
		invalid(w, r, q.errs)
		return
	}
	list, err := s.jobs.List(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for i := range list {
		list[i] = s.redacted(r.Context(), list[i])
	}
	writeJSON(w, http.StatusOK, list)
}

// pathID parses a UUID path parameter. Anything that is not a UUID cannot
// name a resource, so it is a 404, like an unknown id.
func pathID(w http.ResponseWriter, r *http.Request, name, what string) (uuid.UUID, bool) {
	id, err := uuid.Parse(chi.URLParam(r, name))
	if err != nil {
		notFound(w, r, what+" not found")
		return uuid.UUID{}, false
	}
	return id, true
}

// createJob serves POST /api/jobs: a pending job and its "created" event.
func (s *server) createJob(w http.ResponseWriter, r *http.Request) {
	if s.uploads != nil && isMultipart(r) {
		s.createJobWithFiles(w, r)
		return
	}
	var in jobs.NewJob
	body, ok := s.decodeJSON(w, r, &in)
	if !ok {
		return
	}
	owner := ownerOf(r.Context())
	s.writeOnce(w, r, body, func(ctx context.Context, tx *idempotency.Tx) (int, any, string, error) {
		j, err := s.jobs.CreateTx(ctx, tx, owner, in)
		return http.StatusCreated, j, "/api/jobs/" + j.ID.String(), err
	})
}

// getJob serves GET /api/jobs/{id}.
func (s *server) getJob(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "id", "Job")
	if !ok {
		return
	}
	if q := newQuery(r); len(q.errs) > 0 {
		invalid(w, r, q.errs)
		return
	}
	j, err := s.jobs.Get(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.redacted(r.Context(), j))
}

// jobEvents serves GET /api/jobs/{id}/events: the most recent events after
// since, oldest first.
func (s *server) jobEvents(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "id", "Job")
	if !ok {
		return
	}
	q := newQuery(r, "since", "limit")
	f := eventlog.Filter{Since: q.timestamp("since"), Limit: q.intRange("limit", 100, 1, 500)}
	if len(q.errs) > 0 {
		invalid(w, r, q.errs)
		return
	}
	events, err := s.jobs.Events(r.Context(), id, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, events)
}

// cancelJob serves POST /api/jobs/{id}/cancel. The body is optional.
func (s *server) cancelJob(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "id", "Job")
	if !ok {
		return
	}
	var in jobs.CancelRequest
	var body []byte
	// The body is optional; one that is sent must be valid (a body without
	// a Content-Type gets 415 rather than being ignored).
	if r.ContentLength > 0 || r.Header.Get("Content-Type") != "" {
		if body, ok = s.decodeJSON(w, r, &in); !ok {
			return
		}
	}
	s.writeOnce(w, r, body, func(ctx context.Context, tx *idempotency.Tx) (int, any, string, error) {
		j, err := s.jobs.CancelTx(ctx, tx, s.actorOf(r.Context()), id, in)
		return http.StatusOK, j, "", err
	})
}

// actorOf is who acts on a job: nobody checked in AUTH_MODE=off, else the
// signed-in caller (a write route always has one outside mode off).
func (s *server) actorOf(ctx context.Context) *jobs.Actor {
	if s.opts.AuthMode == auth.ModeOff {
		return nil
	}
	p, _ := principalOf(ctx)
	return &jobs.Actor{UserID: p.User.ID, Admin: p.Role == auth.RoleAdmin}
}

// ownerOf is the signed-in caller as a job owner, or nil.
func ownerOf(ctx context.Context) *jobs.Owner {
	p, ok := principalOf(ctx)
	if !ok {
		return nil
	}
	return &jobs.Owner{ID: p.User.ID, Username: p.User.Username}
}
