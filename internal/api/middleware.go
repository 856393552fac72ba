package api

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
)

// recorder captures what a handler wrote, and lets the edge add headers
// (X-Degraded) at the last moment before the status line goes out, so they
// describe the state at the time of the response, not of the request.
type recorder struct {
	http.ResponseWriter
	status       int
	bytes        int64
	wroteHeader  bool
	beforeHeader func(http.Header)
}

func (w *recorder) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code) // informational; the real one follows
		return
	}
	w.wroteHeader = true
	w.status = code
	if w.beforeHeader != nil {
		w.beforeHeader(w.Header())
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush lets streaming handlers flush through the recorder.
func (w *recorder) Flush() { _ = w.FlushError() }

// FlushError is what http.ResponseController.Flush calls: it passes the
// error on, so that a stream's write deadline is seen.
func (w *recorder) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the real writer (deadlines).
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type ctxKey int

// reqInfo is what the edge learns of a request once and reads many times
// (address, id) and its response recorder: one context value and one
// allocation for all of them instead of one of each per middleware.
type reqInfo struct {
	addr netip.Addr
	id   string
	rec  recorder
}

const reqInfoKey ctxKey = 300

func infoOf(ctx context.Context) *reqInfo {
	ri, _ := ctx.Value(reqInfoKey).(*reqInfo)
	return ri
}

// requestID returns the request's id, or "" outside a request.
func requestID(ctx context.Context) string {
	if ri := infoOf(ctx); ri != nil {
		return ri.id
	}
	return ""
}

// validRequestID: a client-supplied id is kept only if it is short and
// plain ([A-Za-z0-9._:-]{1,64}), so that it can go into logs without
// escaping or abuse.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// requestIDs makes ids unique across replicas and restarts without asking
// the system for randomness per request: a random prefix per process and a
// counter.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs { return &requestIDs{prefix: rand.Text()[:13] + "-"} }

func (g *requestIDs) next() string {
	if g == nil { // a server built without NewHandler (tests)
		return rand.Text()
	}
	var b [13 + 1 + 13]byte
	out := append(b[:0], g.prefix...)
	return string(strconv.AppendUint(out, g.n.Add(1), 36))
}

// instrument is the outermost middleware: it assigns the request id, adds
// X-Degraded to every response, logs the request once it is done and
// records its metrics.
func (s *server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if !validRequestID(id) {
			id = s.ids.next()
		}
		w.Header()["X-Request-Id"] = []string{id}
		ri := infoOf(r.Context())
		if ri == nil {
			ri = &reqInfo{addr: peerAddr(r.RemoteAddr)}
			r = r.WithContext(context.WithValue(r.Context(), reqInfoKey, ri))
		}
		ri.id = id
		ri.rec = recorder{ResponseWriter: w, status: http.StatusOK, beforeHeader: s.setDegraded}
		rec := &ri.rec

		next.ServeHTTP(rec, r)

		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		elapsed := time.Since(start)
		s.metrics.Observe(r.Method, route, rec.status, elapsed)
		level := slog.LevelInfo
		if rec.status >= 500 {
			level = slog.LevelWarn
		}
		if route == "/api/health/live" || route == "/api/health/healthz" || route == "/metrics" {
			level = slog.LevelDebug // probes would drown everything else
		}
		if !s.log.Enabled(r.Context(), level) {
			return
		}
		s.log.LogAttrs(r.Context(), level, "request",
			slog.String("request_id", id),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("route", route),
			slog.Int("status", rec.status),
			slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", elapsed),
			slog.String("remote", clientAddr(r.Context()).String()),
		)
	})
}

// setDegraded lists the impaired dependencies, merged with any a handler
// already named (a call that just failed), in the dependencies' order.
func (s *server) setDegraded(h http.Header) {
	named := h.Values("X-Degraded")
	var names []string
	for _, t := range s.deps {
		if t.Get().Degraded() || slices.Contains(named, t.Name()) {
			names = append(names, t.Name())
		}
	}
	h.Del("X-Degraded")
	if len(names) > 0 {
		h.Set("X-Degraded", strings.Join(names, ","))
	}
}

// recoverer turns a panic into a logged 500 problem instead of a dropped
// connection.
func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.LogAttrs(r.Context(), slog.LevelError, "panic",
				slog.String("request_id", requestID(r.Context())),
				slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())))
			if rec, ok := w.(*recorder); ok && rec.wroteHeader {
				return // too late for a clean answer; the client sees a short body
			}
			writeProblem(w, r, Problem{Status: http.StatusInternalServerError,
				Detail: "An unexpected error occurred. Quote the request id when reporting it."})
		}()
		next.ServeHTTP(w, r)
	})
}

// securityHeaders sets the headers every response carries. The CSP allows
// the UI served by this binary (same origin) and nothing else. HSTS goes
// out only over HTTPS (directly, or through a trusted proxy that says so):
// sent over plain HTTP it would be ignored, or lock a local set-up out.
func (s *server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// The keys are canonical and the value slices shared and full
		// (len == cap): a later Set replaces one and an Add copies it, so
		// no response can change another's. That spares seven
		// canonicalisations and seven allocations per request.
		for _, kv := range securityHeaderValues {
			h[kv.key] = kv.value
		}
		if s.secureRequest(r) {
			h["Strict-Transport-Security"] = hstsValue
		}
		next.ServeHTTP(w, r)
	})
}

type headerValue struct {
	key   string
	value []string
}

func fixed(v string) []string { return []string{v}[:1:1] }

var (
	securityHeaderValues = []headerValue{
		{"X-Content-Type-Options", fixed("nosniff")},
		{"X-Frame-Options", fixed("DENY")},
		{"Referrer-Policy", fixed("strict-origin-when-cross-origin")},
		{"Content-Security-Policy", fixed("default-src 'self'; connect-src 'self'; img-src 'self' data:; " +
			"style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")},
		{"Permissions-Policy", fixed("camera=(), microphone=(), geolocation=()")},
		{"Cross-Origin-Opener-Policy", fixed("same-origin")},
	}
	hstsValue    = fixed("max-age=31536000; includeSubDomains")
	noStoreValue = fixed("no-store")
)

// privateAnswers keeps what an authenticated caller receives out of
// caches: a response to a request that presents a credential (an
// Authorization header, a stream's access_token parameter or the refresh
// cookie) gets Cache-Control: no-store, unless its handler sets a
// Cache-Control of its own. The rule follows the request rather than a
// list of routes because whatever a signed-in caller sees may be theirs
// alone (their account, their tokens, the users' list, tomorrow their
// jobs), and a shared cache or the browser's disk must not hand it to the
// next person; public answers (the OpenAPI document, the UI's files) say
// so themselves. The default is set before the handler runs, so a
// handler's own Header().Set replaces it.
func privateAnswers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if presentsCredential(r) {
			w.Header()["Cache-Control"] = noStoreValue
		}
		next.ServeHTTP(w, r)
	})
}

func presentsCredential(r *http.Request) bool {
	if r.Header.Get("Authorization") != "" {
		return true
	}
	if _, err := r.Cookie(refreshCookie); err == nil {
		return true
	}
	// Parsing the query allocates; most requests cannot hold the name.
	return strings.Contains(r.URL.RawQuery, "access_token") && r.URL.Query().Has("access_token")
}

// bounded gives the request a deadline and caps its body, for every route
// that is not a stream. The server has no ReadTimeout or WriteTimeout (they
// would cut event streams), so the connection gets them here instead: a
// client that sends its body slowly, or reads the answer slowly, is cut off
// rather than holding a connection and a goroutine.
func bounded(timeout time.Duration, maxBody int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			now := time.Now()
			rc := http.NewResponseController(w)
			_ = rc.SetReadDeadline(now.Add(timeout))
			_ = rc.SetWriteDeadline(now.Add(timeout + 5*time.Second))
			ctx, cancel := context.WithTimeout(r.Context(), timeout)
			defer cancel()
			if r.Body != nil {
				r.Body = http.MaxBytesReader(w, r.Body, maxBody)
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}
