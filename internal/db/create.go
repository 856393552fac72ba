package db

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// A newcomer's first run should work: PostgreSQL is installed and running,
// but nobody has created the database named in DATABASE_URL yet. Rather than
// report database_missing until someone reads the README and runs createdb,
// the supervisor's connect attempt creates it (when Config.CreateDatabase
// allows) and carries on with the usual connect and migrate. All of this runs
// inside the supervisor's Connect probe, in the background, so start-up never
// waits for it. When the database cannot be created, the cause stays
// database_missing and the error, which health reports and the supervisor
// logs, gives the createdb command to run.

// maintenanceDatabases are where CREATE DATABASE is sent from, in order:
// every cluster has postgres unless someone dropped it, and template1
// unless someone broke the cluster.
var maintenanceDatabases = []string{"postgres", "template1"}

// missingDatabaseError is a 3D000 from the server that this package could
// not, or was not allowed to, fix. It unwraps to the server's error, so
// classify still says database_missing. Its text leads with the command, so
// that the health report's shortened copy of it keeps the part that matters.
type missingDatabaseError struct {
	name    string // the database in the URL
	command string // the createdb line that would create it
	why     string // why the service did not create it itself
	err     error  // the server's 3D000
}

func (e *missingDatabaseError) Error() string {
	return fmt.Sprintf("database %q does not exist; create it with: %s (%s)", e.name, e.command, e.why)
}

func (e *missingDatabaseError) Unwrap() error { return e.err }

// createDatabase is called when connecting failed because the URL's database
// does not exist (missing is the server's 3D000). It returns nil once the
// database exists, created by this call or, concurrently, by another replica;
// otherwise an error that names the createdb command to run.
//
// CREATE DATABASE cannot run in the database it creates, so it goes through
// a maintenance database on the same server, with the same credentials, TLS,
// dialer and session settings as the pool (a copy of its connection config).
func (d *DB) createDatabase(ctx context.Context, missing error) error {
	cc := d.pool.Config().ConnConfig
	fail := func(why string) error {
		return &missingDatabaseError{name: cc.Database, command: createdbCommand(cc), why: why, err: missing}
	}
	if !d.cfg.CreateDatabase {
		return fail("DB_CREATE_DATABASE is off")
	}
	err := d.runCreateDatabase(ctx, cc)
	switch {
	case err == nil:
		d.log.Info("created database", "database", cc.Database, "host", cc.Host, "port", cc.Port, "user", cc.User)
		return nil
	case isDuplicateDatabase(err):
		// Another replica (or a person) created it between our failed
		// connect and our CREATE DATABASE: exactly what we wanted.
		d.log.Debug("database was created meanwhile by someone else", "database", cc.Database, "error", err)
		return nil
	case ctx.Err() != nil:
		return ctx.Err() // the supervisor is stopping; nobody reads this
	}
	var pgErr *pgconn.PgError
	var connErr *pgconn.ConnectError
	// 42501 (insufficient_privilege) from CREATE DATABASE: no CREATEDB. At
	// connect it means no CONNECT on the maintenance database instead.
	if errors.As(err, &pgErr) && pgErr.Code == "42501" && !errors.As(err, &connErr) {
		return fail(fmt.Sprintf("role %q may not create databases: run it as a role that may, with -O %s added",
			cc.User, shellQuote(cc.User)))
	}
	return fail("creating it failed: " + err.Error())
}

// runCreateDatabase connects to the first maintenance database that exists
// and creates cc.Database there. The connection is bounded by
// ConnectTimeout; the statement, which copies template1 and so takes longer
// than a ping, by ConnectTimeout+CheckTimeout, the bound connect gives its
// ping.
func (d *DB) runCreateDatabase(ctx context.Context, cc *pgx.ConnConfig) error {
	var err error
	for _, maint := range maintenanceDatabases {
		if maint == cc.Database {
			continue // it is the one missing
		}
		mc := cc.Copy()
		mc.Database = maint
		cctx, cancel := context.WithTimeout(ctx, d.cfg.ConnectTimeout)
		var conn *pgx.Conn
		conn, err = pgx.ConnectConfig(cctx, mc)
		cancel()
		if err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "3D000" {
				continue // this maintenance database is gone too; try the next
			}
			return fmt.Errorf("connect to maintenance database %s: %w", maint, err)
		}
		ectx, cancel := context.WithTimeout(ctx, d.cfg.ConnectTimeout+d.cfg.CheckTimeout)
		// Quoted, the name is taken exactly as written in the URL (which is
		// how pgx connects to it): an unquoted RCA_Engine would be folded to
		// rca_engine, and a name with spaces or quotes would be SQL.
		_, err = conn.Exec(ectx, "CREATE DATABASE "+pgx.Identifier{cc.Database}.Sanitize())
		cancel()
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.CheckTimeout)
		_ = conn.Close(closeCtx)
		cancel()
		return err
	}
	if err == nil {
		err = errors.New("no maintenance database (postgres, template1) to connect to")
	}
	return err
}

// isDuplicateDatabase reports whether CREATE DATABASE failed because the
// database exists: 42P04 if it was committed before ours started; 23505 on
// pg_database's unique index if another CREATE DATABASE of the same name
// was still running when ours checked (PostgreSQL's own check is racy by
// design, and the index catches the loser).
func isDuplicateDatabase(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "23505")
}

// createdbCommand is the command an operator runs to create cc's database,
// filled in from the parsed connection config. It never includes the
// password: createdb asks for it, or finds it in PGPASSWORD or ~/.pgpass.
func createdbCommand(cc *pgx.ConnConfig) string {
	return "createdb -h " + shellQuote(cc.Host) + " -p " + strconv.Itoa(int(cc.Port)) +
		" -U " + shellQuote(cc.User) + " " + shellQuote(cc.Database)
}

// shellQuote returns s as one POSIX shell word, quoting it only when needed
// so that the common case reads naturally.
func shellQuote(s string) string {
	plain := func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-./:@%+=,", r)
	}
	if s != "" && strings.IndexFunc(s, func(r rune) bool { return !plain(r) }) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
