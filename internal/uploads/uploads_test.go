package uploads

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rca-engine/api/internal/apperr"
	"github.com/rca-engine/api/internal/blob"
	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/dbtest"
	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/pgtest"
)

type env struct {
	svc   *Service
	jobs  *jobs.Service
	db    *db.DB
	url   string
	dir   string
	store blob.Store
}

func newEnv(t *testing.T, cfg Config) env {
	t.Helper()
	return newEnvOn(t, cfg, nil)
}

// newEnvOn is newEnv on store (nil: a local store in the test's directory).
func newEnvOn(t *testing.T, cfg Config, store blob.Store) env {
	t.Helper()
	d, url := dbtest.New(t)
	log := eventlog.New(d)
	js := jobs.NewService(d, log, jobs.Policy{})
	dir := t.TempDir()
	if store == nil {
		fs, err := blob.NewFS(filepath.Join(dir, "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		store = fs
	}
	st := NewStorage(store, time.Second, nil)
	st.Start(context.Background())
	t.Cleanup(st.Stop)
	pgtest.Eventually(t, 5*time.Second, "storage up", func() bool { return st.Tracker().Get().Status == dependency.Up })
	cfg.Dir = dir
	svc, err := New(d, log, js, st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return env{svc: svc, jobs: js, db: d, url: url, dir: dir, store: store}
}

func (e env) job(t *testing.T) uuid.UUID {
	t.Helper()
	j, err := e.jobs.Create(context.Background(), nil, jobs.NewJob{JobType: "rca"})
	if err != nil {
		t.Fatal(err)
	}
	return j.ID
}

// upload sends files (name, content pairs) to job in one request.
func (e env) upload(t *testing.T, job uuid.UUID, files ...string) (Result, error) {
	t.Helper()
	u := e.svc.NewUpload(nil, "tester")
	defer u.Abort()
	ctx := context.Background()
	for i := 0; i+1 < len(files); i += 2 {
		if err := u.Receive(ctx, files[i], "text/plain", strings.NewReader(files[i+1])); err != nil {
			return Result{}, err
		}
	}
	return u.Commit(ctx, Target{JobID: job})
}

func (e env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	err := e.db.Read(context.Background(), func(ctx context.Context, q db.Querier) error {
		return q.QueryRow(ctx, sql, args...).Scan(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// leftovers lists what is in the temp directory and the blob store.
func (e env) leftovers(t *testing.T) (temps, blobs []string) {
	t.Helper()
	entries, _ := os.ReadDir(e.svc.TempDir())
	for _, en := range entries {
		temps = append(temps, en.Name())
	}
	root := filepath.Join(e.dir, "blobs")
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, p)
		if err == nil && !d.IsDir() && !strings.HasPrefix(rel, "tmp") {
			blobs = append(blobs, rel)
		}
		return nil
	})
	return temps, blobs
}

func refusal(t *testing.T, err error) *Refusal {
	t.Helper()
	var r *Refusal
	if !errors.As(err, &r) {
		t.Fatalf("err = %v, want a *Refusal", err)
	}
	return r
}

// TestSizeLimit: exactly MAX_FILE_SIZE_MB passes, one byte more is refused
// (as too large, naming the file) and leaves no temp file; the request
// total is enforced across its files.
func TestSizeLimit(t *testing.T) {
	e := newEnv(t, Config{MaxFileBytes: 1 << 20, MaxRequestBytes: 3 << 19})
	job := e.job(t)
	line := strings.Repeat("x", 1023) + "\n"
	exact := strings.Repeat(line, 1024)
	if len(exact) != 1<<20 {
		t.Fatal(len(exact))
	}
	if _, err := e.upload(t, job, "exact.log", exact); err != nil {
		t.Fatalf("a file of exactly the limit: %v", err)
	}
	_, err := e.upload(t, job, "over.log", exact+"y")
	if r := refusal(t, err); !r.TooLarge || r.Filename != "over.log" || !strings.Contains(r.Detail, "MAX_FILE_SIZE_MB") {
		t.Fatalf("one byte over = %+v", r)
	}
	// 1 MiB + 600 KiB in one request is over the 1.5 MiB per request.
	_, err = e.upload(t, e.job(t), "a.log", exact[:1<<20-1]+"a", "b.log", strings.Repeat("b\n", 300<<10))
	if r := refusal(t, err); !r.TooLarge || r.Filename != "b.log" || !strings.Contains(r.Detail, "UPLOAD_MAX_REQUEST_MB") {
		t.Fatalf("over the request total = %+v", r)
	}
	if temps, _ := e.leftovers(t); len(temps) != 0 {
		t.Errorf("temp files left: %v", temps)
	}
	if n := e.count(t, `SELECT count(*) FROM files`); n != 1 {
		t.Errorf("%d file rows, want the one accepted", n)
	}
}

// TestContentChecks: what cannot be analysed is refused by its content,
// not its name, with the reason; UTF-16 with a BOM (a Windows export) and
// Latin-1 are text, and their encoding is recorded.
func TestContentChecks(t *testing.T) {
	e := newEnv(t, Config{})
	utf16 := []byte{0xFF, 0xFE}
	for _, r := range "Event 4625: logon failure\r\nEvent 4624: logon\r\n" {
		utf16 = append(utf16, byte(r), 0)
	}
	tests := []struct {
		name, content string
		refused       string // part of the detail; "" means accepted
		encoding      string
	}{
		{"empty.log", "", "empty", ""},
		{"binary.log", "\x7fELF\x02\x01\x01\x00\x00\x00\x00" + strings.Repeat("\x00\x01\x02", 100), "binary", ""},
		{"app.exe", "hello\n", "not accepted", ""},
		{"Security.evtx", "ElfFile\x00" + strings.Repeat("\x00", 100), "export it as XML or CSV", ""},
		{"events.xml", "<Events><Event/></Events>\n", "", "utf-8"},
		{"windows.log", string(utf16), "", "utf-16le"},
		{"latin.log", "caf\xe9 cr\xe8me\n", "", "latin-1"},
		{"noext", "plain text\n", "", "utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := e.upload(t, e.job(t), tt.name, tt.content)
			if tt.refused != "" {
				r := refusal(t, err)
				if r.Kind != apperr.BadRequest || !strings.Contains(r.Detail, tt.refused) || r.Filename != tt.name {
					t.Fatalf("refusal = %+v, want one saying %q", r, tt.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			f := res.Files[0]
			if f.Encoding == nil || *f.Encoding != tt.encoding || f.Kind != KindLog {
				t.Fatalf("file = %+v, want encoding %s", f, tt.encoding)
			}
		})
	}
	if temps, _ := e.leftovers(t); len(temps) != 0 {
		t.Errorf("temp files left: %v", temps)
	}
}

// TestDeduplication: the same content twice in one job is a conflict that
// names the file already there; in another job it is accepted and stored
// once.
func TestDeduplication(t *testing.T) {
	e := newEnv(t, Config{})
	a, b := e.job(t), e.job(t)
	first, err := e.upload(t, a, "app.log", "boom\n")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.upload(t, a, "copy.log", "boom\n")
	r := refusal(t, err)
	if r.Kind != apperr.Conflict || r.Existing == nil || r.Existing.ID != first.Files[0].ID {
		t.Fatalf("duplicate in the same job = %+v", r)
	}
	other, err := e.upload(t, b, "app.log", "boom\n")
	if err != nil {
		t.Fatalf("the same content in another job: %v", err)
	}
	if other.Files[0].Checksum != first.Files[0].Checksum {
		t.Fatal("checksums differ")
	}
	if n := e.count(t, `SELECT count(*) FROM blobs`); n != 1 {
		t.Errorf("%d blob rows, want 1", n)
	}
	if _, blobs := e.leftovers(t); len(blobs) != 1 {
		t.Errorf("stored %v, want one blob", blobs)
	}
	// Twice in one request: refused too, nothing recorded.
	_, err = e.upload(t, e.job(t), "x.log", "same\n", "y.log", "same\n")
	if r := refusal(t, err); r.Kind != apperr.Conflict || r.Filename != "y.log" {
		t.Fatalf("duplicate within a request = %+v", r)
	}
}

// TestCommitRecordsEverythingAtOnce: the rows, the job's counts and its
// last upload, and one file-uploaded event with the original's keys.
func TestCommitRecordsEverythingAtOnce(t *testing.T) {
	e := newEnv(t, Config{})
	job := e.job(t)
	res, err := e.upload(t, job, "a.log", "one\ntwo\n", "b.txt", "three")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 2 || res.Job.FilesCount != 2 || res.Job.LastUploadAt == nil || res.Job.Ready {
		t.Fatalf("result = %+v", res)
	}
	evs, err := eventlog.New(e.db).ForJob(context.Background(), job, eventlog.Filter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var uploaded int
	for _, ev := range evs {
		if ev.Type == eventlog.FileUploaded {
			uploaded++
			for _, k := range []string{`"file_id"`, `"filename"`, `"size"`, `"content_type"`} {
				if !bytes.Contains(ev.Data, []byte(k)) {
					t.Errorf("file-uploaded %s lacks %s", ev.Data, k)
				}
			}
		}
	}
	if uploaded != 2 {
		t.Errorf("%d file-uploaded events, want 2", uploaded)
	}
}

// TestFailedCommitLeavesNothing: a transaction that fails after the
// content was stored (here the job vanishes meanwhile) leaves no row, no
// blob and no temp file.
func TestFailedCommitLeavesNothing(t *testing.T) {
	e := newEnv(t, Config{})
	job := e.job(t)
	e.svc.afterPut = func() { pgtest.Exec(t, e.url, `DELETE FROM jobs WHERE id = $1`, job) }
	_, err := e.upload(t, job, "a.log", "content that will not stay\n")
	if !errors.Is(err, jobs.ErrNotFound) {
		t.Fatalf("err = %v, want the job not found", err)
	}
	temps, blobs := e.leftovers(t)
	if len(temps) != 0 || len(blobs) != 0 || e.count(t, `SELECT count(*) FROM blobs`) != 0 || e.count(t, `SELECT count(*) FROM files`) != 0 {
		t.Fatalf("left behind: temps %v, blobs %v", temps, blobs)
	}
}

// TestSweepAndConcurrentUpload: content nothing uses is swept once its
// grace period has passed (a deleted job frees its content), but never
// content an upload has touched and is about to record, even when the
// same content sat unused and past its grace period before.
func TestSweepAndConcurrentUpload(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	a := e.job(t)
	if _, err := e.upload(t, a, "app.log", "shared content\n"); err != nil {
		t.Fatal(err)
	}
	pgtest.Exec(t, e.url, `DELETE FROM jobs WHERE id = $1`, a) // its files go with it
	pgtest.Exec(t, e.url, `UPDATE blobs SET touched_at = now() - interval '2 hours'`)

	// An upload of the same content while sweeps run between its Put and
	// its transaction: the touch protects the content.
	b := e.job(t)
	swept := -1
	e.svc.afterPut = func() {
		n, err := e.svc.Sweep(ctx, time.Hour)
		if err != nil {
			t.Error(err)
		}
		swept = n
	}
	res, err := e.upload(t, b, "app.log", "shared content\n")
	if err != nil {
		t.Fatal(err)
	}
	if swept != 0 {
		t.Fatalf("the sweep deleted %d blobs an upload was using", swept)
	}
	e.svc.afterPut = nil
	lines, err := e.svc.Lines(ctx, nil, res.Files[0].ID, 1, 10)
	if err != nil || len(lines.Lines) != 1 || lines.Lines[0].Text != "shared content" {
		t.Fatalf("content after the sweep = %+v, %v", lines, err)
	}

	// Once its job is gone and the grace period has passed, it goes.
	pgtest.Exec(t, e.url, `DELETE FROM jobs WHERE id = $1`, b)
	if n, err := e.svc.Sweep(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("inside the grace period the sweep deleted %d (%v)", n, err)
	}
	if n, err := e.svc.Sweep(ctx, 0); err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v; want 1", n, err)
	}
	if _, blobs := e.leftovers(t); len(blobs) != 0 || e.count(t, `SELECT count(*) FROM blobs`) != 0 {
		t.Fatalf("after the sweep: %v", blobs)
	}
}

// TestLinesWindow: a window far into a file is served from the line index
// (offsets of every LineStep-th line), decoded, with exact line numbers;
// windows past the end or too long are cut and say so.
func TestLinesWindow(t *testing.T) {
	e := newEnv(t, Config{MaxFileBytes: 8 << 20})
	var sb strings.Builder
	const total = 25_000
	for i := 1; i <= total; i++ {
		fmt.Fprintf(&sb, "line %d\n", i)
	}
	var u16 []byte
	u16 = append(u16, 0xFE, 0xFF) // UTF-16BE with a BOM
	for i := 1; i <= 3000; i++ {
		for _, r := range fmt.Sprintf("wört %d\r\n", i) {
			u16 = append(u16, byte(r>>8), byte(r))
		}
	}
	res, err := e.upload(t, e.job(t), "big.log", sb.String(), "u16.log", string(u16))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	big, wide := res.Files[0].ID, res.Files[1].ID
	tests := []struct {
		id             uuid.UUID
		from, to       int64
		wantFrom       int64
		wantTo         int64
		truncated      bool
		first, lastTxt string
	}{
		{big, 1, 3, 1, 3, false, "line 1", "line 3"},
		{big, 19_999, 20_002, 19_999, 20_002, false, "line 19999", "line 20002"},
		{big, 24_999, 30_000, 24_999, 25_000, true, "line 24999", "line 25000"},
		{big, 1000, 5000, 1000, 2999, true, "line 1000", "line 2999"},
		{wide, 1001, 1002, 1001, 1002, false, "wört 1001", "wört 1002"},
		{wide, 1, 1, 1, 1, false, "wört 1", "wört 1"},
	}
	for _, tt := range tests {
		got, err := e.svc.Lines(ctx, nil, tt.id, tt.from, tt.to)
		if err != nil {
			t.Fatal(err)
		}
		n := len(got.Lines)
		if got.From != tt.wantFrom || got.To != tt.wantTo || got.Truncated != tt.truncated || n == 0 ||
			got.Lines[0].Text != tt.first || got.Lines[n-1].Text != tt.lastTxt ||
			got.Lines[0].Number != tt.wantFrom || int64(n) != tt.wantTo-tt.wantFrom+1 {
			t.Errorf("Lines(%d, %d) = from %d to %d truncated %v, %d lines %q … %q", tt.from, tt.to, got.From, got.To,
				got.Truncated, n, got.Lines[0].Text, got.Lines[n-1].Text)
		}
	}
	if got, _ := e.svc.Lines(ctx, nil, big, 1, 1); got.TotalLines != total {
		t.Errorf("total_lines = %d, want %d", got.TotalLines, total)
	}
	if got, err := e.svc.Lines(ctx, nil, big, 30_000, 30_010); err != nil || len(got.Lines) != 0 {
		t.Errorf("a window past the end = %+v, %v", got, err)
	}
}

// TestBigArchiveIsPublishedAtOnce: an archive of more members than one
// transaction should hold is recorded ahead in batches, invisible to every
// read until the upload's last transaction publishes it whole; if the
// upload fails before that, its rows and blobs go.
func TestBigArchiveIsPublishedAtOnce(t *testing.T) {
	defer func(n int) { bigArchive = n }(bigArchive)
	bigArchive = 3
	e := newEnv(t, Config{})
	ctx := context.Background()
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	for i := range 12 {
		w, _ := zw.Create(fmt.Sprintf("logs/%d.log", i))
		fmt.Fprintf(w, "member %d\n", i)
	}
	zw.Close()
	upload := func(job uuid.UUID) (Result, error) {
		u := e.svc.NewUpload(nil, "t")
		defer u.Abort()
		if err := u.Receive(ctx, "many.zip", "", bytes.NewReader(zbuf.Bytes())); err != nil {
			t.Fatal(err)
		}
		return u.Commit(ctx, Target{JobID: job})
	}

	failing := e.job(t)
	e.svc.beforeRecord = func() error {
		if n := e.count(t, `SELECT count(*) FROM files`); n != 13 {
			t.Errorf("%d rows recorded ahead, want 13", n)
		}
		if list, err := e.svc.List(ctx, nil, failing); err != nil || len(list) != 0 {
			t.Errorf("rows recorded ahead are visible: %d, %v", len(list), err)
		}
		return errors.New("injected failure")
	}
	if _, err := upload(failing); err == nil {
		t.Fatal("the injected failure did not fail the upload")
	}
	if n := e.count(t, `SELECT count(*) FROM files`) + e.count(t, `SELECT count(*) FROM pending_uploads`); n != 0 {
		t.Fatalf("a failed big upload left %d rows", n)
	}
	if _, blobs := e.leftovers(t); len(blobs) != 0 {
		t.Fatalf("a failed big upload left blobs %v", blobs)
	}

	e.svc.beforeRecord = nil
	job := e.job(t)
	res, err := upload(job)
	if err != nil {
		t.Fatal(err)
	}
	list, err := e.svc.List(ctx, nil, job)
	if err != nil || len(list) != 13 || res.Job.FilesCount != 13 {
		t.Fatalf("published %d files (job says %d), %v", len(list), res.Job.FilesCount, err)
	}
}
