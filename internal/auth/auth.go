// Package auth holds accounts, sign-in sessions and API tokens: who a caller
// is and what role they have. It knows nothing of HTTP; the edge turns its
// errors into 401, 403 and 429 answers.
//
// Access tokens are short-lived JWTs that name their session; what a use
// read of the session in PostgreSQL is cached and invalidated on every
// replica through LISTEN/NOTIFY (cache.go), so a logout, a revoked family,
// a deactivation or a role change takes effect on every replica within
// milliseconds, and within StaleBound (1s) on one that cannot hear of it. Refresh tokens
// rotate on every use and a replayed one revokes its whole family.
package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Role is what a caller may do. Admins may do everything users may, and
// also change integration settings and manage accounts.
type Role string

const (
	RoleUser  Role = "user"
	RoleAdmin Role = "admin"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleUser || r == RoleAdmin }

// AtLeast reports whether r includes want.
func (r Role) AtLeast(want Role) bool { return r == RoleAdmin || r == want }

// User is an account, in the original's shape plus its role.
type User struct {
	ID          uuid.UUID `json:"id"`
	Email       string    `json:"email"`
	Username    string    `json:"username"`
	FullName    *string   `json:"full_name"`
	IsActive    bool      `json:"is_active"`
	IsSuperuser bool      `json:"is_superuser"`
	Role        Role      `json:"role"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Kind says how a principal proved who it is.
type Kind string

const (
	KindSession  Kind = "session"   // an access token from a sign-in
	KindAPIToken Kind = "api_token" // a static token for automation
)

// Principal is an authenticated caller.
type Principal struct {
	User User
	Kind Kind
	// Role is what this credential may do: the user's role, or for an API
	// token the lesser of the token's and its owner's.
	Role      Role
	SessionID uuid.UUID // KindSession
	TokenID   uuid.UUID // KindAPIToken
}

// Tokens is what a sign-in or a refresh returns.
type Tokens struct {
	AccessToken      string
	RefreshToken     string
	AccessExpiresAt  time.Time
	RefreshExpiresAt time.Time
	SessionID        uuid.UUID
}

// APIToken describes a static token; the secret itself is shown only once,
// when it is created.
type APIToken struct {
	ID         uuid.UUID  `json:"id"`
	UserID     uuid.UUID  `json:"user_id"`
	Username   string     `json:"username"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Role       Role       `json:"role"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

var (
	// ErrInvalidCredentials is a failed sign-in; it does not say whether
	// the account exists.
	ErrInvalidCredentials = errors.New("incorrect username or password")
	// ErrInactive is an account an admin has deactivated.
	ErrInactive = errors.New("account is deactivated")
	// ErrSessionEnded is a token whose session was signed out, revoked or
	// has expired.
	ErrSessionEnded = errors.New("session has ended")
	// ErrReuse is a refresh token presented again after it was replaced:
	// it was copied, so its family has been revoked.
	ErrReuse = errors.New("refresh token reused; every token of its sign-in is revoked")
	// ErrForbidden is a caller without the role an action needs.
	ErrForbidden = errors.New("not allowed")
	// ErrNotFound is an account or token that does not exist (or is not
	// the caller's to see).
	ErrNotFound = errors.New("not found")
)

// Mode says which routes need a signed-in user (AUTH_MODE).
type Mode string

const (
	ModeOff    Mode = "off"    // everything open: local experiments only
	ModeWrites Mode = "writes" // state-changing routes need a credential; reads are open
	ModeAll    Mode = "all"    // everything but health, metrics and signing in needs one
)

// Modes lists the modes, for parsing.
var Modes = []Mode{ModeOff, ModeWrites, ModeAll}

// Class is a class of request, as far as who may make it goes.
type Class int

const (
	// Read: reading jobs, tickets and events.
	Read Class = iota
	// Write: creating and changing jobs and tickets.
	Write
	// Administer: integration settings.
	Administer
	// Own: the caller's own account and tokens; needs a principal in
	// every mode, there being nobody's account to show otherwise.
	Own
	// ManageUsers: other people's accounts; admins only, in every mode.
	ManageUsers
)

// Requires says whether a request of class a needs a signed-in principal
// under mode m, and of which least role: reads only in mode all, writes
// and administration unless the mode is off.
func (m Mode) Requires(a Class) (need bool, role Role) {
	switch a {
	case Read:
		return m == ModeAll, RoleUser
	case Write:
		return m != ModeOff, RoleUser
	case Administer:
		return m != ModeOff, RoleAdmin
	case Own:
		return true, RoleUser
	}
	return true, RoleAdmin
}

// Registration says who may create accounts (AUTH_REGISTRATION).
type Registration string

const (
	RegistrationOpen   Registration = "open"   // anyone
	RegistrationAdmin  Registration = "admin"  // only an admin
	RegistrationClosed Registration = "closed" // only an admin, and the UI offers none
)

// Registrations lists the policies, for parsing.
var Registrations = []Registration{RegistrationOpen, RegistrationAdmin, RegistrationClosed}

// DuplicateError is a registration whose email or username is taken.
type DuplicateError struct{ Field string }

func (e *DuplicateError) Error() string { return fmt.Sprintf("%s is already registered", e.Field) }
