package auth

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/dbtest"
	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/faults"
	"github.com/rca-engine/api/internal/pgtest"
	"github.com/rca-engine/api/migrations"
)

// replica is one service instance on the shared database, with its own
// pool and its own invalidation listener.
func replica(t *testing.T, d *db.DB, connect Connector) *Service {
	t.Helper()
	s, err := New(d, Config{Secret: secret, Hash: cheap})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.ListenForChanges(ctx, connect) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func healthy(s *Service) bool { return s.CacheStats().ChannelHealthy }

// TestCredentialChangesReachEveryReplicaWithinTheBound: a logout, a
// revoked API token, a deactivation and a role change made on one replica
// are seen by another within StaleBound, both while its invalidation
// channel works and while it is cut off (its LISTEN connection blackholed,
// its pool still up): then the bound is what protects.
func TestCredentialChangesReachEveryReplicaWithinTheBound(t *testing.T) {
	dA, dbURL := dbtest.New(t)
	u, _ := url.Parse(dbURL)
	proxy := faults.NewT(t, u.Host)
	dB, err := db.New(db.Config{URL: dbURL, Migrations: migrations.FS, CheckInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	dB.Start(context.Background())
	t.Cleanup(dB.Close)
	pgtest.Eventually(t, 10*time.Second, "second pool up", func() bool { return dB.State().Status == dependency.Up })

	a := replica(t, dA, dA.Dial)
	viaProxy := pgtest.WithHost(t, dbURL, proxy.Addr())
	b := replica(t, dB, func(ctx context.Context, on pgconn.NotificationHandler) (*pgx.Conn, error) {
		cc, err := pgx.ParseConfig(viaProxy)
		if err != nil {
			return nil, err
		}
		cc.OnNotification = on
		return pgx.ConnectConfig(ctx, cc)
	})
	pgtest.Eventually(t, 10*time.Second, "both channels healthy", func() bool { return healthy(a) && healthy(b) })
	ctx := context.Background()
	admin := Principal{Role: RoleAdmin}

	type change struct {
		name string
		// apply makes the change on replica a; refused says whether b
		// now answers as it must after it.
		apply   func(t *testing.T, u User, cred string, sid [16]byte)
		refused func(p Principal, err error) bool
		token   bool
	}
	ended := func(p Principal, err error) bool { return err != nil }
	changes := []change{
		{name: "logout", apply: func(t *testing.T, _ User, _ string, sid [16]byte) {
			if err := a.Revoke(ctx, sid, "logout"); err != nil {
				t.Fatal(err)
			}
		}, refused: func(_ Principal, err error) bool { return errors.Is(err, ErrSessionEnded) }},
		{name: "deactivation", apply: func(t *testing.T, u User, _ string, _ [16]byte) {
			off := false
			if _, err := a.UpdateUser(ctx, admin, u.ID, UserChange{IsActive: &off}); err != nil {
				t.Fatal(err)
			}
		}, refused: ended},
		{name: "role change", apply: func(t *testing.T, u User, _ string, _ [16]byte) {
			r := RoleAdmin
			if _, err := a.UpdateUser(ctx, admin, u.ID, UserChange{Role: &r}); err != nil {
				t.Fatal(err)
			}
		}, refused: func(p Principal, err error) bool { return err == nil && p.Role == RoleAdmin }},
		{name: "API token revoked", token: true, apply: func(t *testing.T, u User, _ string, _ [16]byte) {
			list, err := a.ListAPITokens(ctx, Principal{User: u, Role: RoleUser}, false)
			if err != nil || len(list) != 1 {
				t.Fatalf("tokens: %v %v", list, err)
			}
			if _, err := a.RevokeAPIToken(ctx, Principal{User: u, Role: RoleUser}, list[0].ID); err != nil {
				t.Fatal(err)
			}
		}, refused: ended},
		{name: "API token owner deactivated", token: true, apply: func(t *testing.T, u User, _ string, _ [16]byte) {
			off := false
			if _, err := a.UpdateUser(ctx, admin, u.ID, UserChange{IsActive: &off}); err != nil {
				t.Fatal(err)
			}
		}, refused: ended},
	}
	n := 0
	for _, partitioned := range []bool{false, true} {
		for _, c := range changes {
			name := c.name
			if partitioned {
				name += " partitioned"
			}
			t.Run(name, func(t *testing.T) {
				n++
				user := register(t, a, "user"+string(rune('a'+n)), RoleUser)
				tok, _, err := a.Login(ctx, user.Username, "password-of-"+user.Username)
				if err != nil {
					t.Fatal(err)
				}
				cred := tok.AccessToken
				if c.token {
					_, secretValue, err := a.CreateAPIToken(ctx, Principal{User: user, Kind: KindSession, Role: RoleUser}, "ci", RoleUser, 0)
					if err != nil {
						t.Fatal(err)
					}
					cred = secretValue
				}
				if partitioned {
					restore, err := proxy.Blackhole()
					if err != nil {
						t.Fatal(err)
					}
					defer func() {
						restore()
						_ = proxy.DropAll() // the blackholed connection is dead; let it redial
						pgtest.Eventually(t, 20*time.Second, "channel healthy again", func() bool { return healthy(b) })
					}()
					pgtest.Eventually(t, 5*time.Second, "b's channel known unhealthy", func() bool { return !healthy(b) })
				}
				// b has the credential cached: the second call is a hit.
				if _, err := b.Authenticate(ctx, cred); err != nil {
					t.Fatal(err)
				}
				hits := b.CacheStats().Hits
				if p, err := b.Authenticate(ctx, cred); err != nil || c.refused(p, err) || b.CacheStats().Hits != hits+1 {
					t.Fatalf("warm cache: %+v %v, hits %d -> %d", p, err, hits, b.CacheStats().Hits)
				}
				start := time.Now()
				c.apply(t, user, cred, tok.SessionID)
				for {
					p, err := b.Authenticate(ctx, cred)
					if c.refused(p, err) {
						break
					}
					if time.Since(start) > 3*StaleBound {
						t.Fatalf("still accepted after %v: %+v %v", time.Since(start), p, err)
					}
					time.Sleep(5 * time.Millisecond)
				}
				took := time.Since(start)
				t.Logf("refused on the other replica after %v", took.Round(time.Millisecond))
				if took > StaleBound {
					t.Errorf("refused after %v, beyond the bound of %v", took, StaleBound)
				}
				// The replica that made the change refuses at once.
				if p, err := a.Authenticate(ctx, cred); !c.refused(p, err) {
					t.Errorf("the changing replica still accepts: %+v %v", p, err)
				}
			})
		}
	}
}

// TestCacheOutlivesTheBoundOnlyWhileInvalidationsArrive: with the channel
// healthy an entry is reused past StaleBound; with no listener it is read
// again once StaleBound has passed.
func TestCacheOutlivesTheBoundOnlyWhileInvalidationsArrive(t *testing.T) {
	d, _ := dbtest.New(t)
	listening := replica(t, d, d.Dial)
	silent, err := New(d, Config{Secret: secret, Hash: cheap})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	register(t, listening, "erin", RoleUser)
	tok, _, err := listening.Login(ctx, "erin", "password-of-erin")
	if err != nil {
		t.Fatal(err)
	}
	pgtest.Eventually(t, 10*time.Second, "channel healthy", func() bool { return healthy(listening) })
	for _, s := range []*Service{listening, silent} {
		if _, err := s.Authenticate(ctx, tok.AccessToken); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(StaleBound + 200*time.Millisecond)
	for _, tc := range []struct {
		s       *Service
		name    string
		wantHit bool
	}{{listening, "listening", true}, {silent, "no listener", false}} {
		before := tc.s.CacheStats()
		if _, err := tc.s.Authenticate(ctx, tok.AccessToken); err != nil {
			t.Fatal(err)
		}
		after := tc.s.CacheStats()
		if hit := after.Hits == before.Hits+1; hit != tc.wantHit {
			t.Errorf("%s: hit = %v after %v, want %v", tc.name, hit, StaleBound+200*time.Millisecond, tc.wantHit)
		}
	}
}
