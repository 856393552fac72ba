package eventlog_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/dbtest"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/pgtest"
)

func newJob(t testing.TB, url string) uuid.UUID {
	t.Helper()
	id := uuid.New()
	pgtest.Exec(t, url, `INSERT INTO jobs (id, job_type) VALUES ($1, 'test')`, id)
	return id
}

func TestAppendIsWrittenAtCommitAndAnnouncedAfterIt(t *testing.T) {
	d, url := dbtest.New(t)
	log := eventlog.New(d)
	var heard []int64
	log.OnCommit(func(newest int64) {
		// Announced after commit: another connection sees it already.
		if n := pgtest.QueryInt(t, url, `SELECT count(*) FROM job_events WHERE id = $1`, newest); n != 1 {
			t.Errorf("event %d announced before it was visible", newest)
		}
		heard = append(heard, newest)
	})
	job := newJob(t, url)
	ctx := context.Background()

	tests := []struct {
		name      string
		appends   []eventlog.Type
		fail      bool
		wantRows  int64 // new rows
		wantHeard int
	}{
		{name: "one event", appends: []eventlog.Type{eventlog.Created}, wantRows: 1, wantHeard: 1},
		{name: "several in one transaction, one announcement",
			appends: []eventlog.Type{eventlog.TicketCreated, eventlog.TicketCreated, eventlog.Cancelled}, wantRows: 3, wantHeard: 1},
		{name: "rolled back: nothing written, nothing announced", appends: []eventlog.Type{eventlog.Failed}, fail: true},
		{name: "no append: no announcement", wantRows: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := pgtest.QueryInt(t, url, `SELECT count(*) FROM job_events`)
			heard = nil
			err := d.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
				for i, typ := range tt.appends {
					if err := log.Append(tx, job, typ, map[string]any{"n": i, "case": tt.name}); err != nil {
						return err
					}
					// Buffered until commit: not even this transaction sees it yet.
					var n int
					if err := tx.QueryRow(ctx, `SELECT count(*) FROM job_events WHERE job_id = $1 AND data->>'case' = $2`,
						job, tt.name).Scan(&n); err != nil || n != 0 {
						t.Errorf("event inserted before commit (%d, %v)", n, err)
					}
				}
				if tt.fail {
					return errors.New("rolled back")
				}
				return nil
			})
			if (err != nil) != tt.fail {
				t.Fatal(err)
			}
			if got := pgtest.QueryInt(t, url, `SELECT count(*) FROM job_events`) - before; got != tt.wantRows {
				t.Errorf("%d rows written, want %d", got, tt.wantRows)
			}
			if len(heard) != tt.wantHeard {
				t.Errorf("announced %d times, want %d", len(heard), tt.wantHeard)
			}
		})
	}
	// Several events of one transaction keep their order.
	got, err := log.ForJob(ctx, job, eventlog.Filter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var types []eventlog.Type
	for _, ev := range got {
		types = append(types, ev.Type)
	}
	want := []eventlog.Type{eventlog.Created, eventlog.TicketCreated, eventlog.TicketCreated, eventlog.Cancelled}
	if !slices.Equal(types, want) {
		t.Fatalf("events %v, want %v", types, want)
	}
	var data struct{ N int }
	if err := json.Unmarshal(got[2].Data, &data); err != nil || data.N != 1 {
		t.Errorf("data = %s", got[2].Data)
	}
}

func TestForJobOfAnUnknownJobIsNotFound(t *testing.T) {
	d, _ := dbtest.New(t)
	_, err := eventlog.New(d).ForJob(context.Background(), uuid.New(), eventlog.Filter{Limit: 10})
	if !errors.Is(err, eventlog.ErrJobNotFound) {
		t.Fatalf("err = %v, want ErrJobNotFound", err)
	}
}

// TestReadersNeverSeeAGap is the property the SSE replay and the tailer
// rely on: many writers commit in an order unrelated to the order of their
// ids (each sleeps a random time between its insert and its commit), while
// a reader follows the log with Since(cursor). Every committed event must
// reach the reader exactly once and in id order; an id seen after a larger
// one would be lost to a real client, whose cursor has moved past it.
func TestReadersNeverSeeAGap(t *testing.T) {
	d, url := dbtest.New(t)
	log := eventlog.New(d)
	job := newJob(t, url)
	ctx := context.Background()

	const writers, perWriter = 8, 15
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				err := d.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
					if err := log.Append(tx, job, eventlog.AnalysisPhase, map[string]int{"w": w, "i": i}); err != nil {
						return err
					}
					// The insert happens at commit; the sleep goes into a
					// hook registered after the event log's, between the
					// insert and the COMMIT.
					tx.BeforeCommit(func(context.Context) error {
						time.Sleep(time.Duration(rand.IntN(4)) * time.Millisecond)
						return nil
					})
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	var seen []int64
	var cursor int64
	finished := false
	for !finished {
		select {
		case <-done:
			finished = true // one more read after the last commit
		default:
		}
		batch, err := log.Since(ctx, cursor, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range batch {
			seen = append(seen, ev.ID)
			cursor = ev.ID
		}
	}
	all := pgtest.QueryInt(t, url, `SELECT count(*) FROM job_events`)
	if int64(len(seen)) != all || all != writers*perWriter {
		t.Fatalf("the reader saw %d events; %d were committed (want %d)", len(seen), all, writers*perWriter)
	}
	if !slices.IsSorted(seen) {
		t.Fatal("the reader saw ids out of order")
	}
}

func TestReadsBelowAHorizon(t *testing.T) {
	d, url := dbtest.New(t)
	log := eventlog.New(d)
	a, b := newJob(t, url), newJob(t, url)
	ctx := context.Background()
	for i := range 5 {
		for _, job := range []uuid.UUID{a, b} {
			if err := d.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
				return log.Append(tx, job, eventlog.AnalysisPhase, map[string]int{"i": i})
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	newest, err := log.Newest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := pgtest.QueryInt(t, url, `SELECT max(id) FROM job_events`); newest != want {
		t.Fatalf("Newest = %d, want %d", newest, want)
	}
	recent, err := log.RecentUpTo(ctx, a, newest, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(recent) != 3 || !slices.IsSortedFunc(recent, func(x, y eventlog.Event) int { return int(x.ID - y.ID) }) {
		t.Fatalf("RecentUpTo = %+v", recent)
	}
	for _, ev := range recent {
		if ev.JobID != a {
			t.Fatalf("RecentUpTo returned another job's event")
		}
	}
	var last struct{ I int }
	_ = json.Unmarshal(recent[2].Data, &last)
	if last.I != 4 {
		t.Errorf("the newest of RecentUpTo is i=%d, want 4", last.I)
	}
	ofB, err := log.NewestOfJob(ctx, b)
	if err != nil || ofB != newest {
		t.Errorf("NewestOfJob(b) = %d, %v, want %d (b wrote last)", ofB, err, newest)
	}

	// A horizon below the newest event: nothing above it is returned, and
	// the newest id of the log is still reported.
	horizon := newest - 4
	tests := []struct {
		name  string
		job   *uuid.UUID
		after int64
		limit int64
		want  int
	}{
		{"one job", &b, 0, 100, 3},
		{"every job", nil, 0, 100, 6},
		{"every job after a position", nil, horizon - 2, 100, 2},
		{"limited", nil, 0, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n, err := log.SinceUpTo(ctx, tt.job, tt.after, horizon, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want || n != newest {
				t.Fatalf("got %d events, newest %d; want %d, %d", len(got), n, tt.want, newest)
			}
			for _, ev := range got {
				if ev.ID > horizon || ev.ID <= tt.after || (tt.job != nil && ev.JobID != *tt.job) {
					t.Fatalf("event %d (job %s) is outside the range", ev.ID, ev.JobID)
				}
			}
		})
	}
	if recent, err := log.RecentUpTo(ctx, a, horizon, 10); err != nil || len(recent) != 3 {
		t.Errorf("RecentUpTo below the horizon = %d events, %v; want 3", len(recent), err)
	}
}

// TestTheUIKnowsEveryEventType keeps the UI's list of event names (which
// EventSource needs to deliver them) equal to Types.
func TestTheUIKnowsEveryEventType(t *testing.T) {
	src, err := os.ReadFile("../../ui/src/lib/api/events.ts")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)JOB_EVENT_TYPES = \[(.*?)\] as const`).FindSubmatch(src)
	if block == nil {
		t.Fatal("JOB_EVENT_TYPES not found in ui/src/lib/api/events.ts")
	}
	var ui []eventlog.Type
	for _, m := range regexp.MustCompile(`'([^']+)'`).FindAllSubmatch(block[1], -1) {
		ui = append(ui, eventlog.Type(m[1]))
	}
	if !slices.Equal(ui, eventlog.Types) {
		t.Fatalf("ui/src/lib/api/events.ts JOB_EVENT_TYPES = %q\nwant eventlog.Types = %q", ui, eventlog.Types)
	}
}
