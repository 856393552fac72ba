package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/rca-engine/api/internal/sse"
)

const (
	typeTooManyStreams = "urn:rca:problem:too-many-streams"
	typeStreamsFull    = "urn:rca:problem:streams-full"
)

// admitStream holds a place among this process's streams for the caller
// (keyed as its rate limits are: the account, else the address) while the
// request runs, or refuses it before anything else happens, the job
// lookup included: a client that keeps opening streams and never closes
// them is stopped by what it holds, which a rate limit on opens cannot do.
// 429 when the caller holds its share, 503 when the process is full (a
// load balancer may find room on another replica; the connection is closed
// so that the retry can go there).
func (s *server) admitStream(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		release, err := s.streams.Admit(clientKey(r))
		var refused *sse.Refusal
		if errors.As(err, &refused) {
			s.refuseStream(w, r, refused)
			return
		}
		defer release()
		next.ServeHTTP(w, r)
	})
}

func (s *server) refuseStream(w http.ResponseWriter, r *http.Request, ref *sse.Refusal) {
	secs := max(1, int(math.Ceil(ref.RetryAfter.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	if ref.Total {
		w.Header().Set("Connection", "close")
		writeProblem(w, r, Problem{Type: typeStreamsFull, Status: http.StatusServiceUnavailable,
			Title: "Too many event streams",
			Detail: fmt.Sprintf("This server holds its maximum of %d event streams. Try again in %d s.",
				ref.Limit, secs)})
		return
	}
	writeProblem(w, r, Problem{Type: typeTooManyStreams, Status: http.StatusTooManyRequests,
		Title: "Too many open event streams",
		Detail: fmt.Sprintf("This client (an account, or an address when not signed in) already holds %d open "+
			"event streams, the most one client may. Close one, or try again in %d s.",
			ref.Limit, secs)})
}

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
