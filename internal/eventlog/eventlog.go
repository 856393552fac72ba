// Package eventlog owns job_events, the log of everything that happens to a
// job. It is the only writer and the only reader of that table.
//
// Writers append in the transaction that makes the change (Append), so an
// event exists exactly when its change committed. Appended events are
// buffered in the transaction and inserted just before its COMMIT, and the
// listeners registered with OnCommit hear of them only after it: nobody can
// announce a change that was rolled back, and no caller can forget to.
//
// Ids are the SSE event ids and readers follow the log by "id > cursor", so
// a reader must never see id N before every smaller id that will ever
// commit has committed. PostgreSQL hands out identity values at insert,
// not at commit, so two writers can commit out of order. Writers therefore
// hold a shared advisory lock from their insert until their commit, and a
// reader that advances a cursor from the database (Newest, Since: the
// tailer, one per process) first takes the same lock exclusively, which it
// gets only once no writer holds it: every id handed out by then belongs
// to a transaction that has ended, and the read that follows sees a
// gap-free prefix. Everyone else reads below a cursor the tailer already
// reached (SinceUpTo, RecentUpTo: the SSE replay), which needs no lock.
// Writers do not wait for each other (their commits overlap and share
// fsyncs); they wait only for the tailer's one short query. Before, every
// writer took the lock exclusively and held it through its commit, so all
// event writes, and the requests making them, queued behind one another's
// fsync.
//
// A writer must take its row locks before it appends, never after: the
// lock is taken in the last statements before COMMIT, so nothing but the
// inserts (and their foreign-key checks, which take FOR KEY SHARE on the
// job row: use FOR NO KEY UPDATE, not FOR UPDATE, on job rows) runs while
// it is held.
package eventlog

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rca-engine/api/internal/apperr"
	"github.com/rca-engine/api/internal/db"
)

// Event is one entry of a job's log, in the original's wire shape. ID grows
// in commit order; it is the SSE event id.
type Event struct {
	ID        int64           `json:"id"`
	JobID     uuid.UUID       `json:"job_id"`
	Type      Type            `json:"event_type"`
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
}

// lockKey is the advisory lock of the log (see the package doc).
const lockKey int64 = 0x6a6f625f65767473 // "job_evts"

// Log appends to and reads job_events.
type Log struct {
	db        *db.DB
	mu        sync.RWMutex
	listeners []func(newest int64)
}

// New returns the log on database d.
func New(d *db.DB) *Log { return &Log{db: d} }

// OnCommit registers fn to be told, after each transaction that appended
// events has committed, the id of the newest of those events. fn must not
// block: it runs on the committing caller's goroutine. Register listeners
// before the first Append.
func (l *Log) OnCommit(fn func(newest int64)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.listeners = append(l.listeners, fn)
}

type pendingKey struct{ l *Log }

type pending struct {
	events []Event
	newest int64
}

// Append adds an event of type t with data (encoded as JSON; nil means {})
// to job jobID's log, in tx. The event is inserted just before tx commits
// and announced after it has.
func (l *Log) Append(tx *db.Tx, jobID uuid.UUID, t Type, data any) error {
	raw := json.RawMessage(`{}`)
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return fmt.Errorf("encode %s event: %w", t, err)
		}
		raw = b
	}
	p := tx.Value(pendingKey{l}, func() any {
		p := &pending{}
		tx.BeforeCommit(func(ctx context.Context) error { return l.flush(ctx, tx, p) })
		tx.AfterCommit(func() { l.announce(p.newest) })
		return p
	}).(*pending)
	p.events = append(p.events, Event{JobID: jobID, Type: t, Data: raw})
	return nil
}

// flush inserts the buffered events under the shared lock, in one round
// trip.
func (l *Log) flush(ctx context.Context, tx *db.Tx, p *pending) error {
	if len(p.events) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT pg_advisory_xact_lock_shared($1)`, lockKey)
	for _, ev := range p.events {
		b.Queue(`INSERT INTO job_events (job_id, event_type, data) VALUES ($1, $2, $3::jsonb) RETURNING id`,
			ev.JobID, string(ev.Type), string(ev.Data))
	}
	res := tx.SendBatch(ctx, b)
	if _, err := res.Exec(); err != nil {
		res.Close()
		return fmt.Errorf("lock the event log: %w", err)
	}
	for i := range p.events {
		var id int64
		if err := res.QueryRow().Scan(&id); err != nil {
			res.Close()
			return fmt.Errorf("insert %s event: %w", p.events[i].Type, err)
		}
		p.newest = max(p.newest, id)
	}
	return res.Close()
}

func (l *Log) announce(newest int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, fn := range l.listeners {
		fn(newest)
	}
}

const eventColumns = `id, job_id, event_type, data, created_at`

// consistent runs fn after taking the log's lock exclusively, in a
// read-committed transaction, so that fn's statements see a gap-free
// prefix of the log (see the package doc). The lock is held only for fn;
// should this process vanish while holding it, the server ends the
// transaction after a second of silence rather than let every event
// writer wait for its keepalive.
func (l *Log) consistent(ctx context.Context, fn func(ctx context.Context, q db.Querier) error) error {
	return l.db.TxWith(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted, AccessMode: pgx.ReadOnly},
		func(ctx context.Context, tx *db.Tx) error {
			b := &pgx.Batch{}
			b.Queue(`SET LOCAL idle_in_transaction_session_timeout = 1000`)
			b.Queue(`SELECT pg_advisory_xact_lock($1)`, lockKey)
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return err
			}
			return fn(ctx, tx)
		})
}

// Newest returns the id of the newest event in the log (0 if none), such
// that every event with a smaller id that will ever exist exists now.
func (l *Log) Newest(ctx context.Context) (int64, error) {
	var newest int64
	err := l.consistent(ctx, func(ctx context.Context, q db.Querier) error {
		return q.QueryRow(ctx, `SELECT COALESCE(max(id), 0) FROM job_events`).Scan(&newest)
	})
	return newest, err
}

// Since returns, in id order, up to limit events of every job with an id
// above after, read in a consistent view: the tailer's read.
func (l *Log) Since(ctx context.Context, after int64, limit int) ([]Event, error) {
	var out []Event
	err := l.consistent(ctx, func(ctx context.Context, q db.Querier) error {
		rows, err := q.Query(ctx, `SELECT `+eventColumns+` FROM job_events
			WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanEvent)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}

// SinceUpTo returns, in id order, up to limit events with after < id <=
// upTo, of one job if jobID is not nil, else of every job. upTo must be a
// position the tailer has read the log up to (from Newest or Since), so
// that every event at or below it has committed or never will; then no
// lock is needed. It also returns the newest id in the
// whole log, which may lie above upTo (to tell an id this database never
// issued from one the tailer has not reached yet).
func (l *Log) SinceUpTo(ctx context.Context, jobID *uuid.UUID, after int64, upTo, limit int64) ([]Event, int64, error) {
	var (
		out    []Event
		newest int64
	)
	err := l.db.Read(ctx, func(ctx context.Context, q db.Querier) error {
		if err := q.QueryRow(ctx, `SELECT COALESCE(max(id), 0) FROM job_events`).Scan(&newest); err != nil {
			return err
		}
		// Two statements, not one with "$1 IS NULL OR job_id = $1": a
		// generic plan of that would walk the primary key past every
		// other job's events.
		var (
			rows pgx.Rows
			err  error
		)
		if jobID != nil {
			rows, err = q.Query(ctx, `SELECT `+eventColumns+` FROM job_events
				WHERE job_id = $1 AND id > $2 AND id <= $3 ORDER BY id LIMIT $4`, *jobID, after, upTo, limit)
		} else {
			rows, err = q.Query(ctx, `SELECT `+eventColumns+` FROM job_events
				WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3`, after, upTo, limit)
		}
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanEvent)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read events: %w", err)
	}
	return out, newest, nil
}

// RecentUpTo returns a job's n newest events at or below upTo (a position
// the tailer has read up to, as for SinceUpTo), oldest first.
func (l *Log) RecentUpTo(ctx context.Context, jobID uuid.UUID, upTo int64, n int) ([]Event, error) {
	var out []Event
	err := l.db.Read(ctx, func(ctx context.Context, q db.Querier) error {
		rows, err := q.Query(ctx, `SELECT `+eventColumns+` FROM job_events
			WHERE job_id = $1 AND id <= $2 ORDER BY id DESC LIMIT $3`, jobID, upTo, n)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanEvent)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read recent events: %w", err)
	}
	slices.Reverse(out)
	return out, nil
}

// NewestOfJob returns the id of a job's newest event (0 if none). It is a
// plain read: an answer that is a moment old is fine for its callers.
func (l *Log) NewestOfJob(ctx context.Context, jobID uuid.UUID) (int64, error) {
	var last int64
	err := l.db.Read(ctx, func(ctx context.Context, q db.Querier) error {
		return q.QueryRow(ctx, `SELECT COALESCE(max(id), 0) FROM job_events WHERE job_id = $1`, jobID).Scan(&last)
	})
	return last, err
}

// Filter selects a job's events for listing: those created after Since
// (if set), at most Limit of them, the most recent ones.
type Filter struct {
	Since *time.Time
	Limit int
}

// ErrJobNotFound is returned by ForJob for a job that does not exist.
var ErrJobNotFound = apperr.New(apperr.NotFound, "Job not found")

// ForJob returns a job's most recent events matching f, oldest first, or
// ErrJobNotFound. It is a plain read (a listing, not a cursor).
func (l *Log) ForJob(ctx context.Context, jobID uuid.UUID, f Filter) ([]Event, error) {
	var out []Event
	err := l.db.Read(ctx, func(ctx context.Context, q db.Querier) error {
		var exists bool
		if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM jobs WHERE id = $1)`, jobID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return ErrJobNotFound
		}
		rows, err := q.Query(ctx, `SELECT `+eventColumns+` FROM job_events
			WHERE job_id = $1 AND ($2::timestamptz IS NULL OR created_at > $2)
			ORDER BY id DESC LIMIT $3`, jobID, f.Since, f.Limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanEvent)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("job events: %w", err)
	}
	slices.Reverse(out)
	return out, nil
}

func scanEvent(row pgx.CollectableRow) (Event, error) {
	var ev Event
	var t string
	err := row.Scan(&ev.ID, &ev.JobID, &t, &ev.Data, &ev.CreatedAt)
	ev.Type = Type(t)
	return ev, err
}
