// Package sse serves the event streams over Server-Sent Events, using
// r3labs/sse for the wire format and connection handling, wrapped so that
// none of its sharp edges reach a user (see shared/reference/sse-notes.md):
//
//   - Its replay log is never used (AutoReplay off): replay comes from
//     PostgreSQL, by event id, so memory does not grow with history and a
//     reconnecting client gets exactly what it missed.
//   - Its streams are never shared: each connection gets its own r3labs
//     stream, fed by this package from an events.Hub subscription. r3labs
//     sends to a stream's subscribers one after the other with blocking
//     sends, so a shared stream lets one stalled client freeze everyone;
//     a private one can only stall itself, and then every write has a
//     deadline and the hub evicts it.
//   - It never answers 400 or 500 (which stop browsers from reconnecting):
//     the stream always exists, its id is ours, and Last-Event-ID is
//     removed before r3labs sees it (it rejects non-integers with 400).
//   - It has no heartbeats: this package sends a comment every Heartbeat.
//   - A stream is removed only after its handler has returned, which
//     avoids its goroutine leak on RemoveStream with a live client.
//
// And two bounds of its own, so that streams cannot starve the service:
// Admit caps the streams held per client and per process (a rate limit
// counts only opens), and at most MaxCatchUps replays read PostgreSQL at
// once, so that a reconnect storm leaves the pool to ordinary requests.
package sse

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	r3 "github.com/r3labs/sse/v2"

	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/events"
	"github.com/rca-engine/api/internal/jobs"
)

// Config tunes the streams.
type Config struct {
	Heartbeat     time.Duration // comment (and job heartbeat event) interval; default 15s
	WriteTimeout  time.Duration // bound on one write to a client; default 10s
	Retry         time.Duration // reconnection delay suggested to clients; default 3s
	InitialReplay int           // events replayed to a job stream's first connection; default 50
	MaxReplay     int           // most events replayed on reconnection; default 1000
	Buffer        int           // live events buffered per client before eviction; default 256

	// MaxStreams caps the streams this process holds at once, and
	// MaxStreamsPerClient those of one client (whatever key the caller of
	// Admit names it by); Admit refuses a stream beyond either. Defaults
	// 2000 and 64; negative: no cap. Counted in this process only: each
	// replica caps its own connections.
	MaxStreams          int
	MaxStreamsPerClient int
	// MaxCatchUps bounds the catch-up reads (replays from PostgreSQL) that
	// run at once, so that a reconnect storm leaves pooled connections to
	// ordinary requests; default 1 (the service passes a quarter of its
	// pool); negative: no bound. A catch-up that finds no slot free within
	// CatchUpWait (default 250ms) gives up and is retried a little later.
	MaxCatchUps int
	CatchUpWait time.Duration
}

func (c *Config) setDefaults() {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Heartbeat, 15*time.Second)
	def(&c.WriteTimeout, 10*time.Second)
	def(&c.Retry, 3*time.Second)
	if c.InitialReplay <= 0 {
		c.InitialReplay = 50
	}
	if c.MaxReplay <= 0 {
		c.MaxReplay = 1000
	}
	if c.Buffer <= 0 {
		c.Buffer = 256
	}
	count := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	count(&c.MaxStreams, 2000)
	count(&c.MaxStreamsPerClient, 64)
	count(&c.MaxCatchUps, 1)
	def(&c.CatchUpWait, 250*time.Millisecond)
}

// Server serves job streams and the all-events stream.
type Server struct {
	cfg  Config
	r3   *r3.Server
	hub  *events.Hub
	log  *eventlog.Log
	deps dependency.Set

	ctx       context.Context // cancelled by Shutdown: ends every stream
	cancel    context.CancelFunc
	mu        sync.Mutex // guards closed and wg.Add against Shutdown's Wait
	closed    bool
	wg        sync.WaitGroup
	open      atomic.Int64
	evictions atomic.Int64

	admitted admissions
	// catchUps holds a token per catch-up read running; nil: unbounded.
	catchUps chan struct{}
	deferred atomic.Int64
}

// New returns a Server. deps are the dependencies whose state is streamed.
func New(cfg Config, hub *events.Hub, log *eventlog.Log, deps dependency.Set) *Server {
	cfg.setDefaults()
	r := r3.New()
	r.AutoReplay = false
	r.AutoStream = false
	r.BufferSize = 64
	r.Headers = map[string]string{
		"Cache-Control":     "no-cache, no-transform",
		"X-Accel-Buffering": "no", // nginx: do not buffer this response
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, r3: r, hub: hub, log: log, deps: deps, ctx: ctx, cancel: cancel,
		admitted: admissions{byClient: map[string]int{}}}
	if cfg.MaxCatchUps > 0 {
		s.catchUps = make(chan struct{}, cfg.MaxCatchUps)
	}
	return s
}

// Open is the number of open streams.
func (s *Server) Open() int64 { return s.open.Load() }

// Evictions counts streams closed because their client fell too far behind.
func (s *Server) Evictions() int64 { return s.evictions.Load() }

// DeferredCatchUps counts catch-up reads put off because every slot
// (MaxCatchUps) was taken.
func (s *Server) DeferredCatchUps() int64 { return s.deferred.Load() }

// Shutdown ends every open stream and waits for their handlers to return,
// so that http.Server.Shutdown is not held up by connections that never go
// idle. Clients reconnect (to another replica) with Last-Event-ID.
func (s *Server) Shutdown() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// lastEventID reads Last-Event-ID (or, for a first connection that wants to
// resume, the last_event_id query parameter). ok is false if it is present
// but not a usable id.
func lastEventID(r *http.Request) (id int64, present, ok bool) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("last_event_id")
	}
	if v == "" {
		return 0, false, true
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 0 {
		return 0, true, false
	}
	return id, true, true
}

// JobDone reports whether a reconnecting client of a finished job has seen
// everything, in which case the caller should answer 204 No Content: the
// one answer that makes EventSource stop reconnecting without an error.
func JobDone(r *http.Request, job jobs.Job, lastJobEventID int64) bool {
	id, present, ok := lastEventID(r)
	return present && ok && job.Status.Terminal() && id >= lastJobEventID
}

// ServeJob streams one job's events: recent (or missed) events first, then
// live ones, a heartbeat event with the job's status every Heartbeat, and a
// complete event before closing once the job is finished.
func (s *Server) ServeJob(w http.ResponseWriter, r *http.Request, job jobs.Job) {
	id := job.ID
	s.serve(w, r, &session{jobID: &id, status: job.Status})
}

// ServeAll streams every job event and dependency change.
func (s *Server) ServeAll(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, &session{})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, sess *session) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		// Shutting down: ending the connection makes EventSource retry,
		// against another replica behind the load balancer.
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	s.open.Add(1)
	defer s.open.Add(-1)

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()

	streamID := rand.Text()
	s.r3.CreateStream(streamID)
	out := &writer{ResponseWriter: w, rc: http.NewResponseController(w), timeout: s.cfg.WriteTimeout,
		failed: cancel, flushed: make(chan struct{}, 1)}

	sess.s = s
	sess.streamID = streamID
	sess.out = out
	sess.lastID, sess.resume, sess.validLastID = lastEventID(r)
	sub, ready, lastPublished := s.hub.Subscribe(sess.jobID, s.cfg.Buffer)
	defer sub.Close()

	r3req := r.Clone(ctx)
	r3req.Header.Del("Last-Event-ID")
	r3req.URL.RawQuery = url.Values{"stream": {streamID}}.Encode()

	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		defer cancel()
		// r3labs drops events published to a stream before its subscriber
		// is registered, and it registers the subscriber before its first
		// flush: wait for that flush, or the first events (the replay)
		// could vanish.
		if !out.waitFlushed(ctx, 1, s.cfg.WriteTimeout) {
			return
		}
		sess.run(ctx, sub, ready, lastPublished)
	}()
	s.r3.ServeHTTP(out, r3req) // returns once ctx is done and r3labs has let go of the subscriber
	cancel()
	<-pumped
	s.r3.RemoveStream(streamID)
	if sess.evicted || out.timedOut.Load() {
		// Too slow: the hub dropped it, or a write hit its deadline.
		s.evictions.Add(1)
	}
}

// writer bounds every write with a deadline, so a client that stops reading
// is cut off instead of holding a goroutine forever, and counts flushes so
// that a stream can close only after its last event went out.
type writer struct {
	http.ResponseWriter
	rc       *http.ResponseController
	timeout  time.Duration
	failed   func()
	timedOut atomic.Bool // a write hit its deadline: the client stopped reading
	flushes  atomic.Int64
	flushed  chan struct{}
}

func (w *writer) writeFailed(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		w.timedOut.Store(true)
	}
	w.failed()
}

func (w *writer) Write(p []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	n, err := w.ResponseWriter.Write(p)
	if err != nil {
		w.writeFailed(err)
	}
	return n, err
}

func (w *writer) Flush() {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	if err := w.rc.Flush(); err != nil {
		w.writeFailed(err)
	}
	w.flushes.Add(1)
	select {
	case w.flushed <- struct{}{}:
	default:
	}
}

func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// waitFlushed waits until n flushes happened (true), or the timeout passes
// or ctx ends (false).
func (w *writer) waitFlushed(ctx context.Context, n int64, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for w.flushes.Load() < n {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-w.flushed:
		}
	}
	return true
}

func marshal(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
