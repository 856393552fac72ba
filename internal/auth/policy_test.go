package auth

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rca-engine/api/internal/apperr"
	"github.com/rca-engine/api/internal/dbtest"
	"github.com/rca-engine/api/internal/pgtest"
)

// newServiceWith is newService with a registration policy (newService
// leaves it at its default, open).
func newServiceWith(t *testing.T, reg Registration) (*Service, string) {
	t.Helper()
	d, url := dbtest.New(t)
	s, err := New(d, Config{Secret: secret, Hash: cheap, Registration: reg})
	if err != nil {
		t.Fatal(err)
	}
	if s.Registration() != reg {
		t.Fatalf("Registration() = %q, want %q", s.Registration(), reg)
	}
	return s, url
}

// kindOf is the kind of err, "" for nil: what the edge turns into 2xx,
// 401 or 403.
func kindOf(err error) apperr.Kind { return apperr.KindOf(err) }

// TestRegistrationPolicy runs every policy against every caller and every
// role asked for: an account is created exactly when the policy allows it,
// and a refusal says whether signing in would help (401) or not (403).
func TestRegistrationPolicy(t *testing.T) {
	type caller struct {
		name string
		p    *Principal
	}
	callers := []caller{
		{"nobody", nil},
		{"user", &Principal{User: User{ID: uuid.New(), Username: "u"}, Kind: KindSession, Role: RoleUser}},
		{"admin", &Principal{User: User{ID: uuid.New(), Username: "a"}, Kind: KindSession, Role: RoleAdmin}},
	}
	const (
		ok           = apperr.Kind("")
		unauthorized = apperr.Unauthorized
		forbidden    = apperr.Forbidden
	)
	// want[policy][caller] is MayRegister's answer; Register's adds that
	// only an admin may ask for the admin role.
	may := map[Registration]map[string]apperr.Kind{
		RegistrationOpen:   {"nobody": ok, "user": ok, "admin": ok},
		RegistrationAdmin:  {"nobody": unauthorized, "user": forbidden, "admin": ok},
		RegistrationClosed: {"nobody": forbidden, "user": forbidden, "admin": ok},
	}
	register := map[Registration]map[string]map[Role]apperr.Kind{
		RegistrationOpen: {
			"nobody": {RoleUser: ok, RoleAdmin: forbidden},
			"user":   {RoleUser: ok, RoleAdmin: forbidden},
			"admin":  {RoleUser: ok, RoleAdmin: ok},
		},
		RegistrationAdmin: {
			"nobody": {RoleUser: unauthorized, RoleAdmin: unauthorized},
			"user":   {RoleUser: forbidden, RoleAdmin: forbidden},
			"admin":  {RoleUser: ok, RoleAdmin: ok},
		},
		RegistrationClosed: {
			"nobody": {RoleUser: forbidden, RoleAdmin: forbidden},
			"user":   {RoleUser: forbidden, RoleAdmin: forbidden},
			"admin":  {RoleUser: ok, RoleAdmin: ok},
		},
	}
	ctx := context.Background()
	for _, reg := range Registrations {
		t.Run(string(reg), func(t *testing.T) {
			s, url := newServiceWith(t, reg)
			for _, c := range callers {
				t.Run(c.name, func(t *testing.T) {
					err := s.MayRegister(c.p)
					if got, want := kindOf(err), may[reg][c.name]; got != want {
						t.Fatalf("MayRegister = %v (kind %q), want kind %q", err, got, want)
					}
					if kindOf(err) == forbidden && !errors.Is(err, ErrForbidden) {
						t.Errorf("a Forbidden refusal does not match ErrForbidden: %v", err)
					}
					for _, role := range []Role{RoleUser, RoleAdmin} {
						t.Run("asks for "+string(role), func(t *testing.T) {
							name := fmt.Sprintf("%s-%s-%s", reg, c.name, role)
							before := pgtest.QueryInt(t, url, `SELECT count(*) FROM users`)
							u, err := s.Register(ctx, c.p, NewAccount{Email: name + "@example.com", Username: name,
								Password: "a-password", Role: role})
							want := register[reg][c.name][role]
							if got := kindOf(err); got != want {
								t.Fatalf("Register = %v (kind %q), want kind %q", err, got, want)
							}
							created := pgtest.QueryInt(t, url, `SELECT count(*) FROM users`) - before
							if want != ok {
								if created != 0 {
									t.Fatalf("a refused registration created %d accounts", created)
								}
								if want == forbidden && !errors.Is(err, ErrForbidden) {
									t.Errorf("errors.Is(err, ErrForbidden) is false for %v", err)
								}
								if want == unauthorized && errors.Is(err, ErrForbidden) {
									t.Errorf("an Unauthorized refusal matches ErrForbidden: %v", err)
								}
								return
							}
							if created != 1 || u.Username != name || u.Role != role || u.IsSuperuser != (role == RoleAdmin) || !u.IsActive {
								t.Fatalf("created %d accounts; returned %+v", created, u)
							}
							if n := pgtest.QueryInt(t, url, `SELECT count(*) FROM users WHERE id = $1 AND role = $2`, u.ID, string(role)); n != 1 {
								t.Fatalf("the stored account does not have role %s", role)
							}
						})
					}
				})
			}
		})
	}
}

// TestAPITokensAreMadeBySignedInUsers: a leaked API token must not be able
// to mint fresh ones that would outlive its revocation.
func TestAPITokensAreMadeBySignedInUsers(t *testing.T) {
	s, _, url := newService(t)
	u := register(t, s, "tina", RoleAdmin)
	tests := []struct {
		name    string
		kind    Kind
		allowed bool
	}{
		{"a session may", KindSession, true},
		{"an API token may not", KindAPIToken, false},
		{"an unknown kind may not", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Principal{User: u, Kind: tt.kind, Role: RoleAdmin}
			err := MayCreateAPIToken(p)
			if tt.allowed != (err == nil) {
				t.Fatalf("MayCreateAPIToken = %v, allowed %v", err, tt.allowed)
			}
			before := pgtest.QueryInt(t, url, `SELECT count(*) FROM api_tokens`)
			_, secretValue, err := s.CreateAPIToken(context.Background(), p, "ci", "", time.Hour)
			created := pgtest.QueryInt(t, url, `SELECT count(*) FROM api_tokens`) - before
			if tt.allowed {
				if err != nil || secretValue == "" || created != 1 {
					t.Fatalf("CreateAPIToken = %v (created %d)", err, created)
				}
				return
			}
			if kindOf(err) != apperr.Forbidden || !errors.Is(err, ErrForbidden) || secretValue != "" || created != 0 {
				t.Fatalf("CreateAPIToken = %v, secret %q, created %d; want Forbidden and nothing", err, secretValue, created)
			}
		})
	}
}

// TestAdminsCannotLockThemselvesOut: the last admin demoting or
// deactivating themselves would leave nobody able to manage accounts.
func TestAdminsCannotLockThemselvesOut(t *testing.T) {
	s, _, url := newService(t)
	ctx := context.Background()
	admin := register(t, s, "ada", RoleAdmin)
	other := register(t, s, "otto", RoleAdmin)
	by := Principal{User: admin, Kind: KindSession, Role: RoleAdmin}
	user, adminRole, on, off := RoleUser, RoleAdmin, true, false

	tests := []struct {
		name       string
		target     uuid.UUID
		change     UserChange
		want       apperr.Kind
		wantRole   Role
		wantActive bool
	}{
		{"demote self", admin.ID, UserChange{Role: &user}, apperr.Conflict, RoleAdmin, true},
		{"deactivate self", admin.ID, UserChange{IsActive: &off}, apperr.Conflict, RoleAdmin, true},
		{"deactivate self while keeping the admin role", admin.ID,
			UserChange{Role: &adminRole, IsActive: &off}, apperr.Conflict, RoleAdmin, true},
		{"own role set to admin again is harmless", admin.ID, UserChange{Role: &adminRole}, "", RoleAdmin, true},
		{"own account marked active is harmless", admin.ID, UserChange{IsActive: &on}, "", RoleAdmin, true},
		{"demote another admin", other.ID, UserChange{Role: &user}, "", RoleUser, true},
		{"deactivate another account", other.ID, UserChange{IsActive: &off}, "", RoleUser, false},
		{"reactivate and promote another", other.ID, UserChange{Role: &adminRole, IsActive: &on}, "", RoleAdmin, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.UpdateUser(ctx, by, tt.target, tt.change)
			if kindOf(err) != tt.want {
				t.Fatalf("UpdateUser = %v, want kind %q", err, tt.want)
			}
			if err == nil && (got.ID != tt.target || got.Role != tt.wantRole || got.IsActive != tt.wantActive) {
				t.Errorf("returned %+v", got)
			}
			// Checked in the table, so a refusal is seen to change nothing.
			n := pgtest.QueryInt(t, url, `SELECT count(*) FROM users WHERE id = $1 AND role = $2 AND is_active = $3`,
				tt.target, string(tt.wantRole), tt.wantActive)
			if n != 1 {
				t.Errorf("the stored account is not role %s, active %v", tt.wantRole, tt.wantActive)
			}
		})
	}

	t.Run("deactivating another ends their sessions", func(t *testing.T) {
		tok, _, err := s.Login(ctx, "otto", "password-of-otto")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateUser(ctx, by, other.ID, UserChange{IsActive: &off}); err != nil {
			t.Fatal(err)
		}
		if n := pgtest.QueryInt(t, url, `SELECT count(*) FROM auth_sessions WHERE user_id = $1 AND revoked_at IS NULL`, other.ID); n != 0 {
			t.Errorf("%d sessions left open", n)
		}
		if _, err := s.UpdateUser(ctx, by, other.ID, UserChange{IsActive: &on}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, tok.AccessToken); !errors.Is(err, ErrSessionEnded) {
			t.Errorf("reactivation brought an old sign-in back: %v", err)
		}
	})
	t.Run("an unknown account is NotFound and matches ErrNotFound", func(t *testing.T) {
		_, err := s.UpdateUser(ctx, by, uuid.New(), UserChange{Role: &user})
		if kindOf(err) != apperr.NotFound || !errors.Is(err, ErrNotFound) {
			t.Fatalf("UpdateUser = %v, want NotFound matching ErrNotFound", err)
		}
	})
}
