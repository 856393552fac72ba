package api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rca-engine/api/internal/auth"
	"github.com/rca-engine/api/internal/ratelimit"
)

// refreshCookie carries the refresh token for the web UI, which then keeps
// only the short-lived access token, in memory. HttpOnly keeps it from
// scripts, SameSite=Strict from other sites' requests, and its path from
// every route but the sign-in ones.
const (
	refreshCookie     = "rca_refresh"
	refreshCookiePath = "/api/auth"
)

func (s *server) authConfig(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"mode":                      s.opts.AuthMode,
		"registration":              s.auth.Registration(),
		"access_token_ttl_seconds":  int(s.auth.AccessTTL().Seconds()),
		"refresh_token_ttl_seconds": int(s.auth.RefreshTTL().Seconds()),
		// Who may change a job, so the UI can say so before a 403.
		"job_visibility": s.jobs.Policy().Visibility,
	})
}

type registerRequest struct {
	Email    string     `json:"email" validate:"required,max=254,email"`
	Username string     `json:"username" validate:"required,min=3,max=50,text,excludesall=@"`
	Password string     `json:"password" validate:"required,min=8,max=1024"`
	FullName *string    `json:"full_name" validate:"omitempty,max=200,text"`
	Role     *auth.Role `json:"role" validate:"omitempty,oneof=user admin"`
}

func (s *server) register(w http.ResponseWriter, r *http.Request) {
	var by *auth.Principal
	if p, ok := principalOf(r.Context()); ok {
		by = &p
	}
	if err := s.auth.MayRegister(by); err != nil {
		s.fail(w, r, err)
		return
	}
	var in registerRequest
	if _, ok := s.decodeJSON(w, r, &in); !ok {
		return
	}
	var role auth.Role
	if in.Role != nil {
		role = *in.Role
	}
	u, err := s.auth.Register(r.Context(), by, auth.NewAccount{Email: in.Email, Username: in.Username,
		Password: in.Password, FullName: in.FullName, Role: role})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

// tokenResponse is the original's shape plus lifetimes and the user.
type tokenResponse struct {
	AccessToken      string    `json:"access_token"`
	RefreshToken     string    `json:"refresh_token,omitempty"`
	TokenType        string    `json:"token_type"`
	ExpiresIn        int       `json:"expires_in"`
	RefreshExpiresIn int       `json:"refresh_expires_in"`
	User             auth.User `json:"user"`
}

// sendTokens answers a sign-in or refresh. The refresh token goes in the
// cookie and, unless the caller used the cookie (the web UI), in the body:
// a script that can read responses must not be handed the long-lived token
// the cookie keeps from it.
func (s *server) sendTokens(w http.ResponseWriter, r *http.Request, t auth.Tokens, u auth.User, viaCookie bool) {
	now := time.Now()
	http.SetCookie(w, &http.Cookie{Name: refreshCookie, Value: t.RefreshToken, Path: refreshCookiePath,
		Expires: t.RefreshExpiresAt, MaxAge: int(t.RefreshExpiresAt.Sub(now).Seconds()),
		HttpOnly: true, Secure: s.secureRequest(r), SameSite: http.SameSiteStrictMode})
	w.Header().Set("Cache-Control", "no-store")
	body := t.RefreshToken
	if viaCookie {
		body = ""
	}
	writeJSON(w, http.StatusOK, tokenResponse{AccessToken: t.AccessToken, RefreshToken: body,
		TokenType: "bearer", ExpiresIn: int(t.AccessExpiresAt.Sub(now).Seconds()),
		RefreshExpiresIn: int(t.RefreshExpiresAt.Sub(now).Seconds()), User: u})
}

func (s *server) clearRefreshCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: refreshCookie, Value: "", Path: refreshCookiePath, MaxAge: -1,
		HttpOnly: true, Secure: s.secureRequest(r), SameSite: http.SameSiteStrictMode})
}

// loginForm reads the OAuth2 password form, urlencoded or multipart.
func (s *server) loginForm(w http.ResponseWriter, r *http.Request) (login, password string, ok bool) {
	// The same framing rules as JSON bodies (see decode.go): one
	// Content-Type, no content coding.
	if !singleHeader(w, r, "Content-Type") || !unencoded(w, r) {
		return "", "", false
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var err error
	switch mt {
	case "application/x-www-form-urlencoded":
		err = r.ParseForm()
	case "multipart/form-data":
		err = r.ParseMultipartForm(64 << 10)
		if r.MultipartForm != nil {
			// The server removes temporary files only for the request it
			// made, not for the copies middleware passes down.
			defer r.MultipartForm.RemoveAll()
		}
	default:
		writeProblem(w, r, Problem{Status: http.StatusUnsupportedMediaType, Detail: fmt.Sprintf(
			"Sign in with an OAuth2 password form (application/x-www-form-urlencoded or multipart/form-data), not %q.",
			r.Header.Get("Content-Type"))})
		return "", "", false
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeProblem(w, r, Problem{Status: http.StatusRequestEntityTooLarge,
				Detail: fmt.Sprintf("The request body is larger than the %d bytes allowed.", tooBig.Limit)})
			return "", "", false
		}
		writeProblem(w, r, Problem{Status: http.StatusBadRequest, Detail: "The form could not be read: it is malformed."})
		return "", "", false
	}
	var errs []FieldError
	field := func(name string, maxLen int) string {
		vs := r.PostForm[name]
		switch {
		case len(vs) == 0 || vs[0] == "":
			errs = append(errs, FieldError{Field: name, Message: "is required"})
		case len(vs) > 1:
			errs = append(errs, FieldError{Field: name, Message: "must be given once"})
		case !utf8.ValidString(vs[0]) || strings.ContainsRune(vs[0], 0):
			errs = append(errs, FieldError{Field: name, Message: "must be valid UTF-8 text"})
		case utf8.RuneCountInString(vs[0]) > maxLen:
			errs = append(errs, FieldError{Field: name, Message: fmt.Sprintf("must be at most %d characters", maxLen)})
		default:
			return vs[0]
		}
		return ""
	}
	login, password = field("username", 254), field("password", 1024)
	if gt := r.PostForm.Get("grant_type"); gt != "" && gt != "password" {
		errs = append(errs, FieldError{Field: "grant_type", Message: `must be "password"`})
	}
	if len(errs) > 0 {
		invalid(w, r, errs)
		return "", "", false
	}
	return login, password, true
}

// accountKey names an account for its failure limit without putting what
// a stranger typed into Redis key names.
func accountKey(login string) string {
	h := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(login))))
	return "login:acct:" + hex.EncodeToString(h[:16])
}

func (s *server) login(w http.ResponseWriter, r *http.Request) {
	login, password, ok := s.loginForm(w, r)
	if !ok {
		return
	}
	// Sign-in attempts are limited per account (guessing one password)
	// and per address (trying many accounts). Each attempt is charged
	// before its password is hashed, so that parallel guesses cannot all
	// pass a check made before any of them failed; a success clears the
	// account's count, so a user is never locked out by their own
	// successes. The account is charged under the name typed (unknown
	// accounts too) and, once found, under its username, so that
	// alternating username and email gains nothing.
	acct, addr := accountKey(login), "login:addr:"+addrKey(clientAddr(r.Context()))
	lims := s.opts.RateLimits
	const acctWhat = "Too many sign-in attempts for this account"
	if s.limiter != nil {
		// The address first: a caller its address limit stops does not
		// spend the accounts it names.
		if !s.chargeLogin(w, r, addr, lims.LoginAddress, "Too many sign-in attempts from this address") ||
			!s.chargeLogin(w, r, acct, lims.LoginAccount, acctWhat) {
			return
		}
	}
	var spent *ratelimit.Result
	check := func(account string) error {
		if s.limiter == nil || lims.LoginAccount.IsZero() || accountKey(account) == acct {
			return nil
		}
		if res := s.limiter.Allow(r.Context(), accountKey(account), lims.LoginAccount); !res.Allowed {
			spent = &res
			return errLoginSpent
		}
		return nil
	}
	t, u, err := s.auth.LoginChecked(r.Context(), login, password, check)
	if errors.Is(err, errLoginSpent) {
		s.allow(w, r, *spent, acctWhat)
		return
	}
	if errors.Is(err, auth.ErrInvalidCredentials) {
		// Deactivated accounts get the same answer: a right guess on
		// one is not confirmed.
		w.Header().Set("WWW-Authenticate", `Bearer realm="rca-engine"`)
		writeProblem(w, r, Problem{Type: typeUnauthorized, Status: http.StatusUnauthorized,
			Title: "Sign-in failed", Detail: "Incorrect username or password, or the account is deactivated."})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if s.limiter != nil {
		s.limiter.Reset(r.Context(), acct)
		s.limiter.Reset(r.Context(), accountKey(u.Username))
	}
	s.sendTokens(w, r, t, u, false)
}

// errLoginSpent stops a sign-in whose account has no attempts left.
var errLoginSpent = errors.New("sign-in attempts spent")

func (s *server) chargeLogin(w http.ResponseWriter, r *http.Request, key string, lim ratelimit.Limit, what string) bool {
	if lim.IsZero() {
		return true
	}
	res := s.limiter.Allow(r.Context(), key, lim)
	if res.Allowed {
		return true
	}
	return s.allow(w, r, res, what)
}

type refreshRequest struct {
	RefreshToken *string `json:"refresh_token" validate:"omitempty,max=4096"`
}

// refreshToken reads the refresh token from a JSON body (API clients, the
// original's shape) or, failing that, from the cookie (the web UI). The
// cookie is honoured only for same-origin requests as browsers label
// them, a second guard beside SameSite against cross-site use.
func (s *server) refreshToken(w http.ResponseWriter, r *http.Request) (raw string, viaCookie, ok bool) {
	if r.ContentLength != 0 && r.Header.Get("Content-Type") != "" {
		var in refreshRequest
		if _, ok := s.decodeJSON(w, r, &in); !ok {
			return "", false, false
		}
		if in.RefreshToken != nil && *in.RefreshToken != "" {
			return *in.RefreshToken, false, true
		}
	}
	c, err := r.Cookie(refreshCookie)
	if err != nil || c.Value == "" {
		return "", false, true
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return "", false, true
	}
	return c.Value, true, true
}

func (s *server) refresh(w http.ResponseWriter, r *http.Request) {
	raw, viaCookie, ok := s.refreshToken(w, r)
	if !ok {
		return
	}
	if raw == "" {
		s.refreshFailed(w, r, "Send the refresh token as {\"refresh_token\": …} or sign in again.")
		return
	}
	t, u, err := s.auth.Refresh(r.Context(), raw)
	var tokErr *auth.TokenError
	switch {
	case errors.As(err, &tokErr):
		s.refreshFailed(w, r, "The refresh token was refused: "+tokErr.Reason+".")
	case errors.Is(err, auth.ErrReuse):
		s.refreshFailed(w, r, "This refresh token was already used, so it may have been copied: every token of this sign-in is now revoked. Sign in again.")
	case errors.Is(err, auth.ErrSessionEnded):
		s.refreshFailed(w, r, "The session has ended (signed out, revoked or expired); sign in again.")
	case errors.Is(err, auth.ErrInactive):
		s.clearRefreshCookie(w, r)
		writeProblem(w, r, Problem{Type: typeForbidden, Status: http.StatusForbidden, Detail: "This account has been deactivated."})
	case err != nil:
		s.fail(w, r, err)
	default:
		s.sendTokens(w, r, t, u, viaCookie)
	}
}

func (s *server) refreshFailed(w http.ResponseWriter, r *http.Request, detail string) {
	s.clearRefreshCookie(w, r)
	w.Header().Set("WWW-Authenticate", `Bearer realm="rca-engine", error="invalid_token"`)
	writeProblem(w, r, Problem{Type: typeUnauthorized, Status: http.StatusUnauthorized,
		Title: "Authentication required", Detail: detail})
}

// logout ends the caller's session for real: the session named by the
// access token and the one of the refresh token (body or cookie), on every
// replica, since each use of a token checks its session in PostgreSQL.
func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	var sessions []uuid.UUID
	if p, ok := principalOf(r.Context()); ok && p.Kind == auth.KindSession {
		sessions = append(sessions, p.SessionID)
	}
	raw, _, ok := s.refreshToken(w, r)
	if !ok {
		return
	}
	if raw != "" {
		if sid, err := s.auth.SessionOf(raw); err == nil && !containsUUID(sessions, sid) {
			sessions = append(sessions, sid)
		}
	}
	if len(sessions) == 0 {
		if p, ok := principalOf(r.Context()); ok && p.Kind == auth.KindAPIToken {
			writeProblem(w, r, Problem{Status: http.StatusBadRequest,
				Detail: "An API token has no session to end; revoke it with DELETE /api/auth/tokens/{id}."})
			return
		}
		s.clearRefreshCookie(w, r)
		s.unauthenticated(w, r)
		return
	}
	for _, sid := range sessions {
		if err := s.auth.Revoke(r.Context(), sid, "logout"); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.clearRefreshCookie(w, r)
	writeJSON(w, http.StatusOK, map[string]string{"message": "Successfully logged out"})
}

func containsUUID(ids []uuid.UUID, id uuid.UUID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func (s *server) me(w http.ResponseWriter, r *http.Request) {
	p, _ := principalOf(r.Context())
	writeJSON(w, http.StatusOK, p.User)
}

type createTokenRequest struct {
	Name          string     `json:"name" validate:"required,max=100,text"`
	Role          *auth.Role `json:"role" validate:"omitempty,oneof=user admin"`
	ExpiresInDays *int       `json:"expires_in_days" validate:"omitempty,min=1,max=3650"`
}

type createdToken struct {
	auth.APIToken
	Token string `json:"token"`
}

func (s *server) createToken(w http.ResponseWriter, r *http.Request) {
	p, _ := principalOf(r.Context())
	if err := auth.MayCreateAPIToken(p); err != nil {
		s.fail(w, r, err)
		return
	}
	var in createTokenRequest
	if _, ok := s.decodeJSON(w, r, &in); !ok {
		return
	}
	var role auth.Role
	if in.Role != nil {
		role = *in.Role
	}
	var ttl time.Duration
	if in.ExpiresInDays != nil {
		ttl = time.Duration(*in.ExpiresInDays) * 24 * time.Hour
	}
	t, secret, err := s.auth.CreateAPIToken(r.Context(), p, in.Name, role, ttl)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, createdToken{APIToken: t, Token: secret})
}

func (s *server) listTokens(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r, "all")
	all := q.boolean("all")
	if len(q.errs) > 0 {
		invalid(w, r, q.errs)
		return
	}
	p, _ := principalOf(r.Context())
	list, err := s.auth.ListAPITokens(r.Context(), p, all)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": list})
}

func (s *server) revokeToken(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "id", "API token")
	if !ok {
		return
	}
	p, _ := principalOf(r.Context())
	t, err := s.auth.RevokeAPIToken(r.Context(), p, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *server) listUsers(w http.ResponseWriter, r *http.Request) {
	users, err := s.auth.ListUsers(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": users})
}

type updateUserRequest struct {
	Role     *auth.Role `json:"role" validate:"omitempty,oneof=user admin"`
	IsActive *bool      `json:"is_active"`
}

func (s *server) updateUser(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "id", "User")
	if !ok {
		return
	}
	var in updateUserRequest
	if _, ok := s.decodeJSON(w, r, &in); !ok {
		return
	}
	p, _ := principalOf(r.Context())
	u, err := s.auth.UpdateUser(r.Context(), p, id, auth.UserChange{Role: in.Role, IsActive: in.IsActive})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}
