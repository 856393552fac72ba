package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/rca-engine/api/internal/auth"
	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/dbtest"
	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/idempotency"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/metrics"
	"github.com/rca-engine/api/internal/ratelimit"
	"github.com/rca-engine/api/internal/tickets"
	"github.com/rca-engine/api/internal/uploads"
)

// newLiveHandler wires the edge, with AUTH_MODE=off, to a migrated
// database of its own.
func newLiveHandler(t testing.TB) (http.Handler, *db.DB) {
	t.Helper()
	d := newLiveDB(t)
	return newEdge(t, d, Options{AuthMode: auth.ModeOff}, nil), d
}

func newLiveDB(t testing.TB) *db.DB {
	t.Helper()
	d, _ := dbtest.New(t)
	return d
}

// testSecret signs the tests' tokens; every edge on one database shares
// it, as replicas do.
var testSecret = []byte("test-secret-test-secret-test-secret!")

// newEdge builds an edge on d with accounts (cheap password hashing) and
// the given options and limiter.
func newEdge(t testing.TB, d *db.DB, opts Options, limiter *ratelimit.Limiter) http.Handler {
	t.Helper()
	return newEdgeWithLog(t, d, eventlog.New(d), opts, limiter)
}

func newEdgeWithLog(t testing.TB, d *db.DB, log *eventlog.Log, opts Options, limiter *ratelimit.Limiter) http.Handler {
	t.Helper()
	return newEdgeWithPolicy(t, d, log, jobs.Policy{}, opts, limiter)
}

func newEdgeWithPolicy(t testing.TB, d *db.DB, log *eventlog.Log, policy jobs.Policy, opts Options, limiter *ratelimit.Limiter) http.Handler {
	t.Helper()
	a, err := auth.New(d, auth.Config{Secret: testSecret, Hash: auth.HashParams{Memory: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	opts.Version, opts.RequestTimeout = "test", 5*time.Second
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = 64 << 10
	}
	deps := dependency.Set{d.Tracker()}
	js := jobs.NewService(d, log, policy)
	files, tus := newUploads(t, d, log, js, uploads.Config{})
	return NewHandler(opts, Deps{Database: d, Dependencies: deps, Jobs: js, Events: log,
		Tickets: tickets.New(d, log, policy, tickets.Defaults{}, tickets.Settings{}), Idempotency: idempotency.New(d, time.Hour),
		Metrics: metrics.New(deps, d.Stat), Auth: a, Limiter: limiter, Uploads: files, Tus: tus})
}

// recordingListener checks, when told of committed events, that they are
// visible from another connection.
type recordingListener struct {
	d         *db.DB
	mu        sync.Mutex
	newest    []int64
	invisible []int64
}

func (n *recordingListener) heard(newest int64) {
	var found bool
	_ = n.d.Read(context.Background(), func(ctx context.Context, q db.Querier) error {
		return q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM job_events WHERE id = $1)`, newest).Scan(&found)
	})
	n.mu.Lock()
	defer n.mu.Unlock()
	n.newest = append(n.newest, newest)
	if !found {
		n.invisible = append(n.invisible, newest)
	}
}

func do(h http.Handler, method, path, body string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestEveryWriteRouteAnnouncesAfterCommitOnly drives the write routes and
// checks what the event log announced: each successful write once, after
// its commit, and nothing for a failed request or a replay.
func TestEveryWriteRouteAnnouncesAfterCommitOnly(t *testing.T) {
	d := newLiveDB(t)
	log := eventlog.New(d)
	n := &recordingListener{d: d}
	log.OnCommit(n.heard)
	h := newEdgeWithLog(t, d, log, Options{AuthMode: auth.ModeOff}, nil)

	rec := do(h, "POST", "/api/jobs", `{"job_type":"rca_analysis"}`)
	if rec.Code != 201 {
		t.Fatalf("create = %d %s", rec.Code, rec.Body)
	}
	var job jobs.Job
	json.Unmarshal(rec.Body.Bytes(), &job)
	do(h, "POST", "/api/tickets", `{"job_id":"`+job.ID.String()+`","platform":"jira"}`)
	do(h, "POST", "/api/jobs/"+job.ID.String()+"/cancel", "")
	// Failures announce nothing: a second cancel (409), an unknown job (404),
	// and an idempotent replay (the event was announced the first time).
	do(h, "POST", "/api/jobs/"+job.ID.String()+"/cancel", "")
	do(h, "POST", "/api/tickets", `{"job_id":"00000000-0000-4000-8000-000000000000","platform":"jira"}`)
	do(h, "POST", "/api/jobs", `{"job_type":"once"}`, "Idempotency-Key", "k")
	do(h, "POST", "/api/jobs", `{"job_type":"once"}`, "Idempotency-Key", "k")

	n.mu.Lock()
	defer n.mu.Unlock()
	var types []string
	for _, id := range n.newest {
		var typ string
		_ = d.Read(context.Background(), func(ctx context.Context, q db.Querier) error {
			return q.QueryRow(ctx, `SELECT event_type FROM job_events WHERE id = $1`, id).Scan(&typ)
		})
		types = append(types, typ)
	}
	if got := strings.Join(types, ","); got != "created,ticket-created,cancelled,created" {
		t.Errorf("announced %s", got)
	}
	if len(n.invisible) > 0 {
		t.Errorf("events %v were announced before they were committed", n.invisible)
	}
	for i := 1; i < len(n.newest); i++ {
		if n.newest[i] <= n.newest[i-1] {
			t.Errorf("event ids not increasing: %d after %d", n.newest[i], n.newest[i-1])
		}
	}
}

// TestOpenAPICoversEveryRoute walks the router and checks each method and
// path against /api/openapi.json, and the other way round, so that the
// document cannot drift from the code.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	_, h := newTestServer(t)
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	rec := do(h, "GET", "/api/openapi.json", "")
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || rec.Code != 200 || doc.OpenAPI != "3.1.0" {
		t.Fatalf("GET /api/openapi.json = %d, %v, version %q", rec.Code, err, doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" && method != "summary" && method != "description" {
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	registered := map[string]bool{}
	err := chi.Walk(h.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if route == "/*" {
			return nil // the web UI, not part of the API
		}
		// The trailing-slash aliases are described with their canonical path.
		if strings.HasSuffix(route, "/") && route != "/api/" {
			route = strings.TrimSuffix(route, "/")
		}
		registered[method+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for r := range registered {
		if !documented[r] {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for r := range documented {
		if !registered[r] {
			t.Errorf("openapi.json documents %s, which is not registered", r)
		}
	}
}

// The fuzz tests send arbitrary bodies to each decoder, against a real
// database so that what reaches PostgreSQL is exercised too. Whatever the
// input, the answer is a 2xx or a 4xx problem: never a 500 or a panic. A
// body that is accepted has no key twice in any object and names dst's
// fields exactly (not in another case).
func fuzzBody(f *testing.F, method, path string, dst any, seeds ...string) {
	for _, s := range seeds {
		f.Add(s)
	}
	fields := map[string]bool{}
	for sf := range reflect.TypeOf(dst).Fields() {
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		fields[name] = true
	}
	f.Add(`{"job_type":"x","input_manifest":{"a":"\u0000"}}`)
	f.Add(`{"job_type":"x","input_manifest":{"n":1e999999}}`)
	f.Add(`{"a":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`)
	// Deep, but within Go's limit: it reaches PostgreSQL's jsonb parser.
	f.Add(`{"job_type":"x","input_manifest":{"a":` + strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + `}}`)
	f.Add("{\"job_type\":\"\xff\"}")
	f.Add(`{} trailing`)
	h, _ := newLiveHandler(f)
	jobRec := do(h, "POST", "/api/jobs", `{"job_type":"fuzz"}`)
	var job jobs.Job
	json.Unmarshal(jobRec.Body.Bytes(), &job)
	path = strings.ReplaceAll(path, "{id}", job.ID.String())
	f.Fuzz(func(t *testing.T, body string) {
		body = strings.ReplaceAll(body, "JOBID", job.ID.String())
		rec := do(h, method, path, body)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: status %d: %s", method, path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var p Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Detail == "" {
				t.Fatalf("%q: %d without a problem detail: %s", body, rec.Code, rec.Body)
			}
		} else if !json.Valid(bytes.TrimSpace(rec.Body.Bytes())) {
			t.Fatalf("%q: %d with a body that is not JSON: %s", body, rec.Code, rec.Body)
		} else if key, ok := repeatedKey(body); ok {
			t.Fatalf("%q: %d although %q is given twice", body, rec.Code, key)
		} else {
			var top map[string]json.RawMessage
			_ = json.Unmarshal([]byte(body), &top)
			for k := range top {
				if !fields[k] {
					t.Fatalf("%q: %d although %q is not a field's exact name", body, rec.Code, k)
				}
			}
		}
	})
}

// repeatedKey returns a key that an object of the JSON text s gives twice,
// at any depth, if there is one. It knows nothing of the types decoded
// into.
func repeatedKey(s string) (string, bool) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	type frame struct {
		object bool
		keys   map[string]bool
		key    bool // the next token of this object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.key {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			k := tok.(string)
			if top.keys[k] {
				return k, true
			}
			top.keys[k] = true
			top.key = false
			continue
		}
		if top != nil && top.object {
			top.key = true // this token is the value
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, keys: map[string]bool{}, key: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}

func FuzzCreateJob(f *testing.F) {
	fuzzBody(f, "POST", "/api/jobs", jobs.NewJob{}, `{"job_type":"rca_analysis"}`,
		`{"job_type":"x","user_id":"u","priority":3,"input_manifest":{"files":["a"]},"model_config":{},"source":{"k":1}}`,
		`{"job_type":"x","priority":1.5}`, `{"job_type":null}`, `{"job_type":"x","ticketing":[]}`,
		// Repeated keys and case variants: 422, at any depth.
		`{"job_type":"a","job_type":"b"}`, `{"job_type":"x","Job_Type":"y"}`, `{"JOB_TYPE":"x"}`,
		`{"job\u005ftype":"a","job_type":"b"}`, `{"job_type":"x","priority":1,"Priority":9}`,
		`{"job_type":"x","input_manifest":{"a":1,"a":2}}`, `{"job_type":"x","input_manifest":{"f":[{"n":1,"n":2}]}}`,
		`{"job_type":"x","input_manifest":{"A":1,"a":2}}`)
}

func FuzzCreateTicket(f *testing.F) {
	fuzzBody(f, "POST", "/api/tickets", tickets.NewTicket{}, `{"job_id":"JOBID","platform":"jira"}`,
		`{"job_id":"JOBID","platform":"servicenow","dry_run":false,"payload":{"short_description":"x","category":null},"metadata":{"a":[1]}}`,
		`{"job_id":"JOBID","platform":"jira","ticket_id":"OPS-1","url":"https://x.example/OPS-1","profile_name":"p"}`,
		`{"job_id":"JOBID","platform":"jira","dry_run":true,"dry_run":false}`, `{"job_id":"JOBID","platform":"jira","Dry_Run":false}`,
		`{"job_id":"JOBID","Platform":"jira"}`, `{"job_id":"JOBID","platform":"jira","payload":{"summary":"a","summary":"b"}}`,
		`{"job_id":"JOBID","platform":"jira","metadata":{"Team":"a","team":"b"}}`)
}

func FuzzDispatch(f *testing.F) {
	fuzzBody(f, "POST", "/api/tickets/dispatch", tickets.DispatchRequest{}, `{"job_id":"JOBID"}`,
		`{"job_id":"JOBID","dry_run":true,"payloads":{"servicenow":{"a":1},"jira":{"summary":"s"}}}`,
		`{"job_id":"JOBID","dry_run":true,"DRY_RUN":false}`, `{"job_id":"JOBID","payloads":{"JIRA":{}}}`,
		`{"job_id":"JOBID","payloads":{"jira":{},"jira":{"summary":"s"}}}`, `{"job_id":"JOBID","payloads":{"jira":{"a":1,"a":2}}}`)
}

func FuzzSettings(f *testing.F) {
	fuzzBody(f, "PUT", "/api/tickets/settings/state", tickets.SettingsUpdate{}, `{"servicenow_enabled":true}`,
		`{"jira_enabled":false,"dual_mode":null}`, `{}`,
		`{"jira_enabled":true,"jira_enabled":false}`, `{"Jira_Enabled":true}`, `{"\u017fervicenow_enabled":true}`)
}

func FuzzCancel(f *testing.F) {
	fuzzBody(f, "POST", "/api/jobs/{id}/cancel", jobs.CancelRequest{}, `{"reason":"r"}`, `{}`,
		`{"reason":"a","reason":"b"}`, `{"Reason":"r"}`)
}

// FuzzTicketsQuery feeds arbitrary query strings to the dashboard list.
func FuzzTicketsQuery(f *testing.F) {
	for _, s := range []string{"", "platform=jira", "q=%25", "q=_", "job_id=x", "limit=0", "status=dry-run&offset=3", "q=%00"} {
		f.Add(s)
	}
	h, _ := newLiveHandler(f)
	f.Fuzz(func(t *testing.T, rawQuery string) {
		req := httptest.NewRequest("GET", "/api/tickets", nil)
		req.URL.RawQuery = rawQuery
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 && rec.Code != 422 {
			t.Fatalf("query %q: %d %s", rawQuery, rec.Code, rec.Body)
		}
	})
}

func FuzzRegister(f *testing.F) {
	fuzzBody(f, "POST", "/api/auth/register", registerRequest{}, `{"email":"a@example.com","username":"abc","password":"12345678"}`,
		`{"email":"b@example.com","username":"o'brien<b>","password":"12345678","full_name":"Zoë \"x\""}`,
		`{"email":"c@example.com","username":"a@b","password":"1","role":"admin"}`, `{"email":"\u0000@x.com"}`,
		`{"email":"d@example.com","username":"abd","password":"12345678","role":"user","Role":"admin"}`,
		`{"email":"e@example.com","email":"f@example.com","username":"abe","password":"12345678"}`,
		`{"email":"g@example.com","username":"abg","password":"12345678","Password":"other-password"}`)
}

// TestOpenAPIDescribesWhatIsSent keeps the document's Job and JobEvent
// schemas equal to what the API sends: every field of a job, and every
// event type of the event log.
func TestOpenAPIDescribesWhatIsSent(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Required   []string                   `json:"required"`
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(jobs.Job{})
	var sent map[string]any
	_ = json.Unmarshal(b, &sent)
	var fields []string
	for k := range sent {
		fields = append(fields, k)
	}
	job := doc.Components.Schemas["Job"]
	slices.Sort(fields)
	required := slices.Sorted(slices.Values(job.Required))
	if !slices.Equal(fields, required) {
		t.Errorf("a job is sent with %q; openapi.json's Job requires %q", fields, required)
	}
	var eventType struct {
		Enum []eventlog.Type `json:"enum"`
	}
	_ = json.Unmarshal(doc.Components.Schemas["JobEvent"].Properties["event_type"], &eventType)
	if !slices.Equal(eventType.Enum, eventlog.Types) {
		t.Errorf("openapi.json's event types %q, want eventlog.Types %q", eventType.Enum, eventlog.Types)
	}
}
