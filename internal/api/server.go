// Package api is the HTTP edge: routes under /api, middleware, and the
// translation of domain errors into status codes and problem documents.
// Nothing below this package knows about HTTP.
package api

import (
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/cors"

	"github.com/rca-engine/api/internal/auth"
	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/idempotency"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/metrics"
	"github.com/rca-engine/api/internal/ratelimit"
	"github.com/rca-engine/api/internal/sse"
	"github.com/rca-engine/api/internal/tickets"
	"github.com/rca-engine/api/internal/uploads"
	"github.com/rca-engine/api/internal/validate"
)

// Options are the edge's settings.
type Options struct {
	AppName             string
	Version             string
	Environment         string
	MaxBodyBytes        int64
	RequestTimeout      time.Duration
	CORSOrigins         []string
	ReadinessRequiresDB bool
	// UI is the web UI's build (nil: not built; "/" then says how).
	UI fs.FS
	// AuthMode says which routes need a signed-in user (default
	// auth.ModeWrites; auth.ModeOff without Deps.Auth).
	AuthMode   auth.Mode
	RateLimits ratelimit.Classes
	// TrustedProxies may set X-Forwarded-For and X-Forwarded-Proto.
	TrustedProxies []netip.Prefix
	// StreamRecheck is how often an open event stream's credential is
	// checked again in mode "all" (default 30s).
	StreamRecheck time.Duration
	// Uploads are the file routes' own body limit and timeouts.
	Uploads UploadOptions
}

// Deps is what the edge is wired to. Deps.Dependencies lists every tracked
// dependency, PostgreSQL first.
type Deps struct {
	// Database is PostgreSQL's state and pool figures, for readiness and
	// health; Dependencies lists every tracked dependency, PostgreSQL first.
	Database     Database
	Dependencies dependency.Set
	Jobs         *jobs.Service
	Events       *eventlog.Log
	Tickets      *tickets.Service
	Idempotency  *idempotency.Store
	// Streams serves the SSE routes; nil leaves them unregistered.
	Streams *sse.Server
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	// Auth checks credentials; Limiter enforces RateLimits (nil: none).
	Auth    *auth.Service
	Limiter *ratelimit.Limiter
	// Uploads serves the file routes (nil leaves them unregistered);
	// Tus, when set, is the tus resumable-upload handler mounted at
	// /api/files/tus/.
	Uploads *uploads.Service
	Tus     *Tus
}

// Database is what the edge reads of PostgreSQL: memory only, never a query.
type Database interface {
	State() dependency.State
	PoolStats() dependency.PoolStats
}

type server struct {
	opts     Options
	database Database
	deps     dependency.Set
	jobs     *jobs.Service
	events   *eventlog.Log
	tickets  *tickets.Service
	idem     *idempotency.Store
	streams  *sse.Server
	metrics  *metrics.Metrics
	validate *validate.Validator
	auth     *auth.Service
	limiter  *ratelimit.Limiter
	uploads  *uploads.Service
	tus      *Tus
	log      *slog.Logger
	started  time.Time
}

// NewHandler returns the service's HTTP handler.
func NewHandler(opts Options, d Deps) http.Handler {
	if opts.AppName == "" {
		opts.AppName = "RCA Engine API"
	}
	s := &server{opts: opts, database: d.Database, deps: d.Dependencies, jobs: d.Jobs, events: d.Events, tickets: d.Tickets,
		idem: d.Idempotency, streams: d.Streams, metrics: d.Metrics, validate: validate.New(),
		auth: d.Auth, limiter: d.Limiter, uploads: d.Uploads, tus: d.Tus, log: d.Logger, started: time.Now()}
	if d.Tus != nil {
		d.Tus.srv = s
	}
	if s.opts.StreamRecheck <= 0 {
		s.opts.StreamRecheck = 30 * time.Second
	}
	switch {
	case d.Auth == nil && (opts.AuthMode == "" || opts.AuthMode == auth.ModeOff):
		// An edge built without accounts (some tests) has nothing to check.
		s.opts.AuthMode = auth.ModeOff
	case d.Auth == nil:
		panic("api: AuthMode " + string(opts.AuthMode) + " needs Deps.Auth")
	case opts.AuthMode == "":
		s.opts.AuthMode = auth.ModeWrites
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}

	r := chi.NewRouter()
	r.Use(s.clientAddress, s.instrument, s.recoverer, s.securityHeaders, privateAnswers)
	if len(opts.CORSOrigins) > 0 {
		r.Use(cors.Handler(cors.Options{
			AllowedOrigins: opts.CORSOrigins,
			AllowedMethods: []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"},
			AllowedHeaders: []string{"Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID", "X-Request-ID",
				// tus resumable uploads
				"Tus-Resumable", "Upload-Length", "Upload-Offset", "Upload-Metadata", "Upload-Defer-Length",
				"X-HTTP-Method-Override", "Range"},
			ExposedHeaders: []string{"X-Degraded", "X-Request-ID", "Retry-After", "Location", "WWW-Authenticate",
				"Tus-Resumable", "Tus-Version", "Tus-Max-Size", "Tus-Extension", "Upload-Offset", "Upload-Length",
				"Upload-Metadata", "Upload-Expires", "Upload-File-Id", "Content-Range", "Content-Disposition",
				"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy",
				"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"},
			AllowCredentials: true,
			MaxAge:           600,

			// The sign-in routes' cross-site check asks the same question.
			AllowOriginFunc: s.originAllowed,
		}))
	}
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		notFound(w, r, "No such route: "+r.Method+" "+r.URL.Path+".")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, Problem{Status: http.StatusMethodNotAllowed,
			Detail: r.Method + " is not allowed on " + r.URL.Path + "."})
	})
	r.Method(http.MethodGet, "/metrics", d.Metrics.Handler())
	r.With(bounded(opts.RequestTimeout, opts.MaxBodyBytes)).Get("/*", s.serveUI)

	r.Route("/api", func(r chi.Router) {
		read := s.limited("read", func(l ratelimit.Classes) ratelimit.Limit { return l.Read })
		write := s.limited("write", func(l ratelimit.Classes) ratelimit.Limit { return l.Write })
		byMethod := func(next http.Handler) http.Handler {
			reads, writes := read(next), write(next)
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet || r.Method == http.MethodHead {
					reads.ServeHTTP(w, r)
					return
				}
				writes.ServeHTTP(w, r)
			})
		}

		// Probes: never limited, never authenticated, in every mode. The
		// full report shows raw errors to admins, so a credential sent with
		// it is checked, and that request counts against the read limit
		// (an anonymous one touches nothing and is never limited).
		r.Group(func(r chi.Router) {
			r.Use(bounded(opts.RequestTimeout, opts.MaxBodyBytes))
			r.With(s.ifCredential(read, s.authenticate)).Get("/health", s.health)
			r.Get("/health/live", s.live)
			r.Get("/health/healthz", s.live)
			r.Get("/health/ready", s.ready)
			r.Get("/health/readyz", s.ready)
		})

		if s.auth != nil {
			// Signing in: open in every mode, limited per address.
			r.Group(func(r chi.Router) {
				r.Use(bounded(opts.RequestTimeout, opts.MaxBodyBytes))
				r.Get("/auth/config", s.authConfig)
				r.Group(func(r chi.Router) {
					r.Use(s.limitedBy("auth", func(l ratelimit.Classes) ratelimit.Limit { return l.Auth }, byAddress), s.authenticate)
					r.With(s.sameSiteSignIn).Post("/auth/login", s.login)
					r.With(s.sameSiteSignIn).Post("/auth/register", s.register)
					// Refresh has its own rule: its cookie is honoured
					// only for same-origin requests (refreshToken).
					r.Post("/auth/refresh", s.refresh)
				})
			})
		}

		// Event streams live for as long as the client stays: no request
		// deadline, but every write has one (see package sse).
		if s.streams != nil {
			r.Group(func(r chi.Router) {
				r.Use(s.streamAuth, read, s.refuseBadCredential, s.need(auth.Read), s.admitStream)
				r.Get("/sse/jobs/{id}", s.jobStream)
				r.Get("/jobs/{id}/stream", s.jobStream)
				r.Get("/sse/events", s.allEvents)
			})
		}

		// Files: their own body limit and timeouts (uploads and downloads
		// run for as long as the bytes keep moving), the same
		// authentication and rate limits as every route.
		if s.uploads != nil {
			r.Group(func(r chi.Router) {
				r.Use(s.transfer, s.authenticate, byMethod)
				r.With(s.need(auth.Write)).Post("/files/upload", s.uploadFiles)
				r.With(s.need(auth.Read)).Get("/files/{id}/content", s.fileContent)
				if s.tus != nil {
					// tus 1.0: creation at the base, then HEAD (offset),
					// PATCH (bytes from it) and DELETE on each upload.
					tus := s.need(auth.Write)(s.tus)
					for _, p := range []string{"/files/tus", "/files/tus/"} {
						r.Method(http.MethodPost, p, tus)
						r.Method(http.MethodOptions, p, s.tus)
					}
					for _, m := range []string{http.MethodHead, http.MethodPatch, http.MethodDelete} {
						r.Method(m, "/files/tus/{upload_id}", tus)
					}
				}
			})
		}

		// A job created with its files (multipart) gets the upload bounds;
		// every other request here the JSON API's.
		jsonBounds := bounded(opts.RequestTimeout, opts.MaxBodyBytes)
		jsonOrFiles := func(next http.Handler) http.Handler {
			b, t := jsonBounds(next), s.transfer(next)
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if s.uploads != nil && r.Method == http.MethodPost && isMultipart(r) &&
					(r.URL.Path == "/api/jobs" || r.URL.Path == "/api/jobs/") {
					t.ServeHTTP(w, r)
					return
				}
				b.ServeHTTP(w, r)
			})
		}

		r.Group(func(r chi.Router) {
			r.Use(jsonOrFiles, s.authenticate, byMethod)

			r.Group(func(r chi.Router) {
				r.Use(s.need(auth.Read))
				r.Get("/", s.root)
				r.Get("/status", s.status)
				r.Get("/openapi.json", s.openAPI)
				// The original served these at /api/jobs/ and the UI
				// calls /api/jobs: both answer, without a redirect.
				for _, p := range []string{"/jobs", "/jobs/"} {
					r.Get(p, s.listJobs)
				}
				r.Get("/jobs/{id}", s.getJob)
				r.Get("/jobs/{id}/events", s.jobEvents)
				r.Get("/summary/{job_id}", s.getSummary)
				r.Get("/summary/{job_id}/report.{format}", s.getReport)
				for _, p := range []string{"/tickets", "/tickets/"} {
					r.Get(p, s.listTickets)
				}
				r.Get("/tickets/settings/state", s.getSettings)
				r.Get("/tickets/{job_id}", s.jobTickets)
				if s.uploads != nil {
					r.Get("/files/supported-types", s.supportedTypes)
					r.Get("/files/jobs/{job_id}", s.listFiles)
					r.Get("/files/{id}", s.getFile)
					r.Get("/files/{id}/lines", s.fileLines)
				}
			})

			r.Group(func(r chi.Router) {
				r.Use(s.need(auth.Write))
				for _, p := range []string{"/jobs", "/jobs/"} {
					r.Post(p, s.createJob)
				}
				r.Post("/jobs/{id}/cancel", s.cancelJob)
				r.Post("/jobs/{id}/start", s.startJob)
				if s.uploads != nil {
					r.Post("/files/validate", s.validateFile)
				}
				for _, p := range []string{"/tickets", "/tickets/"} {
					r.Post(p, s.createTicket)
				}
				r.Post("/tickets/dispatch", s.dispatch)
			})

			// Integration settings decide whether tickets reach a real
			// ServiceNow or Jira: admins only.
			r.With(s.need(auth.Administer)).Put("/tickets/settings/state", s.putSettings)

			if s.auth != nil {
				// The caller's own account and tokens, and account
				// management: a principal is needed in every mode.
				r.Post("/auth/logout", s.logout)
				r.Group(func(r chi.Router) {
					r.Use(s.need(auth.Own))
					r.Get("/auth/me", s.me)
					r.Get("/auth/tokens", s.listTokens)
					r.Post("/auth/tokens", s.createToken)
					r.Delete("/auth/tokens/{id}", s.revokeToken)
				})
				r.Group(func(r chi.Router) {
					r.Use(s.need(auth.ManageUsers))
					r.Get("/auth/users", s.listUsers)
					r.Patch("/auth/users/{id}", s.updateUser)
				})
			}
		})
	})
	return r
}
