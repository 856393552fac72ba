package db_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/pgtest"
	"github.com/rca-engine/api/migrations"
)

// missingDatabase returns a URL, for role (or the admin URL's role if
// empty), naming a database that does not exist, and drops the database
// when t ends if anything created it.
func missingDatabase(t *testing.T, name string, role *url.Userinfo) string {
	t.Helper()
	u, err := url.Parse(pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	if role != nil {
		u.User = role
	}
	if databaseExists(t, name) {
		t.Fatalf("database %q exists before the test", name)
	}
	t.Cleanup(func() {
		pgtest.Exec(t, pgtest.AdminURL(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return u.String()
}

func randomName(prefix string) string { return prefix + strings.ToLower(rand.Text()[:12]) }

func databaseExists(t *testing.T, name string) bool {
	t.Helper()
	return pgtest.QueryInt(t, pgtest.AdminURL(), "SELECT count(*) FROM pg_database WHERE datname = $1", name) == 1
}

func migrationCount(t *testing.T) int64 {
	t.Helper()
	files, err := migrations.FS.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, f := range files {
		if strings.HasSuffix(f.Name(), ".sql") {
			n++
		}
	}
	return n
}

// createdb is the command the service should tell an operator to run.
func createdb(t *testing.T, user, name string) string {
	t.Helper()
	u, err := url.Parse(pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	return "createdb -h " + u.Hostname() + " -p " + port + " -U " + user + " " + name
}

func TestCreatesAMissingDatabase(t *testing.T) {
	tests := []struct {
		name string
		db   string
	}{
		{"plain name", randomName("rca_test_create_")},
		// Quoted as written: not folded to lower case, not taken as SQL.
		{"name that needs quoting", randomName(`Rca Test "Create"; `)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			var mu sync.Mutex
			cfg := testConfig(missingDatabase(t, tt.db, nil))
			cfg.CreateDatabase = true
			cfg.Logger = slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &logs}, nil))
			d := start(t, cfg)
			waitStatus(t, d, dependency.Up, 30*time.Second)

			if !databaseExists(t, tt.db) {
				t.Fatalf("state is up but database %q does not exist", tt.db)
			}
			if v, want := d.State().Version, migrationCount(t); v != want {
				t.Errorf("schema version = %d, want %d (every migration applied)", v, want)
			}
			if _, err := countJobs(context.Background(), d); err != nil {
				t.Errorf("query the new database: %v", err)
			}
			mu.Lock()
			created := strings.Count(logs.String(), "created database")
			mu.Unlock()
			if created != 1 {
				t.Errorf(`logged "created database" %d times, want once:\n%s`, created, logs.String())
			}
		})
	}
}

// TestReplicasCreateTheDatabaseTogether: replicas starting at once on a
// missing database all come up, each in its first attempt; one creates it,
// the other finds that it exists (42P04) or, as almost always when they
// really start together, loses the race on pg_database's unique index
// (23505), which must not count as a failure either.
func TestReplicasCreateTheDatabaseTogether(t *testing.T) {
	name := randomName("rca_test_create_")
	dbURL := missingDatabase(t, name, nil)
	var logs bytes.Buffer
	var mu sync.Mutex
	replicas := make([]*db.DB, 2)
	for i := range replicas {
		cfg := testConfig(dbURL)
		cfg.CreateDatabase = true
		// Generous bounds, so that a loaded machine cannot turn a step
		// that is merely slow into a failed first attempt.
		cfg.ConnectTimeout, cfg.CheckTimeout = 10*time.Second, 5*time.Second
		cfg.Logger = slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &logs}, nil))
		d, err := db.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.Close)
		replicas[i] = d
	}
	var wg sync.WaitGroup
	for _, d := range replicas {
		wg.Go(func() { d.Start(context.Background()) })
	}
	wg.Wait()
	for i, d := range replicas {
		waitStatus(t, d, dependency.Up, 30*time.Second)
		st := d.State()
		if v, want := st.Version, migrationCount(t); v != want {
			t.Errorf("replica %d: schema version = %d, want %d", i, v, want)
		}
		if st.TotalAttempts != 1 {
			t.Errorf("replica %d needed %d attempts; the other's CREATE DATABASE must not fail this one's:\n%s",
				i, st.TotalAttempts, logs.String())
		}
	}
	if !databaseExists(t, name) {
		t.Fatalf("database %q does not exist", name)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "created database"); n != 1 {
		t.Errorf(`logged "created database" %d times across replicas, want once:\n%s`, n, logs.String())
	}
}

// TestMissingDatabaseNamesTheCommand: when the service does not or may not
// create the database, it stays database_missing, and the error (which the
// health report shows and the supervisor logs) says what to run.
func TestMissingDatabaseNamesTheCommand(t *testing.T) {
	admin, err := url.Parse(pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	// A login role without CREATEDB, with a password so that the test also
	// works where the server asks for one, and so that we can check that it
	// is never shown.
	role, password := randomName("rca_test_nocreate_"), randomName("pw_")
	pgtest.Exec(t, pgtest.AdminURL(), "CREATE ROLE "+role+" LOGIN NOCREATEDB PASSWORD '"+password+"'")
	t.Cleanup(func() { pgtest.Exec(t, pgtest.AdminURL(), "DROP ROLE IF EXISTS "+role) })

	tests := []struct {
		name     string
		create   bool
		user     *url.Userinfo
		userName string
		wantWhy  string
	}{
		{"creation off", false, nil, admin.User.Username(), "DB_CREATE_DATABASE is off"},
		{"role may not create databases", true, url.UserPassword(role, password), role, "may not create databases"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := randomName("rca_test_create_")
			cfg := testConfig(missingDatabase(t, name, tt.user))
			cfg.CreateDatabase = tt.create
			var logs bytes.Buffer
			var mu sync.Mutex
			cfg.Logger = slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &logs}, nil))
			d := start(t, cfg)
			waitStatus(t, d, dependency.Down, 10*time.Second)
			// Several attempts, each of which may try to create it again.
			pgtest.Eventually(t, 10*time.Second, "three attempts", func() bool { return d.State().TotalAttempts >= 3 })

			st := d.State()
			if st.Status != dependency.Down || st.Cause != dependency.CauseDatabaseMissing {
				t.Fatalf("state = %s/%s (%s), want down/database_missing", st.Status, st.Cause, st.LastError)
			}
			cmd := createdb(t, tt.userName, name)
			if !strings.Contains(st.LastError, cmd) || !strings.Contains(st.LastError, tt.wantWhy) {
				t.Errorf("last error = %q, want it to contain %q and %q", st.LastError, cmd, tt.wantWhy)
			}
			mu.Lock()
			logged := logs.String()
			mu.Unlock()
			if !strings.Contains(logged, cmd) {
				t.Errorf("the log does not give the command %q:\n%s", cmd, logged)
			}
			if strings.Contains(st.LastError, password) || strings.Contains(logged, password) {
				t.Errorf("the password is shown:\n%s\n%s", st.LastError, logged)
			}
			if databaseExists(t, name) {
				t.Errorf("database %q was created", name)
			}
		})
	}
}
