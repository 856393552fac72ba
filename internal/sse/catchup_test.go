package sse

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/events"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/pgtest"
	"github.com/rca-engine/api/migrations"
)

// TestCatchUpWithoutASlotWaitsAndLosesNothing: while every catch-up slot is
// taken (a reconnect storm), a resuming stream sends nothing and keeps
// retrying without queueing on the database; events written meanwhile
// are not lost, and once a slot is free the stream gets every missed event
// and then the live ones, in order, none twice.
func TestCatchUpWithoutASlotWaitsAndLosesNothing(t *testing.T) {
	url, _ := pgtest.NewDatabase(t)
	d, err := db.New(db.Config{URL: url, Migrations: migrations.FS})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	d.Start(ctx)
	defer d.Close()
	pgtest.Eventually(t, 10*time.Second, "up", func() bool { return d.State().Status == dependency.Up })
	log := eventlog.New(d)
	job, err := jobs.NewService(d, log, jobs.Policy{}).Create(ctx, nil, jobs.NewJob{JobType: "catch-up"})
	if err != nil {
		t.Fatal(err)
	}
	hub := events.NewHub()
	tailer := events.NewTailer(log, hub, events.TailerConfig{FastPoll: 20 * time.Millisecond})
	log.OnCommit(func(int64) { tailer.Wake() })
	tailerDone := make(chan struct{})
	go func() { tailer.Run(ctx); close(tailerDone) }()
	defer func() { stop(); <-tailerDone }()
	pgtest.Eventually(t, 5*time.Second, "the tailer has started", func() bool { return hub.Published() > 0 })

	s := New(Config{MaxCatchUps: 1, CatchUpWait: 10 * time.Millisecond, Heartbeat: time.Hour},
		hub, log, dependency.Set{d.Tracker()})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.ServeJob(w, r, job) }))
	defer srv.Close()
	defer s.Shutdown()
	s.catchUps <- struct{}{} // the storm holds the only slot

	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	req.Header.Set("Last-Event-ID", "0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make(chan int64, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		var id string
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "id: "); ok {
				id = v
			}
			if strings.HasPrefix(line, `data: {"id":`) {
				n, _ := strconv.ParseInt(id, 10, 64)
				got <- n
			}
		}
		close(got)
	}()

	appendEvents := func(n int) {
		t.Helper()
		err := d.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
			for i := range n {
				if err := log.Append(tx, job.ID, eventlog.AnalysisPhase, map[string]int{"i": i}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	appendEvents(3)
	pgtest.Eventually(t, 5*time.Second, "the catch-up is put off again and again", func() bool {
		return s.DeferredCatchUps() >= 3
	})
	select {
	case id := <-got:
		t.Fatalf("event %d sent before the catch-up could read", id)
	default:
	}

	<-s.catchUps // the storm is over
	receive := func(n int) []int64 {
		t.Helper()
		var ids []int64
		for len(ids) < n {
			select {
			case id, ok := <-got:
				if !ok {
					t.Fatalf("the stream ended after %v", ids)
				}
				ids = append(ids, id)
			case <-time.After(5 * time.Second):
				t.Fatalf("received %v, want %d events", ids, n)
			}
		}
		return ids
	}
	want := func() []int64 {
		evs, err := log.ForJob(ctx, job.ID, eventlog.Filter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, ev := range evs {
			ids = append(ids, ev.ID)
		}
		return ids
	}
	if ids, all := receive(4), want(); !slices.Equal(ids, all) {
		t.Fatalf("after the slot came free: %v, want the job's events %v", ids, all)
	}
	appendEvents(1)
	all := want()
	if ids := receive(1); ids[0] != all[len(all)-1] {
		t.Fatalf("live event %v, want %d", ids, all[len(all)-1])
	}
	select {
	case id := <-got:
		t.Fatalf("event %d arrived after them all", id)
	case <-time.After(200 * time.Millisecond):
	}
}
