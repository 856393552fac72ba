package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/faults"
	"github.com/rca-engine/api/internal/pgtest"
)

func (s *service) send(t *testing.T, method, path, contentType string, body []byte, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, s.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	began := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: buf.Bytes(), took: time.Since(began)}
}

func (s *service) postJSON(t *testing.T, path string, v any, header map[string]string) response {
	t.Helper()
	b, ok := v.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	return s.send(t, "POST", path, "application/json", b, header)
}

// upService starts a service on a fresh database and waits until it is up.
func upService(t *testing.T) (*service, string) {
	t.Helper()
	dbURL, _ := pgtest.NewDatabase(t)
	return startUp(t, fastEnv(dbURL)), dbURL
}

// startUp starts a service and waits until its database is up.
func startUp(t *testing.T, env map[string]string) *service {
	t.Helper()
	svc := startService(t, env)
	pgtest.Eventually(t, 10*time.Second, "database up", func() bool { return svc.get(t, "/api/jobs").status == 200 })
	return svc
}

func createJob(t *testing.T, svc *service, body map[string]any) map[string]any {
	t.Helper()
	r := svc.postJSON(t, "/api/jobs", body, nil)
	if r.status != 201 {
		t.Fatalf("POST /api/jobs = %d %s", r.status, r.body)
	}
	return r.json(t)
}

func TestJobLifecycle(t *testing.T) {
	svc, _ := upService(t)
	r := svc.postJSON(t, "/api/jobs/", map[string]any{"job_type": "rca_analysis", "input_manifest": map[string]any{"files": []string{"a.log"}}}, nil)
	if r.status != 201 {
		t.Fatalf("POST /api/jobs/ = %d %s", r.status, r.body)
	}
	job := r.json(t)
	id := job["id"].(string)
	if r.header.Get("Location") != "/api/jobs/"+id {
		t.Errorf("Location = %q", r.header.Get("Location"))
	}
	for field, want := range map[string]any{"status": "pending", "user_id": "anonymous", "provider": "ollama",
		"model": "llama2", "priority": 0.0, "retry_count": 0.0, "max_retries": 3.0} {
		if job[field] != want {
			t.Errorf("new job %s = %v, want %v", field, job[field], want)
		}
	}

	got := svc.get(t, "/api/jobs/"+id)
	if got.status != 200 || got.json(t)["id"] != id {
		t.Errorf("GET /api/jobs/%s = %d %s", id, got.status, got.body)
	}
	events := svc.get(t, "/api/jobs/"+id+"/events")
	var evs []map[string]any
	json.Unmarshal(events.body, &evs)
	if events.status != 200 || len(evs) != 1 || evs[0]["event_type"] != "created" {
		t.Fatalf("events after create = %d %s", events.status, events.body)
	}
	if m, _ := evs[0]["data"].(map[string]any)["input_manifest"].(map[string]any); m == nil {
		t.Errorf("created event data lacks input_manifest: %v", evs[0])
	}

	c := svc.send(t, "POST", "/api/jobs/"+id+"/cancel", "application/json", []byte(`{"reason":"not needed"}`), nil)
	if c.status != 200 || c.json(t)["status"] != "cancelled" || c.json(t)["completed_at"] == nil {
		t.Fatalf("cancel = %d %s", c.status, c.body)
	}
	again := svc.send(t, "POST", "/api/jobs/"+id+"/cancel", "", nil, nil)
	if again.status != 409 || again.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("cancelling a cancelled job = %d %s, want 409 problem", again.status, again.body)
	}
	json.Unmarshal(svc.get(t, "/api/jobs/"+id+"/events").body, &evs)
	if len(evs) != 2 || evs[1]["event_type"] != "cancelled" || evs[1]["data"].(map[string]any)["reason"] != "not needed" ||
		evs[1]["id"].(float64) <= evs[0]["id"].(float64) {
		t.Errorf("events after cancel = %v", evs)
	}

	for _, path := range []string{"/api/jobs/00000000-0000-4000-8000-000000000000", "/api/jobs/not-a-uuid",
		"/api/jobs/00000000-0000-4000-8000-000000000000/events", "/api/jobs/x/events"} {
		if r := svc.get(t, path); r.status != 404 || r.json(t)["detail"] != "Job not found" {
			t.Errorf("GET %s = %d %s, want 404 Job not found", path, r.status, r.body)
		}
	}
	if r := svc.send(t, "POST", "/api/jobs/00000000-0000-4000-8000-000000000000/cancel", "", nil, nil); r.status != 404 {
		t.Errorf("cancel unknown job = %d", r.status)
	}
}

func TestJobEventsSinceAndLimit(t *testing.T) {
	svc, dbURL := upService(t)
	id := createJob(t, svc, map[string]any{"job_type": "log_analysis"})["id"].(string)
	pgtest.Exec(t, dbURL, `INSERT INTO job_events (job_id, event_type, data, created_at)
		SELECT $1, 'analysis-phase', jsonb_build_object('n', i), '2030-01-01T00:00:00Z'::timestamptz + make_interval(secs => i)
		FROM generate_series(1, 10) AS i`, id)
	tests := []struct {
		query string
		want  []float64 // the n of each analysis-phase event, in order
	}{
		{"?since=2030-01-01T00:00:05Z", []float64{6, 7, 8, 9, 10}},
		{"?since=2030-01-01T00:00:05", []float64{6, 7, 8, 9, 10}}, // naive is UTC
		{"?since=2030-01-01T01:00:05%2B01:00", []float64{6, 7, 8, 9, 10}},
		{"?since=2030-01-01T00:00:05Z&limit=2", []float64{9, 10}}, // the most recent, ascending
	}
	for _, tt := range tests {
		var evs []map[string]any
		r := svc.get(t, "/api/jobs/"+id+"/events"+tt.query)
		json.Unmarshal(r.body, &evs)
		var got []float64
		for _, e := range evs {
			got = append(got, e["data"].(map[string]any)["n"].(float64))
		}
		if r.status != 200 || fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("events%s = %d %v, want %v", tt.query, r.status, got, tt.want)
		}
	}
	for _, q := range []string{"?since=yesterday", "?limit=0", "?limit=501", "?since=2030-13-01T00:00:00Z"} {
		if r := svc.get(t, "/api/jobs/"+id+"/events"+q); r.status != 422 {
			t.Errorf("events%s = %d, want 422", q, r.status)
		}
	}
}

func TestBadBodiesGetClearClientErrors(t *testing.T) {
	svc, dbURL := upService(t)
	big := `{"job_type":"x","input_manifest":{"blob":"` + strings.Repeat("a", 1<<20) + `"}}`
	deep := `{"job_type":"x","input_manifest":` + strings.Repeat(`{"a":`, 20000) + `1` + strings.Repeat(`}`, 20000) + `}`
	tests := []struct {
		name, contentType, body string
		status                  int
		field                   string
	}{
		{"form encoded", "application/x-www-form-urlencoded", `job_type=x`, 415, ""},
		{"no content type", "", `{"job_type":"x"}`, 415, ""},
		{"latin-1", "application/json; charset=iso-8859-1", `{"job_type":"x"}`, 415, ""},
		{"empty", "application/json", ``, 400, ""},
		{"malformed", "application/json", `{"job_type":`, 400, ""},
		{"trailing garbage", "application/json", `{"job_type":"x"} {"job_type":"y"}`, 400, ""},
		{"array", "application/json", `[{"job_type":"x"}]`, 400, ""},
		{"string", "application/json", `"job"`, 400, ""},
		{"invalid UTF-8", "application/json", "{\"job_type\":\"\xff\xfe\"}", 400, ""},
		{"too deep", "application/json", deep, 400, ""},
		{"too large", "application/json", big, 413, ""},
		{"unknown field", "application/json", `{"job_type":"x","jobtype":"y"}`, 422, "jobtype"},
		{"repeated field", "application/json", `{"job_type":"x","job_type":"y"}`, 422, "job_type"},
		{"field in another case", "application/json", `{"Job_Type":"x"}`, 422, "Job_Type"},
		{"repeated key in a free-form object", "application/json", `{"job_type":"x","input_manifest":{"a":1,"a":2}}`, 422, "input_manifest.a"},
		{"missing job_type", "application/json", `{"user_id":"u"}`, 422, "job_type"},
		{"blank job_type", "application/json", `{"job_type":""}`, 422, "job_type"},
		{"long job_type", "application/json", `{"job_type":"` + strings.Repeat("j", 51) + `"}`, 422, "job_type"},
		{"NUL in job_type", "application/json", `{"job_type":"a\u0000b"}`, 422, "job_type"},
		{"priority too high", "application/json", `{"job_type":"x","priority":11}`, 422, "priority"},
		{"priority negative", "application/json", `{"job_type":"x","priority":-1}`, 422, "priority"},
		{"priority text", "application/json", `{"job_type":"x","priority":"high"}`, 422, "priority"},
		{"priority huge", "application/json", `{"job_type":"x","priority":1e400}`, 422, "priority"},
		{"priority fraction", "application/json", `{"job_type":"x","priority":1.5}`, 422, "priority"},
		{"manifest not object", "application/json", `{"job_type":"x","input_manifest":[1,2]}`, 422, "input_manifest"},
		{"source not object", "application/json", `{"job_type":"x","source":"cli"}`, 422, "source"},
		{"NUL inside manifest", "application/json", `{"job_type":"x","input_manifest":{"a":"\u0000"}}`, 422, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := svc.send(t, "POST", "/api/jobs", tt.contentType, []byte(tt.body), nil)
			if r.status != tt.status || r.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("= %d %q %.300s, want %d problem", r.status, r.header.Get("Content-Type"), r.body, tt.status)
			}
			body := r.json(t)
			if d, _ := body["detail"].(string); d == "" {
				t.Errorf("no detail: %s", r.body)
			}
			if tt.field != "" {
				errs, _ := body["errors"].([]any)
				if len(errs) == 0 || errs[0].(map[string]any)["field"] != tt.field {
					t.Errorf("errors do not name %q: %s", tt.field, r.body)
				}
			}
		})
	}
	if n := pgtest.QueryInt(t, dbURL, "SELECT count(*) FROM jobs"); n != 0 {
		t.Errorf("%d jobs stored from invalid requests, want 0", n)
	}
}

// TestFramingHeadersOverTheWire sends headers twice through a real
// connection, as a client or a proxy would, since only there does the
// HTTP server's own parsing take part: each case is refused with the
// header named, and nothing is stored.
func TestFramingHeadersOverTheWire(t *testing.T) {
	svc, dbURL := upService(t)
	body := `{"job_type":"x"}`
	tests := []struct {
		name   string
		header http.Header
		status int
		detail string
	}{
		{"Content-Type twice", http.Header{"Content-Type": {"application/json", "application/json"}}, 400, "Content-Type header"},
		{"two Idempotency-Key lines", http.Header{"Content-Type": {"application/json"}, "Idempotency-Key": {"k1", "k2"}}, 400,
			"Idempotency-Key header"},
		{"an Idempotency-Key list", http.Header{"Content-Type": {"application/json"}, "Idempotency-Key": {"k1, k2"}}, 400,
			"Idempotency-Key header"},
		{"gzip", http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}}, 415, "Content-Encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", svc.base+"/api/jobs", strings.NewReader(body))
			req.Header = tt.header
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var p struct{ Detail string }
			_ = json.NewDecoder(resp.Body).Decode(&p)
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/problem+json" ||
				!strings.Contains(p.Detail, tt.detail) {
				t.Fatalf("= %d %q %q, want %d naming %s", resp.StatusCode, resp.Header.Get("Content-Type"), p.Detail, tt.status, tt.detail)
			}
		})
	}
	if n := pgtest.QueryInt(t, dbURL, "SELECT count(*) FROM jobs"); n != 0 {
		t.Errorf("%d jobs stored from refused requests, want 0", n)
	}
}

func TestHostileTextIsStoredVerbatim(t *testing.T) {
	svc, _ := upService(t)
	values := []string{
		"'; DROP TABLE jobs; --",
		`" OR 1=1 --`,
		"Robert'); DELETE FROM tickets;--",
		"日本語のジョブ 🔥",
		"<script>alert(1)</script>",
		"%_\\",
	}
	for _, v := range values {
		job := createJob(t, svc, map[string]any{"job_type": "x", "user_id": v, "input_manifest": map[string]any{v: v}})
		got := svc.get(t, "/api/jobs/"+job["id"].(string)).json(t)
		if got["user_id"] != v || got["input_manifest"].(map[string]any)[v] != v {
			t.Errorf("stored %q as %v / %v", v, got["user_id"], got["input_manifest"])
		}
		var list []map[string]any
		json.Unmarshal(svc.get(t, "/api/jobs?user_id="+urlEscape(v)).body, &list)
		if len(list) != 1 {
			t.Errorf("filter by user_id %q found %d jobs", v, len(list))
		}
	}
}

func urlEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

var dryRunID = regexp.MustCompile(`^(jira|servicenow)-[0-9a-f]{8}$`)

func TestTicketsDryRunRules(t *testing.T) {
	svc, _ := upService(t)
	jobID := createJob(t, svc, map[string]any{"job_type": "rca_analysis"})["id"].(string)
	create := func(body map[string]any) map[string]any {
		t.Helper()
		body["job_id"] = jobID
		r := svc.postJSON(t, "/api/tickets/", body, nil)
		if r.status != 201 {
			t.Fatalf("POST /api/tickets %v = %d %s", body, r.status, r.body)
		}
		return r.json(t)
	}
	meta := func(tk map[string]any) map[string]any { return tk["metadata"].(map[string]any) }

	preview := create(map[string]any{"platform": "jira"})
	if preview["status"] != "dry-run" || preview["dry_run"] != true || !dryRunID.MatchString(preview["ticket_id"].(string)) ||
		meta(preview)["dry_run_reason"] != "preview" {
		t.Errorf("default ticket = %v, want a jira-xxxxxxxx preview", preview)
	}
	if p := preview["payload"].(map[string]any); p["summary"] == "" || p["priority"] != "Low" {
		t.Errorf("jira payload defaults = %v", p)
	}
	off := create(map[string]any{"platform": "servicenow", "dry_run": false})
	if off["dry_run"] != true || meta(off)["dry_run_reason"] != "feature-toggle-disabled" {
		t.Errorf("live request with the toggle off = %v", off)
	}
	if r := svc.send(t, "PUT", "/api/tickets/settings/state", "application/json", []byte(`{"servicenow_enabled":true}`), nil); r.status != 200 {
		t.Fatalf("PUT settings = %d %s", r.status, r.body)
	}
	live := create(map[string]any{"platform": "servicenow", "dry_run": false,
		"payload": map[string]any{"short_description": "Disk full on db-1", "category": nil}})
	if live["dry_run"] != true || meta(live)["error"] == nil || meta(live)["dry_run_reason"] != nil {
		t.Errorf("live request without a client = %v, want a dry run with metadata.error", live)
	}
	p := live["payload"].(map[string]any)
	if p["short_description"] != "Disk full on db-1" || p["priority"] != "4" {
		t.Errorf("overrides not merged over defaults: %v", p)
	}
	if _, ok := p["category"]; ok {
		t.Errorf("a null override must remove the field: %v", p)
	}
	own := create(map[string]any{"platform": "jira", "ticket_id": "OPS-42", "metadata": map[string]any{"team": "sre"}})
	if own["ticket_id"] != "OPS-42" || meta(own)["team"] != "sre" || meta(own)["dry_run_reason"] != "preview" {
		t.Errorf("supplied ticket id or metadata lost: %v", own)
	}

	var listed struct {
		JobID   string           `json:"job_id"`
		Tickets []map[string]any `json:"tickets"`
	}
	json.Unmarshal(svc.get(t, "/api/tickets/"+jobID+"?refresh=true").body, &listed)
	if listed.JobID != jobID || len(listed.Tickets) != 4 || listed.Tickets[0]["id"] != preview["id"] || listed.Tickets[3]["id"] != own["id"] {
		t.Errorf("GET /api/tickets/{job_id} = %+v, want 4 tickets in creation order", listed)
	}
	var evs []map[string]any
	json.Unmarshal(svc.get(t, "/api/jobs/"+jobID+"/events").body, &evs)
	if n := countType(evs, "ticket-created"); n != 4 {
		t.Errorf("%d ticket-created events, want 4", n)
	}

	for _, tt := range []struct {
		body   string
		status int
	}{
		{`{"job_id":"00000000-0000-4000-8000-000000000000","platform":"jira"}`, 404},
		{`{"job_id":"` + jobID + `","platform":"remedy"}`, 422},
		{`{"job_id":"nope","platform":"jira"}`, 422},
		{`{"platform":"jira"}`, 422},
		{`{"job_id":"` + jobID + `","platform":"jira","url":"javascript:alert(1)"}`, 422},
		{`{"job_id":"` + jobID + `","platform":"jira","payload":"text"}`, 422},
		{`{"job_id":"` + jobID + `","platform":"jira","dryrun":false}`, 422},
		{`{"job_id":"` + jobID + `","platform":"jira","Dry_Run":false}`, 422},
		{`{"job_id":"` + jobID + `","platform":"jira","dry_run":true,"dry_run":false}`, 422},
	} {
		if r := svc.send(t, "POST", "/api/tickets", "application/json", []byte(tt.body), nil); r.status != tt.status {
			t.Errorf("POST /api/tickets %s = %d %s, want %d", tt.body, r.status, r.body, tt.status)
		}
	}
	for _, path := range []string{"/api/tickets/00000000-0000-4000-8000-000000000000", "/api/tickets/not-a-uuid"} {
		if r := svc.get(t, path); r.status != 404 {
			t.Errorf("GET %s = %d, want 404", path, r.status)
		}
	}
	if r := svc.get(t, "/api/tickets/"+jobID+"?refresh=maybe"); r.status != 422 {
		t.Errorf("refresh=maybe = %d, want 422", r.status)
	}
}

func countType(evs []map[string]any, typ string) int {
	n := 0
	for _, e := range evs {
		if e["event_type"] == typ {
			n++
		}
	}
	return n
}

func TestDispatch(t *testing.T) {
	svc, _ := upService(t)
	jobID := createJob(t, svc, map[string]any{"job_type": "rca_analysis"})["id"].(string)
	dispatch := func(body string) []map[string]any {
		t.Helper()
		r := svc.send(t, "POST", "/api/tickets/dispatch", "application/json", []byte(body), nil)
		var out struct {
			JobID   string           `json:"job_id"`
			Tickets []map[string]any `json:"tickets"`
		}
		if err := json.Unmarshal(r.body, &out); err != nil || r.status != 201 || out.JobID != jobID || out.Tickets == nil {
			t.Fatalf("dispatch %s = %d %s", body, r.status, r.body)
		}
		return out.Tickets
	}
	if got := dispatch(`{"job_id":"` + jobID + `"}`); len(got) != 0 {
		t.Errorf("dispatch with every platform off made %d tickets", len(got))
	}
	svc.send(t, "PUT", "/api/tickets/settings/state", "application/json", []byte(`{"servicenow_enabled":true,"jira_enabled":true}`), nil)
	got := dispatch(`{"job_id":"` + jobID + `","dry_run":true,"payloads":{"jira":{"summary":"custom"}}}`)
	if len(got) != 2 || got[0]["platform"] != "servicenow" || got[1]["platform"] != "jira" {
		t.Fatalf("dispatch with both on = %v, want servicenow then jira", got)
	}
	if got[1]["payload"].(map[string]any)["summary"] != "custom" || got[0]["metadata"].(map[string]any)["dry_run_reason"] != "preview" {
		t.Errorf("dispatch payloads/dry run not applied: %v", got)
	}
	if r := svc.send(t, "POST", "/api/tickets/dispatch", "application/json", []byte(`{"job_id":"00000000-0000-4000-8000-000000000000"}`), nil); r.status != 404 {
		t.Errorf("dispatch for an unknown job = %d", r.status)
	}
	if r := svc.send(t, "POST", "/api/tickets/dispatch", "application/json", []byte(`{"job_id":"`+jobID+`","payloads":{"email":{}}}`), nil); r.status != 422 {
		t.Errorf("dispatch with an unknown platform payload = %d", r.status)
	}
}

func TestTicketDashboardList(t *testing.T) {
	svc, _ := upService(t)
	jobA := createJob(t, svc, map[string]any{"job_type": "a"})["id"].(string)
	jobB := createJob(t, svc, map[string]any{"job_type": "b"})["id"].(string)
	mk := func(job, platform, summary string) {
		key := "short_description"
		if platform == "jira" {
			key = "summary"
		}
		r := svc.postJSON(t, "/api/tickets", map[string]any{"job_id": job, "platform": platform, "payload": map[string]any{key: summary}}, nil)
		if r.status != 201 {
			t.Fatalf("create ticket: %d %s", r.status, r.body)
		}
	}
	mk(jobA, "jira", "Disk full on db-1")
	mk(jobA, "servicenow", "Disk full on db-2")
	mk(jobB, "jira", "Memory leak in api 100% CPU")
	mk(jobB, "servicenow", "Network flap")
	type page struct {
		Tickets []map[string]any `json:"tickets"`
		Total   int              `json:"total"`
	}
	tests := []struct {
		query      string
		total, len int
	}{
		{"", 4, 4},
		{"?platform=jira", 2, 2},
		{"?job_id=" + jobA, 2, 2},
		{"?q=disk", 2, 2},
		{"?q=DISK%20FULL%20ON%20DB-2", 1, 1},
		{"?q=100%25", 1, 1},
		{"?q=%25", 1, 1}, // a literal %, not a wildcard
		{"?q=_", 0, 0},
		{"?q=servicenow-", 2, 2}, // ticket id prefix
		{"?status=dry-run&limit=3", 4, 3},
		{"?status=closed", 0, 0},
		{"?limit=2&offset=3", 4, 1},
	}
	for _, tt := range tests {
		var p page
		r := svc.get(t, "/api/tickets"+tt.query)
		if err := json.Unmarshal(r.body, &p); err != nil || r.status != 200 || p.Total != tt.total || len(p.Tickets) != tt.len {
			t.Errorf("GET /api/tickets%s = %d total %d len %d, want total %d len %d", tt.query, r.status, p.Total, len(p.Tickets), tt.total, tt.len)
		}
	}
	seen := map[string]bool{}
	for off := 0; off < 4; off++ {
		var p page
		json.Unmarshal(svc.get(t, fmt.Sprintf("/api/tickets?limit=1&offset=%d", off)).body, &p)
		for _, tk := range p.Tickets {
			seen[tk["id"].(string)] = true
		}
	}
	if len(seen) != 4 {
		t.Errorf("paging one by one saw %d distinct tickets, want 4", len(seen))
	}
	for _, q := range []string{"?platform=email", "?job_id=xyz", "?limit=500", "?sort=asc"} {
		if r := svc.get(t, "/api/tickets"+q); r.status != 422 {
			t.Errorf("GET /api/tickets%s = %d, want 422", q, r.status)
		}
	}
}

func TestToggleChangeIsSeenByAnotherReplicaAtOnce(t *testing.T) {
	dbURL, _ := pgtest.NewDatabase(t)
	a := startService(t, fastEnv(dbURL))
	b := startService(t, fastEnv(dbURL))
	for _, s := range []*service{a, b} {
		pgtest.Eventually(t, 10*time.Second, "up", func() bool { return s.get(t, "/api/jobs").status == 200 })
	}
	jobID := createJob(t, a, map[string]any{"job_type": "x"})["id"].(string)
	// Both replicas read the toggles first, as a cache would.
	a.get(t, "/api/tickets/settings/state")
	b.get(t, "/api/tickets/settings/state")
	if r := a.send(t, "PUT", "/api/tickets/settings/state", "application/json", []byte(`{"jira_enabled":true,"dual_mode":null}`), nil); r.status != 200 {
		t.Fatalf("PUT = %d %s", r.status, r.body)
	}
	st := b.get(t, "/api/tickets/settings/state").json(t)
	if st["jira_enabled"] != true || st["servicenow_enabled"] != false || st["dual_mode"] != false {
		t.Errorf("replica B sees %v right after replica A's PUT", st)
	}
	r := b.postJSON(t, "/api/tickets", map[string]any{"job_id": jobID, "platform": "jira", "dry_run": false}, nil)
	if meta := r.json(t)["metadata"].(map[string]any); meta["dry_run_reason"] == "feature-toggle-disabled" {
		t.Errorf("replica B still treats jira as disabled: %v", meta)
	}
	if r := a.send(t, "PUT", "/api/tickets/settings/state", "application/json", []byte(`{"jira_enabled":"yes"}`), nil); r.status != 422 {
		t.Errorf("PUT with a non-boolean = %d, want 422", r.status)
	}
}

func TestIdempotentPosts(t *testing.T) {
	dbURL, _ := pgtest.NewDatabase(t)
	env := fastEnv(dbURL)
	env["IDEMPOTENCY_KEY_TTL"] = "2s"
	svc := startUp(t, env)
	body := []byte(`{"job_type":"rca_analysis","user_id":"alice"}`)
	key := map[string]string{"Idempotency-Key": "6f1c1f5e-0d3b-4c59-9d0a-1b9f0c1e2a3b"}

	first := svc.postJSON(t, "/api/jobs", body, key)
	retry := svc.postJSON(t, "/api/jobs", body, key)
	if first.status != 201 || retry.status != 201 || !bytes.Equal(first.body, retry.body) {
		t.Fatalf("retry = %d %s, first = %d %s: want the same response", retry.status, retry.body, first.status, first.body)
	}
	if retry.header.Get("Idempotent-Replayed") != "true" || retry.header.Get("Location") != first.header.Get("Location") {
		t.Errorf("replay headers: %v", retry.header)
	}
	if n := pgtest.QueryInt(t, dbURL, "SELECT count(*) FROM jobs"); n != 1 {
		t.Errorf("%d jobs after a retried POST, want 1", n)
	}
	if n := pgtest.QueryInt(t, dbURL, "SELECT count(*) FROM job_events WHERE event_type = 'created'"); n != 1 {
		t.Errorf("%d created events after a retried POST, want 1", n)
	}

	other := svc.postJSON(t, "/api/jobs", []byte(`{"job_type":"rca_analysis","user_id":"bob"}`), key)
	if other.status != 422 {
		t.Errorf("same key, different body = %d %s, want 422", other.status, other.body)
	}
	// The same key on another route is another request.
	jobID := first.json(t)["id"].(string)
	tk := svc.postJSON(t, "/api/tickets", map[string]any{"job_id": jobID, "platform": "jira"}, key)
	if tk.status != 201 {
		t.Errorf("same key on /api/tickets = %d %s", tk.status, tk.body)
	}
	// A request that failed validation does not use up its key.
	k2 := map[string]string{"Idempotency-Key": `"quoted-key-1"`}
	if r := svc.postJSON(t, "/api/jobs", []byte(`{"job_type":""}`), k2); r.status != 422 {
		t.Fatalf("invalid body = %d", r.status)
	}
	if r := svc.postJSON(t, "/api/jobs", []byte(`{"job_type":"fixed"}`), k2); r.status != 201 {
		t.Errorf("corrected retry with the same key = %d %s, want 201", r.status, r.body)
	}
	for _, bad := range []string{strings.Repeat("k", 256), "has space", "tab\tkey", `"unterminated`} {
		if r := svc.postJSON(t, "/api/jobs", body, map[string]string{"Idempotency-Key": bad}); r.status != 400 {
			t.Errorf("Idempotency-Key %q = %d, want 400", bad, r.status)
		}
	}
	// After the TTL the key is free again.
	time.Sleep(2100 * time.Millisecond)
	if r := svc.postJSON(t, "/api/jobs", body, key); r.status != 201 || r.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("after expiry = %d replayed=%q, want a new job", r.status, r.header.Get("Idempotent-Replayed"))
	}
}

// TestConcurrentRetriesCreateOneJob: many copies of the same request with
// the same key, at once. Exactly one job exists afterwards; every answer is
// that job (201, identical body) or 409 "still in progress".
func TestConcurrentRetriesCreateOneJob(t *testing.T) {
	svc, dbURL := upService(t)
	body := []byte(`{"job_type":"rca_analysis","input_manifest":{"k":"concurrent"}}`)
	key := map[string]string{"Idempotency-Key": "concurrent-1"}
	const n = 16
	var wg sync.WaitGroup
	results := make([]response, n)
	for i := range n {
		wg.Go(func() { results[i] = svc.postJSON(t, "/api/jobs", body, key) })
	}
	wg.Wait()
	var created []byte
	for _, r := range results {
		switch r.status {
		case 201:
			if created != nil && !bytes.Equal(created, r.body) {
				t.Errorf("two different 201 bodies for one key:\n%s\n%s", created, r.body)
			}
			created = r.body
		case 409:
			if r.header.Get("Retry-After") == "" {
				t.Errorf("409 without Retry-After")
			}
		default:
			t.Errorf("status %d %s", r.status, r.body)
		}
	}
	if created == nil {
		t.Error("no request succeeded")
	}
	if got := pgtest.QueryInt(t, dbURL, "SELECT count(*) FROM jobs"); got != 1 {
		t.Errorf("%d jobs from %d concurrent copies of one request, want 1", got, n)
	}
}

// TestEveryDataRouteFailsFastWhileDown is table-driven over the routes
// that need PostgreSQL.
func TestEveryDataRouteFailsFastWhileDown(t *testing.T) {
	dbURL, host := pgtest.NewDatabase(t)
	proxy := faults.NewT(t, host)
	svc := startService(t, fastEnv(pgtest.WithHost(t, dbURL, proxy.Addr())))
	pgtest.Eventually(t, 10*time.Second, "up", func() bool { return svc.get(t, "/api/jobs").status == 200 })
	jobID := createJob(t, svc, map[string]any{"job_type": "x"})["id"].(string)
	proxy.Down()
	pgtest.Eventually(t, 10*time.Second, "down", func() bool { return svc.get(t, "/api/jobs").status == 503 })

	routes := []struct{ method, path, body string }{
		{"GET", "/api/jobs", ""},
		{"GET", "/api/jobs/", ""},
		{"POST", "/api/jobs", `{"job_type":"x"}`},
		{"GET", "/api/jobs/" + jobID, ""},
		{"GET", "/api/jobs/" + jobID + "/events", ""},
		{"POST", "/api/jobs/" + jobID + "/cancel", ""},
		{"GET", "/api/tickets", ""},
		{"POST", "/api/tickets", `{"job_id":"` + jobID + `","platform":"jira"}`},
		{"POST", "/api/tickets/dispatch", `{"job_id":"` + jobID + `"}`},
		{"GET", "/api/tickets/settings/state", ""},
		{"PUT", "/api/tickets/settings/state", `{"jira_enabled":true}`},
		{"GET", "/api/tickets/" + jobID, ""},
	}
	for _, rt := range routes {
		ct := ""
		if rt.body != "" {
			ct = "application/json"
		}
		r := svc.send(t, rt.method, rt.path, ct, []byte(rt.body), nil)
		if r.status != 503 || r.header.Get("Retry-After") == "" || r.header.Get("X-Degraded") != "postgres" {
			t.Errorf("%s %s while down = %d Retry-After %q X-Degraded %q", rt.method, rt.path, r.status,
				r.header.Get("Retry-After"), r.header.Get("X-Degraded"))
		}
		if r.took > time.Second {
			t.Errorf("%s %s took %s while down", rt.method, rt.path, r.took)
		}
	}
	// Validation does not need the database: bad input is still a 4xx.
	if r := svc.send(t, "POST", "/api/jobs", "application/json", []byte(`{"job_type":""}`), nil); r.status != 422 {
		t.Errorf("invalid body while down = %d, want 422", r.status)
	}
}
