package api

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/rca-engine/api/internal/apperr"
	"github.com/rca-engine/api/internal/dependency"
)

// problemOf is the one table from the kind of a domain error to how it
// looks to a client. Kinds not listed (Internal) are a 500 that says
// nothing about internals; the log has the whole error under the request id.
var problemOf = map[apperr.Kind]struct {
	status int
	typ    string
	title  string
}{
	apperr.BadRequest:   {http.StatusBadRequest, "", ""},
	apperr.Invalid:      {http.StatusUnprocessableEntity, typeValidation, "Invalid request"},
	apperr.NotFound:     {http.StatusNotFound, "", ""},
	apperr.Conflict:     {http.StatusConflict, "", ""},
	apperr.Unauthorized: {http.StatusUnauthorized, typeUnauthorized, "Authentication required"},
	apperr.Forbidden:    {http.StatusForbidden, typeForbidden, ""},
	apperr.Unavailable:  {http.StatusServiceUnavailable, "", ""},
}

// dependencyError is a failure caused by a supervised dependency that is
// down; its state gives Retry-After and the problem's dependency member.
type dependencyError interface{ DependencyState() dependency.State }

// fail decides how an error from below looks to the client.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var dep dependencyError
	switch {
	case errors.As(err, &dep):
		unavailable(w, r, dep.DependencyState(), time.Now())
		return
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody is there to read an answer.
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "client gone", slog.String("request_id", requestID(r.Context())))
		w.WriteHeader(499)
		return
	case errors.Is(err, context.DeadlineExceeded):
		w.Header().Set("Retry-After", "1")
		writeProblem(w, r, Problem{Status: http.StatusServiceUnavailable,
			Detail: "The request took longer than the service allows. Try again shortly."})
		return
	}
	kind := apperr.KindOf(err)
	how, known := problemOf[kind]
	e, hasMessage := apperr.As(err)
	if !known || !hasMessage {
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", requestID(r.Context())), slog.String("error", err.Error()))
		writeProblem(w, r, Problem{Status: http.StatusInternalServerError,
			Detail: "An unexpected error occurred. Quote the request id when reporting it."})
		return
	}
	if kind == apperr.Unauthorized {
		// The challenge, and why a credential that was sent was refused.
		s.unauthenticatedBecause(w, r, e.Message)
		return
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	p := Problem{Type: how.typ, Status: how.status, Title: how.title, Detail: e.Message}
	if e.Title != "" {
		p.Title = e.Title
	}
	for _, f := range e.Fields {
		p.Errors = append(p.Errors, FieldError{Field: f.Name, Message: f.Message})
	}
	if len(p.Errors) > 0 {
		p.Type = typeValidation // whatever the status: a client fixes the fields named
	}
	writeProblem(w, r, p)
}
