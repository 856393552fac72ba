package sse_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/events"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/pgtest"
	"github.com/rca-engine/api/internal/sse"
	"github.com/rca-engine/api/migrations"
)

// TestNoGoroutineOutlivesItsStream opens many streams, ends half of them
// from the client side (some mid-replay) and the rest with Shutdown, and
// checks that every goroutine the streams started, r3labs' included, is
// gone: no leak however clients leave or streams close.
func TestNoGoroutineOutlivesItsStream(t *testing.T) {
	url, _ := pgtest.NewDatabase(t)
	d, err := db.New(db.Config{URL: url, Migrations: migrations.FS})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	d.Start(ctx)
	pgtest.Eventually(t, 10*time.Second, "up", func() bool { return d.State().Status == dependency.Up })
	log := eventlog.New(d)
	job, err := jobs.NewService(d, log, jobs.Policy{}).Create(ctx, nil, jobs.NewJob{JobType: "leak"})
	if err != nil {
		t.Fatal(err)
	}
	// Everything below must be gone by the end.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	hub := events.NewHub()
	tailer := events.NewTailer(log, hub, events.TailerConfig{})
	tailerDone := make(chan struct{})
	go func() { tailer.Run(ctx); close(tailerDone) }()
	streams := sse.New(sse.Config{Heartbeat: 50 * time.Millisecond}, hub, log, dependency.Set{d.Tracker()})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/all") {
			streams.ServeAll(w, r)
			return
		}
		streams.ServeJob(w, r, job)
	}))

	var wg sync.WaitGroup
	clients := make([]context.CancelFunc, 40)
	for i := range clients {
		cctx, cancel := context.WithCancel(context.Background())
		clients[i] = cancel
		path := "/job"
		if i%2 == 0 {
			path = "/all"
		}
		req, _ := http.NewRequestWithContext(cctx, "GET", srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
			}
		})
	}
	pgtest.Eventually(t, 5*time.Second, "all streams open", func() bool { return streams.Open() == 40 })
	for _, cancel := range clients[:20] {
		cancel()
	}
	pgtest.Eventually(t, 5*time.Second, "client-closed streams gone", func() bool { return streams.Open() == 20 })
	streams.Shutdown()
	for _, cancel := range clients {
		cancel()
	}
	wg.Wait()
	if n := streams.Open(); n != 0 {
		t.Errorf("%d streams open after Shutdown", n)
	}
	if n := hub.Count(); n != 0 {
		t.Errorf("%d hub subscriptions left", n)
	}
	srv.Close()
	http.DefaultClient.CloseIdleConnections()
	stop()
	<-tailerDone
	d.Close()
}

// TestHubEvictsInsteadOfBlocking: a subscriber that never reads is evicted
// once its buffer is full, and publishing never waits for it.
func TestHubEvictsInsteadOfBlocking(t *testing.T) {
	hub := events.NewHub()
	id := uuid.New()
	stalled, _, _ := hub.Subscribe(&id, 2)
	reader, _, _ := hub.Subscribe(nil, 1000)
	defer stalled.Close()
	defer reader.Close()
	done := make(chan struct{})
	go func() {
		for i := range 100 {
			hub.BroadcastDependency(dependency.State{Name: "postgres", Attempts: i})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("publishing blocked on a subscriber that does not read")
	}
	select {
	case <-stalled.Evicted():
	default:
		t.Error("the stalled subscriber was not evicted")
	}
	if len(reader.C) != 100 {
		t.Errorf("the reading subscriber got %d of 100 messages", len(reader.C))
	}
	if hub.Count() != 1 {
		t.Errorf("hub holds %d subscriptions, want 1", hub.Count())
	}
}
