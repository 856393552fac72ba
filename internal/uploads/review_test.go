package uploads

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/archive"
	"github.com/rca-engine/api/internal/blob"
	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/dbtest"
	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/pgtest"
)

// zipOf is a zip of one member name holding content.
func zipOf(t *testing.T, name, content string) string {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, err := zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// logOf is n bytes of log lines that differ (they do not compress far).
func logOf(seed, n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "2024-01-02 03:04:05 host%d svc[%d]: event %d of %d\n", seed, i*7919%1000003, i, seed)
	}
	return b.String()[:n]
}

// TestArchiveLimitsHoldPerRequest: the archive limits bound what one
// request unpacks onto the disk, not each archive alone: a request of many
// archives, each within the limits, cannot stage many times them.
func TestArchiveLimitsHoldPerRequest(t *testing.T) {
	lim := archive.DefaultLimits()
	lim.MaxTotalBytes = 1 << 20
	lim.MaxMembers = 3
	e := newEnv(t, Config{Archive: lim})
	ctx := context.Background()

	// Bytes: two archives of 600 KB each; either alone is within 1 MiB.
	for _, one := range []string{"a.zip", "b.zip"} {
		if _, err := e.upload(t, e.job(t), one, zipOf(t, "x.log", logOf(len(one), 600<<10))); err != nil {
			t.Fatalf("%s alone: %v", one, err)
		}
	}
	_, err := e.upload(t, e.job(t), "a.zip", zipOf(t, "a.log", logOf(1, 600<<10)), "b.zip", zipOf(t, "b.log", logOf(2, 600<<10)))
	if r := refusal(t, err); r.Filename != "b.zip" || !strings.Contains(r.Detail, "request") {
		t.Errorf("two archives over the total together = %+v", r)
	}

	// Members: two archives of two members each, the limit 3.
	two := func(seed int) string {
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		for i := range 2 {
			w, _ := zw.Create(fmt.Sprintf("m%d.log", i))
			fmt.Fprintf(w, "seed %d member %d\n", seed, i)
		}
		zw.Close()
		return b.String()
	}
	_, err = e.upload(t, e.job(t), "c.zip", two(1), "d.zip", two(2))
	if r := refusal(t, err); r.Filename != "d.zip" || !strings.Contains(r.Detail, "request") {
		t.Errorf("two archives over the member count together = %+v", r)
	}
	if temps, _ := e.leftovers(t); len(temps) != 0 {
		t.Errorf("temp files left: %v", temps)
	}
	_ = ctx
}

// TestUploadInFlightHoldsTheSettleWindow: a job that has a file and no
// start is ready a settle window after its last upload; an upload still
// arriving (a second file over a slow link, longer than the window) keeps
// it from being claimed until that upload is in.
func TestUploadInFlightHoldsTheSettleWindow(t *testing.T) {
	d, _ := dbtest.New(t)
	log := eventlog.New(d)
	js := jobs.NewService(d, log, jobs.Policy{Settle: 300 * time.Millisecond})
	e := newEnvWith(t, d, log, js)
	ctx := context.Background()
	j, err := js.Create(ctx, nil, jobs.NewJob{JobType: "rca"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.upload(t, j.ID, "first.log", "one\n"); err != nil {
		t.Fatal(err)
	}
	// The second file starts arriving, and takes three windows.
	u := e.svc.NewUpload(nil, "t")
	defer u.Abort()
	if err := u.CheckJob(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(900 * time.Millisecond)
	if got, ok, err := js.Claim(ctx, "w1", time.Minute); err != nil || ok {
		t.Fatalf("claimed while a file was arriving: %v %v %v", got.ID, ok, err)
	}
	if err := u.Receive(ctx, "second.log", "", strings.NewReader("two\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Commit(ctx, Target{JobID: j.ID}); err != nil {
		t.Fatal(err)
	}
	// Once it is in, the window runs again and the job is claimed.
	pgtest.Eventually(t, 5*time.Second, "claimed after the window", func() bool {
		got, ok, err := js.Claim(ctx, "w1", time.Minute)
		return err == nil && ok && got.ID == j.ID
	})
}

// newEnvWith is newEnv on a database and jobs of the test's own.
func newEnvWith(t *testing.T, d *db.DB, log *eventlog.Log, js *jobs.Service) env {
	t.Helper()
	dir := t.TempDir()
	fs, err := blob.NewFS(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	st := NewStorage(fs, time.Second, nil)
	st.Start(context.Background())
	t.Cleanup(st.Stop)
	pgtest.Eventually(t, 5*time.Second, "storage up", func() bool { return st.Tracker().Get().Status == dependency.Up })
	svc, err := New(d, log, js, st, Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return env{svc: svc, jobs: js, db: d, dir: dir, store: fs}
}
