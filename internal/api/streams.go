package api

import (
	"context"
	"net/http"

	"github.com/rca-engine/api/internal/sse"
)

// jobStream serves GET /api/sse/jobs/{id} (and its alias
// /api/jobs/{id}/stream). Everything that can fail with a status code
// (unknown job, database down) is decided here, before the stream starts:
// once it has, EventSource treats any error status as final.
func (s *server) jobStream(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "id", "Job")
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.RequestTimeout)
	defer cancel()
	job, err := s.jobs.Get(ctx, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if job.Status.Terminal() {
		last, err := s.events.NewestOfJob(ctx, id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if sse.JobDone(r, job, last) {
			// The client has seen the end: 204 is the one answer that
			// stops EventSource from reconnecting without an error.
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	s.streams.ServeJob(w, r, job)
}

// allEvents serves GET /api/sse/events: every job and ticket event and every
// dependency change, for dashboards and the degraded banner. It needs no
// database to start: while PostgreSQL is down it streams dependency events
// and heartbeats, and catches up when it returns.
func (s *server) allEvents(w http.ResponseWriter, r *http.Request) {
	s.streams.ServeAll(w, r)
}
