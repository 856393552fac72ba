package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/faults"
	"github.com/rca-engine/api/internal/pgtest"
)

// TestRevocationReachesEveryReplicaWithinOneSecond: two instances share
// PostgreSQL and Redis, and the second's Redis is cut for the test. A
// logout, a role change and a deactivation made on the first are seen by
// the second within a second (auth.StaleBound), though it answers from its
// credential cache.
func TestRevocationReachesEveryReplicaWithinOneSecond(t *testing.T) {
	env, dbURL := secureEnv(t)
	a := startService(t, env)
	proxy := faults.NewT(t, pgtest.RequireRedis(t))
	envB := map[string]string{}
	for k, v := range env {
		envB[k] = v
	}
	envB["REDIS_URL"] = "redis://" + proxy.Addr() + "/0"
	b := startService(t, envB)
	waitForAdmin(t, dbURL)

	signIn := func(name, password string) string {
		t.Helper()
		r := a.login(t, name, password)
		if r.status != 200 {
			t.Fatalf("sign-in as %s: %d %s", name, r.status, r.body)
		}
		return r.json(t)["access_token"].(string)
	}
	admin := signIn(env["ADMIN_USERNAME"], env["ADMIN_PASSWORD"])
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	r := a.postJSON(t, "/api/auth/register", map[string]string{"email": "frank@example.com", "username": "frank",
		"password": "frank-password-1"}, bearer(admin))
	if r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	userID := r.json(t)["id"].(string)
	proxy.Down() // the second replica loses Redis for the rest of the test
	pgtest.Eventually(t, 20*time.Second, "b reports Redis degraded", func() bool {
		return strings.Contains(b.get(t, "/api/health/live").header.Get("X-Degraded"), "redis")
	})

	// within polls b's /api/auth/me with tok until done says so, and
	// reports how long that took after the change.
	within := func(what, tok string, change func(), done func(response) bool) {
		t.Helper()
		pgtest.Eventually(t, 15*time.Second, "b is up and accepts the token", func() bool {
			return b.do(t, "GET", "/api/auth/me", bearer(tok)).status == 200
		})
		for range 2 { // cached on b: the second read is a cache hit
			if r := b.do(t, "GET", "/api/auth/me", bearer(tok)); r.status != 200 || done(r) {
				t.Fatalf("%s: before the change b answers %d %s", what, r.status, r.body)
			}
		}
		start := time.Now()
		change()
		for {
			r := b.do(t, "GET", "/api/auth/me", bearer(tok))
			if done(r) {
				break
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("%s: b still answers %d %s after 5s", what, r.status, r.body)
			}
			time.Sleep(10 * time.Millisecond)
		}
		took := time.Since(start)
		t.Logf("%s: refused by the other replica after %v", what, took.Round(time.Millisecond))
		if took > time.Second {
			t.Errorf("%s took %v on the other replica, beyond the 1s bound", what, took)
		}
	}
	refused := func(r response) bool { return r.status == 401 }
	patch := func(body string) func() {
		return func() {
			r := a.send(t, "PATCH", "/api/auth/users/"+userID, "application/json", []byte(body), bearer(admin))
			if r.status != 200 {
				t.Fatalf("PATCH %s: %d %s", body, r.status, r.body)
			}
		}
	}

	tok := signIn("frank", "frank-password-1")
	within("logout", tok, func() {
		if r := a.do(t, "POST", "/api/auth/logout", bearer(tok)); r.status/100 != 2 {
			t.Fatalf("logout: %d %s", r.status, r.body)
		}
	}, refused)

	tok = signIn("frank", "frank-password-1")
	within("role change", tok, patch(`{"role":"admin"}`), func(r response) bool {
		var u struct{ Role string }
		_ = json.Unmarshal(r.body, &u)
		return r.status == 200 && u.Role == "admin"
	})

	within("deactivation", tok, patch(`{"is_active":false}`), refused)
}
