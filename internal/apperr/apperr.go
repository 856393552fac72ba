// Package apperr gives domain errors a kind that says what went wrong in
// terms a client can act on: invalid input, nothing there, a state that
// does not allow it, not allowed, a dependency that is down. Domain
// packages return these; the HTTP edge maps each kind to a status and a
// problem document in one table, and nothing else decides how an error
// looks to a client.
//
// The message of an *Error is written for the person using the API: it
// never carries driver or SQL text. The wrapped error, if any, is for the
// logs.
package apperr

import (
	"errors"
	"fmt"
	"time"
)

// Kind is the class of a domain error.
type Kind string

const (
	// Internal: a bug or an unexpected failure; the client learns nothing
	// more than a request id.
	Internal Kind = "internal"
	// BadRequest: the request cannot be taken as it is (malformed, or a
	// duplicate of something that must be unique).
	BadRequest Kind = "bad_request"
	// Invalid: well-formed, but a value breaks a rule; Fields say which.
	Invalid Kind = "invalid"
	// NotFound: the thing named does not exist, or the caller may not know
	// that it does.
	NotFound Kind = "not_found"
	// Conflict: the current state does not allow the change.
	Conflict Kind = "conflict"
	// Unauthorized: no usable credential.
	Unauthorized Kind = "unauthorized"
	// Forbidden: a known caller who may not do this.
	Forbidden Kind = "forbidden"
	// Unavailable: a dependency is down or did not answer in time; trying
	// again later may work.
	Unavailable Kind = "unavailable"
)

// Field names one invalid input by its JSON or query name.
type Field struct {
	Name    string
	Message string
}

// Error is a domain error with a kind and a message for a client.
type Error struct {
	Kind    Kind
	Message string
	// Title, when set, is a short summary for the client ("Already
	// registered"); empty means the kind's.
	Title  string
	Fields []Field
	// RetryAfter, when set, tells the client when trying again may work
	// (a request with the same idempotency key still running, say).
	RetryAfter time.Duration
	// Err is the cause, for logs and errors.Is/As; never shown to a client.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, &Error{Kind: k}) match any error of kind k, so
// callers can test for a kind without errors.As.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Err == nil && t.Kind == e.Kind
}

// New returns an error of kind k with a message for a client.
func New(k Kind, msg string) *Error { return &Error{Kind: k, Message: msg} }

// Newf is New with a format.
func Newf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an error of kind k with a message for a client, caused by err.
func Wrap(k Kind, err error, msg string) *Error { return &Error{Kind: k, Message: msg, Err: err} }

// Invalidf returns an Invalid error about one field.
func Invalidf(field, format string, args ...any) *Error {
	m := fmt.Sprintf(format, args...)
	return &Error{Kind: Invalid, Message: fmt.Sprintf("Invalid %s: %s.", field, m),
		Fields: []Field{{Name: field, Message: m}}}
}

// Kinded is implemented by every error that knows its kind: *Error, and
// errors of other packages that carry more than a message (a dependency's
// UnavailableError carries its state, for Retry-After).
type Kinded interface{ ErrorKind() Kind }

// ErrorKind makes *Error a Kinded.
func (e *Error) ErrorKind() Kind { return e.Kind }

// KindOf returns the kind of the outermost error in err's chain that has
// one, and Internal for an error that has none.
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	var k Kinded
	if errors.As(err, &k) {
		return k.ErrorKind()
	}
	return Internal
}

// As returns the outermost *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
