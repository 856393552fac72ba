package api

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/auth"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/uploads"
)

type entry struct {
	name string
	body []byte
}

func zipOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func tarGzOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg})
		tw.Write(e.body)
	}
	tw.Close()
	gz.Close()
	return b.Bytes()
}

// TestArchivesThroughTheRoute: a zip and a tar.gz (with a zip inside) are
// unpacked into members listed with their path and archive; binary, empty
// and repeated members are skipped with the reason; a zip slip or a bomb is
// refused whole, naming the archive, leaving nothing behind.
func TestArchivesThroughTheRoute(t *testing.T) {
	e := newFilesEdge(t, auth.ModeOff, jobs.Policy{}, uploads.Config{MaxFileBytes: 32 << 20})
	c := &client{h: e.h}
	j := c.newJob(t)
	id := part{"job_id", "", j.ID.String()}
	logs := zipOf(t,
		entry{"var/log/app.log", []byte("ERROR one\n")},
		entry{"var/log/app.log.1", []byte("ERROR one\n")}, // the same content
		entry{"var/log/core", []byte("\x7fELF\x00\x00\x00\x00\x01\x02")},
		entry{"var/log/empty.log", nil},
		entry{"var/log/db.log", []byte("FATAL db down\n")},
	)
	rec := c.multipart(t, "POST", "/api/files/upload", id, filePart("logs.zip", string(logs)))
	if rec.Code != 201 {
		t.Fatalf("zip = %d %s", rec.Code, rec.Body)
	}
	arch := decodeFile(t, rec)
	var md struct {
		Members int               `json:"members"`
		Skipped []uploads.Skipped `json:"skipped"`
	}
	json.Unmarshal(arch.Metadata, &md)
	if arch.Kind != "archive" || md.Members != 2 || len(md.Skipped) != 3 {
		t.Fatalf("archive = %+v, metadata %s", arch, arch.Metadata)
	}
	var list []uploads.File
	json.Unmarshal(c.send(httptest.NewRequest("GET", "/api/files/jobs/"+j.ID.String(), nil)).Body.Bytes(), &list)
	paths := map[string]bool{}
	for _, f := range list {
		if f.ParentID != nil {
			if *f.ParentID != arch.ID || f.ArchivePath == nil {
				t.Errorf("member %+v", f)
			}
			paths[*f.ArchivePath] = true
		}
	}
	if len(list) != 3 || !paths["var/log/app.log"] || !paths["var/log/db.log"] {
		t.Fatalf("listed %d files, member paths %v", len(list), paths)
	}
	var got jobs.Job
	json.Unmarshal(c.json("GET", "/api/jobs/"+j.ID.String(), "").Body.Bytes(), &got)
	if got.FilesCount != 3 {
		t.Errorf("files_count = %d, want the archive and its 2 members", got.FilesCount)
	}

	// Nested: a tar.gz holding a zip; a member already in the job is skipped.
	nested := tarGzOf(t, entry{"bundle/inner.zip", zipOf(t, entry{"x.log", []byte("WARN nested\n")})},
		entry{"bundle/db.log", []byte("FATAL db down\n")})
	rec = c.multipart(t, "POST", "/api/files/upload", id, filePart("bundle.tar.gz", string(nested)))
	if rec.Code != 201 {
		t.Fatalf("tar.gz = %d %s", rec.Code, rec.Body)
	}
	arch = decodeFile(t, rec)
	json.Unmarshal(arch.Metadata, &md)
	if md.Members != 1 || len(md.Skipped) != 1 || !strings.Contains(md.Skipped[0].Reason, "already in this job") {
		t.Errorf("nested archive metadata %s", arch.Metadata)
	}

	before := countRows(t, e.d, "files")
	for name, body := range map[string][]byte{
		"slip.zip": zipOf(t, entry{"../../etc/cron.d/evil.log", []byte("* * * * * root sh\n")}),
		"bomb.zip": zipOf(t, entry{"bomb.log", bytes.Repeat([]byte("a"), 64<<20)}),
	} {
		start := time.Now()
		rec := c.multipart(t, "POST", "/api/files/upload", id, filePart(name, string(body)))
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), name) {
			t.Errorf("%s = %d %s", name, rec.Code, rec.Body)
		}
		t.Logf("%s (%d bytes) refused in %s: %s", name, len(body), time.Since(start).Round(time.Millisecond), decodeProblem(t, rec).Detail)
	}
	if after := countRows(t, e.d, "files"); after != before {
		t.Errorf("a refused archive left %d rows", after-before)
	}
}

// TestArchiveOf100kMembers: an archive at the member limit goes through
// the HTTP route whole: 100,000 members recorded in one transaction.
func TestArchiveOf100kMembers(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("100,000 members: minutes under -race or on a busy machine")
	}
	e := newFilesEdge(t, auth.ModeOff, jobs.Policy{}, uploads.Config{MaxFileBytes: 64 << 20,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	c := &client{h: e.h}
	j := c.newJob(t)
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	const n = 100_000
	for i := range n {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("logs/%03d/app-%d.log", i/1000, i), Method: zip.Store})
		fmt.Fprintf(w, "event %d\n", i)
	}
	zw.Close()
	start := time.Now()
	rec := c.multipart(t, "POST", "/api/files/upload", part{"job_id", "", j.ID.String()}, filePart("many.zip", b.String()))
	if rec.Code != 201 {
		t.Fatalf("100k members = %d %s", rec.Code, rec.Body)
	}
	t.Logf("%d members (%d bytes zipped) unpacked, stored and recorded in %s", n, b.Len(), time.Since(start).Round(time.Millisecond))
	if got := countRows(t, e.d, "files"); got != n+1 {
		t.Fatalf("%d rows, want %d", got, n+1)
	}
}

// testWriter sends log lines to the test's log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
