package db_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/rca-engine/api/internal/apperr"
	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/faults"
	"github.com/rca-engine/api/internal/pgtest"
	"github.com/rca-engine/api/migrations"
)

// testConfig shortens every interval so that fault tests finish in seconds;
// the production defaults are the same mechanisms with longer numbers.
func testConfig(url string) db.Config {
	return db.Config{
		URL:               url,
		ConnectTimeout:    time.Second,
		AcquireTimeout:    time.Second,
		QueryTimeout:      2 * time.Second,
		PingTimeout:       300 * time.Millisecond,
		CheckInterval:     200 * time.Millisecond,
		CheckTimeout:      500 * time.Millisecond,
		ReconnectInitial:  50 * time.Millisecond,
		ReconnectMax:      500 * time.Millisecond,
		KickInterval:      100 * time.Millisecond,
		MigrationRetryMin: time.Hour,
		Migrations:        migrations.FS,
	}
}

func start(t *testing.T, cfg db.Config) *db.DB {
	t.Helper()
	d, err := db.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d.Start(context.Background())
	t.Cleanup(d.Close)
	return d
}

func waitStatus(t *testing.T, d *db.DB, want dependency.Status, within time.Duration) {
	t.Helper()
	pgtest.Eventually(t, within, "postgres "+string(want), func() bool { return d.State().Status == want })
}

func countJobs(ctx context.Context, d *db.DB) (int, error) {
	var n int
	err := d.Read(ctx, func(ctx context.Context, q db.Querier) error {
		return q.QueryRow(ctx, "SELECT count(*) FROM jobs").Scan(&n)
	})
	return n, err
}

func TestStartsWithoutDatabaseAndFailsFast(t *testing.T) {
	url, host := pgtest.NewDatabase(t)
	proxy := faults.NewT(t, host)
	proxy.Down()

	began := time.Now()
	d := start(t, testConfig(pgtest.WithHost(t, url, proxy.Addr())))
	if took := time.Since(began); took > time.Second {
		t.Fatalf("New+Start took %s; start-up must not wait for the database", took)
	}
	waitStatus(t, d, dependency.Down, 5*time.Second)
	if c := d.State().Cause; c != dependency.CauseUnreachable {
		t.Errorf("cause = %q, want unreachable", c)
	}

	began = time.Now()
	_, err := countJobs(context.Background(), d)
	took := time.Since(began)
	var unavail *db.UnavailableError
	if !errors.As(err, &unavail) {
		t.Fatalf("err = %v, want *UnavailableError", err)
	}
	if took > 100*time.Millisecond {
		t.Errorf("a call while down took %s; it must fail without waiting for a connect timeout", took)
	}
	if unavail.State.NextRetry.IsZero() || unavail.State.RetryAfter(time.Now()) < 1 {
		t.Errorf("unavailable error has no usable retry time: %+v", unavail.State)
	}
}

func TestHealsWhenDatabaseReturns(t *testing.T) {
	url, host := pgtest.NewDatabase(t)
	proxy := faults.NewT(t, host)
	proxy.Down()
	cfg := testConfig(pgtest.WithHost(t, url, proxy.Addr()))
	cfg.ReconnectMax = time.Hour // recovery must come from request-triggered attempts, not the timer
	d := start(t, cfg)
	waitStatus(t, d, dependency.Down, 5*time.Second)
	// Let the backoff grow past anything the test would wait for.
	pgtest.Eventually(t, 10*time.Second, "backoff grows", func() bool {
		return time.Until(d.State().NextRetry) > 0 || d.State().Attempts > 3
	})

	if err := proxy.Up(); err != nil {
		t.Fatal(err)
	}
	// Calls keep failing fast, but each asks for an early attempt.
	pgtest.Eventually(t, 5*time.Second, "a call succeeds after the database returns", func() bool {
		_, err := countJobs(context.Background(), d)
		return err == nil
	})
	if st := d.State(); st.Status != dependency.Up || st.Version < 1 {
		t.Errorf("state after recovery = %+v, want up and migrated", st)
	}
}

func TestBlackholeNeverHangsACall(t *testing.T) {
	url, host := pgtest.NewDatabase(t)
	proxy := faults.NewT(t, host)
	cfg := testConfig(pgtest.WithHost(t, url, proxy.Addr()))
	cfg.CheckInterval = time.Hour // only calls can notice the outage
	d := start(t, cfg)
	waitStatus(t, d, dependency.Up, 10*time.Second)
	// Warm the pool with several connections, then let them go idle.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			_ = d.Read(context.Background(), func(ctx context.Context, q db.Querier) error {
				_, err := q.Exec(ctx, "SELECT pg_sleep(0.05)")
				return err
			})
		})
	}
	wg.Wait()
	time.Sleep(1100 * time.Millisecond) // past pgx's ping-before-use threshold

	restore, err := proxy.Blackhole()
	if err != nil {
		t.Fatal(err)
	}
	bound := cfg.QueryTimeout + time.Second
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			began := time.Now()
			_, err := countJobs(context.Background(), d)
			if took := time.Since(began); took > bound {
				t.Errorf("call took %s through a blackhole; bound is %s", took, bound)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, db.ErrUnavailable) {
			t.Errorf("err = %v, want ErrUnavailable", err)
		}
	}
	// The failed calls told the supervisor, which now knows it is down.
	waitStatus(t, d, dependency.Down, 5*time.Second)
	began := time.Now()
	if _, err := countJobs(context.Background(), d); !errors.Is(err, db.ErrUnavailable) || time.Since(began) > 100*time.Millisecond {
		t.Errorf("once down, calls must fail fast: err=%v took=%s", err, time.Since(began))
	}

	restore()
	pgtest.Eventually(t, 10*time.Second, "recovery after the blackhole", func() bool {
		_, err := countJobs(context.Background(), d)
		return err == nil
	})
}

func TestDroppedIdleConnectionsAreReplaced(t *testing.T) {
	url, host := pgtest.NewDatabase(t)
	proxy := faults.NewT(t, host)
	cfg := testConfig(pgtest.WithHost(t, url, proxy.Addr()))
	cfg.CheckInterval = time.Hour
	d := start(t, cfg)
	waitStatus(t, d, dependency.Up, 10*time.Second)
	warm(t, d, 4)

	// The middlebox forgets every connection; the server keeps running.
	if err := proxy.DropAll(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := countJobs(context.Background(), d); err != nil {
			t.Fatalf("read %d after connections were dropped: %v", i, err)
		}
	}
	if st := d.State(); st.Status != dependency.Up {
		t.Errorf("state = %s; dropping idle connections must not take the database down", st.Status)
	}
}

func TestTerminatedBackendsAreReplaced(t *testing.T) {
	url, _ := pgtest.NewDatabase(t)
	cfg := testConfig(pgtest.WithParams(t, url, "application_name", "rca-terminate-test"))
	cfg.CheckInterval = time.Hour
	d := start(t, cfg)
	waitStatus(t, d, dependency.Up, 10*time.Second)
	warm(t, d, 4)
	// Kill the connections without letting them go idle long enough for a
	// ping-before-use: only the retry can save the next read.
	pgtest.Exec(t, url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'rca-terminate-test'")
	for i := range 10 {
		if _, err := countJobs(context.Background(), d); err != nil {
			t.Fatalf("read %d after pg_terminate_backend: %v", i, err)
		}
	}
}

func TestResetPeerFailsBoundedThenRecovers(t *testing.T) {
	url, host := pgtest.NewDatabase(t)
	proxy := faults.NewT(t, host)
	cfg := testConfig(pgtest.WithHost(t, url, proxy.Addr()))
	d := start(t, cfg)
	waitStatus(t, d, dependency.Up, 10*time.Second)
	warm(t, d, 2)

	restore, err := proxy.ResetPeer()
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	_, err = countJobs(context.Background(), d)
	if !errors.Is(err, db.ErrUnavailable) {
		t.Errorf("err = %v while every connection is reset, want ErrUnavailable", err)
	}
	if took := time.Since(began); took > cfg.QueryTimeout+time.Second {
		t.Errorf("call took %s while connections were reset", took)
	}
	restore()
	pgtest.Eventually(t, 10*time.Second, "reads succeed after resets stop", func() bool {
		_, err := countJobs(context.Background(), d)
		return err == nil
	})
}

func warm(t *testing.T, d *db.DB, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			err := d.Read(context.Background(), func(ctx context.Context, q db.Querier) error {
				_, err := q.Exec(ctx, "SELECT pg_sleep(0.05)")
				return err
			})
			if err != nil {
				t.Errorf("warm-up read: %v", err)
			}
		})
	}
	wg.Wait()
	if got := d.Stat().TotalConns(); got < 2 {
		t.Fatalf("pool holds %d connections after warm-up, want several", got)
	}
}

func TestReplicasMigrateOnce(t *testing.T) {
	url, _ := pgtest.NewDatabase(t)
	var logs [3]bytes.Buffer
	var mu sync.Mutex
	replicas := make([]*db.DB, 3)
	var wg sync.WaitGroup
	for i := range replicas {
		cfg := testConfig(url)
		cfg.Logger = slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &logs[i]}, nil))
		d, err := db.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.Close)
		replicas[i] = d
	}
	for _, d := range replicas {
		wg.Go(func() { d.Start(context.Background()) })
	}
	wg.Wait()
	for _, d := range replicas {
		waitStatus(t, d, dependency.Up, 30*time.Second)
	}
	applied := 0
	mu.Lock()
	for i := range logs {
		applied += strings.Count(logs[i].String(), "applied migration")
	}
	mu.Unlock()
	files, _ := migrations.FS.ReadDir(".")
	sqlFiles := 0
	for _, f := range files {
		if strings.HasSuffix(f.Name(), ".sql") {
			sqlFiles++
		}
	}
	if applied != sqlFiles {
		t.Errorf("three replicas applied %d migrations in total, want each of the %d applied once", applied, sqlFiles)
	}
	if n := pgtest.QueryInt(t, url, "SELECT count(*) FROM goose_db_version WHERE version_id > 0"); n != int64(sqlFiles) {
		t.Errorf("goose_db_version has %d rows, want %d", n, sqlFiles)
	}
	for i, d := range replicas {
		if v := d.State().Version; v != int64(sqlFiles) {
			t.Errorf("replica %d reports schema version %d, want %d", i, v, sqlFiles)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestConfigurationProblemsHaveTheirOwnCause(t *testing.T) {
	url, _ := pgtest.NewDatabase(t)
	tests := []struct {
		name string
		url  string
		want dependency.Cause
	}{
		{"unknown role", strings.Replace(url, "postgres@", "no_such_role_rca@", 1), dependency.CauseAuthFailed},
		{"missing database", url[:strings.LastIndex(url, "/")] + "/rca_no_such_database", dependency.CauseDatabaseMissing},
		{"nothing listening", pgtest.WithHost(t, url, "127.0.0.1:1"), dependency.CauseUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := start(t, testConfig(tt.url))
			waitStatus(t, d, dependency.Down, 5*time.Second)
			if got := d.State().Cause; got != tt.want {
				t.Errorf("cause = %q (%s), want %q", got, d.State().LastError, tt.want)
			}
		})
	}
}

func TestFailedMigrationIsNotRetriedInATightLoop(t *testing.T) {
	url, _ := pgtest.NewDatabase(t)
	cfg := testConfig(url)
	cfg.Migrations = fstest.MapFS{
		"00001_broken.sql": {Data: []byte("-- +goose Up\nCREATE TABLE t (id int REFERENCES no_such_table(id));\n")},
	}
	d := start(t, cfg)
	waitStatus(t, d, dependency.Down, 10*time.Second)
	st := d.State()
	if st.Cause != dependency.CauseMigrationFailed {
		t.Fatalf("cause = %q (%s), want migration_failed", st.Cause, st.LastError)
	}
	// Requests keep asking for early attempts; none may be made.
	for range 20 {
		_, _ = countJobs(context.Background(), d)
		time.Sleep(20 * time.Millisecond)
	}
	if got := d.State().TotalAttempts; got != 1 {
		t.Errorf("made %d attempts after a failed migration, want 1 until MigrationRetryMin passes", got)
	}
}

func TestTxRetriesWhenTheConnectionDiesBeforeCommit(t *testing.T) {
	url, _ := pgtest.NewDatabase(t)
	d := start(t, testConfig(url))
	waitStatus(t, d, dependency.Up, 10*time.Second)

	runs := 0
	err := d.Tx(context.Background(), func(ctx context.Context, tx *db.Tx) error {
		runs++
		if _, err := tx.Exec(ctx, "INSERT INTO jobs (job_type) VALUES ('tx-retry')"); err != nil {
			return err
		}
		if runs == 1 {
			// The server kills this very connection before COMMIT.
			_, err := tx.Exec(ctx, "SELECT pg_terminate_backend(pg_backend_pid())")
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Tx: %v", err)
	}
	if runs != 2 {
		t.Errorf("fn ran %d times, want 2", runs)
	}
	if n := pgtest.QueryInt(t, url, "SELECT count(*) FROM jobs WHERE job_type = 'tx-retry'"); n != 1 {
		t.Errorf("%d rows committed, want exactly 1", n)
	}
}

func TestStatementErrorsAreNotRetried(t *testing.T) {
	url, _ := pgtest.NewDatabase(t)
	d := start(t, testConfig(url))
	waitStatus(t, d, dependency.Up, 10*time.Second)
	runs := 0
	err := d.Read(context.Background(), func(ctx context.Context, q db.Querier) error {
		runs++
		_, err := q.Exec(ctx, "SELECT * FROM no_such_table")
		return err
	})
	if err == nil || errors.Is(err, db.ErrUnavailable) {
		t.Fatalf("err = %v, want the SQL error itself", err)
	}
	if runs != 1 {
		t.Errorf("fn ran %d times for a SQL error, want 1", runs)
	}
	if d.State().Status != dependency.Up {
		t.Errorf("a SQL error changed the state to %s", d.State().Status)
	}
}

// TestServerBoundsWhatAVanishedClientHolds: the session settings that end a
// transaction abandoned by a vanished client reach the server, and the
// connection string can override them.
func TestServerBoundsWhatAVanishedClientHolds(t *testing.T) {
	url, _ := pgtest.NewDatabase(t)
	show := func(d *db.DB, name string) string {
		var v string
		err := d.Read(context.Background(), func(ctx context.Context, q db.Querier) error {
			return q.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v)
		})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	d := start(t, testConfig(url))
	waitStatus(t, d, dependency.Up, 10*time.Second)
	if got := show(d, "idle_in_transaction_session_timeout"); got != "15s" {
		t.Errorf("idle_in_transaction_session_timeout = %s, want 15s", got)
	}
	if got := show(d, "tcp_keepalives_idle"); got != "10" {
		t.Errorf("tcp_keepalives_idle = %s, want 10", got)
	}
	own := start(t, testConfig(pgtest.WithParams(t, url, "idle_in_transaction_session_timeout", "42000")))
	waitStatus(t, own, dependency.Up, 10*time.Second)
	if got := show(own, "idle_in_transaction_session_timeout"); got != "42s" {
		t.Errorf("the URL's value was overridden: %s", got)
	}

	// And it works: a transaction left idle is ended by the server.
	cfg := testConfig(pgtest.WithParams(t, url, "idle_in_transaction_session_timeout", "300"))
	short := start(t, cfg)
	waitStatus(t, short, dependency.Up, 10*time.Second)
	err := short.Tx(context.Background(), func(ctx context.Context, tx *db.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
			return err
		}
		time.Sleep(700 * time.Millisecond) // a client that stopped talking mid-transaction
		_, err := tx.Exec(ctx, "SELECT 1")
		return err
	})
	if err == nil {
		t.Error("a transaction idle past idle_in_transaction_session_timeout was not ended by the server")
	}
}

func TestCommitHooksRunOnlyForTheAttemptThatCommits(t *testing.T) {
	url, _ := pgtest.NewDatabase(t)
	d := start(t, testConfig(url))
	waitStatus(t, d, dependency.Up, 10*time.Second)

	tests := []struct {
		name       string
		fail       error // returned by fn
		beforeFail error // returned by the BeforeCommit hook
		killFirst  bool  // the first attempt's connection dies before COMMIT
		wantRows   int64
		wantAfter  int
	}{
		{name: "commits", wantRows: 1, wantAfter: 1},
		{name: "fn fails", fail: errors.New("no"), wantRows: 0, wantAfter: 0},
		{name: "hook fails", beforeFail: errors.New("no"), wantRows: 0, wantAfter: 0},
		{name: "retried after a dead connection", killFirst: true, wantRows: 1, wantAfter: 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jobType := fmt.Sprintf("hooks-%d", i)
			runs, before, after := 0, 0, 0
			err := d.Tx(context.Background(), func(ctx context.Context, tx *db.Tx) error {
				runs++
				tx.BeforeCommit(func(ctx context.Context) error {
					before++
					if tt.beforeFail != nil {
						return tt.beforeFail
					}
					_, err := tx.Exec(ctx, "INSERT INTO jobs (job_type) VALUES ($1)", jobType)
					return err
				})
				tx.AfterCommit(func() { after++ })
				if tt.killFirst && runs == 1 {
					_, err := tx.Exec(ctx, "SELECT pg_terminate_backend(pg_backend_pid())")
					return err
				}
				return tt.fail
			})
			if (err != nil) != (tt.fail != nil || tt.beforeFail != nil) {
				t.Fatalf("Tx: %v", err)
			}
			if n := pgtest.QueryInt(t, url, "SELECT count(*) FROM jobs WHERE job_type = $1", jobType); n != tt.wantRows {
				t.Errorf("%d rows committed, want %d", n, tt.wantRows)
			}
			if after != tt.wantAfter {
				t.Errorf("AfterCommit ran %d times, want %d", after, tt.wantAfter)
			}
		})
	}
}

func TestTxValueIsPerTransaction(t *testing.T) {
	url, _ := pgtest.NewDatabase(t)
	d := start(t, testConfig(url))
	waitStatus(t, d, dependency.Up, 10*time.Second)
	type key struct{}
	for range 2 {
		err := d.Tx(context.Background(), func(ctx context.Context, tx *db.Tx) error {
			n := tx.Value(key{}, func() any { return new(int) }).(*int)
			*n++
			if again := tx.Value(key{}, func() any { return new(int) }).(*int); again != n || *again != 1 {
				t.Errorf("Value gave another value within one transaction, or one left over from another")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestStatementErrorsGetAKindWithoutServerText(t *testing.T) {
	url, _ := pgtest.NewDatabase(t)
	d := start(t, testConfig(url))
	waitStatus(t, d, dependency.Up, 10*time.Second)
	tests := []struct {
		name string
		sql  string
		want apperr.Kind
	}{
		{"data exception", `SELECT '{"a":"\u0000"}'::jsonb`, apperr.Invalid},
		{"integrity violation", `INSERT INTO job_events (job_id, event_type) VALUES (gen_random_uuid(), 'x')`, apperr.Conflict},
		{"syntax error stays internal", `SELEC 1`, apperr.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.Exec(context.Background(), tt.sql)
			if got := apperr.KindOf(err); got != tt.want {
				t.Fatalf("kind = %q, want %q (%v)", got, tt.want, err)
			}
			if e, ok := apperr.As(err); ok && strings.Contains(e.Message, "jsonb") || ok && strings.Contains(e.Message, "violates") {
				t.Errorf("the client message quotes the server: %q", e.Message)
			}
		})
	}
}
