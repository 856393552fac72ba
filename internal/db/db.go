// Package db is the service's PostgreSQL layer: a pgxpool that never blocks
// start-up, reconnects in the background, fails fast while the database is
// down, survives middleboxes that drop idle connections, and retries only what
// is safe to retry.
//
// The pool itself is pgx's; this package adds a supervisor goroutine that owns
// the database's dependency.State, brings the schema up to date on every
// (re)connection, and decides when calls may run at all.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/rca-engine/api/internal/dependency"
)

// Name is the dependency's name in health reports and X-Degraded.
const Name = "postgres"

// Config says how to reach PostgreSQL and how to behave when it misbehaves.
// A zero duration or count means "the connection string's value if it has
// one, else the default below"; the defaults assume a network that silently
// drops idle connections (NAT, netsh portproxy, cloud load balancers).
type Config struct {
	// URL is a libpq URL or key=value DSN. Its sslmode, connect_timeout and
	// pool_* keys are honoured.
	URL string

	MaxConns              int32         // pool_max_conns; default max(4, NumCPU)
	MaxConnIdleTime       time.Duration // pool_max_conn_idle_time; default 50s, below common NAT idle limits (60s+)
	MaxConnLifetime       time.Duration // pool_max_conn_lifetime; default 30m
	MaxConnLifetimeJitter time.Duration // pool_max_conn_lifetime_jitter; default 5m, so connections do not expire together
	HealthCheckPeriod     time.Duration // pool_health_check_period; default 10s, evicts idle and expired connections
	PingTimeout           time.Duration // ping before reuse of a connection idle >1s; default 1s
	ConnectTimeout        time.Duration // connect_timeout; default 5s (pgx would wait 2 minutes)

	KeepAliveIdle     time.Duration // TCP keepalive idle time; default 10s
	KeepAliveInterval time.Duration // between keepalive probes; default 5s
	KeepAliveCount    int           // unanswered probes before the socket is dead; default 3
	TCPUserTimeout    time.Duration // TCP_USER_TIMEOUT (Linux); default 20s; negative disables

	AcquireTimeout time.Duration // bound on waiting for a connection; default 2s
	QueryTimeout   time.Duration // bound on one whole call, retries included; default 5s
	ReadRetries    int           // extra attempts for reads after a connection failure; default 2; negative disables
	WriteRetries   int           // extra attempts for transactions that provably did not commit; default 1; negative disables

	CheckInterval     time.Duration // how often a live database is checked; default 5s
	CheckTimeout      time.Duration // bound on one check; default 2s
	ReconnectInitial  time.Duration // first backoff interval; default 250ms
	ReconnectMax      time.Duration // backoff cap; default 15s
	KickInterval      time.Duration // least time between attempts triggered by requests; default 250ms
	MigrationTimeout  time.Duration // bound on one migration run, lock wait included; default 2m
	MigrationRetryMin time.Duration // least time between attempts after a failed migration; default 30s

	// CreateDatabase lets a connection attempt create the URL's database
	// when the server says it does not exist, then migrate it as usual, so
	// that a first run needs no createdb step (see create.go). Without it,
	// or when the role may not create databases, the cause stays
	// database_missing and the error gives the createdb command to run.
	// The zero value is off; the service's configuration (DB_CREATE_DATABASE)
	// turns it on by default outside production, where a mistyped or
	// vanished database is for an operator to look into, not to be replaced
	// silently by an empty one.
	CreateDatabase bool

	// NoServerSettings leaves out the session settings this package asks
	// the server for (see New): for a PgBouncer that rejects unknown
	// startup parameters.
	NoServerSettings bool

	// Migrations holds goose SQL files; nil skips migrating.
	Migrations fs.FS
	Logger     *slog.Logger
}

func (c *Config) setDefaults(connString string) {
	has := connStringKeys(connString)
	dur := func(v *time.Duration, key string, def time.Duration) {
		if *v == 0 && !has[key] {
			*v = def
		}
	}
	dur(&c.MaxConnIdleTime, "pool_max_conn_idle_time", 50*time.Second)
	dur(&c.MaxConnLifetime, "pool_max_conn_lifetime", 30*time.Minute)
	dur(&c.MaxConnLifetimeJitter, "pool_max_conn_lifetime_jitter", 5*time.Minute)
	dur(&c.HealthCheckPeriod, "pool_health_check_period", 10*time.Second)
	dur(&c.PingTimeout, "pool_ping_timeout", time.Second)
	dur(&c.ConnectTimeout, "connect_timeout", 5*time.Second)
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.KeepAliveIdle, 10*time.Second)
	def(&c.KeepAliveInterval, 5*time.Second)
	def(&c.TCPUserTimeout, 20*time.Second)
	def(&c.AcquireTimeout, 2*time.Second)
	def(&c.QueryTimeout, 5*time.Second)
	def(&c.CheckInterval, 5*time.Second)
	def(&c.CheckTimeout, 2*time.Second)
	def(&c.ReconnectInitial, 250*time.Millisecond)
	def(&c.ReconnectMax, 15*time.Second)
	def(&c.KickInterval, 250*time.Millisecond)
	def(&c.MigrationTimeout, 2*time.Minute)
	def(&c.MigrationRetryMin, 30*time.Second)
	if c.KeepAliveCount == 0 {
		c.KeepAliveCount = 3
	}
	if c.ReadRetries == 0 {
		c.ReadRetries = 2
	}
	if c.WriteRetries == 0 {
		c.WriteRetries = 1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// serverSettings bounds, on the server's side, what a client that vanished
// can hold. When a NAT drops a connection mid-transaction, pgx gives up on
// its side within the call's deadline, but the server's backend waits for
// the next command, holding its locks (a reader of the event log holds a
// lock every event writer needs), until the server's own keepalive notices: about two hours by
// default. idle_in_transaction_session_timeout ends such a transaction,
// and server-side keepalive finds the dead socket in seconds. Values in
// the connection string win.
func serverSettings(params map[string]string, cfg Config) {
	set := func(k, v string) {
		if _, ok := params[k]; !ok {
			params[k] = v
		}
	}
	idle := max(3*cfg.QueryTimeout, 15*time.Second)
	set("idle_in_transaction_session_timeout", strconv.FormatInt(idle.Milliseconds(), 10))
	set("tcp_keepalives_idle", strconv.Itoa(int(cfg.KeepAliveIdle.Seconds())))
	set("tcp_keepalives_interval", strconv.Itoa(int(cfg.KeepAliveInterval.Seconds())))
	set("tcp_keepalives_count", strconv.Itoa(cfg.KeepAliveCount))
}

// connStringKeys returns the keys present in a URL's query or a DSN, so that
// our defaults never override what the operator wrote in DATABASE_URL.
func connStringKeys(s string) map[string]bool {
	keys := map[string]bool{}
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		if u, err := url.Parse(s); err == nil {
			for k := range u.Query() {
				keys[k] = true
			}
		}
		return keys
	}
	for _, field := range strings.Fields(s) {
		if k, _, ok := strings.Cut(field, "="); ok {
			keys[k] = true
		}
	}
	return keys
}

// DB is a lazily connected, self-healing PostgreSQL pool.
type DB struct {
	cfg     Config
	pool    *pgxpool.Pool
	sqlDB   *sql.DB // goose needs database/sql; it borrows the pool's connections
	tracker *dependency.Tracker
	log     *slog.Logger

	sup *dependency.Supervisor

	// suspectUntil (unix nanoseconds) is when pooled connections are trusted
	// again without a ping, after a call saw one die.
	suspectUntil atomic.Int64

	once sync.Once
}

// New validates cfg and builds the pool without connecting. A malformed URL
// is an error; an unreachable server is not, and is reported through State.
func New(cfg Config) (*DB, error) {
	cfg.setDefaults(cfg.URL)
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// pgx's parse errors can echo the connection string, password
		// included, so say only what kind of problem it is.
		return nil, errors.New("DATABASE_URL is not a valid PostgreSQL URL or DSN")
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	set := func(dst *time.Duration, v time.Duration) {
		if v > 0 {
			*dst = v
		}
	}
	set(&pc.MaxConnIdleTime, cfg.MaxConnIdleTime)
	set(&pc.MaxConnLifetime, cfg.MaxConnLifetime)
	set(&pc.MaxConnLifetimeJitter, cfg.MaxConnLifetimeJitter)
	set(&pc.HealthCheckPeriod, cfg.HealthCheckPeriod)
	set(&pc.PingTimeout, cfg.PingTimeout)
	set(&pc.ConnConfig.ConnectTimeout, cfg.ConnectTimeout)
	pc.ConnConfig.DialFunc = dialer(cfg)
	if !cfg.NoServerSettings {
		serverSettings(pc.ConnConfig.RuntimeParams, cfg)
	}
	d := &DB{}
	// Ping a connection before handing it out if it sat idle for more than a
	// second (pgx's rule) or if a call has just seen a connection die: its
	// siblings were probably opened through the same middlebox and died with
	// it. Each ping is bounded by PingTimeout; a dead connection is dropped
	// and the pool moves on to the next one, so one Acquire heals the pool.
	pc.ShouldPing = func(_ context.Context, p pgxpool.ShouldPingParams) bool {
		return p.IdleDuration > time.Second || time.Now().UnixNano() < d.suspectUntil.Load()
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, fmt.Errorf("build PostgreSQL pool: %w", err)
	}
	*d = DB{
		cfg:     cfg,
		pool:    pool,
		sqlDB:   stdlib.OpenDBFromPool(pool),
		tracker: dependency.NewTracker(Name, dependency.Connecting),
		log:     cfg.Logger.With("dependency", Name),
	}
	d.sup = dependency.NewSupervisor(d.tracker, dependency.Probe{
		Connect:  d.connect,
		Check:    d.check,
		Classify: classifyFailure,
		MinWait: func(c dependency.Cause) time.Duration {
			if c == dependency.CauseMigrationFailed {
				return cfg.MigrationRetryMin
			}
			return 0
		},
		// Whatever the pool holds was opened to a server that stopped
		// answering; drop it so that recovery starts from fresh sockets.
		Lost: pool.Reset,
	}, dependency.SupervisorConfig{
		CheckInterval:    cfg.CheckInterval,
		ReconnectInitial: cfg.ReconnectInitial,
		ReconnectMax:     cfg.ReconnectMax,
		KickInterval:     cfg.KickInterval,
		Logger:           cfg.Logger,
	})
	return d, nil
}

// Start launches the supervisor. It returns at once.
func (d *DB) Start(ctx context.Context) { d.sup.Start(ctx) }

// Close stops the supervisor and closes every connection. In-flight calls
// get an error.
func (d *DB) Close() {
	d.once.Do(func() {
		d.sup.Stop()
		d.sqlDB.Close()
		d.pool.Close()
	})
}

// Tracker exposes the database's state for health, metrics and streams.
func (d *DB) Tracker() *dependency.Tracker { return d.tracker }

// State is the current state; it never blocks.
func (d *DB) State() dependency.State { return d.tracker.Get() }

// Stat returns the pool's figures; it reads memory only.
func (d *DB) Stat() *pgxpool.Stat { return d.pool.Stat() }

// PoolStats returns the pool's figures as plain numbers; memory only.
func (d *DB) PoolStats() dependency.PoolStats {
	ps := d.pool.Stat()
	return dependency.PoolStats{Total: ps.TotalConns(), Idle: ps.IdleConns(), Acquired: ps.AcquiredConns(),
		Constructing: ps.ConstructingConns(), Max: ps.MaxConns(), Acquires: ps.AcquireCount(),
		EmptyAcquires: ps.EmptyAcquireCount(), CanceledAcquires: ps.CanceledAcquireCount(),
		Opened: ps.NewConnsCount(), ClosedIdle: ps.MaxIdleDestroyCount(), ClosedLifetime: ps.MaxLifetimeDestroyCount()}
}

// Kick asks the supervisor to try again soon. Calls are rate-limited by
// KickInterval, so a burst of requests during an outage costs the database
// one connection attempt, not one per request.
func (d *DB) Kick() { d.sup.Kick() }

type migrationError struct{ err error }

func (e *migrationError) Error() string { return "migration failed: " + e.err.Error() }
func (e *migrationError) Unwrap() error { return e.err }

// connect checks that a connection can be made (creating the database
// first if it is missing and CreateDatabase allows) and brings the schema up
// to date.
func (d *DB) connect(ctx context.Context) (int64, error) {
	err := d.ping(ctx)
	if err != nil && classify(err) == dependency.CauseDatabaseMissing {
		// A first run: create the database if allowed, then connect again.
		if err = d.createDatabase(ctx, err); err == nil {
			err = d.ping(ctx)
		}
	}
	if err != nil {
		return 0, err
	}
	if d.cfg.Migrations == nil {
		return 0, nil
	}
	version, err := d.migrate(ctx)
	if err != nil && !IsConnError(err) {
		err = &migrationError{err}
	}
	return version, err
}

// ping connects (if the pool holds no connection) and pings, bounded by
// ConnectTimeout+CheckTimeout.
func (d *DB) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.ConnectTimeout+d.cfg.CheckTimeout)
	defer cancel()
	return d.pool.Ping(ctx)
}

// migrate applies pending migrations under a session-level advisory lock, so
// that replicas starting together apply each migration once: the others wait
// for the lock and then find nothing to do.
func (d *DB) migrate(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.MigrationTimeout)
	defer cancel()
	lockWait := max(uint64(d.cfg.MigrationTimeout/time.Second), 1)
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, lockWait))
	if err != nil {
		return 0, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, d.sqlDB, d.cfg.Migrations,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return 0, err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return 0, err
	}
	for _, r := range results {
		d.log.Info("applied migration", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration)
	}
	return p.GetDBVersion(ctx)
}

// check runs one bounded ping through the pool. When every pooled
// connection is in use, waiting for one would measure the workload, not the
// database (and the calls holding them may be the ones stuck in a
// blackhole), so it pings over a fresh connection instead.
func (d *DB) check(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, d.cfg.CheckTimeout)
	defer cancel()
	if st := d.pool.Stat(); st.IdleConns() == 0 && st.TotalConns() >= st.MaxConns() {
		conn, err := pgx.ConnectConfig(cctx, d.pool.Config().ConnConfig)
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(cctx))
		return conn.Ping(cctx)
	}
	conn, err := d.pool.Acquire(cctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	return conn.Ping(cctx)
}

// Querier is what a call gets to run statements: a pooled connection or a
// transaction.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}
