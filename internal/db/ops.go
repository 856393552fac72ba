package db

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rca-engine/api/internal/dependency"
)

// ErrOutcomeUnknown is wrapped into the error of a transaction whose COMMIT
// was sent but not answered: it may or may not have been applied. Callers
// that must not duplicate work make their writes idempotent.
var ErrOutcomeUnknown = errors.New("commit outcome unknown")

// gate fails fast while the database is not known to be up, and asks the
// supervisor for an early attempt so that recovery is not gated on a long
// backoff interval.
func (d *DB) gate() error {
	st := d.tracker.Get()
	if st.Status == dependency.Up {
		return nil
	}
	d.Kick()
	return &UnavailableError{State: st}
}

// Read runs fn, which must only read, on a pooled connection. After a
// connection-level failure it runs fn again on another connection, up to
// ReadRetries times, as long as the call's deadline allows. The whole call,
// retries included, is bounded by QueryTimeout (or ctx's deadline if sooner).
func (d *DB) Read(ctx context.Context, fn func(ctx context.Context, q Querier) error) error {
	if err := d.gate(); err != nil {
		return err
	}
	opCtx, cancel := context.WithDeadline(ctx, deadlineFor(ctx, d.cfg.QueryTimeout))
	defer cancel()
	var err error
	for attempt := 0; ; attempt++ {
		err = d.withConn(opCtx, func(c *pgxpool.Conn) error { return fn(opCtx, c) })
		if err == nil {
			return nil
		}
		if !IsConnError(err) {
			return translate(err)
		}
		d.connFailed(err)
		if attempt >= d.cfg.ReadRetries || opCtx.Err() != nil {
			break
		}
		if gerr := d.gate(); gerr != nil {
			return gerr
		}
	}
	return d.unavailable(ctx, err)
}

// Tx runs fn in a transaction and commits it. fn may run more than once, so
// it must have no effect outside the transaction.
//
// A failed transaction is retried, up to WriteRetries times, only when it
// provably did not commit: either the failure came before COMMIT was sent
// (PostgreSQL discards an open transaction when its connection dies), or the
// COMMIT itself failed before any byte of it was written
// (pgconn.SafeToRetry). A COMMIT that was sent and never answered is not
// retried; its error wraps ErrOutcomeUnknown.
//
// Hooks registered on the *Tx run around the COMMIT of the attempt that
// commits: BeforeCommit hooks just before it, inside the transaction;
// AfterCommit hooks once it has succeeded, never for an attempt that was
// rolled back or whose outcome is unknown.
func (d *DB) Tx(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	return d.TxWith(ctx, pgx.TxOptions{}, fn)
}

// TxWith is Tx with transaction options (isolation level, access mode).
func (d *DB) TxWith(ctx context.Context, opts pgx.TxOptions, fn func(ctx context.Context, tx *Tx) error) error {
	if err := d.gate(); err != nil {
		return err
	}
	opCtx, cancel := context.WithDeadline(ctx, deadlineFor(ctx, d.cfg.QueryTimeout))
	defer cancel()
	var err error
	for attempt := 0; ; attempt++ {
		var commitSent bool
		var tx *Tx
		err = d.withConn(opCtx, func(conn *pgxpool.Conn) error {
			ptx, err := conn.BeginTx(opCtx, opts)
			if err != nil {
				return err
			}
			tx = &Tx{Tx: ptx}
			defer func() {
				// No-op after Commit. Bounded: it must not outlast the
				// call on a socket that went silent.
				rctx, cancel := context.WithTimeout(context.WithoutCancel(opCtx), d.cfg.CheckTimeout)
				defer cancel()
				_ = tx.Rollback(rctx)
			}()
			if err := fn(opCtx, tx); err != nil {
				return err
			}
			if err := tx.runBefore(opCtx); err != nil {
				return err
			}
			commitSent = true
			return tx.Commit(opCtx)
		})
		if err == nil {
			tx.runAfter()
			return nil
		}
		if !IsConnError(err) {
			return translate(err)
		}
		d.connFailed(err)
		if commitSent && !pgconn.SafeToRetry(err) {
			return d.unavailable(ctx, errors.Join(ErrOutcomeUnknown, err))
		}
		if attempt >= d.cfg.WriteRetries || opCtx.Err() != nil {
			break
		}
		if gerr := d.gate(); gerr != nil {
			return gerr
		}
	}
	return d.unavailable(ctx, err)
}

// Exec runs one statement outside a transaction. It is retried only when
// pgconn.SafeToRetry proves that nothing reached the server, since a
// statement that was sent may have taken effect.
func (d *DB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := d.gate(); err != nil {
		return pgconn.CommandTag{}, err
	}
	opCtx, cancel := context.WithDeadline(ctx, deadlineFor(ctx, d.cfg.QueryTimeout))
	defer cancel()
	var (
		tag pgconn.CommandTag
		err error
	)
	for attempt := 0; ; attempt++ {
		err = d.withConn(opCtx, func(c *pgxpool.Conn) error {
			var err error
			tag, err = c.Exec(opCtx, sql, args...)
			return err
		})
		if err == nil {
			return tag, nil
		}
		if !IsConnError(err) {
			return tag, translate(err)
		}
		d.connFailed(err)
		if !pgconn.SafeToRetry(err) || attempt >= d.cfg.WriteRetries || opCtx.Err() != nil {
			break
		}
	}
	return tag, d.unavailable(ctx, err)
}

// withConn acquires a connection within AcquireTimeout and runs fn on it.
func (d *DB) withConn(ctx context.Context, fn func(*pgxpool.Conn) error) error {
	actx, cancel := context.WithDeadline(ctx, deadlineFor(ctx, d.cfg.AcquireTimeout))
	conn, err := d.pool.Acquire(actx)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Release()
	return fn(conn)
}

// connFailed tells the supervisor that a call saw a broken connection, so it
// checks now instead of at its next tick.
func (d *DB) connFailed(err error) {
	d.log.Debug("call failed on a broken connection", "error", dependency.Describe(err))
	d.suspectUntil.Store(time.Now().Add(suspectWindow).UnixNano())
	d.Kick()
}

// suspectWindow is how long after a connection failure every pooled
// connection is pinged before use.
const suspectWindow = 5 * time.Second

// unavailable turns a connection-level failure into an *UnavailableError,
// unless the caller itself gave up (its context was cancelled), in which case
// the caller's reason is what matters.
func (d *DB) unavailable(ctx context.Context, err error) error {
	if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ctx.Err()
	}
	st := d.tracker.Get()
	if st.Status == dependency.Up {
		// The supervisor has not noticed yet; describe what this call saw.
		st.Cause = classify(err)
		st.NextRetry = time.Now().Add(d.cfg.KickInterval)
	}
	return &UnavailableError{State: st, Err: err}
}

// Tx is a transaction run by DB.Tx: a pgx.Tx, plus hooks around its
// commit. Hooks let the code that writes something also decide what must
// happen with it at commit (the event log inserts its buffered events just
// before COMMIT and announces them after it), so that no caller can
// forget a step or do it while the outcome is still open.
type Tx struct {
	pgx.Tx
	before []func(ctx context.Context) error
	after  []func()
	values map[any]any
}

// BeforeCommit registers fn to run inside the transaction after the
// caller's function has returned without error, just before COMMIT, in
// registration order. An error from fn rolls the transaction back and is
// returned by DB.Tx.
func (t *Tx) BeforeCommit(fn func(ctx context.Context) error) { t.before = append(t.before, fn) }

// AfterCommit registers fn to run once the transaction has committed. It
// must not block: it runs on the caller's goroutine before DB.Tx returns.
func (t *Tx) AfterCommit(fn func()) { t.after = append(t.after, fn) }

// Value returns what is stored under key for this transaction, storing
// init() first if nothing is. It lets a package keep per-transaction state
// (a buffer, a flag) without a map of its own.
func (t *Tx) Value(key any, init func() any) any {
	if v, ok := t.values[key]; ok {
		return v
	}
	if t.values == nil {
		t.values = map[any]any{}
	}
	v := init()
	t.values[key] = v
	return v
}

func (t *Tx) runBefore(ctx context.Context) error {
	// By index: a hook may register another.
	for i := 0; i < len(t.before); i++ {
		if err := t.before[i](ctx); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tx) runAfter() {
	for _, fn := range t.after {
		fn()
	}
}
