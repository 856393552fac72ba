package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rca-engine/api/internal/apperr"
	"github.com/rca-engine/api/internal/db"
)

// Config are the service's settings.
type Config struct {
	// Registration says who may create accounts; default RegistrationOpen.
	Registration Registration
	// Secret signs tokens (HS256); at least MinSecretLen bytes.
	Secret     []byte
	Issuer     string        // default "rca-engine"
	Audience   string        // default "rca-users"
	AccessTTL  time.Duration // default 15m
	RefreshTTL time.Duration // default 7 days, renewed by each refresh
	// ReuseGrace is how long the refresh token just replaced still works:
	// a client whose refresh answer was lost to a reset retries with it, and
	// two browser tabs may refresh at once. Default 10s; beyond it, reuse
	// revokes the family.
	ReuseGrace time.Duration
	Hash       HashParams
	// MaxHashes bounds concurrent password hashes (default: CPUs).
	MaxHashes int
	Now       func() time.Time
	Logger    *slog.Logger
}

// Service is the accounts, sessions and API tokens store.
type Service struct {
	db   *db.DB
	cfg  Config
	sign *signer
	hash *hasher
	log  *slog.Logger
	// decoy is verified against when the account does not exist, so that
	// a failed sign-in takes as long whether or not the name is
	// registered. Built in New: a lazily built one could be lost to the
	// first caller's cancelled context.
	decoy string
	// cache keeps checked credentials; see cache.go.
	cache *credCache
}

// New checks cfg and returns a Service. It does not touch the database.
func New(database *db.DB, cfg Config) (*Service, error) {
	if len(cfg.Secret) < MinSecretLen {
		return nil, fmt.Errorf("the JWT secret must be at least %d bytes, got %d", MinSecretLen, len(cfg.Secret))
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.AccessTTL, 15*time.Minute)
	def(&cfg.RefreshTTL, 7*24*time.Hour)
	def(&cfg.ReuseGrace, 10*time.Second)
	if cfg.Issuer == "" {
		cfg.Issuer = "rca-engine"
	}
	if cfg.Audience == "" {
		cfg.Audience = "rca-users"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxHashes <= 0 {
		cfg.MaxHashes = runtime.GOMAXPROCS(0)
	}
	if cfg.Registration == "" {
		cfg.Registration = RegistrationOpen
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{db: database, cfg: cfg, log: log,
		sign: &signer{secret: cfg.Secret, issuer: cfg.Issuer, audience: cfg.Audience, now: cfg.Now},
		hash: newHasher(cfg.Hash, cfg.MaxHashes), cache: newCredCache()}
	var err error
	if s.decoy, err = s.hash.Hash(context.Background(), rand.Text()); err != nil {
		return nil, err
	}
	return s, nil
}

// AccessTTL is how long an access token lives.
func (s *Service) AccessTTL() time.Duration { return s.cfg.AccessTTL }

// Registration is who may create accounts.
func (s *Service) Registration() Registration { return s.cfg.Registration }

// RefreshTTL is how long a refresh token lives.
func (s *Service) RefreshTTL() time.Duration { return s.cfg.RefreshTTL }

// MaxSessions is how many sign-ins an account keeps open at once; the
// oldest beyond it end.
const MaxSessions = 50

// NewAccount is a new account, as a client asks for it.
type NewAccount struct {
	Email    string
	Username string
	Password string
	FullName *string
	Role     Role
}

const userColumns = `id, email, username, full_name, role, is_active, created_at, updated_at`

func scanUser(row pgx.Row, extra ...any) (User, error) {
	var u User
	dest := append([]any{&u.ID, &u.Email, &u.Username, &u.FullName, &u.Role, &u.IsActive, &u.CreatedAt, &u.UpdatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return User{}, err
	}
	u.IsSuperuser = u.Role == RoleAdmin
	return u, nil
}

// Register creates an account on behalf of by (nil: nobody signed in), as
// the registration policy allows: anyone while it is open, only admins
// when it is admin or closed; only an admin may create another admin.
func (s *Service) Register(ctx context.Context, by *Principal, r NewAccount) (User, error) {
	if err := s.MayRegister(by); err != nil {
		return User{}, err
	}
	if r.Role != "" && r.Role != RoleUser && (by == nil || by.Role != RoleAdmin) {
		return User{}, &apperr.Error{Kind: apperr.Forbidden, Message: "Only an admin may register an account with the admin role.", Err: ErrForbidden}
	}
	return s.register(ctx, r)
}

// MayRegister says whether by (nil: nobody signed in) may register
// accounts at all under the policy. The edge asks before reading the
// request, so that a refusal does not depend on what was sent.
func (s *Service) MayRegister(by *Principal) error {
	isAdmin := by != nil && by.Role == RoleAdmin
	switch {
	case s.cfg.Registration == RegistrationClosed && !isAdmin:
		return &apperr.Error{Kind: apperr.Forbidden, Message: "Registration is closed; an admin creates accounts.", Err: ErrForbidden}
	case s.cfg.Registration == RegistrationAdmin && by == nil:
		return apperr.New(apperr.Unauthorized, "Only an admin may register accounts; sign in as one first.")
	case s.cfg.Registration == RegistrationAdmin && !isAdmin:
		return &apperr.Error{Kind: apperr.Forbidden, Message: "Only an admin may register accounts.", Err: ErrForbidden}
	}
	return nil
}

func (s *Service) register(ctx context.Context, r NewAccount) (User, error) {
	if !r.Role.Valid() {
		r.Role = RoleUser
	}
	hash, err := s.hash.Hash(ctx, r.Password)
	if err != nil {
		return User{}, err
	}
	var u User
	err = s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
		u, err = scanUser(tx.QueryRow(ctx, `INSERT INTO users (email, username, full_name, password_hash, role)
			VALUES ($1, $2, $3, $4, $5) RETURNING `+userColumns, r.Email, r.Username, r.FullName, hash, r.Role))
		return err
	})
	if err != nil {
		return User{}, duplicate(err)
	}
	return u, nil
}

func duplicate(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		field := "username"
		if strings.Contains(pgErr.ConstraintName, "email") {
			field = "email"
		}
		// 400, as the original answered; the field says which.
		return &apperr.Error{Kind: apperr.BadRequest, Title: "Already registered", Message: fmt.Sprintf("This %s is already registered.", field),
			Fields: []apperr.Field{{Name: field, Message: "is already registered"}}, Err: &DuplicateError{Field: field}}
	}
	return err
}

// EnsureAdmin creates the first admin from the environment unless an
// account with that username or email exists. An existing account is left
// as it is (its password may have been changed since); it reports whether
// it created one.
func (s *Service) EnsureAdmin(ctx context.Context, email, username, password string) (bool, error) {
	var exists bool
	err := s.db.Read(ctx, func(ctx context.Context, q db.Querier) error {
		return q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE lower(username) = lower($1) OR lower(email) = lower($2))`,
			username, email).Scan(&exists)
	})
	if err != nil || exists {
		return false, err
	}
	_, err = s.register(ctx, NewAccount{Email: email, Username: username, Password: password, Role: RoleAdmin})
	var dup *DuplicateError
	if errors.As(err, &dup) {
		return false, nil // another replica was first
	}
	return err == nil, err
}

// Login checks a username (or email) and password and opens a session.
func (s *Service) Login(ctx context.Context, login, password string) (Tokens, User, error) {
	return s.LoginChecked(ctx, login, password, nil)
}

// CredentialsError is a failed sign-in; Account is the username of the
// account the login named, if one exists, so that failures are counted per
// account whichever of its names was typed. It matches
// ErrInvalidCredentials with errors.Is, and its message does not say
// whether the account exists.
type CredentialsError struct{ Account string }

func (e *CredentialsError) Error() string        { return ErrInvalidCredentials.Error() }
func (e *CredentialsError) Is(target error) bool { return target == ErrInvalidCredentials }

// LoginChecked is Login with a check run once the account is found and
// before its password is hashed: the edge refuses there an account whose
// failed attempts are spent, under whichever name it was typed.
func (s *Service) LoginChecked(ctx context.Context, login, password string, check func(account string) error) (Tokens, User, error) {
	var (
		u     User
		hash  string
		found = true
	)
	err := s.db.Read(ctx, func(ctx context.Context, q db.Querier) error {
		var err error
		u, err = scanUser(q.QueryRow(ctx, `SELECT `+userColumns+`, password_hash FROM users
			WHERE lower(username) = lower($1) OR lower(email) = lower($1)
			ORDER BY lower(username) = lower($1) DESC LIMIT 1`, login), &hash)
		if errors.Is(err, pgx.ErrNoRows) {
			found = false
			return nil
		}
		return err
	})
	if err != nil {
		return Tokens{}, User{}, err
	}
	if !found {
		hash = s.decoy
	} else if check != nil {
		if err := check(u.Username); err != nil {
			return Tokens{}, User{}, err
		}
	}
	if err := s.hash.Verify(ctx, password, hash); err != nil {
		if errors.Is(err, ErrMismatch) || !found {
			return Tokens{}, User{}, &CredentialsError{Account: u.Username}
		}
		return Tokens{}, User{}, fmt.Errorf("verify password of %s: %w", u.ID, err)
	}
	if !found {
		return Tokens{}, User{}, &CredentialsError{}
	}
	if !u.IsActive {
		return Tokens{}, User{}, &CredentialsError{Account: u.Username}
	}
	sid, jti := uuid.New(), uuid.New()
	t, err := s.issue(u, sid, jti)
	if err != nil {
		return Tokens{}, User{}, err
	}
	var capped bool
	err = s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
		capped = false
		// Only for an account still active: a deactivation that commits
		// between the check above and here must not leave a session.
		tag, err := tx.Exec(ctx, `INSERT INTO auth_sessions (id, user_id, current_jti, expires_at)
			SELECT $1, id, $3, $4 FROM users WHERE id = $2 AND is_active`, sid, u.ID, jti, t.RefreshExpiresAt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return &CredentialsError{Account: u.Username}
		}
		// Each sign-in is a row for up to RefreshTTL: keep the newest
		// MaxSessions open and end the others, so that a script signing in
		// in a loop cannot grow the table without bound.
		tag, err = tx.Exec(ctx, `UPDATE auth_sessions SET revoked_at = now(), revoked_reason = 'too-many-sessions'
			WHERE user_id = $1 AND revoked_at IS NULL AND id NOT IN (
				SELECT id FROM auth_sessions WHERE user_id = $1 AND revoked_at IS NULL
				ORDER BY created_at DESC, id LIMIT $2)`, u.ID, MaxSessions)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		capped = true
		return notify(ctx, tx, "u:"+u.ID.String())
	})
	var ce *CredentialsError
	if errors.As(err, &ce) {
		return Tokens{}, User{}, ce
	}
	if err != nil {
		return Tokens{}, User{}, fmt.Errorf("open session: %w", err)
	}
	if capped {
		s.cache.invalidate("u:" + u.ID.String())
	}
	return t, u, nil
}

func (s *Service) issue(u User, sid, jti uuid.UUID) (Tokens, error) {
	access, accessExp, err := s.sign.issue(Access, u, sid, uuid.New(), s.cfg.AccessTTL)
	if err != nil {
		return Tokens{}, err
	}
	refresh, refreshExp, err := s.sign.issue(Refresh, u, sid, jti, s.cfg.RefreshTTL)
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{AccessToken: access, RefreshToken: refresh, AccessExpiresAt: accessExp,
		RefreshExpiresAt: refreshExp, SessionID: sid}, nil
}

// Refresh exchanges a refresh token for a new pair and retires the old one.
func (s *Service) Refresh(ctx context.Context, raw string) (Tokens, User, error) {
	claims, sid, jti, err := s.sign.parse(raw, Refresh)
	if err != nil {
		return Tokens{}, User{}, err
	}
	var (
		t              Tokens
		u              User
		reused, graced bool
	)
	err = s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
		reused, graced = false, false
		var (
			current, userID uuid.UUID
			previous        *uuid.UUID
			rotatedAt       time.Time
			expiresAt       time.Time
			revokedAt       *time.Time
		)
		err := tx.QueryRow(ctx, `SELECT user_id, current_jti, previous_jti, rotated_at, expires_at, revoked_at
			FROM auth_sessions WHERE id = $1 FOR UPDATE`, sid).
			Scan(&userID, &current, &previous, &rotatedAt, &expiresAt, &revokedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrSessionEnded
		}
		if err != nil {
			return err
		}
		now := s.cfg.Now()
		switch {
		case revokedAt != nil || !expiresAt.After(now) || userID.String() != claims.Subject:
			return ErrSessionEnded
		case jti == current:
		case previous != nil && jti == *previous && now.Sub(rotatedAt) <= s.cfg.ReuseGrace:
			// The token just replaced, within the grace (a retry whose
			// answer was lost, a second tab): the caller gets the
			// current token again, not a new rotation, so that the two
			// holders end up with the same jti and neither later looks
			// like a replay.
			graced = true
		default:
			// Committed, not rolled back: the revocation must stick.
			reused = true
			if _, err := tx.Exec(ctx, `UPDATE auth_sessions SET revoked_at = now(), revoked_reason = 'refresh-token-reuse'
				WHERE id = $1`, sid); err != nil {
				return err
			}
			return notify(ctx, tx, "s:"+sid.String())
		}
		u, err = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, userID))
		if err != nil {
			return err
		}
		if !u.IsActive {
			return ErrInactive
		}
		next := uuid.New()
		if graced {
			next = current
		}
		if t, err = s.issue(u, sid, next); err != nil {
			return err
		}
		if graced {
			_, err = tx.Exec(ctx, `UPDATE auth_sessions SET expires_at = $2 WHERE id = $1`, sid, t.RefreshExpiresAt)
			return err
		}
		// The service's clock, not the server's: the grace is measured
		// against it above.
		_, err = tx.Exec(ctx, `UPDATE auth_sessions SET previous_jti = current_jti, current_jti = $2,
			rotated_at = $4, expires_at = $3 WHERE id = $1`, sid, next, t.RefreshExpiresAt, now)
		return err
	})
	if err != nil {
		return Tokens{}, User{}, err
	}
	if reused {
		s.cache.invalidate("s:" + sid.String())
		s.log.Warn("refresh token reused; session revoked", "session_id", sid, "user_id", claims.Subject)
		return Tokens{}, User{}, ErrReuse
	}
	return t, u, nil
}

// Revoke ends a session (logout). Revoking an ended session is not an error.
// Every replica refuses the session within StaleBound, most within
// milliseconds (the change is announced with LISTEN/NOTIFY).
func (s *Service) Revoke(ctx context.Context, sessionID uuid.UUID, reason string) error {
	err := s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE auth_sessions SET revoked_at = now(), revoked_reason = $2
			WHERE id = $1 AND revoked_at IS NULL`, sessionID, reason)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return notify(ctx, tx, "s:"+sessionID.String())
	})
	if err == nil {
		s.cache.invalidate("s:" + sessionID.String())
	}
	return err
}

// SessionOf returns the session a refresh token belongs to, without using
// it: logout accepts the refresh token (the UI's cookie) as well.
func (s *Service) SessionOf(raw string) (uuid.UUID, error) {
	_, sid, _, err := s.sign.parse(raw, Refresh)
	return sid, err
}

// APITokenPrefix starts every static token, so that a bearer credential is
// told apart from a JWT without parsing, and secret scanners can find
// leaked ones.
const APITokenPrefix = "rca_"

// Authenticate resolves a bearer credential: an access token or an API
// token. What it read of PostgreSQL is cached (cache.go): a revocation,
// logout, deactivation or role change is seen by every replica within
// StaleBound, and within milliseconds while invalidations arrive.
func (s *Service) Authenticate(ctx context.Context, credential string) (Principal, error) {
	if strings.HasPrefix(credential, APITokenPrefix) {
		return s.authenticateAPIToken(ctx, credential)
	}
	subject, sid, err := s.parseAccess(credential)
	if err != nil {
		return Principal{}, err
	}
	if e, ok := s.cache.session(sid); ok {
		return s.sessionPrincipal(subject, sid, e)
	}
	gen := s.cache.gen.Load()
	var (
		u                User
		revoked          bool
		sessionExpiresAt time.Time
	)
	err = s.db.Read(ctx, func(ctx context.Context, q db.Querier) error {
		var err error
		u, err = scanUser(q.QueryRow(ctx, `SELECT u.id, u.email, u.username, u.full_name, u.role, u.is_active,
				u.created_at, u.updated_at, s.revoked_at IS NOT NULL, s.expires_at
			FROM auth_sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1`, sid), &revoked, &sessionExpiresAt)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Principal{}, ErrSessionEnded
	}
	if err != nil {
		return Principal{}, err
	}
	if revoked {
		return Principal{}, ErrSessionEnded
	}
	// Only a live session is cached; one that ended is refused by the
	// database's answer each time (rare, and never a reason to trust).
	e := sessionEntry{user: u, expires: sessionExpiresAt, checked: s.cache.now()}
	p, err := s.sessionPrincipal(subject, sid, e)
	if err == nil {
		s.cache.putSession(gen, sid, e)
	}
	return p, err
}

func (s *Service) sessionPrincipal(subject string, sid uuid.UUID, e sessionEntry) (Principal, error) {
	if !e.expires.After(s.cfg.Now()) || e.user.ID.String() != subject {
		return Principal{}, ErrSessionEnded
	}
	if !e.user.IsActive {
		return Principal{}, ErrInactive
	}
	return Principal{User: e.user, Kind: KindSession, Role: e.user.Role, SessionID: sid}, nil
}

func tokenHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func (s *Service) authenticateAPIToken(ctx context.Context, secret string) (Principal, error) {
	h := sha256.Sum256([]byte(secret))
	if e, ok := s.cache.token(h); ok {
		return s.tokenPrincipal(ctx, h, &e)
	}
	gen := s.cache.gen.Load()
	var (
		u         User
		id        uuid.UUID
		role      Role
		expiresAt *time.Time
		revokedAt *time.Time
		lastUsed  *time.Time
	)
	err := s.db.Read(ctx, func(ctx context.Context, q db.Querier) error {
		var err error
		u, err = scanUser(q.QueryRow(ctx, `SELECT u.id, u.email, u.username, u.full_name, u.role, u.is_active,
				u.created_at, u.updated_at, t.id, t.role, t.expires_at, t.revoked_at, t.last_used_at
			FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1`, h[:]),
			&id, &role, &expiresAt, &revokedAt, &lastUsed)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Principal{}, &TokenError{Reason: "unknown API token"}
	}
	if err != nil {
		return Principal{}, err
	}
	if revokedAt != nil {
		return Principal{}, &TokenError{Reason: "the API token has been revoked"}
	}
	e := tokenEntry{user: u, id: id, role: role, expiresAt: expiresAt, lastUsed: lastUsed, checked: s.cache.now()}
	p, err := s.tokenPrincipal(ctx, h, &e)
	if err == nil {
		s.cache.putToken(gen, h, e)
	}
	return p, err
}

func (s *Service) tokenPrincipal(ctx context.Context, h [32]byte, e *tokenEntry) (Principal, error) {
	now := s.cfg.Now()
	if e.expiresAt != nil && !e.expiresAt.After(now) {
		return Principal{}, &TokenError{Reason: "the API token has expired"}
	}
	if !e.user.IsActive {
		return Principal{}, ErrInactive
	}
	role := e.role
	if !e.user.Role.AtLeast(role) {
		role = e.user.Role // an owner demoted since takes their tokens down too
	}
	// Recorded at most once a minute, and never at the cost of the
	// request: a read must not fail because this write did.
	if e.lastUsed == nil || now.Sub(*e.lastUsed) > time.Minute {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_, _ = s.db.Exec(uctx, `UPDATE api_tokens SET last_used_at = now() WHERE id = $1`, e.id)
		cancel()
		e.lastUsed = &now
		s.cache.touchToken(h, now)
	}
	return Principal{User: e.user, Kind: KindAPIToken, Role: role, TokenID: e.id}, nil
}

const tokenColumns = `t.id, t.user_id, u.username, t.name, t.prefix, t.role, t.created_at, t.expires_at,
	t.last_used_at, t.revoked_at`

func scanToken(row pgx.Row) (APIToken, error) {
	var t APIToken
	err := row.Scan(&t.ID, &t.UserID, &t.Username, &t.Name, &t.Prefix, &t.Role, &t.CreatedAt, &t.ExpiresAt,
		&t.LastUsedAt, &t.RevokedAt)
	return t, err
}

// CreateAPIToken makes a token for p's account with at most p's role, and
// returns the secret, which is not stored and cannot be shown again. Only
// a signed-in user may: a token that mints tokens would outlive any
// revocation of itself.
func (s *Service) CreateAPIToken(ctx context.Context, p Principal, name string, role Role, ttl time.Duration) (APIToken, string, error) {
	if err := MayCreateAPIToken(p); err != nil {
		return APIToken{}, "", err
	}
	if role == "" {
		role = p.Role
	}
	if !p.Role.AtLeast(role) {
		return APIToken{}, "", &apperr.Error{Kind: apperr.Forbidden,
			Message: "You cannot create a token with a role above your own.", Err: ErrForbidden}
	}
	secret := APITokenPrefix + rand.Text() + rand.Text() // 260 bits
	var expires *time.Time
	if ttl > 0 {
		e := s.cfg.Now().Add(ttl)
		expires = &e
	}
	var t APIToken
	err := s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
		var err error
		t, err = scanToken(tx.QueryRow(ctx, `WITH t AS (
				INSERT INTO api_tokens (user_id, name, token_hash, prefix, role, expires_at)
				VALUES ($1, $2, $3, $4, $5, $6) RETURNING *)
			SELECT `+tokenColumns+` FROM t JOIN users u ON u.id = t.user_id`,
			p.User.ID, name, tokenHash(secret), secret[:len(APITokenPrefix)+6], role, expires))
		return err
	})
	if err != nil {
		return APIToken{}, "", err
	}
	return t, secret, nil
}

// MayCreateAPIToken says whether p may create API tokens at all.
func MayCreateAPIToken(p Principal) error {
	if p.Kind != KindSession {
		return &apperr.Error{Kind: apperr.Forbidden,
			Message: "API tokens are created by a signed-in user, not by another API token.", Err: ErrForbidden}
	}
	return nil
}

// ListAPITokens lists p's tokens, or everyone's for an admin who asks.
func (s *Service) ListAPITokens(ctx context.Context, p Principal, all bool) ([]APIToken, error) {
	if all && p.Role != RoleAdmin {
		return nil, &apperr.Error{Kind: apperr.Forbidden, Message: "Only admins may list everyone's tokens.", Err: ErrForbidden}
	}
	out := []APIToken{}
	err := s.db.Read(ctx, func(ctx context.Context, q db.Querier) error {
		out = out[:0]
		rows, err := q.Query(ctx, `SELECT `+tokenColumns+` FROM api_tokens t JOIN users u ON u.id = t.user_id
			WHERE $1 OR t.user_id = $2 ORDER BY t.created_at, t.id`, all, p.User.ID)
		if err != nil {
			return err
		}
		for rows.Next() {
			t, err := scanToken(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, t)
		}
		return rows.Err()
	})
	return out, err
}

// RevokeAPIToken revokes one of p's tokens (an admin may revoke any).
// Revoking a revoked token is not an error; someone else's is ErrNotFound.
func (s *Service) RevokeAPIToken(ctx context.Context, p Principal, id uuid.UUID) (APIToken, error) {
	var t APIToken
	err := s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
		var err error
		t, err = scanToken(tx.QueryRow(ctx, `WITH t AS (
				UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now())
				WHERE id = $1 AND ($2 OR user_id = $3) RETURNING *)
			SELECT `+tokenColumns+` FROM t JOIN users u ON u.id = t.user_id`, id, p.Role == RoleAdmin, p.User.ID))
		if err != nil {
			return err
		}
		return notify(ctx, tx, "t:"+id.String())
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return APIToken{}, apperr.Wrap(apperr.NotFound, ErrNotFound, "API token not found")
	}
	if err == nil {
		s.cache.invalidate("t:" + id.String())
	}
	return t, err
}

// ListUsers lists every account, oldest first.
func (s *Service) ListUsers(ctx context.Context) ([]User, error) {
	out := []User{}
	err := s.db.Read(ctx, func(ctx context.Context, q db.Querier) error {
		out = out[:0]
		rows, err := q.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY created_at, id`)
		if err != nil {
			return err
		}
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, u)
		}
		return rows.Err()
	})
	return out, err
}

// UserChange is an admin's change to an account; nil fields stay.
type UserChange struct {
	Role     *Role
	IsActive *bool
}

// UpdateUser applies by's change c to account id. Deactivating an account
// also revokes its sessions, so that reactivating it later does not bring
// old sign-ins back. Nobody demotes or deactivates themselves: the last
// admin could lock every admin out.
func (s *Service) UpdateUser(ctx context.Context, by Principal, id uuid.UUID, c UserChange) (User, error) {
	if id == by.User.ID && ((c.Role != nil && *c.Role != RoleAdmin) || (c.IsActive != nil && !*c.IsActive)) {
		return User{}, apperr.New(apperr.Conflict, "You cannot demote or deactivate your own account; ask another admin.")
	}
	var u User
	err := s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRow(ctx, `UPDATE users SET role = coalesce($2, role),
				is_active = coalesce($3, is_active), updated_at = now()
			WHERE id = $1 RETURNING `+userColumns, id, c.Role, c.IsActive))
		if err != nil {
			return err
		}
		if !u.IsActive {
			_, err = tx.Exec(ctx, `UPDATE auth_sessions SET revoked_at = now(), revoked_reason = 'deactivated'
				WHERE user_id = $1 AND revoked_at IS NULL`, id)
			if err != nil {
				return err
			}
		}
		return notify(ctx, tx, "u:"+id.String())
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, apperr.Wrap(apperr.NotFound, ErrNotFound, "User not found")
	}
	if err == nil {
		s.cache.invalidate("u:" + id.String())
	}
	return u, err
}

// Sweep deletes sessions that ended more than a day ago, every interval
// until ctx ends; failures wait for the next tick.
func (s *Service) Sweep(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		tag, err := s.db.Exec(ctx, `DELETE FROM auth_sessions
			WHERE expires_at < now() - interval '1 day' OR revoked_at < now() - interval '1 day'`)
		if err != nil {
			s.log.Debug("session sweep failed", "error", err)
			continue
		}
		if n := tag.RowsAffected(); n > 0 {
			s.log.Info("ended sessions deleted", "count", n)
		}
	}
}
