package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"strings"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/pgtest"
)

// incidentLog is a log with one root cause: a certificate that expired,
// then the handshake failures it causes.
func incidentLog(lines int) string {
	var b strings.Builder
	t0 := time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC)
	for i := range lines {
		ts := t0.Add(time.Duration(i) * 250 * time.Millisecond).Format(time.RFC3339Nano)
		switch {
		case i == lines/2:
			fmt.Fprintf(&b, "%s FATAL tls: certificate for api.internal expired at 2026-02-01T08:00:00Z\n", ts)
		case i > lines/2 && i%5 == 0:
			fmt.Fprintf(&b, "%s ERROR upstream handshake failed for request %d: x509: certificate has expired\n", ts, i)
		default:
			fmt.Fprintf(&b, "%s INFO served /health in %d ms\n", ts, 1+i%9)
		}
	}
	return b.String()
}

// uploadFile posts one file to a job as the original UI does, with
// start=true.
func uploadFile(t *testing.T, svc *service, jobID, name, content string) response {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("job_id", jobID)
	_ = mw.WriteField("start", "true")
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write([]byte(content))
	mw.Close()
	return svc.send(t, "POST", "/api/files/upload", mw.FormDataContentType(), body.Bytes(), nil)
}

// TestAJobIsAnalysedThroughTheAPI: the whole path a user takes, in one
// process with the default roles: create a job, upload a log, watch the
// job's stream until it completes, read the summary and download the
// report.
func TestAJobIsAnalysedThroughTheAPI(t *testing.T) {
	dbURL, _ := pgtest.NewDatabase(t)
	env := fastEnv(dbURL)
	env["UPLOAD_DIR"] = t.TempDir()
	svc := startUp(t, env)

	job := createJob(t, svc, map[string]any{"job_type": "rca_analysis"})
	id := job["id"].(string)
	if r := svc.get(t, "/api/summary/"+id); r.status != 404 || !strings.Contains(string(r.body), "Summary outputs not available for this job") {
		t.Fatalf("summary before analysis = %d %s", r.status, r.body)
	}
	stream := openStream(t, svc.base+"/api/sse/jobs/"+id, "")
	if r := uploadFile(t, svc, id, "gateway.log", incidentLog(4000)); r.status != 201 {
		t.Fatalf("upload = %d %s", r.status, r.body)
	}

	var got []string
	for {
		ev := stream.next(t, 60*time.Second, append(background, "analysis-progress")...)
		got = append(got, ev.name)
		if ev.name == "complete" {
			var c map[string]any
			_ = json.Unmarshal([]byte(ev.data), &c)
			if c["status"] != "completed" {
				t.Fatalf("complete event %s", ev.data)
			}
			break
		}
		if len(got) > 50 {
			t.Fatalf("no complete event: %v", got)
		}
	}
	want := []string{"created", "file-uploaded", "started", "worker-assigned", "analysis-phase", "file-processing-started",
		"file-processing-completed", "analysis-phase", "analysis-phase", "analysis-phase", "completed", "complete"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("stream events\n got %v\nwant %v", got, want)
	}

	r := svc.get(t, "/api/summary/"+id)
	if r.status != 200 {
		t.Fatalf("summary = %d %s", r.status, r.body)
	}
	var sum struct {
		Outputs struct {
			Markdown string `json:"markdown"`
			JSON     struct {
				Severity string `json:"severity"`
				Causes   []struct {
					Title    string `json:"title"`
					Evidence []struct {
						FileID string `json:"file_id"`
						Line   int    `json:"line"`
						Text   string `json:"text"`
					} `json:"evidence"`
				} `json:"causes"`
			} `json:"json"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(r.body, &sum); err != nil {
		t.Fatal(err)
	}
	if len(sum.Outputs.JSON.Causes) == 0 || sum.Outputs.JSON.Severity == "" {
		t.Fatalf("summary without causes: %s", r.body[:min(len(r.body), 800)])
	}
	top := sum.Outputs.JSON.Causes[0]
	if !strings.Contains(strings.ToLower(top.Title), "certificate") || len(top.Evidence) == 0 {
		t.Fatalf("top cause %+v", top)
	}
	// Its evidence opens in the file viewer at its line.
	ev := top.Evidence[0]
	lines := svc.get(t, fmt.Sprintf("/api/files/%s/lines?from=%d&to=%d", ev.FileID, ev.Line, ev.Line))
	if lines.status != 200 || !strings.Contains(string(lines.body), "certificate") {
		t.Fatalf("evidence line %s:%d = %d %s", ev.FileID, ev.Line, lines.status, lines.body)
	}
	if md := svc.get(t, "/api/summary/"+id+"/report.md"); md.status != 200 || !strings.Contains(string(md.body), "certificate") ||
		!strings.HasPrefix(md.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("report.md = %d %q", md.status, md.header.Get("Content-Disposition"))
	}
	j := svc.get(t, "/api/jobs/"+id).json(t)
	if j["status"] != "completed" || j["result_data"] == nil || j["outputs"] == nil {
		t.Fatalf("job = %v", j)
	}
	if m := svc.get(t, "/metrics"); !strings.Contains(string(m.body), `rca_worker_attempts_total{outcome="completed"} 1`) ||
		!strings.Contains(string(m.body), "rca_jobs_queue_depth") {
		t.Errorf("metrics lack the worker's figures:\n%s", grepLines(string(m.body), "rca_worker", "rca_jobs"))
	}
}

func grepLines(s string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}
