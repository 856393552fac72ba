package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rca-engine/api/internal/auth"
	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/dbtest"
	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/idempotency"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/metrics"
	"github.com/rca-engine/api/internal/pgtest"
	"github.com/rca-engine/api/internal/tickets"
	"github.com/rca-engine/api/internal/uploads"
)

// filesEdge is an edge with its file routes on a database of its own.
type filesEdge struct {
	h     http.Handler
	d     *db.DB
	url   string
	files *uploads.Service
	tus   *Tus
}

func newFilesEdge(t testing.TB, mode auth.Mode, policy jobs.Policy, cfg uploads.Config) filesEdge {
	t.Helper()
	d, url := dbtest.New(t)
	return newFilesEdgeOn(t, d, url, mode, policy, cfg)
}

func newFilesEdgeOn(t testing.TB, d *db.DB, url string, mode auth.Mode, policy jobs.Policy, cfg uploads.Config) filesEdge {
	t.Helper()
	a, err := auth.New(d, auth.Config{Secret: testSecret, Hash: auth.HashParams{Memory: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	log := eventlog.New(d)
	js := jobs.NewService(d, log, policy)
	files, tus := newUploads(t, d, log, js, cfg)
	deps := dependency.Set{d.Tracker()}
	h := NewHandler(Options{Version: "test", RequestTimeout: 5 * time.Second, MaxBodyBytes: 64 << 10, AuthMode: mode},
		Deps{Database: d, Dependencies: deps, Jobs: js, Events: log,
			Tickets: tickets.New(d, log, policy, tickets.Defaults{}, tickets.Settings{}), Idempotency: idempotency.New(d, time.Hour),
			Metrics: metrics.New(deps, d.Stat), Auth: a, Uploads: files, Tus: tus})
	return filesEdge{h: h, d: d, url: url, files: files, tus: tus}
}

// part is one part of a multipart body; a file when filename is set.
type part struct{ name, filename, content string }

func filePart(name, content string) part { return part{"file", name, content} }

func multipartBody(t testing.TB, parts ...part) (*bytes.Buffer, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		cd := fmt.Sprintf(`form-data; name=%q`, p.name)
		if p.filename != "" || p.name == "file" {
			// RFC 2231 encoding carries any byte of the name (NUL, bidi
			// controls) as the client sent it.
			cd += "; filename*=UTF-8''" + url.PathEscape(p.filename)
			h.Set("Content-Type", "text/plain")
		}
		h.Set("Content-Disposition", cd)
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, p.content)
	}
	mw.Close()
	return &b, mw.FormDataContentType()
}

func (c *client) multipart(t testing.TB, method, path string, parts ...part) *httptest.ResponseRecorder {
	t.Helper()
	body, ct := multipartBody(t, parts...)
	req := httptest.NewRequest(method, path, body)
	req.Header.Set("Content-Type", ct)
	return c.send(req)
}

func (c *client) newJob(t testing.TB) jobs.Job {
	t.Helper()
	rec := c.json("POST", "/api/jobs", `{"job_type":"log_analysis","user_id":"whoever"}`)
	if rec.Code != 201 {
		t.Fatalf("create job = %d %s", rec.Code, rec.Body)
	}
	var j jobs.Job
	json.Unmarshal(rec.Body.Bytes(), &j)
	return j
}

func signedIn(t *testing.T, h http.Handler, d *db.DB, name string, admin bool) *client {
	t.Helper()
	c := &client{h: h}
	if rec := c.json("POST", "/api/auth/register", fmt.Sprintf(
		`{"email":"%s@example.com","username":"%s","password":"password-of-%s"}`, name, name, name)); rec.Code != 201 {
		t.Fatalf("register %s = %d %s", name, rec.Code, rec.Body)
	}
	if admin {
		if _, err := d.Exec(t.Context(), `UPDATE users SET role = 'admin' WHERE username = $1`, name); err != nil {
			t.Fatal(err)
		}
	}
	c.signIn(t, name, "password-of-"+name)
	return c
}

func decodeFile(t testing.TB, rec *httptest.ResponseRecorder) uploads.File {
	t.Helper()
	var f uploads.File
	if err := json.Unmarshal(rec.Body.Bytes(), &f); err != nil || f.ID == uuid.Nil {
		t.Fatalf("not a file: %d %s", rec.Code, rec.Body)
	}
	return f
}

// TestOriginalUIFlow is what the original UI does: create a job with JSON,
// upload a file with multipart job_id + file and a Bearer token, list the
// job's files. The answer has the original's keys; the job, never
// started, becomes ready once the settle window has passed.
func TestOriginalUIFlow(t *testing.T) {
	e := newFilesEdge(t, auth.ModeWrites, jobs.Policy{Settle: 300 * time.Millisecond}, uploads.Config{})
	c := signedIn(t, e.h, e.d, "ui-user", false)
	j := c.newJob(t)
	for i, order := range [][]part{
		{{"job_id", "", j.ID.String()}, filePart("app.log", "ERROR db timeout\nINFO ok\n")},
		{filePart("second.log", "WARN disk 91%\n"), {"job_id", "", j.ID.String()}}, // the UI's FormData order varies
	} {
		rec := c.multipart(t, "POST", "/api/files/upload", order...)
		if rec.Code != 201 {
			t.Fatalf("upload %d = %d %s", i, rec.Code, rec.Body)
		}
		var raw map[string]any
		json.Unmarshal(rec.Body.Bytes(), &raw)
		for _, k := range []string{"id", "job_id", "filename", "original_filename", "content_type", "file_size", "checksum",
			"processed", "processed_at", "created_at", "metadata", "kind", "archive_path", "parent_id", "encoding"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("upload answer lacks %q: %s", k, rec.Body)
			}
		}
		if raw["job_id"] != j.ID.String() || raw["processed"] != false || raw["kind"] != "log" {
			t.Errorf("upload answer = %s", rec.Body)
		}
	}
	rec := c.send(httptest.NewRequest("GET", "/api/files/jobs/"+j.ID.String(), nil))
	var list []uploads.File
	if json.Unmarshal(rec.Body.Bytes(), &list); rec.Code != 200 || len(list) != 2 || list[0].Filename != "app.log" {
		t.Fatalf("list = %d %s", rec.Code, rec.Body)
	}
	var got jobs.Job
	json.Unmarshal(c.json("GET", "/api/jobs/"+j.ID.String(), "").Body.Bytes(), &got)
	if got.FilesCount != 2 || got.Ready {
		t.Fatalf("job right after the uploads: files_count %d ready %v", got.FilesCount, got.Ready)
	}
	pgtest.Eventually(t, 10*time.Second, "ready after the settle window", func() bool {
		var g map[string]any
		json.Unmarshal(c.json("GET", "/api/jobs/"+j.ID.String(), "").Body.Bytes(), &g)
		return g["ready"] == true && g["ready_at"] != nil
	})
}

// TestUploadAnswers: several files in one request, and each refusal as a
// problem naming the file, with the right status.
func TestUploadAnswers(t *testing.T) {
	e := newFilesEdge(t, auth.ModeOff, jobs.Policy{}, uploads.Config{MaxFileBytes: 1 << 20})
	c := &client{h: e.h}
	j := c.newJob(t)
	id := part{"job_id", "", j.ID.String()}
	rec := c.multipart(t, "POST", "/api/files/upload", id, filePart("a.log", "a\n"), filePart("b.log", "b\n"))
	var many struct{ Files []uploads.File }
	if json.Unmarshal(rec.Body.Bytes(), &many); rec.Code != 201 || len(many.Files) != 2 {
		t.Fatalf("two files = %d %s", rec.Code, rec.Body)
	}
	exact := strings.Repeat("z", 1<<20-1) + "\n"
	tests := []struct {
		name   string
		parts  []part
		status int
		file   string // the filename the problem names
		detail string
	}{
		{"empty", []part{id, filePart("empty.log", "")}, 400, "empty.log", "empty"},
		{"binary renamed .log", []part{id, filePart("photo.log", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"+strings.Repeat("\x00", 64))}, 400, "photo.log", "binary"},
		{"type", []part{id, filePart("run.exe", "MZ")}, 400, "run.exe", ".exe"},
		{"exactly the limit", []part{id, filePart("exact.log", exact)}, 201, "", ""},
		{"one byte over", []part{id, filePart("over.log", exact+"!")}, 413, "over.log", "MAX_FILE_SIZE_MB"},
		{"duplicate", []part{id, filePart("again.log", "a\n")}, 409, "again.log", "already in this job"},
		{"unsafe name", []part{id, filePart("../../etc/\u202egol.txt\x00", "x\n")}, 201, "", ""},
		{"no job_id", []part{filePart("x.log", "x\n")}, 422, "", ""},
		{"unknown job", []part{{"job_id", "", uuid.NewString()}, filePart("x.log", "x\n")}, 404, "", ""},
		{"bad job_id", []part{{"job_id", "", "nope"}}, 422, "", ""},
		{"unknown field", []part{id, {"colour", "", "red"}}, 422, "", ""},
		{"no file", []part{id}, 422, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := c.multipart(t, "POST", "/api/files/upload", tt.parts...)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status == 201 {
				f := decodeFile(t, rec)
				if strings.ContainsAny(f.Filename, "/\\\x00\u202e") || strings.ContainsAny(f.OriginalFilename, "\x00\u202e") {
					t.Errorf("stored names %q / %q", f.Filename, f.OriginalFilename)
				}
				return
			}
			var p struct {
				Problem
				Errors []fileError   `json:"errors"`
				File   *uploads.File `json:"file"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Detail == "" ||
				rec.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("not a problem: %s", rec.Body)
			}
			if tt.file != "" && (len(p.Errors) != 1 || p.Errors[0].Filename != tt.file || p.Errors[0].Field != "file" ||
				!strings.Contains(p.Errors[0].Detail, tt.detail) || !strings.Contains(p.Detail, tt.file)) {
				t.Errorf("problem = %s, want it to name %s and say %q", rec.Body, tt.file, tt.detail)
			}
			if tt.status == 409 && (p.File == nil || p.File.Filename != "a.log") {
				t.Errorf("a duplicate's problem lacks the existing file: %s", rec.Body)
			}
		})
	}
	req := httptest.NewRequest("POST", "/api/files/upload", strings.NewReader(`{"job_id":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	if rec := c.send(req); rec.Code != 415 {
		t.Errorf("a JSON upload = %d", rec.Code)
	}
	if temps, _ := os.ReadDir(e.files.TempDir()); len(temps) != 0 {
		t.Errorf("temp files left: %d", len(temps))
	}
}

// TestFilePrivacy: another signed-in user cannot read a file (404 for the
// file's routes, the same answer as a missing id, so nothing says it
// exists) nor list or upload to the job (403); an anonymous caller is told
// to sign in, whatever AUTH_MODE=writes says about reads; admins may.
func TestFilePrivacy(t *testing.T) {
	e := newFilesEdge(t, auth.ModeWrites, jobs.Policy{}, uploads.Config{})
	owner := signedIn(t, e.h, e.d, "owner1", false)
	other := signedIn(t, e.h, e.d, "other1", false)
	admin := signedIn(t, e.h, e.d, "admin1", true)
	anon := &client{h: e.h}
	j := owner.newJob(t)
	rec := owner.multipart(t, "POST", "/api/files/upload", part{"job_id", "", j.ID.String()}, filePart("secret.log", "password=hunter2\n"))
	if rec.Code != 201 {
		t.Fatalf("upload = %d %s", rec.Code, rec.Body)
	}
	f := decodeFile(t, rec)
	missing := uuid.NewString()
	for _, path := range []string{"/api/files/%s", "/api/files/%s/content", "/api/files/%s/lines?from=1&to=5"} {
		mine := owner.send(httptest.NewRequest("GET", fmt.Sprintf(path, f.ID), nil))
		theirs := other.send(httptest.NewRequest("GET", fmt.Sprintf(path, f.ID), nil))
		none := other.send(httptest.NewRequest("GET", fmt.Sprintf(path, missing), nil))
		nobody := anon.send(httptest.NewRequest("GET", fmt.Sprintf(path, f.ID), nil))
		boss := admin.send(httptest.NewRequest("GET", fmt.Sprintf(path, f.ID), nil))
		if mine.Code != 200 || boss.Code != 200 {
			t.Errorf("%s: owner %d, admin %d", path, mine.Code, boss.Code)
		}
		if theirs.Code != 404 || none.Code != 404 || decodeProblem(t, theirs).Detail != decodeProblem(t, none).Detail {
			t.Errorf("%s: other user %d %s, missing id %d %s", path, theirs.Code, theirs.Body, none.Code, none.Body)
		}
		if strings.Contains(theirs.Body.String(), "hunter2") || strings.Contains(theirs.Body.String(), "secret") {
			t.Errorf("%s leaks: %s", path, theirs.Body)
		}
		if nobody.Code != 401 {
			t.Errorf("%s anonymous = %d", path, nobody.Code)
		}
	}
	list := other.send(httptest.NewRequest("GET", "/api/files/jobs/"+j.ID.String(), nil))
	if list.Code != 403 || strings.Contains(list.Body.String(), "secret") {
		t.Errorf("other user's list = %d %s", list.Code, list.Body)
	}
	up := other.multipart(t, "POST", "/api/files/upload", part{"job_id", "", j.ID.String()}, filePart("x.log", "x\n"))
	if up.Code != 403 {
		t.Errorf("other user's upload = %d %s", up.Code, up.Body)
	}
	if rec := anon.send(httptest.NewRequest("GET", "/api/files/jobs/"+j.ID.String(), nil)); rec.Code != 401 {
		t.Errorf("anonymous list = %d", rec.Code)
	}
	if rec := admin.send(httptest.NewRequest("GET", "/api/files/jobs/"+j.ID.String(), nil)); rec.Code != 200 {
		t.Errorf("admin list = %d", rec.Code)
	}
	// JOB_VISIBILITY=team: every signed-in user.
	team := newFilesEdgeOn(t, e.d, e.url, auth.ModeWrites, jobs.Policy{Visibility: jobs.VisibilityTeam}, uploads.Config{})
	other.h = team.h
	if rec := other.send(httptest.NewRequest("GET", "/api/files/jobs/"+j.ID.String(), nil)); rec.Code != 200 {
		t.Errorf("team visibility list = %d", rec.Code)
	}
}

// TestContentAndRange: the download is the bytes as uploaded, with Range,
// as an attachment that is never sniffed.
func TestContentAndRange(t *testing.T) {
	e := newFilesEdge(t, auth.ModeOff, jobs.Policy{}, uploads.Config{})
	c := &client{h: e.h}
	j := c.newJob(t)
	body := "<script>alert(1)</script>\nline two\n"
	f := decodeFile(t, c.multipart(t, "POST", "/api/files/upload", part{"job_id", "", j.ID.String()}, filePart("page.log", body)))
	rec := c.send(httptest.NewRequest("GET", "/api/files/"+f.ID.String()+"/content", nil))
	h := rec.Header()
	if rec.Code != 200 || rec.Body.String() != body || !strings.HasPrefix(h.Get("Content-Type"), "text/plain; charset=utf-8") ||
		!strings.HasPrefix(h.Get("Content-Disposition"), "attachment") || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("content = %d %q %v", rec.Code, rec.Body, h)
	}
	req := httptest.NewRequest("GET", "/api/files/"+f.ID.String()+"/content", nil)
	req.Header.Set("Range", "bytes=26-29")
	rec = c.send(req)
	if rec.Code != 206 || rec.Body.String() != "line" {
		t.Fatalf("range = %d %q", rec.Code, rec.Body)
	}
	rec = c.send(httptest.NewRequest("GET", "/api/files/"+f.ID.String()+"/lines?from=2&to=2", nil))
	var lines uploads.Lines
	if json.Unmarshal(rec.Body.Bytes(), &lines); rec.Code != 200 || len(lines.Lines) != 1 || lines.Lines[0].Text != "line two" || lines.TotalLines != 2 {
		t.Fatalf("lines = %d %s", rec.Code, rec.Body)
	}
	if rec := c.send(httptest.NewRequest("GET", "/api/files/"+f.ID.String()+"/lines?from=0", nil)); rec.Code != 422 {
		t.Errorf("from=0 = %d", rec.Code)
	}
}

// TestStartAndMultipartCreate: POST /api/jobs/{id}/start makes a job ready
// (409 while it has no file); POST /api/jobs as multipart creates a job
// with its files in one request, all or nothing.
func TestStartAndMultipartCreate(t *testing.T) {
	e := newFilesEdge(t, auth.ModeOff, jobs.Policy{Settle: time.Hour}, uploads.Config{})
	c := &client{h: e.h}
	j := c.newJob(t)
	if rec := c.json("POST", "/api/jobs/"+j.ID.String()+"/start", ""); rec.Code != 409 {
		t.Fatalf("start without a file = %d %s", rec.Code, rec.Body)
	}
	c.multipart(t, "POST", "/api/files/upload", part{"job_id", "", j.ID.String()}, filePart("a.log", "a\n"))
	rec := c.json("POST", "/api/jobs/"+j.ID.String()+"/start", "")
	var got jobs.Job
	if json.Unmarshal(rec.Body.Bytes(), &got); rec.Code != 202 || !got.Ready || got.ReadyAt == nil || got.FilesCount != 1 {
		t.Fatalf("start = %d %s", rec.Code, rec.Body)
	}

	rec = c.multipart(t, "POST", "/api/jobs", part{"job_type", "", "log_analysis"}, part{"input_manifest", "", `{"source":"upload"}`},
		part{"start", "", "true"}, filePart("x.log", "x\n"), filePart("y.log", "y\n"))
	if json.Unmarshal(rec.Body.Bytes(), &got); rec.Code != 201 || got.FilesCount != 2 || !got.Ready || got.JobType != "log_analysis" {
		t.Fatalf("multipart create = %d %s", rec.Code, rec.Body)
	}
	before := countRows(t, e.d, "jobs")
	for _, parts := range [][]part{
		{{"job_type", "", "log_analysis"}, filePart("x.log", "x\n"), filePart("bad.log", "")},
		{{"job_type", "", "log_analysis"}, {"input_manifest", "", "[1]"}, filePart("x.log", "x\n")},
		{filePart("x.log", "x\n")}, // no job_type
	} {
		if rec := c.multipart(t, "POST", "/api/jobs", parts...); rec.Code < 400 || rec.Code >= 500 {
			t.Errorf("refused multipart create = %d %s", rec.Code, rec.Body)
		}
	}
	if after := countRows(t, e.d, "jobs"); after != before {
		t.Errorf("a refused multipart create left %d jobs", after-before)
	}
}

func countRows(t testing.TB, d *db.DB, table string) int {
	t.Helper()
	var n int
	if err := d.Read(context.Background(), func(ctx context.Context, q db.Querier) error {
		return q.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n)
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// storeEmpty lists the blobs in an edge's local store.
func storedBlobs(t testing.TB, files *uploads.Service) []string {
	t.Helper()
	root := filepath.Join(filepath.Dir(files.TempDir()), "blobs")
	var out []string
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, p)
		if err == nil && !d.IsDir() && !strings.HasPrefix(rel, "tmp") {
			out = append(out, rel)
		}
		return nil
	})
	return out
}
