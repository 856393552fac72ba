package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rca-engine/api/internal/auth"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/jobs"
)

// TestSummaryAndReports: the summary of an analysed job and its report
// downloads, readable by those allowed to see the job's logs only; job
// JSON hides what the analysis derived from the logs from everyone else.
func TestSummaryAndReports(t *testing.T) {
	d := newLiveDB(t)
	log := eventlog.New(d)
	h := newEdgeWithPolicy(t, d, log, jobs.Policy{}, Options{AuthMode: auth.ModeWrites}, nil)
	callers := map[string]*client{"anonymous": {h: h}}
	for _, name := range []string{"owner", "other", "admin"} {
		c := &client{h: h}
		if rec := c.json("POST", "/api/auth/register", fmt.Sprintf(
			`{"email":"%s@example.com","username":"%s","password":"password-of-%s"}`, name, name, name)); rec.Code != 201 {
			t.Fatalf("register %s = %d %s", name, rec.Code, rec.Body)
		}
		if name == "admin" {
			if _, err := d.Exec(t.Context(), `UPDATE users SET role = 'admin' WHERE username = $1`, name); err != nil {
				t.Fatal(err)
			}
		}
		c.signIn(t, name, "password-of-"+name)
		callers[name] = c
	}
	rec := callers["owner"].json("POST", "/api/jobs", `{"job_type":"rca_analysis","ticketing":{"platform":"jira"}}`)
	if rec.Code != 201 {
		t.Fatalf("create = %d %s", rec.Code, rec.Body)
	}
	var j jobs.Job
	_ = json.Unmarshal(rec.Body.Bytes(), &j)
	path := "/api/summary/" + j.ID.String()

	// Not analysed yet: the original's 404.
	rec = callers["owner"].json("GET", path, "")
	if p := decodeProblem(t, rec); rec.Code != 404 || p.Detail != "Summary outputs not available for this job" {
		t.Fatalf("summary before analysis = %d %+v", rec.Code, p)
	}
	if rec := callers["owner"].json("GET", "/api/summary/"+uuid.NewString(), ""); rec.Code != 404 {
		t.Fatalf("summary of a missing job = %d", rec.Code)
	}

	// The worker's outcome, as jobs.Service records it.
	svc := jobs.NewService(d, log, jobs.Policy{})
	if _, err := d.Exec(t.Context(), `UPDATE jobs SET logs_count = 1, ready_at = now() WHERE id = $1`, j.ID); err != nil {
		t.Fatal(err)
	}
	claimed, ok, err := svc.Claim(context.Background(), "worker_test", time.Minute)
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	report := `{"job_id":"` + j.ID.String() + `","severity":"high","causes":[{"rank":1,"title":"disk full"}]}`
	outputs := `{"markdown":"# RCA Summary\n- disk full","html":"<article><p>disk &lt;full&gt;</p></article>","json":` + report + `}`
	result := `{"job_id":"` + j.ID.String() + `","analysis_type":"rca_analysis","generated_at":"2026-03-01T10:00:00Z",` +
		`"metrics":{"files":1,"errors":3},"files":[{"filename":"app.log","sample_head":["secret line"]}],"severity":"high","outputs":` + outputs + `}`
	res := json.RawMessage(result)
	if _, err := svc.Complete(context.Background(), jobs.LeaseOf(claimed),
		jobs.Outcome{Result: res, Outputs: json.RawMessage(outputs), Event: jobs.EventResult(res)}); err != nil {
		t.Fatal(err)
	}

	for who, want := range map[string]int{"owner": 200, "admin": 200, "other": 403, "anonymous": 401} {
		rec := callers[who].json("GET", path, "")
		if rec.Code != want {
			t.Errorf("%s: summary = %d, want %d: %s", who, rec.Code, want, rec.Body)
			continue
		}
		if want != 200 {
			continue
		}
		var s map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"job_id", "analysis_type", "generated_at", "outputs", "metrics", "ticketing"} {
			if _, ok := s[k]; !ok {
				t.Errorf("summary lacks %q: %s", k, rec.Body)
			}
		}
		if !strings.Contains(string(s["ticketing"]), "jira") || !strings.Contains(string(s["metrics"]), `"errors":3`) {
			t.Errorf("summary = %s", rec.Body)
		}
	}

	// Downloads.
	for _, tc := range []struct{ format, ctype, body string }{
		{"md", "text/markdown; charset=utf-8", "# RCA Summary"},
		{"html", "text/html; charset=utf-8", "disk &lt;full&gt;"},
		{"json", "application/json", `"title": "disk full"`},
	} {
		rec := callers["owner"].json("GET", path+"/report."+tc.format, "")
		hd := rec.Header()
		if rec.Code != 200 || hd.Get("Content-Type") != tc.ctype || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("report.%s = %d %s %q", tc.format, rec.Code, hd.Get("Content-Type"), rec.Body)
		}
		if cd := hd.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, j.ID.String()+"."+tc.format) {
			t.Errorf("report.%s Content-Disposition %q", tc.format, cd)
		}
		if csp := hd.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || hd.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("report.%s CSP %q nosniff %q", tc.format, csp, hd.Get("X-Content-Type-Options"))
		}
		if rec := callers["other"].json("GET", path+"/report."+tc.format, ""); rec.Code != 403 {
			t.Errorf("another user's report.%s = %d", tc.format, rec.Code)
		}
	}
	if rec := callers["owner"].json("GET", path+"/report.pdf", ""); rec.Code != 404 {
		t.Errorf("report.pdf = %d", rec.Code)
	}

	// Job JSON: the owner sees the result; another user and an anonymous
	// caller see the job without it, in the job and in listings.
	for who, sees := range map[string]bool{"owner": true, "admin": true, "other": false, "anonymous": false} {
		rec := callers[who].json("GET", "/api/jobs/"+j.ID.String(), "")
		var got jobs.Job
		_ = json.Unmarshal(rec.Body.Bytes(), &got)
		if rec.Code != 200 || got.Status != jobs.Completed || present(got.ResultData) != sees || present(got.Outputs) != sees {
			t.Errorf("%s: job = %d, result %s, outputs %s", who, rec.Code, got.ResultData, got.Outputs)
		}
		rec = callers[who].json("GET", "/api/jobs", "")
		var list []jobs.Job
		_ = json.Unmarshal(rec.Body.Bytes(), &list)
		if len(list) != 1 || present(list[0].ResultData) != sees || present(list[0].Outputs) {
			t.Fatalf("%s: list = %s", who, rec.Body)
		}
		if sees && (strings.Contains(string(list[0].ResultData), "outputs") || strings.Contains(string(list[0].ResultData), "secret line") ||
			!strings.Contains(string(list[0].ResultData), `"severity":"high"`)) {
			t.Errorf("%s: a listing's result_data = %s: want it without outputs and files", who, list[0].ResultData)
		}
	}
	// The completed event carries the counts, not the content.
	rec = callers["other"].json("GET", "/api/jobs/"+j.ID.String()+"/events", "")
	if body := rec.Body.String(); strings.Contains(body, "secret line") || strings.Contains(body, "disk full") || !strings.Contains(body, `"severity":"high"`) {
		t.Errorf("events readable by another user: %s", body)
	}
}

func present(r json.RawMessage) bool { return len(r) > 0 && string(r) != "null" }
