package jobs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rca-engine/api/internal/dbtest"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/pgtest"
)

// TestClaimTakesOnlyReadyJobs: a job whose files are still arriving is not
// analysed (the original's worker claimed such jobs and failed them with
// "No files uploaded"). A job with no log is never claimed, started or
// not; one with a log is claimed once a client starts it, or once no
// upload has come for the settle window.
func TestClaimTakesOnlyReadyJobs(t *testing.T) {
	d, url := dbtest.New(t)
	svc := jobs.NewService(d, eventlog.New(d), jobs.Policy{Settle: time.Hour})
	ctx := context.Background()
	mk := func(sql string) uuid.UUID {
		j, err := svc.Create(ctx, nil, jobs.NewJob{JobType: "rca"})
		if err != nil {
			t.Fatal(err)
		}
		if sql != "" {
			pgtest.Exec(t, url, `UPDATE jobs SET `+sql+` WHERE id = $1`, j.ID)
		}
		return j.ID
	}
	mk("")                                                                             // no file
	mk("ready_at = now()")                                                             // started, but no log (cannot happen through Start)
	mk("files_count = 1, logs_count = 0, last_upload_at = now() - interval '2 hours'") // only an archive with nothing to analyse
	mk("files_count = 1, logs_count = 1, last_upload_at = now()")                      // files still arriving
	settled := mk("files_count = 1, logs_count = 1, last_upload_at = now() - interval '2 hours'")
	started := mk("files_count = 1, logs_count = 1, last_upload_at = now(), ready_at = now()")

	var got []uuid.UUID
	for {
		j, ok, err := svc.Claim(ctx, "w", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if !j.Ready || j.ReadyAt == nil {
			t.Errorf("claimed job %s says ready=%v ready_at=%v", j.ID, j.Ready, j.ReadyAt)
		}
		got = append(got, j.ID)
	}
	if len(got) != 2 || !(got[0] == settled && got[1] == started || got[0] == started && got[1] == settled) {
		t.Fatalf("claimed %v, want exactly the settled (%s) and the started (%s) jobs", got, settled, started)
	}
}

// TestStart: POST /api/jobs/{id}/start's use case. A job without a log
// cannot be started; with one it becomes ready at once (ready_at set, the
// next claim takes it, well inside a long settle window), and starting it
// again changes nothing. Someone else's job is not yours to start.
func TestStart(t *testing.T) {
	d, url := dbtest.New(t)
	svc := jobs.NewService(d, eventlog.New(d), jobs.Policy{Settle: time.Hour})
	ctx := context.Background()
	owner := uuid.New()
	pgtest.Exec(t, url, `INSERT INTO users (id, email, username, password_hash) VALUES ($1, 'o@example.com', 'o', 'x')`, owner)
	j, err := svc.Create(ctx, &jobs.Owner{ID: owner, Username: "o"}, jobs.NewJob{JobType: "rca"})
	if err != nil {
		t.Fatal(err)
	}
	me := &jobs.Actor{UserID: owner}
	if _, err := svc.Start(ctx, me, j.ID); !errors.Is(err, jobs.ErrNothingToStart) {
		t.Fatalf("start without a file = %v, want ErrNothingToStart", err)
	}
	pgtest.Exec(t, url, `UPDATE jobs SET files_count = 1, logs_count = 1, last_upload_at = now() WHERE id = $1`, j.ID)
	if g, _ := svc.Get(ctx, j.ID); g.Ready || g.ReadyAt != nil {
		t.Fatalf("inside the settle window the job says ready=%v ready_at=%v", g.Ready, g.ReadyAt)
	}
	if _, err := svc.Start(ctx, &jobs.Actor{UserID: uuid.New()}, j.ID); !errors.Is(err, jobs.ErrNotYours) {
		t.Fatalf("another user's start = %v, want ErrNotYours", err)
	}
	first, err := svc.Start(ctx, me, j.ID)
	if err != nil || !first.Ready || first.ReadyAt == nil {
		t.Fatalf("start = %+v, %v", first, err)
	}
	again, err := svc.Start(ctx, me, j.ID)
	if err != nil || !again.ReadyAt.Equal(*first.ReadyAt) {
		t.Fatalf("second start = %v, %v; want the first ready_at %v", again.ReadyAt, err, first.ReadyAt)
	}
	c, ok, err := svc.Claim(ctx, "w", time.Minute)
	if err != nil || !ok || c.ID != j.ID {
		t.Fatalf("claim after start = %v %v %v", c.ID, ok, err)
	}
	if _, err := svc.Start(ctx, me, uuid.New()); !errors.Is(err, jobs.ErrNotFound) {
		t.Fatalf("start of a missing job = %v", err)
	}
}

// TestSettleWindowMakesAJobReady: the original UI never starts a job; it
// becomes ready, in its JSON and for a claim, once the window has passed
// since its last upload.
func TestSettleWindowMakesAJobReady(t *testing.T) {
	d, url := dbtest.New(t)
	svc := jobs.NewService(d, eventlog.New(d), jobs.Policy{Settle: 300 * time.Millisecond})
	ctx := context.Background()
	j, err := svc.Create(ctx, nil, jobs.NewJob{JobType: "rca"})
	if err != nil {
		t.Fatal(err)
	}
	pgtest.Exec(t, url, `UPDATE jobs SET files_count = 1, logs_count = 1, last_upload_at = now() WHERE id = $1`, j.ID)
	if _, ok, _ := svc.Claim(ctx, "w", time.Minute); ok {
		t.Fatal("claimed inside the settle window")
	}
	pgtest.Eventually(t, 10*time.Second, "ready after the settle window", func() bool {
		g, err := svc.Get(ctx, j.ID)
		return err == nil && g.Ready && g.ReadyAt != nil
	})
	c, ok, err := svc.Claim(ctx, "w", time.Minute)
	if err != nil || !ok || c.ID != j.ID {
		t.Fatalf("claim after the window = %v %v %v", c.ID, ok, err)
	}
}
