package api

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/tickets"
)

// request sends one request to h with each header given as its own line
// (so that a header can be sent twice).
func request(h http.Handler, method, path string, body []byte, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestAmbiguousBodiesAreRefused: a body whose keys Go's decoder would read
// differently from a stricter reader (a repeated key, a field name in
// another case) is a 422 naming the key, and nothing is stored; free-form
// objects keep case-sensitive keys.
func TestAmbiguousBodiesAreRefused(t *testing.T) {
	h, _ := newLiveHandler(t)
	rec := do(h, "POST", "/api/jobs", `{"job_type":"rca"}`)
	var job jobs.Job
	if err := json.Unmarshal(rec.Body.Bytes(), &job); err != nil || rec.Code != 201 {
		t.Fatalf("create = %d %s", rec.Code, rec.Body)
	}
	jobID := job.ID.String()
	tk := func(rest string) string { return `{"job_id":"` + jobID + `","platform":"jira"` + rest + `}` }
	twice := "is given more than once"
	tests := []struct {
		name, method, path, body string
		status                   int
		field, message           string // the first error's
	}{
		{"top-level key twice", "POST", "/api/jobs", `{"job_type":"a","job_type":"b"}`, 422, "job_type", twice},
		{"the same key escaped", "POST", "/api/jobs", `{"job_type":"a","job\u005ftype":"b"}`, 422, "job_type", twice},
		{"a key three times is one error", "POST", "/api/jobs", `{"job_type":"a","job_type":"b","job_type":"c"}`, 422, "job_type", twice},
		{"case variant of dry_run", "POST", "/api/tickets", tk(`,"Dry_Run":false`), 422, "Dry_Run",
			"is not a known field; did you mean dry_run?"},
		{"case variant beside the field", "POST", "/api/tickets", tk(`,"dry_run":true,"DRY_RUN":false`), 422, "DRY_RUN",
			"is not a known field; did you mean dry_run?"},
		{"dry_run twice", "POST", "/api/tickets", tk(`,"dry_run":true,"dry_run":false`), 422, "dry_run", twice},
		// Go folds Unicode too: U+017F (long s) matches "s", U+212A (Kelvin) "k".
		{"Unicode fold of a field", "PUT", "/api/tickets/settings/state", `{"\u017fervicenow_enabled":true}`, 422,
			"\u017fervicenow_enabled", "is not a known field; did you mean servicenow_enabled?"},
		{"settings toggle twice", "PUT", "/api/tickets/settings/state", `{"jira_enabled":false,"jira_enabled":true}`, 422,
			"jira_enabled", twice},
		{"nested struct: case variant", "POST", "/api/tickets/dispatch", `{"job_id":"` + jobID + `","payloads":{"JIRA":{}}}`, 422,
			"payloads.JIRA", "is not a known field; did you mean jira?"},
		{"nested struct: key twice", "POST", "/api/tickets/dispatch",
			`{"job_id":"` + jobID + `","payloads":{"jira":{},"jira":{"summary":"x"}}}`, 422, "payloads.jira", twice},
		{"raw field: key twice", "POST", "/api/jobs", `{"job_type":"x","input_manifest":{"a":1,"a":2}}`, 422, "input_manifest.a", twice},
		{"raw field: deep in an array", "POST", "/api/jobs", `{"job_type":"x","input_manifest":{"files":[{"n":1},{"n":1,"n":2}]}}`, 422,
			"input_manifest.files[1].n", twice},
		{"ticket payload: key twice", "POST", "/api/tickets", tk(`,"payload":{"summary":"benign","summary":"other"}`), 422,
			"payload.summary", twice},
		{"registration: password twice", "POST", "/api/auth/register",
			`{"email":"a@example.com","username":"abc","password":"12345678","password":"other-password"}`, 422, "password", twice},
		{"registration: case variant of role", "POST", "/api/auth/register",
			`{"email":"a@example.com","username":"abc","password":"12345678","Role":"admin"}`, 422, "Role",
			"is not a known field; did you mean role?"},
		// What stays as it was.
		{"unknown field", "POST", "/api/jobs", `{"job_type":"x","jobtype":"y"}`, 422, "jobtype", "is not a known field"},
		{"trailing data", "POST", "/api/jobs", `{"job_type":"x"} {}`, 400, "", ""},
		{"raw field: keys differing in case are data", "POST", "/api/jobs", `{"job_type":"x","input_manifest":{"Host":1,"host":2}}`, 201, "", ""},
		{"the same key in two objects", "POST", "/api/jobs", `{"job_type":"x","source":{"a":{"k":1},"b":{"k":1}}}`, 201, "", ""},
		{"exact names", "POST", "/api/tickets", tk(`,"dry_run":true`), 201, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(h, tt.method, tt.path, tt.body)
			if rec.Code != tt.status {
				t.Fatalf("= %d %s, want %d", rec.Code, rec.Body, tt.status)
			}
			if tt.status < 400 {
				return
			}
			p := decodeProblem(t, rec)
			if tt.field == "" {
				return
			}
			if p.Type != typeValidation || len(p.Errors) == 0 || p.Errors[0].Field != tt.field || p.Errors[0].Message != tt.message {
				t.Fatalf("problem %+v, want the first error {%s %s}", p, tt.field, tt.message)
			}
			if len(p.Errors) != 1 || p.Detail != fmt.Sprintf("Invalid %s: %s.", tt.field, tt.message) {
				t.Fatalf("errors %+v, detail %q: want exactly one", p.Errors, p.Detail)
			}
		})
	}
	// Nothing refused was stored: the ticket list has the one accepted.
	var list struct{ Tickets []json.RawMessage }
	_ = json.Unmarshal(do(h, "GET", "/api/tickets/"+jobID, "").Body.Bytes(), &list)
	if len(list.Tickets) != 1 {
		t.Errorf("%d tickets stored, want 1", len(list.Tickets))
	}
	var settings map[string]bool
	_ = json.Unmarshal(do(h, "GET", "/api/tickets/settings/state", "").Body.Bytes(), &settings)
	if settings["servicenow_enabled"] || settings["jira_enabled"] {
		t.Errorf("a refused settings body changed the toggles: %v", settings)
	}

	// A body of repeated keys gets a bounded answer.
	var b strings.Builder
	b.WriteString(`{"job_type":"x","input_manifest":{`)
	for i := range 1500 {
		fmt.Fprintf(&b, `"k%d":1,"k%d":2,`, i, i)
	}
	b.WriteString(`"end":0}}`)
	rec = do(h, "POST", "/api/jobs", b.String())
	if p := decodeProblem(t, rec); rec.Code != 422 || len(p.Errors) != maxKeyErrors || rec.Body.Len() > 4096 {
		t.Fatalf("1500 repeated keys = %d, %d errors, %d bytes", rec.Code, len(p.Errors), rec.Body.Len())
	}
}

// TestBodyFramingHeaders: the headers that say how to read a body must say
// UTF-8 JSON without a content coding (415 otherwise), and Content-Type and
// Idempotency-Key must be given once (400, naming the header).
func TestBodyFramingHeaders(t *testing.T) {
	h, _ := newLiveHandler(t)
	body := []byte(`{"job_type":"framing"}`)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(body)
	zw.Close()
	const ct = "Content-Type"
	tests := []struct {
		name   string
		body   []byte
		header []string
		status int
		detail string // a part of the problem's detail
	}{
		{"utf-8", body, []string{ct, "application/json; charset=utf-8"}, 201, ""},
		{"UTF-8 quoted", body, []string{ct, `application/json;charset="UTF-8"`}, 201, ""},
		{"a +json type", body, []string{ct, "application/merge-patch+json"}, 201, ""},
		{"latin-1", body, []string{ct, "application/json; charset=iso-8859-1"}, 415, "must be UTF-8"},
		{"utf-16", body, []string{ct, "application/json; charset=utf-16"}, 415, `not charset="utf-16"`},
		{"gzip", gz.Bytes(), []string{ct, "application/json", "Content-Encoding", "gzip"}, 415, "must not be compressed"},
		{"identity", body, []string{ct, "application/json", "Content-Encoding", "identity"}, 201, ""},
		{"identity then br", body, []string{ct, "application/json", "Content-Encoding", "identity, br"}, 415, `not "br"`},
		{"two encoding lines", body, []string{ct, "application/json", "Content-Encoding", "identity", "Content-Encoding", "deflate"}, 415, `not "deflate"`},
		{"two Content-Type lines", body, []string{ct, "application/json", ct, "text/plain"}, 400, "The Content-Type header is given more than once"},
		{"the same Content-Type twice", body, []string{ct, "application/json", ct, "application/json"}, 400, "Content-Type header is given more than once"},
		{"two key lines", body, []string{ct, "application/json", "Idempotency-Key", "a", "Idempotency-Key", "b"}, 400,
			"The Idempotency-Key header is given more than once"},
		{"a list of keys", body, []string{ct, "application/json", "Idempotency-Key", "a, b"}, 400, "Idempotency-Key header is given more than once"},
		{"a list of quoted keys", body, []string{ct, "application/json", "Idempotency-Key", `"a", "b"`}, 400, "given more than once"},
		{"a comma inside quotes is one key", body, []string{ct, "application/json", "Idempotency-Key", `"a,b"`}, 201, ""},
		{"junk after a quoted key", body, []string{ct, "application/json", "Idempotency-Key", `"a" b`}, 400, "visible ASCII"},
		{"unterminated", body, []string{ct, "application/json", "Idempotency-Key", `"abc`}, 400, "visible ASCII"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := request(h, "POST", "/api/jobs", tt.body, tt.header...)
			if rec.Code != tt.status {
				t.Fatalf("= %d %s, want %d", rec.Code, rec.Body, tt.status)
			}
			if tt.status < 400 {
				return
			}
			p := decodeProblem(t, rec)
			if !strings.Contains(p.Detail, tt.detail) {
				t.Fatalf("detail %q does not say %q", p.Detail, tt.detail)
			}
			// A refused content coding says which one is accepted.
			want := ""
			if strings.Contains(p.Detail, "Content-Encoding") {
				want = "identity"
			}
			if got := rec.Header().Get("Accept-Encoding"); got != want {
				t.Fatalf("Accept-Encoding = %q, want %q", got, want)
			}
		})
	}
	var list []json.RawMessage
	_ = json.Unmarshal(do(h, "GET", "/api/jobs", "").Body.Bytes(), &list)
	if len(list) != 5 {
		t.Errorf("%d jobs stored, want the 5 accepted", len(list))
	}

	// The sign-in form follows the same framing rules.
	form := []byte(url.Values{"username": {"nobody"}, "password": {"x"}}.Encode())
	urlenc := "application/x-www-form-urlencoded"
	for _, tt := range []struct {
		name   string
		header []string
		status int
	}{
		{"two Content-Type lines", []string{ct, urlenc, ct, "multipart/form-data; boundary=x"}, 400},
		{"gzip", []string{ct, urlenc, "Content-Encoding", "gzip"}, 415},
		{"plain", []string{ct, urlenc}, 401},
	} {
		if rec := request(h, "POST", "/api/auth/login", form, tt.header...); rec.Code != tt.status {
			t.Errorf("sign-in, %s = %d %s, want %d", tt.name, rec.Code, rec.Body, tt.status)
		}
	}
}

func TestParseIdempotencyKey(t *testing.T) {
	tests := []struct {
		in       string
		key      string
		many, ok bool
	}{
		{"6f1c1f5e-0d3b-4c59-9d0a-1b9f0c1e2a3b", "6f1c1f5e-0d3b-4c59-9d0a-1b9f0c1e2a3b", false, true},
		{`"quoted"`, "quoted", false, true},
		{`"with,comma"`, "with,comma", false, true},
		{`"q" `, "q", false, true},
		{"a,b", "", true, false},
		{"a, b", "", true, false},
		{`"a", "b"`, "", true, false},
		{`"a",b`, "", true, false},
		{`""`, "", false, false},
		{`"a"b`, "", false, false},
		{`"a\"b"`, "", false, false},
		{`"open`, "", false, false},
		{"has space", "has space", false, false},
		{strings.Repeat("k", 256), strings.Repeat("k", 256), false, false},
	}
	for _, tt := range tests {
		key, many, ok := parseIdempotencyKey(tt.in)
		if many != tt.many || ok != tt.ok || (ok && key != tt.key) {
			t.Errorf("parseIdempotencyKey(%q) = %q %v %v, want %q %v %v", tt.in, key, many, ok, tt.key, tt.many, tt.ok)
		}
	}
}

// FuzzStrictKeys checks the key scan against a plain json.Decoder walk:
// on any well-formed object it never panics, in a free-form object it
// reports a key exactly when the object repeats one, and every field it
// names for a struct is one the body has.
func FuzzStrictKeys(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"a":2}`, `{"a":{"b":[{"c":1,"c":2}]}}`, `{"a\u0062":1,"ab":2}`,
		`{"a":"\"}","a":1}`, `{"k":[[],[{}],{"x":[1,2,{"y":null}]}],"k2":-1.5e3}`, `{"job_type":"x","Job_Type":1}`,
		`{"payloads":{"Jira":{},"jira":{"a":1,"a":2}}}`, `{"\ud800":1,"\udfff":2}`, `{"":0,"":0}`, "{\"a\":1,\r\n\t\"b\" : [ true , false ]}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if decodeBody([]byte(body)) != "" {
			return // refused before the scan
		}
		free := strictKeys([]byte(body), nil)
		if key, repeated := repeatedKey(body); repeated != (len(free) > 0) {
			t.Fatalf("%q: strictKeys = %v; a plain walk finds a key repeated: %v (%q)", body, free, repeated, key)
		}
		for _, typ := range []reflect.Type{reflect.TypeFor[*jobs.NewJob](), reflect.TypeFor[*tickets.DispatchRequest]()} {
			for _, e := range strictKeys([]byte(body), typ) {
				last := e.Field[strings.LastIndexAny(e.Field, ".]")+1:]
				if !strings.Contains(body, last) && !strings.Contains(body, `\`) {
					t.Fatalf("%q: names %q, which the body does not have", body, e.Field)
				}
			}
		}
	})
}
