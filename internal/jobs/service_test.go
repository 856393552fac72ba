package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rca-engine/api/internal/apperr"
	"github.com/rca-engine/api/internal/dbtest"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/pgtest"
)

type env struct {
	svc *jobs.Service
	log *eventlog.Log
	url string
}

func newEnv(t *testing.T) env {
	t.Helper()
	d, url := dbtest.New(t)
	log := eventlog.New(d)
	return env{svc: jobs.NewService(d, log, jobs.Policy{}), log: log, url: url}
}

// create makes a job that is ready for analysis, as if a log had been
// uploaded and the job started (readiness has its own tests).
func (e env) create(t *testing.T, in jobs.NewJob) jobs.Job {
	t.Helper()
	j, err := e.svc.Create(context.Background(), nil, in)
	if err != nil {
		t.Fatal(err)
	}
	pgtest.Exec(t, e.url, `UPDATE jobs SET files_count = 1, logs_count = 1, ready_at = now(), last_upload_at = now()
		WHERE id = $1`, j.ID)
	return e.get(t, j.ID)
}

func (e env) get(t *testing.T, id uuid.UUID) jobs.Job {
	t.Helper()
	j, err := e.svc.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// claim claims the next job and fails the test when there is none.
func (e env) claim(t *testing.T, worker string) jobs.Job {
	t.Helper()
	j, ok, err := e.svc.Claim(context.Background(), worker, time.Minute)
	if err != nil || !ok {
		t.Fatalf("Claim = %v, %v; want a job", ok, err)
	}
	return j
}

// lease is worker's lease on job id's current attempt (whether or not
// worker holds it: a stranger's lease must be refused).
func (e env) lease(t *testing.T, id uuid.UUID, worker string) jobs.Lease {
	t.Helper()
	return jobs.Lease{JobID: id, Worker: worker,
		Attempt: int(pgtest.QueryInt(t, e.url, `SELECT COALESCE((SELECT attempt FROM jobs WHERE id = $1), 0)`, id))}
}

func (e env) events(t *testing.T, id uuid.UUID) []eventlog.Event {
	t.Helper()
	evs, err := e.log.ForJob(context.Background(), id, eventlog.Filter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func types(evs []eventlog.Event) []eventlog.Type {
	out := make([]eventlog.Type, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

// lastEvent returns a job's newest event and its data decoded.
func (e env) lastEvent(t *testing.T, id uuid.UUID) (eventlog.Type, map[string]any) {
	t.Helper()
	evs := e.events(t, id)
	if len(evs) == 0 {
		t.Fatal("the job has no events")
	}
	last := evs[len(evs)-1]
	var data map[string]any
	if err := json.Unmarshal(last.Data, &data); err != nil {
		t.Fatalf("event data %s: %v", last.Data, err)
	}
	return last.Type, data
}

func (e env) count(t *testing.T, sql string, args ...any) int64 {
	t.Helper()
	return pgtest.QueryInt(t, e.url, sql, args...)
}

// jsonEqual compares JSON by value: PostgreSQL's jsonb respaces and
// reorders what it stores.
func jsonEqual(t *testing.T, got json.RawMessage, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("stored JSON %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return bytes.Equal(gb, wb)
}

func TestCreateThenGet(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	userID := uuid.New()
	pgtest.Exec(t, e.url, `INSERT INTO users (id, email, username, password_hash) VALUES ($1, 'olivia@example.com', 'olivia', 'x')`, userID)

	tests := []struct {
		name      string
		owner     *jobs.Owner
		in        jobs.NewJob
		wantUser  string
		wantOwner *uuid.UUID
		wantPrio  int
		wantInput string
	}{
		{name: "defaults, nobody signed in", in: jobs.NewJob{JobType: "rca"},
			wantUser: jobs.DefaultUserID, wantPrio: 0, wantInput: `{}`},
		{name: "the user_id sent is kept without an owner", in: jobs.NewJob{JobType: "rca", UserID: "bob", Priority: new(7),
			InputManifest: json.RawMessage(`{"files": ["a.log"]}`)},
			wantUser: "bob", wantPrio: 7, wantInput: `{"files":["a.log"]}`},
		{name: "a signed-in owner owns the job whatever user_id says", owner: &jobs.Owner{ID: userID, Username: "olivia"},
			in: jobs.NewJob{JobType: "rca", UserID: "mallory"}, wantUser: "olivia", wantOwner: &userID, wantInput: `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			created, err := e.svc.Create(ctx, tt.owner, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got := e.get(t, created.ID)
			if got.Status != jobs.Pending || got.JobType != tt.in.JobType || got.UserID != tt.wantUser ||
				got.Priority != tt.wantPrio || got.MaxRetries != 3 || got.RetryCount != 0 || got.Attempt != 0 {
				t.Errorf("job = %+v", got)
			}
			if got.Provider != jobs.DefaultProvider || got.Model != jobs.DefaultModel {
				t.Errorf("provider/model = %q/%q", got.Provider, got.Model)
			}
			if (got.OwnerID == nil) != (tt.wantOwner == nil) || (got.OwnerID != nil && *got.OwnerID != *tt.wantOwner) {
				t.Errorf("owner_id = %v, want %v", got.OwnerID, tt.wantOwner)
			}
			if !jsonEqual(t, got.InputManifest, tt.wantInput) {
				t.Errorf("input_manifest = %s, want %s", got.InputManifest, tt.wantInput)
			}
			if got.ModelConfig != nil || got.StartedAt != nil || got.CompletedAt != nil || got.DurationSeconds != nil {
				t.Errorf("unset fields are set: %+v", got)
			}
			typ, data := e.lastEvent(t, got.ID)
			im, _ := json.Marshal(data["input_manifest"])
			if typ != eventlog.Created || !jsonEqual(t, im, tt.wantInput) {
				t.Errorf("event %s %v, want created with the input_manifest", typ, data)
			}
		})
	}

	// An owner whose account is gone (deleted between sign-in and the
	// request) is not silently dropped: the create is refused whole.
	before := e.count(t, `SELECT count(*) FROM jobs`)
	_, err := e.svc.Create(ctx, &jobs.Owner{ID: uuid.New(), Username: "ghost"}, jobs.NewJob{JobType: "rca"})
	if apperr.KindOf(err) != apperr.Conflict {
		t.Errorf("Create for a missing owner = %v, want a Conflict", err)
	}
	if n := e.count(t, `SELECT count(*) FROM jobs`); n != before {
		t.Errorf("a job was written for a missing owner")
	}
	if _, err := e.svc.Get(ctx, uuid.New()); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("Get(unknown) = %v, want ErrNotFound", err)
	}
}

func TestCreateInvalidWritesNothing(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name  string
		in    jobs.NewJob
		field string
	}{
		{"no job_type", jobs.NewJob{}, "job_type"},
		{"priority out of range", jobs.NewJob{JobType: "rca", Priority: new(11)}, "priority"},
		{"input_manifest not an object", jobs.NewJob{JobType: "rca", InputManifest: json.RawMessage(`[1]`)}, "input_manifest"},
		{"NUL in job_type", jobs.NewJob{JobType: "a\x00b"}, "job_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.Create(context.Background(), nil, tt.in)
			ae, ok := apperr.As(err)
			if !ok || ae.Kind != apperr.Invalid || len(ae.Fields) == 0 || ae.Fields[0].Name != tt.field {
				t.Fatalf("Create = %v, want Invalid naming %s", err, tt.field)
			}
			if n := e.count(t, `SELECT count(*) FROM jobs`) + e.count(t, `SELECT count(*) FROM job_events`); n != 0 {
				t.Fatalf("an invalid job left %d rows", n)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tests := []struct {
		name       string
		reason     string
		wantReason string
	}{
		{"with a reason", "wrong logs uploaded", "wrong logs uploaded"},
		{"without a reason", "", jobs.DefaultCancelReason},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := e.create(t, jobs.NewJob{JobType: "rca"})
			got, err := e.svc.Cancel(ctx, nil, j.ID, jobs.CancelRequest{Reason: tt.reason})
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != jobs.Cancelled || got.CompletedAt == nil || got.ErrorMessage == nil || *got.ErrorMessage != tt.wantReason {
				t.Errorf("cancelled job = %+v", got)
			}
			if stored := e.get(t, j.ID); stored.Status != jobs.Cancelled {
				t.Errorf("stored status %s", stored.Status)
			}
			typ, data := e.lastEvent(t, j.ID)
			if typ != eventlog.Cancelled || data["reason"] != tt.wantReason {
				t.Errorf("event %s %v, want cancelled with reason %q", typ, data, tt.wantReason)
			}
		})
	}

	t.Run("a running job: its worker loses the lease", func(t *testing.T) {
		j := e.create(t, jobs.NewJob{JobType: "rca"})
		e.claim(t, "w1")
		if _, err := e.svc.Cancel(ctx, nil, j.ID, jobs.CancelRequest{}); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Heartbeat(ctx, e.lease(t, j.ID, "w1"), time.Minute); !errors.Is(err, jobs.ErrLeaseLost) {
			t.Errorf("Heartbeat after cancel = %v, want ErrLeaseLost", err)
		}
		if _, err := e.svc.Complete(ctx, e.lease(t, j.ID, "w1"), jobs.Outcome{Result: json.RawMessage(`{}`)}); !errors.Is(err, jobs.ErrLeaseLost) {
			t.Errorf("Complete after cancel = %v, want ErrLeaseLost", err)
		}
		if s := e.get(t, j.ID).Status; s != jobs.Cancelled {
			t.Errorf("status %s, want cancelled", s)
		}
	})

	// Finished jobs: Conflict, and no event claims something happened.
	finish := map[jobs.Status]func(id uuid.UUID){
		jobs.Completed: func(id uuid.UUID) {
			e.claim(t, "w")
			if _, err := e.svc.Complete(ctx, e.lease(t, id, "w"), jobs.Outcome{}); err != nil {
				t.Fatal(err)
			}
		},
		jobs.Failed: func(id uuid.UUID) {
			e.claim(t, "w")
			if _, err := e.svc.Fail(ctx, e.lease(t, id, "w"), "boom", false); err != nil {
				t.Fatal(err)
			}
		},
		jobs.Cancelled: func(id uuid.UUID) {
			if _, err := e.svc.Cancel(ctx, nil, id, jobs.CancelRequest{}); err != nil {
				t.Fatal(err)
			}
		},
	}
	for _, status := range []jobs.Status{jobs.Completed, jobs.Failed, jobs.Cancelled} {
		t.Run("a "+string(status)+" job is a conflict", func(t *testing.T) {
			j := e.create(t, jobs.NewJob{JobType: "rca"})
			finish[status](j.ID)
			before := len(e.events(t, j.ID))
			_, err := e.svc.Cancel(ctx, nil, j.ID, jobs.CancelRequest{Reason: "too late"})
			if apperr.KindOf(err) != apperr.Conflict {
				t.Fatalf("Cancel = %v, want a Conflict", err)
			}
			if after := len(e.events(t, j.ID)); after != before {
				t.Errorf("a refused cancel wrote %d events", after-before)
			}
			if s := e.get(t, j.ID).Status; s != status {
				t.Errorf("status %s, want %s", s, status)
			}
		})
	}

	t.Run("unknown job", func(t *testing.T) {
		if _, err := e.svc.Cancel(ctx, nil, uuid.New(), jobs.CancelRequest{}); !errors.Is(err, jobs.ErrNotFound) {
			t.Fatalf("Cancel = %v, want ErrNotFound", err)
		}
	})
	t.Run("a reason with control characters is invalid", func(t *testing.T) {
		j := e.create(t, jobs.NewJob{JobType: "rca"})
		if _, err := e.svc.Cancel(ctx, nil, j.ID, jobs.CancelRequest{Reason: "a\x1bb"}); apperr.KindOf(err) != apperr.Invalid {
			t.Fatalf("Cancel = %v, want Invalid", err)
		}
		if s := e.get(t, j.ID).Status; s != jobs.Pending {
			t.Errorf("status %s, want pending", s)
		}
	})
}

func TestClaimOrder(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Ages are set explicitly, so the order does not depend on clock
	// resolution.
	mk := func(prio int, age time.Duration) uuid.UUID {
		j := e.create(t, jobs.NewJob{JobType: "rca", Priority: new(prio)})
		pgtest.Exec(t, e.url, `UPDATE jobs SET created_at = now() - make_interval(secs => $2),
			run_after = now() - make_interval(secs => $2) WHERE id = $1`, j.ID, age.Seconds())
		return j.ID
	}
	lowOldest := mk(1, time.Hour)
	highNewer := mk(5, time.Minute)
	highOlder := mk(5, 10*time.Minute)
	cancelledTop := mk(10, 2*time.Hour)
	if _, err := e.svc.Cancel(ctx, nil, cancelledTop, jobs.CancelRequest{}); err != nil {
		t.Fatal(err)
	}
	// Waiting for its backoff: not claimable yet, whatever its priority.
	later := mk(10, 0)
	pgtest.Exec(t, e.url, `UPDATE jobs SET run_after = now() + interval '1 hour' WHERE id = $1`, later)

	for i, want := range []uuid.UUID{highOlder, highNewer, lowOldest} {
		j, ok, err := e.svc.Claim(ctx, "w1", time.Minute)
		if err != nil || !ok {
			t.Fatalf("claim %d: %v, %v", i, ok, err)
		}
		if j.ID != want {
			t.Fatalf("claim %d got job %s, want %s", i, j.ID, want)
		}
		if j.Status != jobs.Running || j.Attempt != 1 || j.ClaimedBy == nil || *j.ClaimedBy != "w1" ||
			j.StartedAt == nil || j.LeaseUntil == nil || time.Until(*j.LeaseUntil) < 30*time.Second {
			t.Errorf("claimed job = %+v", j)
		}
		typ, data := e.lastEvent(t, j.ID)
		if typ != eventlog.Started || data["worker_id"] != "w1" || data["attempt"] != float64(1) {
			t.Errorf("event %s %v, want started by w1, attempt 1", typ, data)
		}
	}
	if j, ok, err := e.svc.Claim(ctx, "w1", time.Minute); err != nil || ok {
		t.Fatalf("Claim with nothing claimable = %+v, %v, %v; want ok=false", j.ID, ok, err)
	}
	if s := e.get(t, later).Status; s != jobs.Pending {
		t.Errorf("the job waiting for its run_after is %s", s)
	}
}

// TestConcurrentClaimsNeverShareAJob: with several workers polling at once,
// every job runs once: none is claimed twice (two workers doing the same
// analysis, two outcomes) and none is left behind.
func TestConcurrentClaimsNeverShareAJob(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const jobCount, claimers = 20, 4
	for range jobCount {
		e.create(t, jobs.NewJob{JobType: "rca"})
	}
	var (
		mu      sync.Mutex
		claimed = map[uuid.UUID][]string{}
		wg      sync.WaitGroup
		start   = make(chan struct{})
	)
	for w := range claimers {
		worker := fmt.Sprintf("w%d", w)
		wg.Go(func() {
			<-start
			for {
				j, ok, err := e.svc.Claim(ctx, worker, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if !ok {
					return
				}
				mu.Lock()
				claimed[j.ID] = append(claimed[j.ID], worker)
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if len(claimed) != jobCount {
		t.Errorf("%d distinct jobs claimed, want %d", len(claimed), jobCount)
	}
	for id, by := range claimed {
		if len(by) != 1 {
			t.Errorf("job %s claimed by %v", id, by)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM jobs WHERE status = 'running' AND attempt = 1`); n != jobCount {
		t.Errorf("%d jobs running on their first attempt, want %d", n, jobCount)
	}
	if n := e.count(t, `SELECT count(*) FROM job_events WHERE event_type = 'started'`); n != jobCount {
		t.Errorf("%d started events, want %d", n, jobCount)
	}
}

func TestHeartbeat(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	j := e.create(t, jobs.NewJob{JobType: "rca"})
	claimed := e.claim(t, "w1")

	if err := e.svc.Heartbeat(ctx, e.lease(t, j.ID, "w1"), time.Hour); err != nil {
		t.Fatalf("the holder's heartbeat: %v", err)
	}
	extended := e.get(t, j.ID).LeaseUntil
	if extended == nil || !extended.After(claimed.LeaseUntil.Add(50*time.Minute)) {
		t.Fatalf("lease_until %v after a 1h heartbeat, claimed with %v", extended, claimed.LeaseUntil)
	}
	if err := e.svc.Heartbeat(ctx, e.lease(t, j.ID, "w2"), 2*time.Hour); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Fatalf("another worker's heartbeat = %v, want ErrLeaseLost", err)
	}
	if got := e.get(t, j.ID).LeaseUntil; got == nil || !got.Equal(*extended) {
		t.Errorf("another worker's heartbeat moved the lease to %v", got)
	}
	if err := e.svc.Heartbeat(ctx, e.lease(t, uuid.New(), "w1"), time.Hour); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Errorf("heartbeat on an unknown job = %v, want ErrLeaseLost", err)
	}
}

func TestComplete(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	j := e.create(t, jobs.NewJob{JobType: "rca"})
	e.claim(t, "w1")
	before := len(e.events(t, j.ID))

	// Someone who does not hold the job (its lease was given away, or it
	// never had it) cannot record an outcome.
	if _, err := e.svc.Complete(ctx, e.lease(t, j.ID, "w2"), jobs.Outcome{Result: json.RawMessage(`{"by":"w2"}`)}); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Fatalf("Complete by a non-holder = %v, want ErrLeaseLost", err)
	}
	if got := e.get(t, j.ID); got.Status != jobs.Running || got.ResultData != nil || got.CompletedAt != nil {
		t.Fatalf("a non-holder's Complete changed the job: %+v", got)
	}
	if n := len(e.events(t, j.ID)); n != before {
		t.Fatalf("a non-holder's Complete wrote %d events", n-before)
	}

	done, err := e.svc.Complete(ctx, e.lease(t, j.ID, "w1"), jobs.Outcome{
		Result: json.RawMessage(`{"summary": "disk full"}`), Outputs: json.RawMessage(`{"json": {"severity": "high"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	got := e.get(t, j.ID)
	if got.Status != jobs.Completed || got.CompletedAt == nil || got.DurationSeconds == nil || got.LeaseUntil != nil ||
		!jsonEqual(t, got.ResultData, `{"summary":"disk full"}`) || !jsonEqual(t, got.Outputs, `{"json":{"severity":"high"}}`) {
		t.Fatalf("completed job = %+v (result %s, outputs %s)", got, got.ResultData, got.Outputs)
	}
	if done.Status != jobs.Completed {
		t.Errorf("Complete returned status %s", done.Status)
	}
	typ, data := e.lastEvent(t, j.ID)
	if r, _ := data["result"].(map[string]any); typ != eventlog.Completed || r["summary"] != "disk full" {
		t.Errorf("event %s %v, want completed with data.result", typ, data)
	}

	// The same worker reporting again (a retried request) does not double
	// the outcome.
	if _, err := e.svc.Complete(ctx, e.lease(t, j.ID, "w1"), jobs.Outcome{Result: json.RawMessage(`{"summary":"again"}`)}); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Fatalf("a second Complete = %v, want ErrLeaseLost", err)
	}
	if n := e.count(t, `SELECT count(*) FROM job_events WHERE job_id = $1 AND event_type = 'completed'`, j.ID); n != 1 {
		t.Errorf("%d completed events, want 1", n)
	}
	if got := e.get(t, j.ID); !jsonEqual(t, got.ResultData, `{"summary":"disk full"}`) {
		t.Errorf("the second Complete overwrote the result: %s", got.ResultData)
	}

	t.Run("no result is stored as {}", func(t *testing.T) {
		j := e.create(t, jobs.NewJob{JobType: "rca"})
		e.claim(t, "w1")
		got, err := e.svc.Complete(ctx, e.lease(t, j.ID, "w1"), jobs.Outcome{})
		if err != nil || !jsonEqual(t, got.ResultData, `{}`) || got.Outputs != nil {
			t.Fatalf("Complete = %+v, %v", got, err)
		}
	})
}

func TestFail(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	t.Run("retryable with retries left: back to pending after a backoff", func(t *testing.T) {
		j := e.create(t, jobs.NewJob{JobType: "rca"})
		e.claim(t, "w1")
		got, err := e.svc.Fail(ctx, e.lease(t, j.ID, "w1"), "model timed out", true)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != jobs.Pending || got.RetryCount != 1 || got.ClaimedBy != nil || got.LeaseUntil != nil ||
			got.ErrorMessage == nil || *got.ErrorMessage != "model timed out" || got.CompletedAt != nil {
			t.Fatalf("job = %+v", got)
		}
		if wait := time.Until(got.RunAfter); wait < 5*time.Second || wait > 11*time.Second {
			t.Errorf("run_after is %s away, want the first backoff (10 s)", wait)
		}
		typ, data := e.lastEvent(t, j.ID)
		if typ != eventlog.Retrying || data["error"] != "model timed out" || data["attempt"] != float64(1) || data["run_after"] == nil {
			t.Errorf("event %s %v, want retrying", typ, data)
		}
		// The backoff holds: no worker picks it up at once.
		if _, ok, err := e.svc.Claim(ctx, "w2", time.Minute); err != nil || ok {
			t.Errorf("a job in its backoff was claimable: %v, %v", ok, err)
		}
		// The old attempt's worker can no longer report on it.
		if _, err := e.svc.Fail(ctx, e.lease(t, j.ID, "w1"), "again", true); !errors.Is(err, jobs.ErrLeaseLost) {
			t.Errorf("Fail on a retried job = %v, want ErrLeaseLost", err)
		}
		if _, err := e.svc.Cancel(ctx, nil, j.ID, jobs.CancelRequest{}); err != nil { // out of the way of the next cases
			t.Fatal(err)
		}
	})

	t.Run("after max_retries failures it ends failed", func(t *testing.T) {
		j := e.create(t, jobs.NewJob{JobType: "rca"})
		pgtest.Exec(t, e.url, `UPDATE jobs SET max_retries = 2 WHERE id = $1`, j.ID)
		e.claim(t, "w1")
		if got, err := e.svc.Fail(ctx, e.lease(t, j.ID, "w1"), "first", true); err != nil || got.Status != jobs.Pending {
			t.Fatalf("first failure: %+v, %v", got, err)
		}
		pgtest.Exec(t, e.url, `UPDATE jobs SET run_after = now() WHERE id = $1`, j.ID) // skip the backoff
		if second := e.claim(t, "w2"); second.ID != j.ID || second.Attempt != 2 {
			t.Fatalf("second claim = %+v", second)
		}
		got, err := e.svc.Fail(ctx, e.lease(t, j.ID, "w2"), "second", true)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != jobs.Failed || got.RetryCount != 2 || got.CompletedAt == nil || got.LeaseUntil != nil ||
			got.ErrorMessage == nil || *got.ErrorMessage != "second" {
			t.Fatalf("job = %+v", got)
		}
		typ, data := e.lastEvent(t, j.ID)
		if typ != eventlog.Failed || data["error"] != "second" {
			t.Errorf("event %s %v, want failed", typ, data)
		}
		want := []eventlog.Type{eventlog.Created, eventlog.Started, eventlog.Retrying, eventlog.Started, eventlog.Failed}
		if got := types(e.events(t, j.ID)); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("events %v, want %v", got, want)
		}
	})

	t.Run("not retryable ends failed at once", func(t *testing.T) {
		j := e.create(t, jobs.NewJob{JobType: "rca"})
		e.claim(t, "w1")
		got, err := e.svc.Fail(ctx, e.lease(t, j.ID, "w1"), "bad input", false)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != jobs.Failed || got.RetryCount != 1 || got.CompletedAt == nil {
			t.Fatalf("job = %+v", got)
		}
		if typ, data := e.lastEvent(t, j.ID); typ != eventlog.Failed || data["error"] != "bad input" {
			t.Errorf("event %s %v, want failed", typ, data)
		}
	})

	t.Run("a non-holder changes nothing", func(t *testing.T) {
		j := e.create(t, jobs.NewJob{JobType: "rca"})
		e.claim(t, "w1")
		if _, err := e.svc.Fail(ctx, e.lease(t, j.ID, "w2"), "not mine", false); !errors.Is(err, jobs.ErrLeaseLost) {
			t.Fatalf("Fail = %v, want ErrLeaseLost", err)
		}
		if got := e.get(t, j.ID); got.Status != jobs.Running || got.RetryCount != 0 {
			t.Fatalf("job = %+v", got)
		}
	})
}

func TestRescueExpired(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	expire := func(id uuid.UUID) {
		pgtest.Exec(t, e.url, `UPDATE jobs SET lease_until = now() - interval '1 second' WHERE id = $1`, id)
	}
	retry := e.create(t, jobs.NewJob{JobType: "rca"}).ID
	e.claim(t, "dead-1")
	expire(retry)
	last := e.create(t, jobs.NewJob{JobType: "rca"}).ID
	e.claim(t, "dead-2")
	pgtest.Exec(t, e.url, `UPDATE jobs SET retry_count = 2 WHERE id = $1`, last) // its third failure is its last
	expire(last)
	alive := e.create(t, jobs.NewJob{JobType: "rca"}).ID
	e.claim(t, "alive")

	n, err := e.svc.RescueExpired(ctx, 100)
	if err != nil || n != 2 {
		t.Fatalf("RescueExpired = %d, %v; want 2", n, err)
	}
	if got := e.get(t, retry); got.Status != jobs.Pending || got.RetryCount != 1 || got.ClaimedBy != nil {
		t.Errorf("expired job with retries left = %+v", got)
	}
	if typ, data := e.lastEvent(t, retry); typ != eventlog.Retrying || data["error"] == nil {
		t.Errorf("event %s %v, want retrying", typ, data)
	}
	if got := e.get(t, last); got.Status != jobs.Failed || got.RetryCount != 3 {
		t.Errorf("expired job without retries left = %+v", got)
	}
	if typ, _ := e.lastEvent(t, last); typ != eventlog.Failed {
		t.Errorf("event %s, want failed", typ)
	}
	if got := e.get(t, alive); got.Status != jobs.Running || got.ClaimedBy == nil || *got.ClaimedBy != "alive" {
		t.Errorf("a job with a live lease was touched: %+v", got)
	}
	if typ, _ := e.lastEvent(t, alive); typ != eventlog.Started {
		t.Errorf("the live job got a %s event", typ)
	}
	// The dead worker comes back: its lease is gone, its report refused.
	if _, err := e.svc.Complete(ctx, e.lease(t, retry, "dead-1"), jobs.Outcome{}); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Errorf("Complete by the rescued job's old worker = %v, want ErrLeaseLost", err)
	}
	if n, err := e.svc.RescueExpired(ctx, 100); err != nil || n != 0 {
		t.Errorf("a second rescue = %d, %v; want 0", n, err)
	}
}

// TestConcurrentRescuesTakeEachJobOnce: every replica runs the rescuer; a
// job rescued twice would get two retrying events and lose a retry.
func TestConcurrentRescuesTakeEachJobOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const jobCount, rescuers = 10, 2
	for range jobCount {
		e.create(t, jobs.NewJob{JobType: "rca"})
		e.claim(t, "dead")
	}
	pgtest.Exec(t, e.url, `UPDATE jobs SET lease_until = now() - interval '1 second'`)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
		start = make(chan struct{})
	)
	for range rescuers {
		wg.Go(func() {
			<-start
			for {
				n, err := e.svc.RescueExpired(ctx, 3)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				total += n
				mu.Unlock()
				if n == 0 {
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if total != jobCount {
		t.Errorf("rescued %d, want %d", total, jobCount)
	}
	if n := e.count(t, `SELECT count(*) FROM jobs WHERE status = 'pending' AND retry_count = 1`); n != jobCount {
		t.Errorf("%d jobs pending after one failure, want %d", n, jobCount)
	}
	if n := e.count(t, `SELECT count(*) FROM (SELECT job_id FROM job_events WHERE event_type = 'retrying'
		GROUP BY job_id HAVING count(*) = 1) x`); n != jobCount {
		t.Errorf("%d jobs with exactly one retrying event, want %d", n, jobCount)
	}
}

// TestAStaleAttemptCannotReportOnTheNextOne: a worker whose attempt was
// rescued (it stalled past its lease) and that then claims the same job
// again, under the same worker id, holds two leases; only the newer one
// may report. Otherwise the stale attempt's late result would be recorded
// as the new attempt's, and the new one's too.
func TestAStaleAttemptCannotReportOnTheNextOne(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	j := e.create(t, jobs.NewJob{JobType: "rca"})
	first := jobs.LeaseOf(e.claim(t, "w"))
	pgtest.Exec(t, e.url, `UPDATE jobs SET lease_until = now() - interval '1 second' WHERE id = $1`, j.ID)
	if n, err := e.svc.RescueExpired(ctx, 10); err != nil || n != 1 {
		t.Fatalf("RescueExpired = %d, %v", n, err)
	}
	pgtest.Exec(t, e.url, `UPDATE jobs SET run_after = now() WHERE id = $1`, j.ID) // skip the backoff
	second := jobs.LeaseOf(e.claim(t, "w"))
	if second.Attempt != first.Attempt+1 || second.Worker != first.Worker {
		t.Fatalf("leases %+v then %+v", first, second)
	}
	if err := e.svc.Heartbeat(ctx, first, time.Minute); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Errorf("Heartbeat on the stale attempt = %v, want ErrLeaseLost", err)
	}
	if _, err := e.svc.Complete(ctx, first, jobs.Outcome{Result: json.RawMessage(`{"stale":true}`)}); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Errorf("Complete on the stale attempt = %v, want ErrLeaseLost", err)
	}
	if _, err := e.svc.Fail(ctx, first, "stale", false); !errors.Is(err, jobs.ErrLeaseLost) {
		t.Errorf("Fail on the stale attempt = %v, want ErrLeaseLost", err)
	}
	done, err := e.svc.Complete(ctx, second, jobs.Outcome{Result: json.RawMessage(`{"fresh":true}`)})
	if err != nil || done.Status != jobs.Completed || !bytes.Contains(done.ResultData, []byte("fresh")) {
		t.Fatalf("Complete on the current attempt = %+v, %v", done, err)
	}
}
