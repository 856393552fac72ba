// Package config reads the service's settings from the environment (and an
// optional .env file for local development). Every setting has a default that
// works on a developer machine; a value that is present but malformed stops
// start-up with a message naming the variable, because running with a
// setting silently ignored is worse than not starting.
package config

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rca-engine/api/internal/analysis/redact"
	"github.com/rca-engine/api/internal/auth"
	"github.com/rca-engine/api/internal/blob"
	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/events"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/ratelimit"
	"github.com/rca-engine/api/internal/redisconn"
	"github.com/rca-engine/api/internal/sse"
	"github.com/rca-engine/api/internal/tickets"
	"github.com/rca-engine/api/internal/uploads"
	"github.com/rca-engine/api/internal/worker"
)

// Config is the whole service's configuration.
type Config struct {
	Host        string
	Port        int
	Environment string // development, production or test
	LogLevel    slog.Level
	LogFormat   string // text or json

	DB    db.Config
	Redis redisconn.Config

	MaxBodyBytes      int64
	RequestTimeout    time.Duration
	ShutdownTimeout   time.Duration
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	CORSOrigins       []string
	// TrustedProxies are the addresses whose X-Forwarded-For and
	// X-Forwarded-Proto are believed; empty: the peer is the client.
	TrustedProxies []netip.Prefix
	// TLSCertFile and TLSKeyFile, when both set, make the service serve
	// HTTPS itself.
	TLSCertFile string
	TLSKeyFile  string

	Auth       Auth
	RateLimits RateLimits
	// Roles are what this process runs (RCA_ROLES); default all.
	Roles []Role

	// ReadinessRequiresDB makes /api/health/ready answer 503 while
	// PostgreSQL is unusable. Single-instance set-ups without a load
	// balancer turn it off so that nothing restarts the process needlessly.
	ReadinessRequiresDB bool

	// Jobs decides who may change a job (JOB_VISIBILITY).
	Jobs jobs.Policy

	// IdempotencyTTL is how long a stored response answers retries.
	IdempotencyTTL time.Duration
	// TicketDefaults fill ticket fields the job's outcome does not give;
	// TicketToggles seed the integration toggles the first time they are
	// read (afterwards the database holds them).
	TicketDefaults tickets.Defaults
	TicketToggles  tickets.Settings

	// SSE tunes the event streams; Events how often each replica reads
	// the event log (FastPoll while Redis cannot carry wake-ups between
	// replicas, SlowPoll while it can).
	SSE    sse.Config
	Events events.TailerConfig

	// Uploads are the file uploads' settings (UPLOAD_DIR,
	// MAX_FILE_SIZE_MB, UPLOAD_MAX_REQUEST_MB, ALLOWED_FILE_TYPES);
	// Storage where their content goes.
	Uploads uploads.Config
	Storage blob.Config
	// UploadTimeout bounds one upload or download request;
	// UploadIdleTimeout cuts one that stops moving.
	UploadTimeout     time.Duration
	UploadIdleTimeout time.Duration
	// TusExpiry: an unfinished resumable upload is deleted this long after
	// its last byte.
	TusExpiry time.Duration

	// Worker tunes the analysis worker (WORKER_CONCURRENCY, WORKER_TIMEOUT,
	// WORKER_LEASE, WORKER_POLL_INTERVAL).
	Worker worker.Config

	migrate bool
}

// Auth is who may do what: the accounts service's own settings (secret,
// issuer, lifetimes, registration policy), and the edge's.
type Auth struct {
	auth.Config
	// Mode: which routes need a signed-in user.
	Mode auth.Mode
	// SecretEphemeral is set when no JWT_SECRET_KEY was given outside
	// production: tokens then die with the process.
	SecretEphemeral bool
	// StreamRecheck: how often an open stream's credential is checked
	// again in mode all.
	StreamRecheck time.Duration
	// The first admin, created on start unless the account exists.
	AdminEmail, AdminUsername, AdminPassword string
}

// RateLimits are the abuse limits, per client and route class.
type RateLimits struct {
	Enabled bool
	ratelimit.Classes
}

// Role is a part of the service a process runs (RCA_ROLES): one process
// may run them all, or replicas may specialise.
type Role string

// RoleAPI serves HTTP: the API, the event streams and the web UI, with the
// event tailer and the maintenance sweeps they need. The delivery and
// watcher roles join as they land.
const RoleAPI Role = "api"

// RoleWorker analyses jobs (package worker): WORKER_CONCURRENCY at once.
// RCA_ROLES=worker adds workers without the api role's sweeps.
const RoleWorker Role = "worker"

// Roles lists every role; the default runs them all.
var Roles = []Role{RoleAPI, RoleWorker}

// HasRole reports whether this process runs r.
func (c Config) HasRole(r Role) bool { return slices.Contains(c.Roles, r) }

// DefaultDatabaseURL suits a local PostgreSQL with trust authentication.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/rca_engine?sslmode=disable"

// Vars lists every variable Load reads, for documentation and for warning
// about unknown keys in a .env file.
var Vars = []string{
	"HOST", "PORT", "ENVIRONMENT", "LOG_LEVEL", "LOG_FORMAT", "RCA_ROLES",
	"DATABASE_URL", "DB_MIGRATE", "DB_CREATE_DATABASE", "DB_ACQUIRE_TIMEOUT", "DB_QUERY_TIMEOUT", "DB_CONNECT_TIMEOUT",
	"DB_MAX_CONNS", "DB_MAX_CONN_IDLE_TIME", "DB_MAX_CONN_LIFETIME", "DB_MAX_CONN_LIFETIME_JITTER",
	"DB_HEALTH_CHECK_PERIOD", "DB_PING_TIMEOUT", "DB_KEEPALIVE_IDLE", "DB_KEEPALIVE_INTERVAL",
	"DB_KEEPALIVE_COUNT", "DB_TCP_USER_TIMEOUT", "DB_READ_RETRIES", "DB_WRITE_RETRIES",
	"DB_CHECK_INTERVAL", "DB_RECONNECT_MAX", "DB_SERVER_SETTINGS",
	"REDIS_URL", "REDIS_TIMEOUT",
	"CORS_ALLOWED_ORIGINS", "HTTP_MAX_BODY_BYTES", "HTTP_REQUEST_TIMEOUT", "HTTP_SHUTDOWN_TIMEOUT",
	"READINESS_REQUIRES_DATABASE", "IDEMPOTENCY_KEY_TTL", "JOB_VISIBILITY",
	"SERVICENOW_ENABLED", "JIRA_ENABLED", "ITSM_DUAL_MODE_DEFAULT",
	"SERVICENOW_DEFAULT_ASSIGNMENT_GROUP", "SERVICENOW_DEFAULT_CONFIGURATION_ITEM", "SERVICENOW_DEFAULT_CATEGORY",
	"SERVICENOW_DEFAULT_SUBCATEGORY", "SERVICENOW_DEFAULT_STATE", "SERVICENOW_DEFAULT_ASSIGNED_TO",
	"JIRA_DEFAULT_PROJECT_KEY", "JIRA_DEFAULT_ISSUE_TYPE", "JIRA_DEFAULT_LABELS", "JIRA_DEFAULT_ASSIGNEE",
	"SSE_HEARTBEAT_INTERVAL", "SSE_WRITE_TIMEOUT", "SSE_RETRY", "SSE_REPLAY_LIMIT", "SSE_CLIENT_BUFFER",
	"SSE_MAX_STREAMS", "SSE_MAX_STREAMS_PER_CLIENT", "SSE_MAX_CATCHUPS",
	"EVENTS_POLL_INTERVAL", "EVENTS_SAFETY_POLL_INTERVAL",
	"HTTP_READ_HEADER_TIMEOUT", "HTTP_IDLE_TIMEOUT", "HTTP_MAX_HEADER_BYTES", "TRUSTED_PROXIES",
	"TLS_CERT_FILE", "TLS_KEY_FILE",
	"AUTH_MODE", "AUTH_REGISTRATION", "JWT_SECRET_KEY", "JWT_ISSUER", "JWT_AUDIENCE",
	"JWT_ACCESS_TOKEN_EXPIRE_MINUTES", "JWT_REFRESH_TOKEN_EXPIRE_DAYS", "JWT_REFRESH_REUSE_GRACE",
	"ADMIN_EMAIL", "ADMIN_USERNAME", "ADMIN_PASSWORD", "AUTH_STREAM_RECHECK",
	"RATE_LIMITING_ENABLED", "RATE_LIMIT_READ", "RATE_LIMIT_WRITE", "RATE_LIMIT_AUTH",
	"RATE_LIMIT_LOGIN_ACCOUNT", "RATE_LIMIT_LOGIN_ADDRESS",
	"UPLOAD_DIR", "STORAGE_URL", "MAX_FILE_SIZE_MB", "UPLOAD_MAX_REQUEST_MB", "ALLOWED_FILE_TYPES",
	"S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "S3_FORCE_PATH_STYLE",
	"ANALYSIS_SETTLE_SECONDS", "UPLOAD_TIMEOUT", "UPLOAD_IDLE_TIMEOUT", "UPLOAD_SWEEP_GRACE", "TUS_EXPIRY",
	"WORKER_CONCURRENCY", "WORKER_TIMEOUT", "WORKER_LEASE", "WORKER_POLL_INTERVAL", "WORKER_ID",
	"PII_REDACTION_ENABLED", "PII_REDACT_IPS",
}

// Lookup finds a variable; os.LookupEnv is one.
type Lookup func(key string) (string, bool)

// Load reads the configuration through lookup. The error, if any, lists
// every bad variable, not just the first.
func Load(lookup Lookup) (Config, error) {
	p := parser{lookup: lookup}
	c := Config{
		Host:        p.str("HOST", "0.0.0.0"),
		Port:        p.intRange("PORT", 8001, 0, 65535), // 0: any free port (tests)
		Environment: p.oneOf("ENVIRONMENT", "development", "development", "production", "test"),
		LogFormat:   p.oneOf("LOG_FORMAT", "", "text", "json"),

		MaxBodyBytes:        int64(p.intRange("HTTP_MAX_BODY_BYTES", 1<<20, 1, 1<<30)),
		RequestTimeout:      p.duration("HTTP_REQUEST_TIMEOUT", 30*time.Second),
		ShutdownTimeout:     p.duration("HTTP_SHUTDOWN_TIMEOUT", 20*time.Second),
		ReadHeaderTimeout:   p.duration("HTTP_READ_HEADER_TIMEOUT", 5*time.Second),
		IdleTimeout:         p.duration("HTTP_IDLE_TIMEOUT", 2*time.Minute),
		MaxHeaderBytes:      p.intRange("HTTP_MAX_HEADER_BYTES", 64<<10, 4<<10, 1<<20),
		CORSOrigins:         nil, // below: its default depends on ENVIRONMENT
		TrustedProxies:      p.prefixes("TRUSTED_PROXIES"),
		TLSCertFile:         p.str("TLS_CERT_FILE", ""),
		TLSKeyFile:          p.str("TLS_KEY_FILE", ""),
		ReadinessRequiresDB: p.boolean("READINESS_REQUIRES_DATABASE", true),
	}
	c.LogLevel = p.level("LOG_LEVEL")
	c.CORSOrigins = p.corsOrigins("CORS_ALLOWED_ORIGINS", c.Environment)
	c.Roles = p.roles("RCA_ROLES")
	if c.LogFormat == "" {
		c.LogFormat = "text"
		if c.Environment == "production" {
			c.LogFormat = "json"
		}
	}

	c.DB = db.Config{
		URL:                   p.str("DATABASE_URL", DefaultDatabaseURL),
		MaxConns:              int32(p.intRange("DB_MAX_CONNS", 0, 1, 10000)),
		AcquireTimeout:        p.duration("DB_ACQUIRE_TIMEOUT", 0),
		QueryTimeout:          p.duration("DB_QUERY_TIMEOUT", 0),
		ConnectTimeout:        p.duration("DB_CONNECT_TIMEOUT", 0),
		MaxConnIdleTime:       p.duration("DB_MAX_CONN_IDLE_TIME", 0),
		MaxConnLifetime:       p.duration("DB_MAX_CONN_LIFETIME", 0),
		MaxConnLifetimeJitter: p.duration("DB_MAX_CONN_LIFETIME_JITTER", 0),
		HealthCheckPeriod:     p.duration("DB_HEALTH_CHECK_PERIOD", 0),
		PingTimeout:           p.duration("DB_PING_TIMEOUT", 0),
		KeepAliveIdle:         p.duration("DB_KEEPALIVE_IDLE", 0),
		KeepAliveInterval:     p.duration("DB_KEEPALIVE_INTERVAL", 0),
		KeepAliveCount:        p.intRange("DB_KEEPALIVE_COUNT", 0, 1, 100),
		TCPUserTimeout:        p.disableable("DB_TCP_USER_TIMEOUT"),
		ReadRetries:           p.retries("DB_READ_RETRIES"),
		WriteRetries:          p.retries("DB_WRITE_RETRIES"),
		CheckInterval:         p.duration("DB_CHECK_INTERVAL", 0),
		ReconnectMax:          p.duration("DB_RECONNECT_MAX", 0),
		NoServerSettings:      !p.boolean("DB_SERVER_SETTINGS", true),
		CreateDatabase:        p.boolean("DB_CREATE_DATABASE", c.Environment != "production"),
	}
	migrate := p.boolean("DB_MIGRATE", true)
	c.IdempotencyTTL = p.duration("IDEMPOTENCY_KEY_TTL", 24*time.Hour)
	c.Jobs = jobs.Policy{Visibility: oneOf(&p, "JOB_VISIBILITY", jobs.VisibilityOwner, jobs.Visibilities),
		Settle: time.Duration(p.intRange("ANALYSIS_SETTLE_SECONDS", 3, 0, 86400)) * time.Second}
	if c.Jobs.Settle == 0 {
		c.Jobs.Settle = time.Millisecond // 0 means at once; the zero value would mean the default
	}
	c.Uploads = uploads.Config{
		Dir:          p.str("UPLOAD_DIR", "./uploads"),
		MaxFileBytes: int64(p.intRange("MAX_FILE_SIZE_MB", 100, 1, 1<<20)) << 20,
		SweepGrace:   p.duration("UPLOAD_SWEEP_GRACE", time.Hour),
		AllowedTypes: uploads.DefaultAllowedTypes,
	}
	c.Uploads.MaxRequestBytes = int64(p.intRange("UPLOAD_MAX_REQUEST_MB", int(max(c.Uploads.MaxFileBytes>>20, 1024)), 1, 1<<22)) << 20
	if types := p.list("ALLOWED_FILE_TYPES"); types != nil {
		c.Uploads.AllowedTypes = nil
		for _, t := range types {
			t = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(t), "."))
			if t != "" && !slices.Contains(c.Uploads.AllowedTypes, t) {
				c.Uploads.AllowedTypes = append(c.Uploads.AllowedTypes, t)
			}
		}
	}
	c.Storage = blob.Config{URL: p.str("STORAGE_URL", ""), Dir: c.Uploads.Dir, S3: blob.S3Config{
		Endpoint:        p.str("S3_ENDPOINT", ""),
		AccessKeyID:     p.str("AWS_ACCESS_KEY_ID", ""),
		SecretAccessKey: p.str("AWS_SECRET_ACCESS_KEY", ""),
		Region:          p.str("AWS_REGION", "us-east-1"),
	}}
	if _, ok := p.get("S3_FORCE_PATH_STYLE"); ok {
		v := p.boolean("S3_FORCE_PATH_STYLE", true)
		c.Storage.S3.ForcePathStyle = &v
	}
	if u := c.Storage.URL; u != "" && !strings.HasPrefix(u, "file://") && !strings.HasPrefix(u, "s3://") {
		p.fail("STORAGE_URL", "must be empty, file:///path or s3://bucket/prefix")
	}
	c.UploadTimeout = p.duration("UPLOAD_TIMEOUT", time.Hour)
	c.UploadIdleTimeout = p.duration("UPLOAD_IDLE_TIMEOUT", time.Minute)
	c.TusExpiry = p.duration("TUS_EXPIRY", 24*time.Hour)
	c.Worker = worker.Config{
		ID:          p.str("WORKER_ID", ""),
		Concurrency: p.intRange("WORKER_CONCURRENCY", 2, 1, 256),
		Timeout:     p.duration("WORKER_TIMEOUT", 30*time.Minute),
		Lease:       p.duration("WORKER_LEASE", 30*time.Second),
		Poll:        p.duration("WORKER_POLL_INTERVAL", 2*time.Second),
	}
	// Redaction of what the analysis keeps (evidence, examples), on by
	// default as in the original; IP addresses are often the evidence.
	c.Worker.Analysis.Redact = redact.Config{Enabled: p.boolean("PII_REDACTION_ENABLED", true),
		IPs: p.boolean("PII_REDACT_IPS", false)}
	if c.Worker.Lease < 3*time.Second {
		p.fail("WORKER_LEASE", "must be at least 3s: heartbeats come every third of it")
	}
	c.SSE = sse.Config{
		Heartbeat:    p.duration("SSE_HEARTBEAT_INTERVAL", 15*time.Second),
		WriteTimeout: p.duration("SSE_WRITE_TIMEOUT", 10*time.Second),
		Retry:        p.duration("SSE_RETRY", 3*time.Second),
		MaxReplay:    p.intRange("SSE_REPLAY_LIMIT", 1000, 1, 100000),
		Buffer:       p.intRange("SSE_CLIENT_BUFFER", 256, 1, 100000),
		// 2,000 streams are about 100 MB (50 KB each, see
		// docs/benchmarks.md) and one event reaches them all within about
		// 100 ms on two cores; 64 per client is 32 browser tabs of the UI
		// (two streams a tab at most), or a small office behind one NAT
		// address, and a thirtieth of the process.
		MaxStreams:          p.capacity("SSE_MAX_STREAMS", 2000, 1000000),
		MaxStreamsPerClient: p.capacity("SSE_MAX_STREAMS_PER_CLIENT", 64, 1000000),
		// Unset: a quarter of the pool, which only the built pool knows
		// (cmd/api sets it).
		MaxCatchUps: p.capacity("SSE_MAX_CATCHUPS", 0, 10000),
	}
	c.Events = events.TailerConfig{
		FastPoll: p.duration("EVENTS_POLL_INTERVAL", 250*time.Millisecond),
		SlowPoll: p.duration("EVENTS_SAFETY_POLL_INTERVAL", 2*time.Second),
	}
	c.TicketToggles = tickets.Settings{
		ServiceNowEnabled: p.boolean("SERVICENOW_ENABLED", false),
		JiraEnabled:       p.boolean("JIRA_ENABLED", false),
		DualMode:          p.boolean("ITSM_DUAL_MODE_DEFAULT", false),
	}
	c.TicketDefaults = tickets.Defaults{
		ServiceNowAssignmentGroup:   p.str("SERVICENOW_DEFAULT_ASSIGNMENT_GROUP", ""),
		ServiceNowConfigurationItem: p.str("SERVICENOW_DEFAULT_CONFIGURATION_ITEM", ""),
		ServiceNowCategory:          p.str("SERVICENOW_DEFAULT_CATEGORY", ""),
		ServiceNowSubcategory:       p.str("SERVICENOW_DEFAULT_SUBCATEGORY", ""),
		ServiceNowState:             p.str("SERVICENOW_DEFAULT_STATE", "1"),
		ServiceNowAssignedTo:        p.str("SERVICENOW_DEFAULT_ASSIGNED_TO", ""),
		JiraProjectKey:              p.str("JIRA_DEFAULT_PROJECT_KEY", ""),
		JiraIssueType:               p.str("JIRA_DEFAULT_ISSUE_TYPE", "Task"),
		JiraLabels:                  p.list("JIRA_DEFAULT_LABELS"),
		JiraAssignee:                p.str("JIRA_DEFAULT_ASSIGNEE", ""),
	}
	c.Redis = redisconn.Config{
		URL:     p.str("REDIS_URL", ""),
		Timeout: p.duration("REDIS_TIMEOUT", 0),
	}
	if c.Redis.URL != "" {
		if u, err := url.Parse(c.Redis.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
			p.fail("REDIS_URL", "must be a redis://, rediss:// or unix:// URL")
		}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		p.fail("TLS_CERT_FILE", "TLS_CERT_FILE and TLS_KEY_FILE must be set together")
	}
	for _, f := range []string{"TLS_CERT_FILE", "TLS_KEY_FILE"} {
		if v, ok := p.get(f); ok {
			if _, err := os.Stat(v); err != nil {
				p.fail(f, fmt.Sprintf("cannot read %q: %v", v, err))
			}
		}
	}
	c.Auth = p.auth(c.Environment)
	c.RateLimits = RateLimits{
		Enabled: p.boolean("RATE_LIMITING_ENABLED", true),
		Classes: ratelimit.Classes{
			Read:         p.limit("RATE_LIMIT_READ", "600/minute"),
			Write:        p.limit("RATE_LIMIT_WRITE", "120/minute"),
			Auth:         p.limit("RATE_LIMIT_AUTH", "30/minute"),
			LoginAccount: p.limit("RATE_LIMIT_LOGIN_ACCOUNT", "10/15m"),
			LoginAddress: p.limit("RATE_LIMIT_LOGIN_ADDRESS", "60/15m"),
		},
	}
	if err := errors.Join(p.errs...); err != nil {
		return Config{}, err
	}
	c.migrate = migrate
	return c, nil
}

// MigrateEnabled reports whether the service applies migrations itself.
func (c Config) MigrateEnabled() bool { return c.migrate }

// Addr is the listen address.
func (c Config) Addr() string { return fmt.Sprintf("%s:%d", c.Host, c.Port) }

type parser struct {
	lookup Lookup
	errs   []error
}

func (p *parser) fail(key, msg string) {
	p.errs = append(p.errs, fmt.Errorf("%s: %s", key, msg))
}

// get returns the trimmed value, or ok=false if unset or blank.
func (p *parser) get(key string) (string, bool) {
	v, ok := p.lookup(key)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

func (p *parser) str(key, def string) string {
	if v, ok := p.get(key); ok {
		return v
	}
	return def
}

func (p *parser) intRange(key string, def, lo, hi int) int {
	v, ok := p.get(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		p.fail(key, fmt.Sprintf("must be a whole number from %d to %d, got %q", lo, hi, v))
		return def
	}
	return n
}

func (p *parser) boolean(key string, def bool) bool {
	v, ok := p.get(key)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(key, fmt.Sprintf("must be true or false, got %q", v))
		return def
	}
	return b
}

// duration accepts a Go duration ("1500ms", "30s", "2m") or a bare number
// of seconds ("30"), and rejects negative values.
func (p *parser) duration(key string, def time.Duration) time.Duration {
	v, ok := p.get(key)
	if !ok {
		return def
	}
	d, err := parseDuration(v)
	if err != nil || d <= 0 {
		p.fail(key, fmt.Sprintf("must be a positive duration such as 500ms, 30s or 2m, got %q", v))
		return def
	}
	return d
}

func parseDuration(v string) (time.Duration, error) {
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(secs * float64(time.Second)), nil
	}
	return time.ParseDuration(v)
}

// disableable is a duration where 0 turns the feature off (reported to the
// db package as a negative value, since zero there means "default").
func (p *parser) disableable(key string) time.Duration {
	v, ok := p.get(key)
	if !ok {
		return 0
	}
	d, err := parseDuration(v)
	if err != nil || d < 0 {
		p.fail(key, fmt.Sprintf("must be a duration such as 20s, or 0 to disable, got %q", v))
		return 0
	}
	if d == 0 {
		return -1
	}
	return d
}

// capacity is a cap where 0 means none (negative for the sse package,
// where zero means "default"); unset gives def.
func (p *parser) capacity(key string, def, hi int) int {
	v, ok := p.get(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > hi {
		p.fail(key, fmt.Sprintf("must be a whole number from 1 to %d, or 0 for no limit, got %q", hi, v))
		return def
	}
	if n == 0 {
		return -1
	}
	return n
}

// retries is a count where 0 means none (negative for the db package).
func (p *parser) retries(key string) int {
	v, ok := p.get(key)
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 10 {
		p.fail(key, fmt.Sprintf("must be a whole number from 0 to 10, got %q", v))
		return 0
	}
	if n == 0 {
		return -1
	}
	return n
}

func (p *parser) oneOf(key, def string, allowed ...string) string {
	v, ok := p.get(key)
	if !ok {
		return def
	}
	v = strings.ToLower(v)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.fail(key, fmt.Sprintf("must be one of %s, got %q", strings.Join(allowed, ", "), v))
	return def
}

// oneOf is parser.oneOf for a typed set of values.
func oneOf[T ~string](p *parser, key string, def T, allowed []T) T {
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return T(p.oneOf(key, string(def), names...))
}

// roles reads a comma-separated list of roles; unset or blank means all.
func (p *parser) roles(key string) []Role {
	list := p.list(key)
	if len(list) == 0 {
		return slices.Clone(Roles)
	}
	var out []Role
	for _, v := range list {
		r := Role(strings.ToLower(v))
		if !slices.Contains(Roles, r) {
			names := make([]string, len(Roles))
			for i, k := range Roles {
				names[i] = string(k)
			}
			p.fail(key, fmt.Sprintf("%q is not a role; roles are %s", v, strings.Join(names, ", ")))
			continue
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

func (p *parser) level(key string) slog.Level {
	switch p.oneOf(key, "info", "debug", "info", "warn", "warning", "error") {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// list reads a comma-separated list or a JSON array of strings.
func (p *parser) list(key string) []string {
	v, ok := p.get(key)
	if !ok {
		return nil
	}
	var items []string
	if strings.HasPrefix(v, "[") {
		if err := json.Unmarshal([]byte(v), &items); err != nil {
			p.fail(key, "is not a valid JSON array of strings")
			return nil
		}
	} else {
		items = strings.Split(v, ",")
	}
	out := items[:0]
	for _, it := range items {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}

// origins reads a list of origins, comma-separated or as a JSON array (the
// original required JSON arrays; both work here). "*" is refused: the API is
// meant to be called with credentials, and a wildcard would let any site do so.
func (p *parser) origins(key string) []string {
	var out []string
	for _, o := range p.list(key) {
		o = strings.TrimRight(o, "/")
		if o == "*" {
			p.fail(key, `must list origins explicitly; "*" is not allowed`)
			return nil
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
			p.fail(key, fmt.Sprintf("%q is not an origin such as https://rca.example.com", o))
			continue
		}
		out = append(out, o)
	}
	return out
}

// DevOrigins returns the origins allowed cross-origin by default outside
// production: where the original Next.js UI (port 3000) and this project's
// own UI dev server (Vite, port 5173) run on a developer's machine, so that
// either works against a local API out of the box.
func DevOrigins() []string {
	return []string{"http://localhost:3000", "http://127.0.0.1:3000", "http://localhost:5173", "http://127.0.0.1:5173"}
}

// corsOrigins is origins with an environment-dependent default: DevOrigins
// outside production, none in production (where the list must be
// explicit). "none" allows no cross-origin caller anywhere.
func (p *parser) corsOrigins(key, environment string) []string {
	v, ok := p.get(key)
	switch {
	case ok && strings.EqualFold(v, "none"):
		return nil
	case ok:
		return p.origins(key)
	case environment == "production":
		return nil
	}
	return DevOrigins()
}

// auth reads the authentication settings. A missing JWT secret is fatal in
// production and replaced by a random one elsewhere (the caller says so
// loudly); a short one is always fatal, since it would be the weakest link.
func (p *parser) auth(environment string) Auth {
	registration := auth.RegistrationOpen
	if environment == "production" {
		registration = auth.RegistrationAdmin
	}
	a := Auth{
		Config: auth.Config{
			Registration: oneOf(p, "AUTH_REGISTRATION", registration, auth.Registrations),
			Issuer:       p.str("JWT_ISSUER", "rca-engine"),
			Audience:     p.str("JWT_AUDIENCE", "rca-users"),
			AccessTTL:    time.Duration(p.intRange("JWT_ACCESS_TOKEN_EXPIRE_MINUTES", 30, 1, 24*60)) * time.Minute,
			RefreshTTL:   time.Duration(p.intRange("JWT_REFRESH_TOKEN_EXPIRE_DAYS", 7, 1, 365)) * 24 * time.Hour,
			ReuseGrace:   p.duration("JWT_REFRESH_REUSE_GRACE", 10*time.Second),
		},
		Mode:          oneOf(p, "AUTH_MODE", auth.ModeWrites, auth.Modes),
		StreamRecheck: p.duration("AUTH_STREAM_RECHECK", 30*time.Second),
	}
	// A long grace would let a copied refresh token be replayed unnoticed.
	if a.ReuseGrace > time.Minute {
		p.fail("JWT_REFRESH_REUSE_GRACE", "must be at most 1m (it is the window in which a replayed refresh token goes unnoticed)")
	}
	// Not trimmed: a secret's spaces are part of it.
	secret, _ := p.lookup("JWT_SECRET_KEY")
	switch {
	case secret == "" && environment == "production":
		p.fail("JWT_SECRET_KEY", fmt.Sprintf("is required in production: at least %d random bytes, e.g. the output of `openssl rand -hex 32`", auth.MinSecretLen))
	case secret == "":
		a.Secret = []byte(rand.Text() + rand.Text())
		a.SecretEphemeral = true
	case len(secret) < auth.MinSecretLen:
		p.fail("JWT_SECRET_KEY", fmt.Sprintf("must be at least %d bytes long, got %d (try `openssl rand -hex 32`)", auth.MinSecretLen, len(secret)))
	default:
		a.Secret = []byte(secret)
	}
	a.AdminEmail = p.str("ADMIN_EMAIL", "")
	a.AdminUsername = p.str("ADMIN_USERNAME", "")
	a.AdminPassword, _ = p.lookup("ADMIN_PASSWORD")
	set := 0
	for _, v := range []string{a.AdminEmail, a.AdminUsername, a.AdminPassword} {
		if v != "" {
			set++
		}
	}
	switch {
	case set > 0 && set < 3:
		p.fail("ADMIN_USERNAME", "ADMIN_EMAIL, ADMIN_USERNAME and ADMIN_PASSWORD must be set together")
	case set == 3 && len(a.AdminPassword) < 12:
		p.fail("ADMIN_PASSWORD", "must be at least 12 characters long")
	case set == 3 && (!strings.Contains(a.AdminEmail, "@") || len(a.AdminUsername) < 3 || len(a.AdminUsername) > 50):
		p.fail("ADMIN_USERNAME", "ADMIN_EMAIL must be an email address and ADMIN_USERNAME 3 to 50 characters")
	}
	return a
}

func (p *parser) limit(key, def string) ratelimit.Limit {
	v := p.str(key, def)
	l, err := ratelimit.ParseLimit(v)
	if err != nil {
		p.fail(key, fmt.Sprintf("must be a rate such as 100/minute, 10/15m or off, got %q", v))
		l, _ = ratelimit.ParseLimit(def)
	}
	return l
}

// prefixes reads addresses or CIDR ranges, comma-separated or a JSON array.
func (p *parser) prefixes(key string) []netip.Prefix {
	var out []netip.Prefix
	for _, v := range p.list(key) {
		if pfx, err := netip.ParsePrefix(v); err == nil {
			if pfx.Bits() == 0 {
				// Trusting everyone lets any client choose its address
				// and escape every per-address limit.
				p.fail(key, fmt.Sprintf("%q trusts every address; list the proxies themselves", v))
				continue
			}
			out = append(out, pfx.Masked())
			continue
		}
		addr, err := netip.ParseAddr(v)
		if err != nil {
			p.fail(key, fmt.Sprintf("%q is not an address or a CIDR range such as 10.0.0.0/8", v))
			continue
		}
		out = append(out, netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen()))
	}
	return out
}
