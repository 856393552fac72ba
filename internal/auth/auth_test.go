package auth

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/rca-engine/api/internal/dbtest"
	"github.com/rca-engine/api/internal/pgtest"
)

// cheap keeps argon2id's format and code path but not its cost, so that the
// tests exercise hashing without spending seconds on it.
var cheap = HashParams{Memory: 64, Time: 1, Threads: 1}

var secret = []byte("0123456789abcdef0123456789abcdef-test")

// clock is a settable time for expiry and grace tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newService(t *testing.T) (*Service, *clock, string) {
	t.Helper()
	d, url := dbtest.New(t)
	c := &clock{t: time.Now()}
	s, err := New(d, Config{Secret: secret, Hash: cheap, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return s, c, url
}

func register(t *testing.T, s *Service, name string, role Role) User {
	t.Helper()
	// An admin registers them, as the policy requires for the admin role.
	by := &Principal{Role: RoleAdmin}
	u, err := s.Register(context.Background(), by, NewAccount{Email: name + "@example.com", Username: name,
		Password: "password-of-" + name, Role: role})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestNewRefusesAShortSecret(t *testing.T) {
	if _, err := New(nil, Config{Secret: []byte("short")}); err == nil || !strings.Contains(err.Error(), "32") {
		t.Fatalf("err = %v, want a message naming the minimum length", err)
	}
}

func TestPasswordHashing(t *testing.T) {
	h := newHasher(cheap, 2)
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string", enc)
	}
	if again, _ := h.Hash(ctx, "correct horse"); again == enc {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	tests := []struct {
		name, password, encoded string
		want                    error
	}{
		{"right password", "correct horse", enc, nil},
		{"wrong password", "correct horsE", enc, ErrMismatch},
		{"empty password", "", enc, ErrMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := h.Verify(ctx, tt.password, tt.encoded); !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
	// Corrupted rows are errors, never a match and never a huge allocation.
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdA$a2V5", strings.Replace(enc, "m=64", "m=99999999", 1),
		strings.Replace(enc, "v=19", "v=16", 1), enc[:len(enc)-20]} {
		if err := h.Verify(ctx, "correct horse", bad); err == nil {
			t.Errorf("Verify accepted corrupted hash %q", bad)
		}
	}
}

func TestTokenChecks(t *testing.T) {
	c := &clock{t: time.Now()}
	s := &signer{secret: secret, issuer: "rca-engine", audience: "rca-users", now: c.now}
	u := User{ID: uuid.New(), Username: "alice", Email: "alice@example.com"}
	sid, jti := uuid.New(), uuid.New()
	access, _, err := s.issue(Access, u, sid, jti, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	refresh, _, _ := s.issue(Refresh, u, sid, jti, time.Hour)
	other := &signer{secret: []byte("another-secret-another-secret-another"), issuer: "rca-engine", audience: "rca-users", now: c.now}
	forged, _, _ := other.issue(Access, u, sid, jti, time.Minute)
	wrongAud := &signer{secret: secret, issuer: "rca-engine", audience: "someone-else", now: c.now}
	otherAud, _, _ := wrongAud.issue(Access, u, sid, jti, time.Minute)
	wrongIss := &signer{secret: secret, issuer: "evil", audience: "rca-users", now: c.now}
	otherIss, _, _ := wrongIss.issue(Access, u, sid, jti, time.Minute)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": u.ID.String(), "type": "access",
		"iss": "rca-engine", "aud": "rca-users", "exp": c.t.Add(time.Hour).Unix(), "sid": sid.String(), "jti": jti.String()}).
		SignedString(jwt.UnsafeAllowNoneSignatureType)
	parts := strings.Split(access, ".")
	tampered := parts[0] + "." + strings.TrimRight(parts[1], "A") + "B." + parts[2]

	tests := []struct {
		name, token string
		want        TokenType
		reason      string // "" means accepted
	}{
		{"access as access", access, Access, ""},
		{"refresh as refresh", refresh, Refresh, ""},
		{"refresh as access", refresh, Access, "access token is required"},
		{"access as refresh", access, Refresh, "refresh token is required"},
		{"other secret", forged, Access, "signature"},
		{"tampered payload", tampered, Access, "malformed or its signature"},
		{"alg none", none, Access, "malformed or its signature"},
		{"wrong audience", otherAud, Access, "audience"},
		{"wrong issuer", otherIss, Access, "issuer"},
		{"garbage", "not.a.jwt", Access, "malformed"},
		{"empty", "", Access, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, gotSID, _, err := s.parse(tt.token, tt.want)
			if tt.reason == "" {
				if err != nil || gotSID != sid {
					t.Fatalf("parse = %v (sid %v), want accepted with sid %v", err, gotSID, sid)
				}
				return
			}
			var te *TokenError
			if !errors.As(err, &te) || !strings.Contains(te.Error(), tt.reason) || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("parse = %v, want a TokenError mentioning %q", err, tt.reason)
			}
		})
	}
	c.advance(2 * time.Minute) // past expiry plus the 30 s leeway
	if _, _, _, err := s.parse(access, Access); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired token: err = %v", err)
	}
}

func TestSignInRefreshAndLogout(t *testing.T) {
	s, c, _ := newService(t)
	ctx := context.Background()
	u := register(t, s, "alice", RoleUser)

	if _, _, err := s.Login(ctx, "alice", "wrong"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, _, err := s.Login(ctx, "nobody", "whatever"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("unknown user: %v", err)
	}
	// Either name, in any case.
	t1, got, err := s.Login(ctx, "ALICE@example.com", "password-of-alice")
	if err != nil || got.ID != u.ID {
		t.Fatalf("login by email: %v, %+v", err, got)
	}
	p, err := s.Authenticate(ctx, t1.AccessToken)
	if err != nil || p.User.ID != u.ID || p.Role != RoleUser || p.Kind != KindSession {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
	if _, err := s.Authenticate(ctx, t1.RefreshToken); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a refresh token was accepted as an access token: %v", err)
	}

	// Rotation: the new refresh token works; the old one, past the grace,
	// is a replay and revokes the whole family, including new tokens.
	t2, _, err := s.Refresh(ctx, t1.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if t2.SessionID != t1.SessionID || t2.RefreshToken == t1.RefreshToken {
		t.Fatal("refresh did not rotate within the same session")
	}
	c.advance(11 * time.Second)
	if _, _, err := s.Refresh(ctx, t1.RefreshToken); !errors.Is(err, ErrReuse) {
		t.Fatalf("replayed refresh token: %v, want ErrReuse", err)
	}
	if _, _, err := s.Refresh(ctx, t2.RefreshToken); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("after reuse the newest refresh token still works: %v", err)
	}
	if _, err := s.Authenticate(ctx, t2.AccessToken); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("after reuse the newest access token still works: %v", err)
	}

	// Grace: a retry with the token just replaced (lost answer, two tabs)
	// gets a pair instead of a revocation.
	t3, _, _ := s.Login(ctx, "alice", "password-of-alice")
	t4, _, err := s.Refresh(ctx, t3.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	c.advance(3 * time.Second)
	t5, _, err := s.Refresh(ctx, t3.RefreshToken)
	if err != nil {
		t.Fatalf("retry within the grace: %v", err)
	}
	if _, err := s.Authenticate(ctx, t4.AccessToken); err != nil {
		t.Fatalf("the session died after a retry within the grace: %v", err)
	}
	// Both holders (two tabs) now have the current token: whichever is
	// used later, long after the grace, is not a replay.
	c.advance(time.Minute)
	if _, _, err := s.Refresh(ctx, t4.RefreshToken); err != nil {
		t.Fatalf("first tab after the grace: %v", err)
	}
	c.advance(time.Minute)
	t5, _, err = s.Refresh(ctx, t5.RefreshToken)
	if !errors.Is(err, ErrReuse) {
		// t5 was replaced by the first tab's refresh a minute ago: a
		// replay now, as it should be once both have moved on.
		t.Fatalf("a token replaced a minute ago: %v, want ErrReuse", err)
	}
	t5, _, _ = s.Login(ctx, "alice", "password-of-alice")

	// Logout ends the session for every token of it at once.
	if err := s.Revoke(ctx, t5.SessionID, "logout"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, t5.AccessToken); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("access token after logout: %v", err)
	}
	if _, _, err := s.Refresh(ctx, t5.RefreshToken); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("refresh token after logout: %v", err)
	}
}

func TestDeactivationAndRoleChangesApplyAtOnce(t *testing.T) {
	s, _, _ := newService(t)
	ctx := context.Background()
	u := register(t, s, "bob", RoleUser)
	tok, _, _ := s.Login(ctx, "bob", "password-of-bob")
	admin := RoleAdmin
	if _, err := s.UpdateUser(ctx, Principal{}, u.ID, UserChange{Role: &admin}); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Authenticate(ctx, tok.AccessToken); err != nil || p.Role != RoleAdmin {
		t.Fatalf("promotion not seen by a live token: %+v %v", p, err)
	}
	off := false
	if _, err := s.UpdateUser(ctx, Principal{}, u.ID, UserChange{IsActive: &off}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, tok.AccessToken); err == nil {
		t.Fatal("a deactivated account's token still works")
	}
	// The same answer as a wrong password: a correct guess on a
	// deactivated account is not confirmed.
	if _, _, err := s.Login(ctx, "bob", "password-of-bob"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("deactivated login: %v", err)
	}
	if _, err := s.UpdateUser(ctx, Principal{}, uuid.New(), UserChange{IsActive: &off}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
}

func TestAPITokens(t *testing.T) {
	s, c, dbURL := newService(t)
	ctx := context.Background()
	owner := register(t, s, "carol", RoleAdmin)
	p := Principal{User: owner, Kind: KindSession, Role: RoleAdmin}
	tok, secretValue, err := s.CreateAPIToken(ctx, p, "file watcher", RoleUser, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secretValue, APITokenPrefix) || !strings.HasPrefix(secretValue, tok.Prefix) || len(secretValue) < 40 {
		t.Fatalf("secret %q / prefix %q", secretValue, tok.Prefix)
	}
	if n := pgtest.QueryInt(t, dbURL, `SELECT count(*) FROM api_tokens WHERE position($1 in encode(token_hash, 'escape')) > 0`, secretValue); n != 0 {
		t.Fatal("the token is stored in the clear")
	}
	got, err := s.Authenticate(ctx, secretValue)
	if err != nil || got.Kind != KindAPIToken || got.Role != RoleUser || got.TokenID != tok.ID {
		t.Fatalf("Authenticate(api token) = %+v, %v", got, err)
	}
	if _, err := s.Authenticate(ctx, secretValue+"x"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("unknown token: %v", err)
	}
	// A user cannot mint an admin token; a demoted owner's admin token
	// drops to user.
	user := register(t, s, "dave", RoleUser)
	if _, _, err := s.CreateAPIToken(ctx, Principal{User: user, Kind: KindSession, Role: RoleUser}, "x", RoleAdmin, 0); !errors.Is(err, ErrForbidden) {
		t.Fatalf("user minted an admin token: %v", err)
	}
	_, adminSecret, _ := s.CreateAPIToken(ctx, p, "ci", RoleAdmin, time.Hour)
	demote := RoleUser
	if _, err := s.UpdateUser(ctx, Principal{}, owner.ID, UserChange{Role: &demote}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Authenticate(ctx, adminSecret); got.Role != RoleUser {
		t.Fatalf("demoted owner's token has role %s", got.Role)
	}
	c.advance(2 * time.Hour)
	if _, err := s.Authenticate(ctx, adminSecret); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired token: %v", err)
	}
	// Others cannot see or revoke it; the owner can, and it stops working.
	if _, err := s.RevokeAPIToken(ctx, Principal{User: user, Role: RoleUser}, tok.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("someone else revoked it: %v", err)
	}
	if list, _ := s.ListAPITokens(ctx, Principal{User: user, Role: RoleUser}, false); len(list) != 0 {
		t.Fatalf("someone else lists it: %+v", list)
	}
	if _, err := s.RevokeAPIToken(ctx, Principal{User: owner, Role: RoleUser}, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, secretValue); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked token: %v", err)
	}
}

func TestRegistrationKeepsHostileStringsVerbatim(t *testing.T) {
	s, _, _ := newService(t)
	ctx := context.Background()
	full := `Robert'); DROP TABLE users;-- <script>alert(1)</script> "ünïcødé" 🎉 \u0000`
	u, err := s.Register(ctx, nil, NewAccount{Email: "x@example.com", Username: "o'brien<b>", Password: "p4ssword!!", FullName: &full})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.ListUsers(ctx)
	if err != nil || len(got) != 1 || *got[0].FullName != full || got[0].Username != "o'brien<b>" || got[0].ID != u.ID {
		t.Fatalf("stored %+v, %v", got, err)
	}
	var dup *DuplicateError
	if _, err := s.Register(ctx, nil, NewAccount{Email: "X@EXAMPLE.com", Username: "other", Password: "p4ssword!!"}); !errors.As(err, &dup) || dup.Field != "email" {
		t.Fatalf("duplicate email in another case: %v", err)
	}
	if _, err := s.Register(ctx, nil, NewAccount{Email: "y@example.com", Username: "O'BRIEN<B>", Password: "p4ssword!!"}); !errors.As(err, &dup) || dup.Field != "username" {
		t.Fatalf("duplicate username in another case: %v", err)
	}
}

func TestEnsureAdminOnce(t *testing.T) {
	s, _, _ := newService(t)
	ctx := context.Background()
	created, err := s.EnsureAdmin(ctx, "root@example.com", "root", "a-long-admin-password")
	if err != nil || !created {
		t.Fatalf("first EnsureAdmin = %v, %v", created, err)
	}
	created, err = s.EnsureAdmin(ctx, "root@example.com", "root", "a-different-password")
	if err != nil || created {
		t.Fatalf("second EnsureAdmin = %v, %v", created, err)
	}
	// The first password still works: an existing account is left alone.
	if _, u, err := s.Login(ctx, "root", "a-long-admin-password"); err != nil || u.Role != RoleAdmin || !u.IsSuperuser {
		t.Fatalf("admin login: %+v %v", u, err)
	}
}

// BenchmarkPasswordHash is the cost of one sign-in's hash with the
// production parameters (what a login costs the server, and what a guess
// costs an attacker with the table):
//
//	go test ./internal/auth -run '^$' -bench PasswordHash -benchmem
func BenchmarkPasswordHash(b *testing.B) {
	h := newHasher(DefaultHashParams, 1)
	enc, _ := h.Hash(context.Background(), "correct horse battery staple")
	b.ReportAllocs()
	for b.Loop() {
		if err := h.Verify(context.Background(), "correct horse battery staple", enc); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSessionsPerAccountAreCapped(t *testing.T) {
	s, _, dbURL := newService(t)
	ctx := context.Background()
	register(t, s, "erin", RoleUser)
	first, _, _ := s.Login(ctx, "erin", "password-of-erin")
	for range MaxSessions {
		if _, _, err := s.Login(ctx, "erin", "password-of-erin"); err != nil {
			t.Fatal(err)
		}
	}
	if n := pgtest.QueryInt(t, dbURL, `SELECT count(*) FROM auth_sessions WHERE revoked_at IS NULL`); n != MaxSessions {
		t.Fatalf("%d open sessions, want %d", n, MaxSessions)
	}
	if _, err := s.Authenticate(ctx, first.AccessToken); !errors.Is(err, ErrSessionEnded) {
		t.Fatalf("the oldest session is still open: %v", err)
	}
}
