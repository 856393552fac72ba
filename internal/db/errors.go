package db

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rca-engine/api/internal/apperr"
	"github.com/rca-engine/api/internal/dependency"
)

// UnavailableError is returned instead of running a call when PostgreSQL is
// known to be unusable, or when a call failed because the connection did. The
// HTTP edge turns it into a 503 with Retry-After.
type UnavailableError struct {
	State dependency.State
	Err   error // the underlying failure, if the call was attempted
}

func (e *UnavailableError) Error() string {
	msg := fmt.Sprintf("%s is unavailable (%s", e.State.Name, e.State.Status)
	if e.State.Cause != "" {
		msg += ", " + string(e.State.Cause)
	}
	msg += ")"
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// DependencyState is the state of the dependency that refused the call,
// for Retry-After and the problem's dependency member.
func (e *UnavailableError) DependencyState() dependency.State { return e.State }

// ErrorKind makes the edge answer 503 with Retry-After from State.
func (e *UnavailableError) ErrorKind() apperr.Kind { return apperr.Unavailable }

// translate gives a statement's failure the kind a client should see,
// without PostgreSQL's text, which may quote the input or the schema.
// Other errors pass through unchanged.
func translate(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	if _, ok := apperr.As(err); ok {
		return err // the domain already said what it means
	}
	switch {
	case strings.HasPrefix(pgErr.Code, "22") || pgErr.Code == "54001":
		// Data exceptions (a NUL in JSON text, a number PostgreSQL cannot
		// hold, nesting deeper than it parses): the input's fault.
		return apperr.Wrap(apperr.Invalid, err, "A value in the request cannot be stored: it is not valid for its field.")
	case strings.HasPrefix(pgErr.Code, "23"):
		// Integrity violations that validation could not foresee, such as
		// a job deleted between a check and an insert.
		return apperr.Wrap(apperr.Conflict, err, "The request conflicts with the current state of the data; reload and try again.")
	case pgErr.Code == "40001" || pgErr.Code == "40P01" || pgErr.Code == "55P03" || pgErr.Code == "57014":
		// Serialization failure, deadlock, lock not available, statement
		// timeout: the same request may well succeed in a moment.
		return &apperr.Error{Kind: apperr.Unavailable, Message: "The database was too busy to finish the request; try again.",
			RetryAfter: time.Second, Err: err}
	}
	return err
}

// ErrUnavailable matches any *UnavailableError with errors.Is.
var ErrUnavailable = errors.New("dependency unavailable")

func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// IsConnError reports whether err means the connection, not the statement,
// failed: the server may be gone, so the caller should not trust the
// connection and may retry elsewhere if the operation allows it.
func IsConnError(err error) bool {
	if err == nil {
		return false
	}
	// First: a failed connect wraps the server's answer (too many clients,
	// a rotated password), which is a PgError but still a connection that
	// could not be had, not a statement that failed.
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case len(pgErr.Code) == 5 && pgErr.Code[:2] == "08": // connection_exception class
			return true
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03": // admin/crash shutdown, cannot connect now
			return true
		}
		return false
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ETIMEDOUT) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	// pgx reports a connection it already closed this way.
	return err.Error() == "conn closed" || errors.Is(err, pgconn.ErrConnClosed)
}

// classifyFailure is classify, plus failed migrations.
func classifyFailure(err error) dependency.Cause {
	var mErr *migrationError
	if errors.As(err, &mErr) {
		return dependency.CauseMigrationFailed
	}
	return classify(err)
}

// classify maps a failed connection attempt to a cause ops can act on.
func classify(err error) dependency.Cause {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "28P01", "28000": // invalid_password, invalid_authorization_specification (unknown role, pg_hba reject)
			return dependency.CauseAuthFailed
		case "3D000": // invalid_catalog_name
			return dependency.CauseDatabaseMissing
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return dependency.CauseTimeout
	}
	return dependency.CauseUnreachable
}

// deadlineFor returns the earlier of ctx's deadline and now+d.
func deadlineFor(ctx context.Context, d time.Duration) time.Time {
	dl := time.Now().Add(d)
	if ctxDL, ok := ctx.Deadline(); ok && ctxDL.Before(dl) {
		return ctxDL
	}
	return dl
}
