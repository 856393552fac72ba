package sse

import (
	"context"
	"strconv"
	"time"

	"github.com/google/uuid"
	r3 "github.com/r3labs/sse/v2"

	"github.com/rca-engine/api/internal/apperr"
	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/events"
	"github.com/rca-engine/api/internal/jobs"
)

// session is one client connection's state.
type session struct {
	s        *Server
	streamID string
	out      *writer
	jobID    *uuid.UUID // nil: the all-events stream
	status   jobs.Status

	lastID      int64 // from Last-Event-ID
	resume      bool  // the client sent a Last-Event-ID
	validLastID bool

	cursor    int64 // id of the last event sent (or skipped as already seen)
	caughtUp  bool
	hubReady  bool  // the Tailer has started: a catch-up cannot leave a gap before it
	published int64 // events handed to r3labs
	evicted   bool  // the hub dropped this subscriber for being too slow
	deferred  bool  // a catch-up found no free slot: retry it soon
}

// Reset reasons, sent in a "reset" event: the client should reload what it
// shows, because this stream cannot tell it exactly what it missed.
const (
	resetInvalidID = "invalid-last-event-id" // not a non-negative integer
	resetFutureID  = "unknown-last-event-id" // newer than anything this database holds
	resetTooOld    = "too-many-missed"       // more missed events than MaxReplay
)

// run feeds the r3labs stream until the client leaves, the job finishes, the
// client falls behind, or the server shuts down.
//
// Joining the live feed without a gap or a duplicate: the hub subscription
// is made first (by the caller), then missed events are read from
// PostgreSQL, then live events with an id not above the last one sent are
// skipped. The read must come after the Tailer started, or events between
// its start and the read could be in neither; until then, and while
// PostgreSQL is down, the catch-up is retried on every tick and readiness
// message, and live events are dropped (the catch-up will read them).
//
// A catch-up put off for want of a slot (Config.MaxCatchUps) is the same
// case: nothing was sent, the subscription has been held all along, and
// the retry reads up to what the hub has published by then, so events are
// neither lost nor repeated however late it succeeds. It is retried
// sooner than the next tick (catchUpRetry), and on every tick too.
func (ss *session) run(ctx context.Context, sub *events.Subscription, ready bool, lastPublished int64) {
	if !ss.validLastID {
		ss.reset(resetInvalidID)
	}
	if ss.jobID == nil {
		for _, st := range ss.s.deps.States() {
			ss.sendDependency(st)
		}
	}
	ss.hubReady = ready
	if ready {
		ss.catchUp(ctx, lastPublished)
	}
	if ss.finished(ctx) {
		return
	}
	tick := time.NewTicker(ss.s.cfg.Heartbeat)
	defer tick.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		if ss.deferred {
			ss.deferred = false
			retry.Reset(ss.s.catchUpRetry())
		}
		select {
		case <-ctx.Done():
			return
		case <-retry.C:
			if !ss.caughtUp && ss.hubReady {
				ss.catchUp(ctx, ss.s.hub.Published())
			}
		case <-sub.Evicted():
			ss.evicted = true
			return // too slow: the client reconnects and catches up from the database
		case m := <-sub.C:
			switch m.Kind {
			case events.Ready:
				ss.hubReady = true
				if !ss.caughtUp {
					ss.catchUp(ctx, m.Cursor)
				}
			case events.DependencyChange:
				ss.sendDependency(m.Dependency)
			case events.JobEvent:
				if ss.caughtUp && m.Event.ID > ss.cursor {
					ss.sendEncoded(m.Event, m.Encoded)
				}
			}
		case <-tick.C:
			ss.publish(&r3.Event{Comment: []byte("heartbeat")})
			if ss.jobID != nil {
				ss.publish(ss.event("heartbeat", map[string]any{"job_id": ss.jobID, "status": ss.status,
					"timestamp": time.Now().UTC().Format(time.RFC3339Nano)}))
			}
			// The database may be back. Not before the Tailer has started,
			// though: it starts from the newest event at that moment, so a
			// catch-up read before it could miss what commits in between.
			// Up to what the hub has published by now: the live events
			// dropped meanwhile are all at or below it.
			if !ss.caughtUp && ss.hubReady {
				ss.catchUp(ctx, ss.s.hub.Published())
			}
		}
		if ss.finished(ctx) {
			return
		}
	}
}

// catchUp sends what the client has not seen, from PostgreSQL, up to
// lastPublished: the hub's cursor when the subscription was made, when the
// Tailer started, or now. Everything above it comes live from the hub, and
// everything at or below it is committed (the Tailer read it in a
// consistent view), so the read takes no lock that writers wait for.
func (ss *session) catchUp(ctx context.Context, lastPublished int64) {
	var (
		list    []eventlog.Event
		tooMany bool
		maxID   int64
		err     error
	)
	mode := "resume"
	switch {
	case ss.resume && ss.validLastID:
	case ss.jobID != nil:
		mode = "recent"
	default:
		// The all-events stream without Last-Event-ID starts now: live
		// events above the hub's cursor are exactly the new ones.
		ss.cursor = lastPublished
		ss.caughtUp = true
		return
	}
	// The slot is held for the read only, not while the events are sent:
	// a slow client must not keep other sessions from their replay.
	if !ss.s.acquireCatchUp(ctx) {
		ss.deferred = ctx.Err() == nil
		return
	}
	if mode == "recent" {
		list, err = ss.s.log.RecentUpTo(ctx, *ss.jobID, lastPublished, ss.s.cfg.InitialReplay)
	} else {
		list, maxID, err = ss.s.log.SinceUpTo(ctx, ss.jobID, ss.lastID, lastPublished, int64(ss.s.cfg.MaxReplay+1))
	}
	ss.s.releaseCatchUp()
	if err != nil {
		if apperr.KindOf(err) != apperr.Unavailable && ctx.Err() == nil {
			ss.publish(ss.event("error", map[string]string{"detail": "could not read past events; retrying"}))
		}
		return // retried on the next tick
	}
	switch {
	case mode == "recent": // nothing to check: no position was claimed
	case ss.lastID > maxID:
		// An id this database never issued (another environment, or a
		// restored backup): start over as a new client would.
		ss.reset(resetFutureID)
		ss.resume = false
		ss.catchUp(ctx, lastPublished)
		return
	case len(list) > ss.s.cfg.MaxReplay:
		tooMany = true
	}
	if tooMany {
		ss.reset(resetTooOld)
		ss.resume = false
		if ss.jobID == nil {
			ss.cursor = max(lastPublished, list[len(list)-1].ID)
			ss.caughtUp = true
			return
		}
		ss.catchUp(ctx, lastPublished)
		return
	}
	if mode == "resume" {
		ss.cursor = ss.lastID
	}
	for _, ev := range list {
		ss.sendEvent(ev)
	}
	ss.caughtUp = true
}

// finished ends a job stream once the job is: a complete event, flushed,
// then the stream closes.
func (ss *session) finished(ctx context.Context) bool {
	if ss.jobID == nil || !ss.caughtUp || !ss.status.Terminal() {
		return false
	}
	ss.publish(ss.event("complete", map[string]any{"event_type": "complete", "job_id": ss.jobID, "status": ss.status}))
	// +1: r3labs flushes once when it writes the response header.
	_ = ss.out.waitFlushed(ctx, ss.published+1, ss.s.cfg.WriteTimeout)
	return true
}

func (ss *session) sendEvent(ev eventlog.Event) { ss.sendEncoded(ev, marshal(ev)) }

// sendEncoded sends ev, already encoded (live events are encoded once for
// every subscriber).
func (ss *session) sendEncoded(ev eventlog.Event, data []byte) {
	ss.cursor = ev.ID
	if ss.jobID != nil {
		if st, ok := jobs.StatusAfter(ev.Type); ok && !ss.status.Terminal() {
			ss.status = st
		}
	}
	e := &r3.Event{ID: []byte(strconv.FormatInt(ev.ID, 10)), Event: []byte(ev.Type), Data: data,
		Retry: ss.retry()}
	ss.publish(e)
}

func (ss *session) sendDependency(st dependency.State) {
	body := map[string]any{"name": st.Name, "status": st.Status, "since": st.Since}
	if st.Cause != "" {
		body["cause"] = st.Cause
	}
	if st.Degraded() {
		body["retry_after_seconds"] = st.RetryAfter(time.Now())
		if !st.NextRetry.IsZero() {
			body["next_retry"] = st.NextRetry
		}
	}
	ss.publish(ss.event("dependency", body))
}

func (ss *session) reset(reason string) {
	ss.publish(ss.event("reset", map[string]string{"reason": reason,
		"detail": "This stream cannot replay exactly what was missed; reload the current state."}))
}

// event builds a non-job event. Its id is the last job event id sent, so
// that the browser's Last-Event-ID stays a position in the job event log.
// Before the catch-up there is no such position yet: the event then
// repeats the client's own Last-Event-ID, or, for a client that had none,
// an empty id (which the spec defines as "no position"), so that a client
// that disconnects early never reconnects claiming to have seen nothing
// since event 0.
func (ss *session) event(name string, v any) *r3.Event {
	var id []byte
	switch {
	case ss.caughtUp:
		id = []byte(strconv.FormatInt(ss.cursor, 10))
	case ss.resume && ss.validLastID:
		id = []byte(strconv.FormatInt(ss.lastID, 10))
	}
	return &r3.Event{ID: id, Event: []byte(name), Data: marshal(v), Retry: ss.retry()}
}

func (ss *session) retry() []byte {
	return []byte(strconv.FormatInt(ss.s.cfg.Retry.Milliseconds(), 10))
}

// publish hands an event to this connection's own r3labs stream. It may
// block while the stream's buffer is full, which only ever delays this
// connection: writes have deadlines, so it cannot block forever.
func (ss *session) publish(e *r3.Event) {
	ss.s.r3.Publish(ss.streamID, e)
	ss.published++
}
