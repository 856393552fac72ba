package jobs

import (
	"time"

	"github.com/google/uuid"

	"github.com/rca-engine/api/internal/apperr"
)

// Visibility says who besides a job's owner and the admins may act on it
// (JOB_VISIBILITY).
type Visibility string

const (
	// VisibilityOwner: a job's owner and the admins change it (the
	// default): another user cannot cancel your job or file tickets for it.
	VisibilityOwner Visibility = "owner"
	// VisibilityTeam: every signed-in user may, as in the original.
	VisibilityTeam Visibility = "team"
)

// Visibilities lists the settings, for parsing.
var Visibilities = []Visibility{VisibilityOwner, VisibilityTeam}

// Actor is who asks to act on a job. A nil *Actor means nobody is checked
// (AUTH_MODE=off, or the service's own work such as a worker).
type Actor struct {
	UserID uuid.UUID
	Admin  bool
}

// Policy decides who may act on a job.
type Policy struct {
	Visibility Visibility // default VisibilityOwner
	// Settle is how long after its last upload a job that nobody started
	// (the original UI never does) becomes ready for analysis
	// (ANALYSIS_SETTLE_SECONDS; zero: DefaultSettle).
	Settle time.Duration
}

// DefaultSettle is the settle window when Policy.Settle is zero.
const DefaultSettle = 3 * time.Second

// ErrNotYours refuses a change to someone else's job. A 403, not a 404:
// job metadata is readable by whoever AUTH_MODE lets read (the job can be
// seen; it cannot be changed).
var ErrNotYours = apperr.New(apperr.Forbidden,
	"Only the job's owner or an admin may change this job (JOB_VISIBILITY=team would let every signed-in user).")

// MayChange says whether a may change j: cancel it, file or dispatch its
// tickets, and (as they land) start it, upload to it, converse about it.
// A job without an owner (created with authentication off) is nobody's:
// every signed-in user may change it.
func (p Policy) MayChange(a *Actor, j Job) error {
	switch {
	case a == nil, a.Admin, p.Visibility == VisibilityTeam, j.OwnerID == nil, *j.OwnerID == a.UserID:
		return nil
	}
	return ErrNotYours
}

// ErrMayNotSee refuses someone else's job's content (its files, their
// lines, and what analysis derives from them) to a signed-in user who may
// not see it. File routes answer a file id they may not see with a 404
// instead, so that nothing tells them it exists.
var ErrMayNotSee = apperr.New(apperr.Forbidden,
	"Only the job's owner or an admin may see this job's files (JOB_VISIBILITY=team would let every signed-in user).")

// ErrSignInToSee refuses a job's content to a caller who is not signed in:
// log content is private whatever AUTH_MODE says about other reads.
var ErrSignInToSee = apperr.New(apperr.Unauthorized,
	"A job's files are visible only to signed-in users allowed to see the job: sign in.")

// MaySee says whether a may see j's content: its files and everything
// derived from them, and upload to it. Unlike job metadata, which is
// readable by whoever AUTH_MODE lets read, content is private: its owner
// and the admins see it; with JOB_VISIBILITY=team every signed-in user; a
// job without an owner (created with authentication off) every signed-in
// user. A nil Actor (AUTH_MODE=off, or the service's own work) sees
// everything; an Actor with no user id is an anonymous caller and sees
// nothing.
func (p Policy) MaySee(a *Actor, j Job) error {
	switch {
	case a == nil:
		return nil
	case a.UserID == uuid.Nil:
		return ErrSignInToSee
	case a.Admin, p.Visibility == VisibilityTeam, j.OwnerID == nil, *j.OwnerID == a.UserID:
		return nil
	}
	return ErrMayNotSee
}
