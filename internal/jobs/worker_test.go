package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/pgtest"
)

func TestReportAppendsOnlyUnderTheLease(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	j := e.create(t, jobs.NewJob{JobType: "rca"})
	claimed := e.claim(t, "w1")
	l := jobs.LeaseOf(claimed)
	before := pgtest.QueryInt(t, e.url, `SELECT EXTRACT(EPOCH FROM lease_until)::bigint FROM jobs WHERE id = $1`, j.ID)
	time.Sleep(1100 * time.Millisecond)
	if err := e.svc.Report(ctx, l, time.Hour, jobs.Note{Type: eventlog.AnalysisPhase, Data: map[string]string{"phase": "ingestion"}},
		jobs.Note{Type: eventlog.AnalysisProgress, Data: map[string]int{"bytes_read": 10}}); err != nil {
		t.Fatal(err)
	}
	evs := e.events(t, j.ID)
	if got := types(evs[len(evs)-2:]); got[0] != eventlog.AnalysisPhase || got[1] != eventlog.AnalysisProgress {
		t.Fatalf("events %v", got)
	}
	if after := pgtest.QueryInt(t, e.url, `SELECT EXTRACT(EPOCH FROM lease_until)::bigint FROM jobs WHERE id = $1`, j.ID); after <= before {
		t.Errorf("the report did not renew the lease: %d -> %d", before, after)
	}
	// A stranger, and the holder once the job is cancelled, write nothing.
	n := len(evs)
	stranger := jobs.Lease{JobID: j.ID, Worker: "w2", Attempt: l.Attempt}
	if err := e.svc.Report(ctx, stranger, 0, jobs.Note{Type: eventlog.AnalysisProgress}); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Fatalf("a stranger's report = %v", err)
	}
	if _, err := e.svc.Cancel(ctx, nil, j.ID, jobs.CancelRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Report(ctx, l, 0, jobs.Note{Type: eventlog.AnalysisProgress}); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Fatalf("a report after the cancel = %v", err)
	}
	if got := len(e.events(t, j.ID)); got != n+1 { // the cancelled event only
		t.Fatalf("%d events written by refused reports", got-n-1)
	}
}

func TestReleaseHandsTheJobBackWithoutCountingAFailure(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	j := e.create(t, jobs.NewJob{JobType: "rca"})
	l := jobs.LeaseOf(e.claim(t, "w1"))
	if _, err := e.svc.Release(ctx, jobs.Lease{JobID: j.ID, Worker: "w2", Attempt: l.Attempt}, "stop"); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Fatalf("a stranger's release = %v", err)
	}
	got, err := e.svc.Release(ctx, l, "the worker was stopped")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != jobs.Pending || got.RetryCount != 0 || got.ClaimedBy != nil || got.LeaseUntil != nil || got.RunAfter.After(time.Now()) {
		t.Fatalf("released job %+v", got)
	}
	typ, data := e.lastEvent(t, j.ID)
	if typ != eventlog.Retrying || data["handed_back"] != true || data["error"] != "the worker was stopped" {
		t.Fatalf("event %s %v", typ, data)
	}
	// Claimable again at once, as a new attempt; the old lease is dead.
	next := e.claim(t, "w2")
	if next.ID != j.ID || next.Attempt != l.Attempt+1 {
		t.Fatalf("next claim %s attempt %d", next.ID, next.Attempt)
	}
	if _, err := e.svc.Release(ctx, l, "again"); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Fatalf("the old lease's release = %v", err)
	}
}

func TestQueueStatsAndNextReady(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, ok, err := e.svc.NextReady(ctx); err != nil || ok {
		t.Fatalf("NextReady on an empty queue = %v %v", ok, err)
	}
	ready := e.create(t, jobs.NewJob{JobType: "rca"})
	pgtest.Exec(t, e.url, `UPDATE jobs SET ready_at = now() - interval '30 seconds', run_after = now() - interval '40 seconds' WHERE id = $1`, ready.ID)
	e.create(t, jobs.NewJob{JobType: "rca"})
	later := e.create(t, jobs.NewJob{JobType: "rca"})
	pgtest.Exec(t, e.url, `UPDATE jobs SET run_after = now() + interval '1 hour' WHERE id = $1`, later.ID)
	if _, err := e.svc.Create(ctx, nil, jobs.NewJob{JobType: "draft"}); err != nil { // no log: never ready
		t.Fatal(err)
	}
	q, err := e.svc.QueueStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if q.ByStatus[jobs.Pending] != 4 || q.Ready != 2 || q.OldestReady < 29*time.Second || q.OldestReady > 60*time.Second {
		t.Fatalf("stats %+v", q)
	}
	if q.ByStatus[jobs.Running] != 0 || len(q.ByStatus) != len(jobs.Statuses) {
		t.Fatalf("by status %v: every status, zero included", q.ByStatus)
	}
	e.claim(t, "w")
	e.claim(t, "w")
	at, ok, err := e.svc.NextReady(ctx)
	if err != nil || !ok || time.Until(at) < 59*time.Minute {
		t.Fatalf("NextReady = %v %v %v, want the job that waits an hour", at, ok, err)
	}
}

func TestListingsLeaveOutTheReports(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	j := e.create(t, jobs.NewJob{JobType: "rca"})
	l := jobs.LeaseOf(e.claim(t, "w"))
	result := json.RawMessage(`{"job_id":"x","severity":"high","metrics":{"errors":2},"files":[{"sample_head":["a"]}],"outputs":{"markdown":"# big"}}`)
	if _, err := e.svc.Complete(ctx, l, jobs.Outcome{Result: result, Outputs: json.RawMessage(`{"markdown":"# big"}`),
		Event: jobs.EventResult(result)}); err != nil {
		t.Fatal(err)
	}
	list, err := e.svc.List(ctx, jobs.ListFilter{Limit: 10})
	if err != nil || len(list) != 1 {
		t.Fatalf("list %v %v", list, err)
	}
	if list[0].Outputs != nil || !jsonEqual(t, list[0].ResultData, `{"job_id":"x","severity":"high","metrics":{"errors":2}}`) {
		t.Fatalf("listed result %s outputs %s", list[0].ResultData, list[0].Outputs)
	}
	full := e.get(t, j.ID)
	if !jsonEqual(t, full.ResultData, string(result)) {
		t.Fatalf("the job itself lost its result: %s", full.ResultData)
	}
	_, data := e.lastEvent(t, j.ID)
	if r, _ := data["result"].(map[string]any); r["severity"] != "high" || r["files"] != nil || r["outputs"] != nil {
		t.Fatalf("completed event result %v", r)
	}
	// And the policy blanks them for a caller who may not see the logs.
	owner := uuid.New()
	full.OwnerID = &owner
	p := jobs.Policy{}
	if got := p.Redacted(&jobs.Actor{UserID: uuid.New()}, full); got.ResultData != nil || got.Outputs != nil {
		t.Fatal("another user sees the result")
	}
	if got := p.Redacted(&jobs.Actor{UserID: owner}, full); got.ResultData == nil {
		t.Fatal("the owner does not see the result")
	}
}
