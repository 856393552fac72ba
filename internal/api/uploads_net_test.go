package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/auth"
	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/faults"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/pgtest"
	"github.com/rca-engine/api/internal/uploads"
	"github.com/rca-engine/api/migrations"
)

// logText is n bytes of log lines.
func logText(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "2025-01-31T12:00:%02d host app[%d]: request %d took %d ms\n", i%60, i%97, i, i%1000)
	}
	return b.Bytes()[:n]
}

// nothingLeft waits until the edge holds no temp file, then checks that no
// row, blob or tus file is left.
func nothingLeft(t *testing.T, e filesEdge) {
	t.Helper()
	pgtest.Eventually(t, 10*time.Second, "temp files removed", func() bool {
		entries, _ := os.ReadDir(e.files.TempDir())
		return len(entries) == 0
	})
	if n := countRows(t, e.d, "files"); n != 0 {
		t.Errorf("%d file rows left", n)
	}
	if n := countRows(t, e.d, "blobs"); n != 0 {
		t.Errorf("%d blob rows left", n)
	}
	if b := storedBlobs(t, e.files); len(b) != 0 {
		t.Errorf("blobs left in storage: %v", b)
	}
}

// TestDroppedUploadLeavesNothing: a client that disconnects in the middle
// of a file leaves no row, no stored content and no temp file.
func TestDroppedUploadLeavesNothing(t *testing.T) {
	e := newFilesEdge(t, auth.ModeOff, jobs.Policy{}, uploads.Config{})
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	j := (&client{h: e.h}).newJob(t)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	head := "--B\r\nContent-Disposition: form-data; name=\"job_id\"\r\n\r\n" + j.ID.String() +
		"\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.log\"\r\n\r\n"
	fmt.Fprintf(conn, "POST /api/files/upload HTTP/1.1\r\nHost: test\r\nContent-Type: multipart/form-data; boundary=B\r\n"+
		"Content-Length: %d\r\n\r\n%s", 50<<20, head)
	conn.Write(logText(4 << 20))
	time.Sleep(200 * time.Millisecond) // the handler is reading the file part
	conn.Close()
	nothingLeft(t, e)
}

// tusClient speaks the tus 1.0 protocol with a raw HTTP client.
type tusClient struct {
	t     *testing.T
	base  string
	token string
}

func (c tusClient) do(method, url string, body io.Reader, hdr ...string) *http.Response {
	c.t.Helper()
	req, _ := http.NewRequest(method, url, body)
	req.Header.Set("Tus-Resumable", "1.0.0")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func tusMetadata(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return strings.Join(parts, ",")
}

// TestTusResumesAfterADrop: a resumable upload whose connection drops at
// 90 % resumes with HEAD (the offset) and a PATCH from there; the last
// PATCH answers the File id, the file is the bytes sent, and the partial
// upload is gone. Creation checks the job, the caller's right and the size;
// another user cannot touch someone's upload.
func TestTusResumesAfterADrop(t *testing.T) {
	e := newFilesEdge(t, auth.ModeWrites, jobs.Policy{}, uploads.Config{MaxFileBytes: 8 << 20})
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	owner := signedIn(t, e.h, e.d, "tus-owner", false)
	other := signedIn(t, e.h, e.d, "tus-other", false)
	j := owner.newJob(t)
	content := logText(3 << 20)
	tc := tusClient{t: t, base: srv.URL, token: owner.bearer}
	create := func(c tusClient, size int, md string) *http.Response {
		return c.do("POST", srv.URL+"/api/files/tus/", nil, "Upload-Length", strconv.Itoa(size), "Upload-Metadata", md)
	}
	md := tusMetadata("job_id", j.ID.String(), "filename", "app.log")

	// Refusals at creation.
	if r := create(tusClient{t: t}, len(content), md); r.StatusCode != 401 {
		t.Errorf("anonymous creation = %d", r.StatusCode)
	}
	if r := create(tusClient{t: t, token: other.bearer}, len(content), md); r.StatusCode != 403 {
		t.Errorf("creation on another user's job = %d", r.StatusCode)
	}
	if r := create(tc, 9<<20, md); r.StatusCode != 413 {
		t.Errorf("Upload-Length over MAX_FILE_SIZE_MB = %d", r.StatusCode)
	}
	if r := create(tc, 10, tusMetadata("job_id", "00000000-0000-4000-8000-000000000000", "filename", "a.log")); r.StatusCode != 404 {
		t.Errorf("unknown job = %d", r.StatusCode)
	}
	if r := create(tc, 10, tusMetadata("job_id", j.ID.String(), "filename", "a.exe")); r.StatusCode != 400 {
		t.Errorf("type not allowed = %d", r.StatusCode)
	}

	r := create(tc, len(content), md)
	loc := r.Header.Get("Location")
	if r.StatusCode != 201 || loc == "" {
		t.Fatalf("create = %d, Location %q", r.StatusCode, loc)
	}
	if !strings.HasPrefix(loc, "http") {
		loc = srv.URL + loc
	}
	// Send 90 % and drop the connection.
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(loc, srv.URL)
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: test\r\nTus-Resumable: 1.0.0\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: %d\r\n\r\n", path, owner.bearer, len(content))
	ninety := len(content) * 9 / 10
	conn.Write(content[:ninety])
	time.Sleep(300 * time.Millisecond)
	conn.Close()

	if r := (tusClient{t: t, token: other.bearer}).do("HEAD", loc, nil); r.StatusCode != 404 {
		t.Errorf("another user's HEAD = %d", r.StatusCode)
	}
	var offset int
	pgtest.Eventually(t, 30*time.Second, "the dropped PATCH's bytes saved", func() bool {
		h := tc.do("HEAD", loc, nil)
		offset, _ = strconv.Atoi(h.Header.Get("Upload-Offset"))
		return h.StatusCode == 200 && offset > 0
	})
	if offset > ninety {
		t.Fatalf("offset %d past what was sent (%d)", offset, ninety)
	}
	if n := countRows(t, e.d, "files"); n != 0 {
		t.Fatalf("%d files before the upload finished", n)
	}
	r = tc.do("PATCH", loc, bytes.NewReader(content[offset:]), "Content-Type", "application/offset+octet-stream",
		"Upload-Offset", strconv.Itoa(offset))
	fileID := r.Header.Get("Upload-File-Id")
	if r.StatusCode != 204 || fileID == "" {
		t.Fatalf("final PATCH = %d, Upload-File-Id %q", r.StatusCode, fileID)
	}
	req := httptest.NewRequest("GET", "/api/files/"+fileID+"/content", nil)
	got := owner.send(req)
	if got.Code != 200 || !bytes.Equal(got.Body.Bytes(), content) {
		t.Fatalf("content = %d, %d bytes (want %d)", got.Code, got.Body.Len(), len(content))
	}
	entries, _ := os.ReadDir(e.tus.opts.Dir)
	for _, en := range entries {
		t.Errorf("tus file left: %s", en.Name())
	}

	// An upload never finished expires.
	r = create(tc, 100, tusMetadata("job_id", j.ID.String(), "filename", "b.log"))
	if r.StatusCode != 201 {
		t.Fatal(r.StatusCode)
	}
	e.tus.opts.Expiry = -time.Second
	if n := e.tus.Sweep(); n != 1 {
		t.Errorf("sweep removed %d, want 1", n)
	}
}

// TestUploadMemoryIsFlat streams a 200 MB file through the HTTP route and
// samples the heap meanwhile: it stays flat (a whole-file read would grow
// it by the file's size).
func TestUploadMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 200 MB")
	}
	const size = 200 << 20
	e := newFilesEdge(t, auth.ModeOff, jobs.Policy{}, uploads.Config{MaxFileBytes: 256 << 20})
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	j := (&client{h: e.h}).newJob(t)

	chunk := logText(1 << 20)
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		mw.WriteField("job_id", j.ID.String())
		w, _ := mw.CreateFormFile("file", "huge.log")
		for sent := 0; sent < size; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		mw.Close()
		pw.Close()
	}()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, baseAlloc := ms.HeapInuse, ms.TotalAlloc
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	})
	resp, err := http.Post(srv.URL+"/api/files/upload", mw.FormDataContentType(), pr)
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var f uploads.File
	json.NewDecoder(resp.Body).Decode(&f)
	if resp.StatusCode != 201 || f.FileSize != size {
		t.Fatalf("upload = %d, size %d", resp.StatusCode, f.FileSize)
	}
	runtime.ReadMemStats(&ms)
	growth := int64(peak.Load()) - int64(base)
	t.Logf("heap in use grew by at most %.1f MB while 200 MB streamed; %.1f MB allocated in all",
		float64(growth)/(1<<20), float64(ms.TotalAlloc-baseAlloc)/(1<<20))
	if growth > 40<<20 {
		t.Errorf("heap grew by %d MB during a 200 MB upload", growth>>20)
	}
}

// TestDatabaseDownDuringUpload: PostgreSQL drops (through a fault proxy)
// after the content is stored and before it is recorded: the client gets a
// 503 with Retry-After naming PostgreSQL, and once it is back the sweep
// leaves no orphan in storage. An upload that starts while it is down is
// refused at once, storing nothing.
func TestDatabaseDownDuringUpload(t *testing.T) {
	url, host := pgtest.NewDatabase(t)
	proxy := faults.NewT(t, host)
	d, err := db.New(db.Config{URL: pgtest.WithHost(t, url, proxy.Addr()), Migrations: migrations.FS,
		CheckInterval: 200 * time.Millisecond, ReconnectMax: 300 * time.Millisecond, WriteRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	d.Start(context.Background())
	t.Cleanup(d.Close)
	up := func() bool { return d.State().Status == dependency.Up }
	pgtest.Eventually(t, 10*time.Second, "database up", up)
	var drop atomic.Bool
	e := newFilesEdgeOn(t, d, url, auth.ModeOff, jobs.Policy{}, uploads.Config{AfterStore: func() {
		if drop.Load() {
			proxy.Down()
		}
	}})
	c := &client{h: e.h}
	j := c.newJob(t)

	drop.Store(true)
	rec := c.multipart(t, "POST", "/api/files/upload", part{"job_id", "", j.ID.String()}, filePart("a.log", "lost\n"))
	p := decodeProblem(t, rec)
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || p.Dependency == nil || p.Dependency.Name != "postgres" {
		t.Fatalf("upload with PostgreSQL gone = %d %s", rec.Code, rec.Body)
	}
	drop.Store(false)
	rec = c.multipart(t, "POST", "/api/files/upload", part{"job_id", "", j.ID.String()}, filePart("b.log", "refused\n"))
	if rec.Code != 503 {
		t.Fatalf("upload while PostgreSQL is down = %d %s", rec.Code, rec.Body)
	}
	if err := proxy.Up(); err != nil {
		t.Fatal(err)
	}
	pgtest.Eventually(t, 15*time.Second, "database back", up)
	if n, err := e.files.Sweep(context.Background(), 0); err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v; want the one blob the failed upload stored", n, err)
	}
	nothingLeft(t, e)
	rec = c.multipart(t, "POST", "/api/files/upload", part{"job_id", "", j.ID.String()}, filePart("a.log", "lost\n"))
	if rec.Code != 201 {
		t.Fatalf("the same upload once PostgreSQL is back = %d %s", rec.Code, rec.Body)
	}
}

// FuzzUpload sends arbitrary multipart bodies to POST /api/files/upload:
// whatever they hold, the answer is a 201 or a 4xx problem, never a 500
// or a panic, and nothing half-done stays in the temp directory.
func FuzzUpload(f *testing.F) {
	e := newFilesEdge(f, auth.ModeOff, jobs.Policy{}, uploads.Config{MaxFileBytes: 1 << 16})
	c := &client{h: e.h}
	j := c.newJob(f)
	valid, _ := multipartBody(f, part{"job_id", "", j.ID.String()}, filePart("a.log", "hello\n"))
	f.Add(strings.ReplaceAll(valid.String(), strings.SplitN(valid.String(), "\r\n", 2)[0][2:], "B"))
	for _, seed := range []string{
		"", "--B--\r\n", "--B\r\n\r\n--B--", "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.log\"\r\n\r\nabc\r\n--B--\r\n",
		"--B\r\nContent-Disposition: form-data; name=\"job_id\"\r\n\r\n" + j.ID.String() + "\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''%00%E2%80%AE.log\r\n\r\n\x00\x01\r\n--B--\r\n",
		"--B\r\nContent-Disposition: form-data; name=\"job_id\"\r\n\r\n" + j.ID.String() + "\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.zip\"\r\n\r\nPK\x03\x04\r\n--B--\r\n",
		"--B\r\nContent-Disposition: attachment\r\n\r\n\r\n--B--", "--B\r\nContent-Type: text/plain\r\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/api/files/upload", strings.NewReader(body))
		req.Header.Set("Content-Type", "multipart/form-data; boundary=B")
		rec := c.send(req)
		if rec.Code != 201 && (rec.Code < 400 || rec.Code >= 500) {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if rec.Code != 201 {
			var p Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Detail == "" {
				t.Fatalf("not a problem: %s", rec.Body)
			}
		}
	})
}
