package api

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/auth"
	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/events"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/metrics"
	"github.com/rca-engine/api/internal/sse"
	"github.com/rca-engine/api/internal/uploads"
)

// newTestServer wires the edge to a database that is never started, so it
// stays "connecting": enough for everything that must not touch it.
func newTestServer(t testing.TB) (*server, http.Handler) {
	t.Helper()
	d, err := db.New(db.Config{URL: "postgres://nobody@127.0.0.1:1/none"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	deps := dependency.Set{d.Tracker()}
	log := eventlog.New(d)
	streams := sse.New(sse.Config{}, events.NewHub(), log, deps)
	t.Cleanup(streams.Shutdown)
	a, err := auth.New(d, auth.Config{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	js := jobs.NewService(d, log, jobs.Policy{})
	files, tus := newUploads(t, d, log, js, uploads.Config{})
	h := NewHandler(Options{Version: "test", MaxBodyBytes: 1 << 10, RequestTimeout: time.Second, ReadinessRequiresDB: true,
		AuthMode: auth.ModeOff}, Deps{Database: d, Dependencies: deps, Jobs: js, Events: log, Streams: streams,
		Metrics: metrics.New(deps, d.Stat), Auth: a, Uploads: files, Tus: tus})
	s := &server{deps: deps, metrics: metrics.New(deps, d.Stat), log: discard()}
	return s, h
}

func TestPanicBecomesAProblem(t *testing.T) {
	s, _ := newTestServer(t)
	h := s.instrument(s.recoverer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom")
	})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/x", nil))
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	if rec.Code != 500 || p.Status != 500 || p.Detail == "" || p.RequestID == "" || p.RequestID != rec.Header().Get("X-Request-ID") {
		t.Errorf("got %d %+v", rec.Code, p)
	}
	if rec.Header().Get("X-Degraded") != "postgres" {
		t.Errorf("X-Degraded = %q on a 500 while postgres is connecting", rec.Header().Get("X-Degraded"))
	}
}

func TestConnectingDatabaseFailsFast(t *testing.T) {
	_, h := newTestServer(t)
	rec := httptest.NewRecorder()
	began := time.Now()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/jobs?limit=5", nil))
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || time.Since(began) > 100*time.Millisecond {
		t.Errorf("got %d Retry-After %q in %s", rec.Code, rec.Header().Get("Retry-After"), time.Since(began))
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/health/ready", nil))
	var body map[string]any
	json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Code != 503 || body["status"] != "starting" || body["database"] != false {
		t.Errorf("ready while connecting = %d %v", rec.Code, body)
	}
}

// FuzzJobsQuery feeds arbitrary query strings to GET /api/jobs. Whatever
// the input, the answer is a 422 problem or (the database being down in
// this test) a 503: never a 500, a panic or a hang.
func FuzzJobsQuery(f *testing.F) {
	for _, seed := range []string{"", "limit=10", "limit=0", "status=done", "user_id=%00", "offset=-1",
		"limit=1&limit=2", "a=b", "user_id=%ff%fe", "limit=99999999999999999999", "status=pending&user_id=x"} {
		f.Add(seed)
	}
	_, h := newTestServer(f)
	f.Fuzz(func(t *testing.T, rawQuery string) {
		req := httptest.NewRequest("GET", "/api/jobs", nil)
		req.URL.RawQuery = rawQuery
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 422 && rec.Code != 503 {
			t.Fatalf("query %q: status %d: %s", rawQuery, rec.Code, rec.Body)
		}
		var p Problem
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Detail == "" {
			t.Fatalf("query %q: not a problem with a detail: %s", rawQuery, rec.Body)
		}
	})
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
