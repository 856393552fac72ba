package main

import (
	"bytes"
	"mime/multipart"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/pgtest"
)

// TestUploadsThroughTheService: the whole service, as built by run, takes
// the original UI's upload (a job created with JSON, then multipart job_id
// + file), lists it, names its storage in the health report, and keeps the
// content under UPLOAD_DIR.
func TestUploadsThroughTheService(t *testing.T) {
	dbURL, _ := pgtest.NewDatabase(t)
	env := fastEnv(dbURL)
	dir := t.TempDir()
	env["UPLOAD_DIR"] = dir
	env["ANALYSIS_SETTLE_SECONDS"] = "1"
	svc := startService(t, env)
	pgtest.Eventually(t, 10*time.Second, "health passes", func() bool { return svc.get(t, "/api/health").status == 200 })
	checks, _ := svc.get(t, "/api/health").json(t)["checks"].(map[string]any)
	if list, _ := checks["storage"].([]any); len(list) != 1 {
		t.Fatalf("the health report does not name the storage: %v", checks)
	}

	r := svc.postJSON(t, "/api/jobs", map[string]any{"job_type": "log_analysis", "user_id": "ui"}, nil)
	if r.status != 201 {
		t.Fatalf("create = %d %s", r.status, r.body)
	}
	id, _ := r.json(t)["id"].(string)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("job_id", id)
	w, _ := mw.CreateFormFile("file", "app.log")
	w.Write([]byte("2025-01-31 ERROR payment timeout\n"))
	mw.Close()
	up := svc.send(t, "POST", "/api/files/upload", mw.FormDataContentType(), body.Bytes(), nil)
	if up.status != 201 || up.json(t)["filename"] != "app.log" {
		t.Fatalf("upload = %d %s", up.status, up.body)
	}
	list := svc.get(t, "/api/files/jobs/"+id)
	if list.status != 200 || !bytes.Contains(list.body, []byte(`"app.log"`)) {
		t.Fatalf("list = %d %s", list.status, list.body)
	}
	var stored int
	filepath.WalkDir(filepath.Join(dir, "blobs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			stored++
		}
		return nil
	})
	if stored != 1 {
		t.Errorf("%d files under UPLOAD_DIR/blobs, want the one blob", stored)
	}
	pgtest.Eventually(t, 10*time.Second, "ready after the settle window", func() bool {
		return svc.get(t, "/api/jobs/"+id).json(t)["ready"] == true
	})
}
