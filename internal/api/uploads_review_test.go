package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http/httptest"
	"net/textproto"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/rca-engine/api/internal/auth"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/uploads"
)

// TestFileEventsTellNothingOfTheContent: a job's events are readable by
// whoever AUTH_MODE lets read (here anyone, and another signed-in user),
// unlike its files; the file-uploaded event must then carry nothing
// derived from the log's content: not its SHA-256 (which confirms a
// guess of the content), not an archive's member count.
func TestFileEventsTellNothingOfTheContent(t *testing.T) {
	e := newFilesEdge(t, auth.ModeWrites, jobs.Policy{}, uploads.Config{})
	owner := signedIn(t, e.h, e.d, "owner2", false)
	other := signedIn(t, e.h, e.d, "other2", false)
	anon := &client{h: e.h}
	j := owner.newJob(t)
	content := "password=hunter2\n"
	if rec := owner.multipart(t, "POST", "/api/files/upload", part{"job_id", "", j.ID.String()},
		filePart("secret.log", content)); rec.Code != 201 {
		t.Fatalf("upload = %d %s", rec.Code, rec.Body)
	}
	sum := sha256.Sum256([]byte(content))
	for who, c := range map[string]*client{"anonymous": anon, "another user": other} {
		rec := c.send(httptest.NewRequest("GET", "/api/jobs/"+j.ID.String()+"/events", nil))
		if rec.Code != 200 {
			t.Fatalf("%s: events = %d %s", who, rec.Code, rec.Body)
		}
		var evs []struct {
			Type string          `json:"event_type"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &evs); err != nil {
			t.Fatalf("%s: %v %s", who, err, rec.Body)
		}
		seen := false
		for _, ev := range evs {
			if ev.Type != "file-uploaded" {
				continue
			}
			seen = true
			if strings.Contains(string(ev.Data), hex.EncodeToString(sum[:])) || strings.Contains(string(ev.Data), "checksum") {
				t.Errorf("%s sees the content's checksum in %s", who, ev.Data)
			}
		}
		if !seen {
			t.Errorf("%s: no file-uploaded event in %s", who, rec.Body)
		}
	}
}

// TestDownloadNameSurvivesAnyFilename: the download's Content-Disposition
// parses under RFC 6266 / 5987 and names the stored file, whatever it
// holds: quotes, equals and at signs (not attr-chars), non-ASCII, an RTL
// override, CR LF.
func TestDownloadNameSurvivesAnyFilename(t *testing.T) {
	e := newFilesEdge(t, auth.ModeOff, jobs.Policy{}, uploads.Config{})
	c := &client{h: e.h}
	j := c.newJob(t)
	for i, name := range []string{"plain.log", "a=b@c.log", `say "hi".log`, "naïve ünï.log", "x\u202egol.txt",
		"evil\r\nSet-Cookie: a=b.log", "semi;colon,comma.log", "pct%41'quote.log", "(paren) [sq] {br}.log"} {
		rec := uploadNamed(t, c, j.ID.String(), name, strings.Repeat("line\n", i+1))
		if rec.Code != 201 {
			t.Fatalf("%q: upload = %d %s", name, rec.Code, rec.Body)
		}
		f := decodeFile(t, rec)
		rec = c.send(httptest.NewRequest("GET", "/api/files/"+f.ID.String()+"/content", nil))
		cd := rec.Header().Get("Content-Disposition")
		if strings.ContainsAny(cd, "\r\n\u202e") {
			t.Errorf("%q: Content-Disposition %q", name, cd)
		}
		disp, params, err := mime.ParseMediaType(cd)
		if err != nil || disp != "attachment" || params["filename"] != f.Filename {
			t.Errorf("%q: Content-Disposition %q parses as %q %q (%v), want the filename %q", name, cd, disp, params, err, f.Filename)
		}
		for _, p := range strings.Split(cd, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), "filename*="); ok && !extValue.MatchString(v) {
				t.Errorf("%q: filename* %q is not an RFC 5987 ext-value", name, v)
			}
		}
	}
}

// extValue is RFC 5987's ext-value with UTF-8 (attr-char or pct-encoded).
var extValue = regexp.MustCompile(`^(?i:utf-8)''(?:%[0-9A-Fa-f]{2}|[A-Za-z0-9!#$&+.^_` + "`" + `|~-])+$`)

// TestRepeatedUploadFieldsAreRefused: job_id (each a database read) and
// start may be sent once; a body of thousands of job_id parts is refused
// at the second, not read to the end.
func TestRepeatedUploadFieldsAreRefused(t *testing.T) {
	e := newFilesEdge(t, auth.ModeOff, jobs.Policy{}, uploads.Config{})
	c := &client{h: e.h}
	j := c.newJob(t)
	other := c.newJob(t)
	for _, parts := range [][]part{
		{{"job_id", "", j.ID.String()}, {"job_id", "", other.ID.String()}, filePart("a.log", "a\n")},
		{{"job_id", "", j.ID.String()}, {"start", "", "true"}, {"start", "", "false"}, filePart("a.log", "a\n")},
	} {
		rec := c.multipart(t, "POST", "/api/files/upload", parts...)
		if rec.Code != 422 {
			t.Errorf("repeated field: %d %s", rec.Code, rec.Body)
		}
	}
	if n := countRows(t, e.d, "files"); n != 0 {
		t.Errorf("%d files recorded", n)
	}
}

// uploadNamed uploads one file as a browser or curl names it (quoted, or
// RFC 2231 encoded when not printable ASCII: mime.FormatMediaType).
func uploadNamed(t *testing.T, c *client, job, name, content string) *httptest.ResponseRecorder {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("job_id", job)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": "file", "filename": name}))
	h.Set("Content-Type", "text/plain")
	w, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, content)
	mw.Close()
	req := httptest.NewRequest("POST", "/api/files/upload", &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.send(req)
}

// TestUnreadablePartIsNamed: a part whose Content-Disposition does not
// parse (an unencoded "=" in filename*) is a 400 that says so, not a
// "field \"\" is not known".
func TestUnreadablePartIsNamed(t *testing.T) {
	e := newFilesEdge(t, auth.ModeOff, jobs.Policy{}, uploads.Config{})
	c := &client{h: e.h}
	j := c.newJob(t)
	for _, path := range []string{"/api/files/upload", "/api/jobs"} {
		rec := c.multipart(t, "POST", path, part{"job_id", "", j.ID.String()}, filePart("a=b.log", "x\n"))
		if path == "/api/jobs" {
			rec = c.multipart(t, "POST", path, part{"job_type", "", "rca"}, filePart("a=b.log", "x\n"))
		}
		if p := decodeProblem(t, rec); rec.Code != 400 || !strings.Contains(p.Detail, "Content-Disposition") {
			t.Errorf("%s: %d %s", path, rec.Code, rec.Body)
		}
	}
}

// TestUploadSpaceFailingIs503: when the upload directory cannot take the
// bytes (full, or failing: here its tmp folder is not a folder), an upload
// answers 503 with Retry-After, saying nothing of the server's paths, not
// a 500.
func TestUploadSpaceFailingIs503(t *testing.T) {
	e := newFilesEdge(t, auth.ModeOff, jobs.Policy{}, uploads.Config{})
	c := &client{h: e.h}
	j := c.newJob(t)
	tmp := e.files.TempDir()
	if err := os.RemoveAll(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, []byte("not a folder"), 0o600); err != nil {
		t.Fatal(err)
	}
	rec := c.multipart(t, "POST", "/api/files/upload", part{"job_id", "", j.ID.String()}, filePart("a.log", "a\n"))
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || strings.Contains(rec.Body.String(), tmp) {
		t.Errorf("upload with its space failing = %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
}

// TestTusUploadIsItsCreatorsOnly: another user (even an admin: the bytes
// are the creator's until they are a file) gets 404 for HEAD, PATCH and
// DELETE on someone's resumable upload, which stays intact; GET is not a
// way to read it either.
func TestTusUploadIsItsCreatorsOnly(t *testing.T) {
	e := newFilesEdge(t, auth.ModeAll, jobs.Policy{}, uploads.Config{})
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	owner := signedIn(t, e.h, e.d, "tus-own", false)
	other := signedIn(t, e.h, e.d, "tus-oth", false)
	admin := signedIn(t, e.h, e.d, "tus-adm", true)
	j := owner.newJob(t)
	tc := tusClient{t: t, token: owner.bearer}
	r := tc.do("POST", srv.URL+"/api/files/tus/", nil, "Upload-Length", "10",
		"Upload-Metadata", tusMetadata("job_id", j.ID.String(), "filename", "a.log"))
	loc := r.Header.Get("Location")
	if r.StatusCode != 201 || loc == "" {
		t.Fatalf("create = %d %q", r.StatusCode, loc)
	}
	if !strings.HasPrefix(loc, "http") {
		loc = srv.URL + loc
	}
	if r := tc.do("PATCH", loc, strings.NewReader("12345"), "Content-Type", "application/offset+octet-stream",
		"Upload-Offset", "0"); r.StatusCode != 204 {
		t.Fatalf("owner's PATCH = %d", r.StatusCode)
	}
	for _, c := range []tusClient{{t: t, token: other.bearer}, {t: t, token: admin.bearer}} {
		if r := c.do("HEAD", loc, nil); r.StatusCode != 404 {
			t.Errorf("someone else's HEAD = %d", r.StatusCode)
		}
		if r := c.do("PATCH", loc, strings.NewReader("67890"), "Content-Type", "application/offset+octet-stream",
			"Upload-Offset", "5"); r.StatusCode != 404 {
			t.Errorf("someone else's PATCH = %d", r.StatusCode)
		}
		if r := c.do("DELETE", loc, nil); r.StatusCode != 404 {
			t.Errorf("someone else's DELETE = %d", r.StatusCode)
		}
		if r := c.do("GET", loc, nil); r.StatusCode == 200 {
			t.Errorf("someone else's GET = %d", r.StatusCode)
		}
	}
	if r := tc.do("HEAD", loc, nil); r.StatusCode != 200 || r.Header.Get("Upload-Offset") != "5" {
		t.Errorf("owner's HEAD after the others = %d offset %q", r.StatusCode, r.Header.Get("Upload-Offset"))
	}
}
