package uploads

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/rca-engine/api/internal/blob"
	"github.com/rca-engine/api/internal/blob/s3test"
	"github.com/rca-engine/api/internal/pgtest"
)

// TestOnS3 runs the upload rules against a real S3-compatible server
// (versitygw; skipped when it is not installed): content stored once for
// two jobs, read back by lines, freed by the sweep once its jobs are gone;
// with the server stopped, an upload is refused as storage unavailable
// and records nothing, and works again once it is back.
func TestOnS3(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	store, err := blob.NewS3(ctx, srv.Config("", "uploads-test"))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvOn(t, Config{}, store)
	objects := func() int {
		n := 0
		for o := range srv.Client().ListObjects(ctx, srv.Bucket(), minio.ListObjectsOptions{Recursive: true}) {
			if o.Err == nil {
				n++
			}
		}
		return n
	}
	a, b := e.job(t), e.job(t)
	first, err := e.upload(t, a, "app.log", "ERROR one\nINFO two\n")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.upload(t, b, "same.log", "ERROR one\nINFO two\n"); err != nil {
		t.Fatal(err)
	}
	if n := objects(); n != 1 {
		t.Fatalf("%d objects for one content in two jobs", n)
	}
	lines, err := e.svc.Lines(ctx, nil, first.Files[0].ID, 2, 2)
	if err != nil || len(lines.Lines) != 1 || lines.Lines[0].Text != "INFO two" {
		t.Fatalf("lines = %+v, %v", lines, err)
	}
	pgtest.Exec(t, e.url, `DELETE FROM jobs`)
	if n, err := e.svc.Sweep(ctx, 0); err != nil || n != 1 || objects() != 0 {
		t.Fatalf("sweep = %d, %v; %d objects left", n, err, objects())
	}

	srv.Stop()
	c := e.job(t)
	_, err = e.upload(t, c, "down.log", "while storage is down\n")
	var se *StorageError
	if !errors.As(err, &se) || se.DependencyState().Name != StorageName {
		t.Fatalf("upload with storage down = %v, want a StorageError", err)
	}
	if n := e.count(t, `SELECT count(*) FROM files`); n != 0 {
		t.Fatalf("%d rows recorded for an upload that failed", n)
	}
	srv.Restart()
	pgtest.Eventually(t, 20*time.Second, "storage back", func() bool {
		_, err := e.upload(t, c, "down.log", "while storage is down\n")
		return err == nil
	})
}
