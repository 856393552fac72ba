package api

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

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
	if list == nil {
		list = []jobs.Job{}
	}
	writeJSON(w, http.StatusOK, list)
}
