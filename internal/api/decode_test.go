package api

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
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
