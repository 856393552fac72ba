package api

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/blob"
	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/pgtest"
	"github.com/rca-engine/api/internal/uploads"
)

// newUploads gives an edge its file routes: a local store and temp
// directories in t.TempDir(), the store supervised and up.
func newUploads(t testing.TB, d *db.DB, log *eventlog.Log, js *jobs.Service, cfg uploads.Config) (*uploads.Service, *Tus) {
	t.Helper()
	dir := t.TempDir()
	store, err := blob.NewFS(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	st := uploads.NewStorage(store, time.Second, nil)
	st.Start(context.Background())
	t.Cleanup(st.Stop)
	pgtest.Eventually(t, 5*time.Second, "storage up", func() bool { return st.Tracker().Get().Status == dependency.Up })
	cfg.Dir = dir
	files, err := uploads.New(d, log, js, st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tus, err := NewTus(TusOptions{Dir: filepath.Join(dir, "tus"), Uploads: files})
	if err != nil {
		t.Fatal(err)
	}
	return files, tus
}
