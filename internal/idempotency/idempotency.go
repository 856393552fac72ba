// Package idempotency makes a POST safe to retry: the first response to a
// request carrying an Idempotency-Key is stored in PostgreSQL in the same
// transaction as the write it describes, and a retry gets that response
// back instead of doing the write again (draft-ietf-httpapi-idempotency-key-header).
//
// Because the key row and the write commit together, there is no window in
// which one exists without the other: a client that lost its connection
// after sending can always retry, whatever happened on the server.
package idempotency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rca-engine/api/internal/apperr"
	"github.com/rca-engine/api/internal/db"
)

var (
	// ErrInProgress: a request with the same key is being processed now.
	ErrInProgress = &apperr.Error{Kind: apperr.Conflict, RetryAfter: time.Second,
		Message: "A request with this Idempotency-Key is still being processed; retry when it has finished."}
	// ErrMismatch: the key was used before for a different request.
	ErrMismatch = apperr.New(apperr.Invalid,
		"This Idempotency-Key was already used for a different request; use a new key for a new request.")
)

// Tx is the transaction Run opens: the write it wraps must run in it, so
// that the stored response and the write commit together. Callers pass it
// on to a domain service's ...Tx method and never use it themselves.
type Tx = db.Tx

// Request identifies one logical request.
type Request struct {
	// Key is the client's Idempotency-Key; empty means no idempotency.
	Key string
	// Scope separates keys per route (and, once there are accounts, per
	// principal): the same key on two routes names two requests.
	Scope string
	// Fingerprint is a hash of what the request asks for (its body).
	Fingerprint [sha256.Size]byte
}

// Response is what is replayed: status, body and Location.
type Response struct {
	Status   int
	Body     []byte
	Location string
}

// Store keeps responses for TTL.
type Store struct {
	db  *db.DB
	ttl time.Duration
}

// New returns a Store; ttl <= 0 means 24 hours.
func New(d *db.DB, ttl time.Duration) *Store {
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	return &Store{db: d, ttl: ttl}
}

// Run executes fn in a transaction, at most once per key. With an empty
// key it is a plain transaction. Otherwise, in that same transaction, it
// takes a lock on the key (failing with ErrInProgress if another request
// holds it), replays a stored, unexpired response (replayed=true) or fails
// with ErrMismatch if the fingerprint differs, or runs fn and stores its
// response. If fn fails, nothing is stored and the key stays free, so
// validation and other errors can be corrected and retried.
//
// fn may run more than once (see db.DB.Tx); it must not act outside tx.
func (s *Store) Run(ctx context.Context, req Request, fn func(ctx context.Context, tx *Tx) (Response, error)) (resp Response, replayed bool, err error) {
	err = s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
		replayed = false
		if req.Key == "" {
			var err error
			resp, err = fn(ctx, tx)
			return err
		}
		var locked bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, lockKey(req)).Scan(&locked); err != nil {
			return err
		}
		if !locked {
			return ErrInProgress
		}
		var (
			fp      []byte
			stored  Response
			expires time.Time
		)
		err := tx.QueryRow(ctx, `SELECT fingerprint, status, body, COALESCE(location, ''), expires_at
			FROM idempotency_keys WHERE scope = $1 AND key = $2`, req.Scope, req.Key).
			Scan(&fp, &stored.Status, &stored.Body, &stored.Location, &expires)
		switch {
		case err == nil && expires.After(time.Now()):
			if !bytes.Equal(fp, req.Fingerprint[:]) {
				return ErrMismatch
			}
			resp, replayed = stored, true
			return nil
		case err == nil: // expired: the key is free again
			if _, err := tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2`, req.Scope, req.Key); err != nil {
				return err
			}
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		resp, err = fn(ctx, tx)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO idempotency_keys (scope, key, fingerprint, status, body, location, expires_at)
			VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), $7)`,
			req.Scope, req.Key, req.Fingerprint[:], resp.Status, resp.Body, resp.Location, time.Now().Add(s.ttl))
		if err != nil {
			return fmt.Errorf("store idempotent response: %w", err)
		}
		return nil
	})
	return resp, replayed, err
}

// lockKey maps a key to an advisory lock id. Two keys that collide only
// make one of them wait for a 409 it did not deserve, once; never a wrong
// replay, which is decided by the row itself.
func lockKey(req Request) int64 {
	h := fnv.New64a()
	h.Write([]byte(req.Scope))
	h.Write([]byte{0})
	h.Write([]byte(req.Key))
	return int64(h.Sum64())
}

// Sweep deletes expired keys every interval until ctx ends. Failures (the
// database being down, say) are logged at debug level and retried at the
// next tick: expired rows are ignored by Run anyway.
func (s *Store) Sweep(ctx context.Context, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		tag, err := s.db.Exec(ctx, `DELETE FROM idempotency_keys WHERE expires_at < now()`)
		if err != nil {
			log.Debug("idempotency sweep failed", "error", err)
			continue
		}
		if n := tag.RowsAffected(); n > 0 {
			log.Info("expired idempotency keys deleted", "count", n)
		}
	}
}
