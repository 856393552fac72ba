// Command api serves the RCA Engine API. It only wires things together:
// configuration in, dependencies built (without connecting), HTTP served at
// once, and a graceful shutdown on SIGINT or SIGTERM.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"syscall"
	"time"

	"github.com/joho/godotenv"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/rca-engine/api/internal/api"
	"github.com/rca-engine/api/internal/auth"
	"github.com/rca-engine/api/internal/blob"
	"github.com/rca-engine/api/internal/config"
	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/events"
	"github.com/rca-engine/api/internal/idempotency"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/lifecycle"
	"github.com/rca-engine/api/internal/metrics"
	"github.com/rca-engine/api/internal/ratelimit"
	"github.com/rca-engine/api/internal/redisconn"
	"github.com/rca-engine/api/internal/sse"
	"github.com/rca-engine/api/internal/tickets"
	"github.com/rca-engine/api/internal/uploads"
	"github.com/rca-engine/api/internal/worker"
	"github.com/rca-engine/api/migrations"
	"github.com/rca-engine/api/ui"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func main() {
	// Under the Windows service manager the working directory is
	// System32: look for .env beside the executable there.
	envFile := ".env"
	if isService() {
		if exe, err := os.Executable(); err == nil {
			envFile = filepath.Join(filepath.Dir(exe), ".env")
		}
	}
	lookup, envWarnings, err := environment(envFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(2)
	}
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(healthcheck(lookup))
	}
	if isService() {
		os.Exit(runService(lookup, envWarnings))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, lookup, envWarnings, os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// environment reads the process environment and, if present, a .env file
// whose values apply only where the environment has none. Unknown keys in
// .env are reported, not fatal: the file is often shared with docker compose.
func environment(path string) (config.Lookup, []string, error) {
	file, err := godotenv.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return os.LookupEnv, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	var warnings []string
	for k := range file {
		if !slices.Contains(config.Vars, k) {
			warnings = append(warnings, k)
		}
	}
	slices.Sort(warnings)
	return func(key string) (string, bool) {
		if v, ok := os.LookupEnv(key); ok {
			return v, true
		}
		v, ok := file[key]
		return v, ok
	}, warnings, nil
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// run serves until ctx ends. If ready is not nil, it receives the listener's
// address once the server accepts connections and every background
// component has started (tests use port 0).
//
// It is load (configuration), build (every part, connecting to nothing),
// serve (listen first, then start the background components), and, on
// SIGTERM, an ordered stop within HTTP_SHUTDOWN_TIMEOUT: the HTTP server
// first (no new work, in-flight requests finish, streams end), then the
// components in the reverse order of their start, each waited for.
func run(ctx context.Context, lookup config.Lookup, envWarnings []string, logOut io.Writer, ready chan<- string) error {
	cfg, err := config.Load(lookup)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	log := newLogger(cfg, logOut)
	// go-redis writes its own log lines through one logger for the whole
	// process (redis.SetLogger; v9.23 has no per-client option), to stderr
	// by default, outside the structured log and its format. The project
	// sets no globals and runs no init side effects; this is a deliberate
	// exception, since it cannot be had per client: one process runs one
	// service, so the process's wiring sets it, here, once per run, rather
	// than redisconn.New, which may build several clients. (Tests that run
	// several services in one process send go-redis's lines to the latest
	// one's log.)
	redis.SetLogger(redisconn.NewLogger(log))
	for _, k := range envWarnings {
		log.Warn(".env sets a variable this service does not read", "variable", k)
	}
	warnAboutAccess(cfg, log)

	app, err := build(cfg, log)
	if err != nil {
		return err
	}
	defer app.close()

	ln, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		return fmt.Errorf("listen on %s (PORT=%d): %w", cfg.Addr(), cfg.Port, err)
	}
	srv := &http.Server{
		Handler:           app.handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		// No ReadTimeout/WriteTimeout here: they would cut event streams.
		// Non-streaming routes get a per-request deadline and a body cap in
		// the edge middleware instead.
		IdleTimeout:    cfg.IdleTimeout,
		MaxHeaderBytes: cfg.MaxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// Requests must outlive the signal: Shutdown lets in-flight ones
		// finish (cancelling them would fail writes that were about to
		// commit). Streams are ended by RegisterOnShutdown below.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	// Streams never go idle; end them so that Shutdown can finish.
	srv.RegisterOnShutdown(app.streams.Shutdown)

	// Serve first, connect second: the dependencies come up in the
	// background while the API already answers.
	serveErr := make(chan error, 1)
	if cfg.TLSCertFile != "" {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		go func() { serveErr <- srv.ServeTLS(ln, cfg.TLSCertFile, cfg.TLSKeyFile) }()
	} else {
		go func() { serveErr <- srv.Serve(ln) }()
	}
	if err := app.components.Start(ctx); err != nil {
		srv.Close()
		return err
	}
	log.Info("serving", "addr", ln.Addr().String(), "version", buildVersion(), "environment", cfg.Environment,
		"roles", cfg.Roles, "tls", cfg.TLSCertFile != "", "auth_mode", cfg.Auth.Mode, "rate_limits", cfg.RateLimits.Enabled)
	if ready != nil {
		ready <- ln.Addr().String()
	}

	var serveFailed error
	select {
	case err := <-serveErr:
		serveFailed = fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("in-flight requests did not finish in time", "error", err)
		srv.Close()
	}
	// The components get what is left of the grace period, and never less
	// than componentsGrace: requests that used it all up must not leave
	// loops running against a database that is being closed.
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), max(time.Until(deadline(sctx)), componentsGrace))
	defer ccancel()
	if err := app.components.Stop(cctx); err != nil {
		log.Warn("not every component stopped in time", "error", err)
	}
	log.Info("stopped")
	return serveFailed
}

// componentsGrace is the least time the background components get to stop
// after the HTTP server, whatever the requests left of the grace period.
const componentsGrace = 5 * time.Second

func deadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// app is the built service: the HTTP handler and the background
// components, in start order.
type app struct {
	handler    http.Handler
	streams    *sse.Server
	components *lifecycle.Group
	close      func()
}

// build makes every part of the service from cfg. It connects to nothing:
// the components connect once started.
func build(cfg config.Config, log *slog.Logger) (*app, error) {
	cfg.DB.Logger = log
	if cfg.MigrateEnabled() {
		cfg.DB.Migrations = migrations.FS
	}
	database, err := db.New(cfg.DB)
	if err != nil {
		return nil, err
	}
	cfg.Redis.Logger = log
	rdb, err := redisconn.New(cfg.Redis)
	if err != nil {
		database.Close()
		return nil, err
	}
	closeAll := func() { rdb.Close(); database.Close() }

	// The file store: opening it connects to nothing (an S3 store that is
	// down at start is reported by health, and each call fails fast).
	store, err := blob.Open(context.Background(), cfg.Storage)
	if err != nil {
		closeAll()
		return nil, err
	}
	storage := uploads.NewStorage(store, 0, log)

	deps := dependency.Set{database.Tracker(), rdb.Tracker(), storage.Tracker()}
	uiFiles, uiBuilt := ui.Dist()
	if !uiBuilt {
		uiFiles = nil
		log.Info("the web UI is not built into this binary; / says how to build it")
	}
	eventLog := eventlog.New(database)
	idem := idempotency.New(database, cfg.IdempotencyTTL)
	hub := events.NewHub()
	tailerCfg := cfg.Events
	// With Redis up, other replicas wake this one; poll slowly then.
	tailerCfg.Fast = func() bool { return rdb.Tracker().Get().Status != dependency.Up }
	tailerCfg.Logger = log
	tailer := events.NewTailer(eventLog, hub, tailerCfg)
	relay := events.NewRelay(tailer, rdb, log)
	eventLog.OnCommit(relay.Notify)
	sseCfg := cfg.SSE
	if sseCfg.MaxCatchUps == 0 {
		// A quarter of the pool: a reconnect storm's replays then leave
		// three connections in four to ordinary requests.
		sseCfg.MaxCatchUps = max(1, int(database.Stat().MaxConns())/4)
	}
	streams := sse.New(sseCfg, hub, eventLog, deps)
	authCfg := cfg.Auth.Config
	authCfg.Logger = log
	authn, err := auth.New(database, authCfg)
	if err != nil {
		closeAll()
		return nil, err
	}
	var (
		limiter      *ratelimit.Limiter
		limitMetrics []prometheus.Collector
	)
	if cfg.RateLimits.Enabled {
		limiter = ratelimit.New(rdb, ratelimit.Config{Logger: log})
		limitMetrics = append(limitMetrics, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "rca_ratelimit_local_decisions_total",
			Help: "Rate-limit decisions taken per process because Redis was unavailable."},
			func() float64 { return float64(limiter.Fallbacks()) }))
	}
	jobService := jobs.NewService(database, eventLog, cfg.Jobs)
	uploadCfg := cfg.Uploads
	uploadCfg.Logger = log
	files, err := uploads.New(database, eventLog, jobService, storage, uploadCfg)
	if err != nil {
		closeAll()
		return nil, err
	}
	workerCfg := cfg.Worker
	workerCfg.Logger = log
	analyst := worker.New(workerCfg, worker.Deps{Jobs: jobService, Files: files, Hub: hub,
		Database: database.Tracker(), Storage: storage.Tracker()})
	if cfg.HasRole(config.RoleWorker) {
		jobService.OnReady(analyst.Wake) // a start here is claimed at once
		limitMetrics = append(limitMetrics, analyst.Collectors()...)
	}
	limitMetrics = append(limitMetrics, worker.NewQueueCollector(jobService, 5*time.Second,
		func() bool { return database.State().Status == dependency.Up }))
	tus, err := api.NewTus(api.TusOptions{Dir: filepath.Join(uploadCfg.Dir, "tus"), Uploads: files,
		Expiry: cfg.TusExpiry, Logger: log})
	if err != nil {
		closeAll()
		return nil, err
	}
	handler := api.NewHandler(api.Options{
		Version:             buildVersion(),
		Environment:         cfg.Environment,
		MaxBodyBytes:        cfg.MaxBodyBytes,
		RequestTimeout:      cfg.RequestTimeout,
		CORSOrigins:         cfg.CORSOrigins,
		ReadinessRequiresDB: cfg.ReadinessRequiresDB,
		UI:                  uiFiles,
		AuthMode:            cfg.Auth.Mode,
		RateLimits:          cfg.RateLimits.Classes,
		TrustedProxies:      cfg.TrustedProxies,
		StreamRecheck:       cfg.Auth.StreamRecheck,
		Uploads:             api.UploadOptions{Timeout: cfg.UploadTimeout, IdleTimeout: cfg.UploadIdleTimeout},
	}, api.Deps{
		Database:     database,
		Dependencies: deps,
		Jobs:         jobService,
		Events:       eventLog,
		Tickets:      tickets.New(database, eventLog, cfg.Jobs, cfg.TicketDefaults, cfg.TicketToggles),
		Idempotency:  idem,
		Streams:      streams,
		Metrics: metrics.New(deps, database.Stat, append(limitMetrics,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rca_sse_streams_open", Help: "Open event streams."},
				func() float64 { return float64(streams.Open()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "rca_sse_evictions_total",
				Help: "Event streams closed because their client fell too far behind."},
				func() float64 { return float64(streams.Evictions()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "rca_sse_streams_refused_total",
				Help:        "Event streams refused before they started, by the cap reached: client (429) or total (503).",
				ConstLabels: prometheus.Labels{"limit": "client"}},
				func() float64 { client, _ := streams.Refused(); return float64(client) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "rca_sse_streams_refused_total",
				Help:        "Event streams refused before they started, by the cap reached: client (429) or total (503).",
				ConstLabels: prometheus.Labels{"limit": "total"}},
				func() float64 { _, total := streams.Refused(); return float64(total) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "rca_sse_catchups_deferred_total",
				Help: "Stream catch-up reads put off (and retried shortly) because SSE_MAX_CATCHUPS were running."},
				func() float64 { return float64(streams.DeferredCatchUps()) }))...),
		Logger:  log,
		Auth:    authn,
		Limiter: limiter,
		Uploads: files,
		Tus:     tus,
	})

	// Start order: the connections first (everything else uses them),
	// then what reads and announces events, then the maintenance loops.
	// Stop order is the reverse, so nothing loses its database while it
	// still works.
	g := lifecycle.NewGroup(log)
	g.Add("postgres", lifecycle.Blocking{OnStart: func() { database.Start(context.Background()) }, OnStop: database.Close})
	g.Add("redis", lifecycle.Blocking{OnStart: func() { rdb.Start(context.Background()) }, OnStop: rdb.Close})
	g.Add("storage", lifecycle.Blocking{OnStart: func() { storage.Start(context.Background()) }, OnStop: storage.Stop})
	g.Add("event-tailer", lifecycle.NewLoop(tailer.Run))
	g.Add("event-relay", lifecycle.NewLoop(relay.Run))
	g.Add("dependency-events", lifecycle.NewLoop(func(ctx context.Context) { events.WatchDependencies(ctx, hub, deps) }))
	if cfg.HasRole(config.RoleAPI) {
		g.Add("idempotency-sweep", lifecycle.NewLoop(func(ctx context.Context) { idem.Sweep(ctx, time.Hour, log) }))
		g.Add("session-sweep", lifecycle.NewLoop(func(ctx context.Context) { authn.Sweep(ctx, time.Hour) }))
		g.Add("upload-sweep", lifecycle.NewLoop(func(ctx context.Context) { files.RunSweep(ctx, 10*time.Minute) }))
		g.Add("tus-sweep", lifecycle.NewLoop(tus.RunSweep))
		if cfg.Auth.AdminUsername != "" {
			g.Add("first-admin", lifecycle.NewLoop(func(ctx context.Context) {
				ensureAdmin(ctx, authn, database.Tracker(), cfg.Auth, log)
			}))
		}
	}
	if cfg.HasRole(config.RoleWorker) {
		// Last to start, first to stop: on SIGTERM it hands its jobs back
		// while the database and the event feed are still there.
		g.Add("worker", analyst)
	}
	return &app{handler: handler, streams: streams, components: g, close: closeAll}, nil
}

// warnAboutAccess says loudly what the access settings let strangers do.
func warnAboutAccess(cfg config.Config, log *slog.Logger) {
	if cfg.Auth.SecretEphemeral {
		log.Warn("JWT_SECRET_KEY is not set: using a random secret for this process only; every token dies " +
			"when it stops and replicas cannot verify each other's tokens. Set it (openssl rand -hex 32) outside development.")
	}
	if cfg.Auth.Mode != auth.ModeOff && cfg.Auth.Registration == auth.RegistrationOpen {
		log.Warn("AUTH_REGISTRATION=open: anyone who can reach this service can create an account and then write " +
			"(the default outside production); set AUTH_REGISTRATION=admin to allow only accounts an admin creates")
	}
	if cfg.Auth.Mode == auth.ModeOff {
		log.Warn("AUTH_MODE=off: anyone who can reach this service may create jobs, file tickets and change integrations")
	}
}

// ensureAdmin creates the first admin from the environment as soon as the
// database is up (and migrated), retrying until it is; a fresh install is
// then usable without editing the database.
func ensureAdmin(ctx context.Context, a *auth.Service, database *dependency.Tracker, c config.Auth, log *slog.Logger) {
	states, cancel := database.Subscribe()
	defer cancel()
	for {
		if database.Get().Status == dependency.Up {
			created, err := a.EnsureAdmin(ctx, c.AdminEmail, c.AdminUsername, c.AdminPassword)
			if err == nil {
				if created {
					log.Info("first admin created from ADMIN_USERNAME", "username", c.AdminUsername)
				}
				return
			}
			log.Warn("could not create the first admin yet; will retry", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-states:
		case <-time.After(5 * time.Second):
		}
	}
}

func newLogger(cfg config.Config, out io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(out, opts))
	}
	return slog.New(slog.NewTextHandler(out, opts))
}

// healthcheck is for container HEALTHCHECKs, which then need no shell or
// curl in the image: exit 0 if the local server answers /api/health/live.
func healthcheck(lookup config.Lookup) int {
	cfg, err := config.Load(lookup)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	client := &http.Client{Timeout: 3 * time.Second}
	scheme := "http"
	if cfg.TLSCertFile != "" {
		// Loopback only, and only to ask whether the process answers: the
		// certificate names the public host, not 127.0.0.1.
		scheme = "https"
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	}
	resp, err := client.Get(fmt.Sprintf("%s://127.0.0.1:%d/api/health/live", scheme, cfg.Port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "status", resp.StatusCode)
		return 1
	}
	return 0
}
