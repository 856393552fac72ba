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
		if err == nil || !IsConnError(err) {
			return err
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
func (d *DB) Tx(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	if err := d.gate(); err != nil {
		return err
	}
	opCtx, cancel := context.WithDeadline(ctx, deadlineFor(ctx, d.cfg.QueryTimeout))
	defer cancel()
	var err error
	for attempt := 0; ; attempt++ {
		var commitSent bool
		err = d.withConn(opCtx, func(conn *pgxpool.Conn) error {
			tx, err := conn.Begin(opCtx)
			if err != nil {
				return err
			}
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
			commitSent = true
			return tx.Commit(opCtx)
		})
		if err == nil || !IsConnError(err) {
			return err
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
		if err == nil || !IsConnError(err) {
			return tag, err
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
