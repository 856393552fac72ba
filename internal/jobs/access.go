package jobs

import (
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
}

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
