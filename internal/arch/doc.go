// Package arch holds no code: its doc is the map of the service's packages
// and its test keeps the map true (TestImportRules fails on an import that
// breaks a rule).
//
// Which package owns what, by layer; dependencies point down, never up:
//
//	leaf     apperr (error kinds), validate (struct rules), lifecycle (start/stop),
//	         dependency (a dependency's state and supervisor), faults, pgtest,
//	         textenc (text or binary, encodings), archive (safe unpacking), blob (content by key)
//	engine   analysis (logs in, ranked causes and report out) over its parts
//	         analysis/logparse (records), analysis/redact, analysis/drain (templates)
//	infra    db (PostgreSQL: pool, transactions, hooks, migrations), redisconn
//	domain   eventlog (job_events: append, read in commit order)
//	         jobs (jobs and their lifecycle), tickets (ITSM tickets and toggles),
//	         auth (accounts, sessions, tokens, who may do what), idempotency,
//	         uploads (files of jobs: receive, unpack, store once, serve to those allowed)
//	runtime  events (tailer, hub, relay), sse (event streams), ratelimit, metrics,
//	         worker (claims jobs, runs the analysis, records the outcome; no net/http)
//	edge     api (HTTP: decode, call one use case, encode; errors mapped by kind)
//	wiring   config (environment to each package's Config), cmd/* (build, start, stop)
//
// The rules that hold it together:
//   - Domain packages never import net/http: a worker or the watcher calls
//     the same use cases the HTTP edge does.
//   - The HTTP edge imports neither pgx nor db: it opens no transaction and
//     runs no SQL; it passes the idempotency record's transaction through
//     to a use case.
//   - Nothing below the edge imports api, sse, events, metrics or config.
//   - Leaf packages import nothing of this module but other leaves.
//   - The analysis engine imports only leaves and itself: no database, no
//     HTTP, so the worker and the rca command run the same code.
//   - Clients of outside systems (internal/itsm/..., internal/llm/...)
//     import nothing of this module.
package arch
