package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
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
