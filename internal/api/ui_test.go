package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/metrics"
)

func TestUIIsServedWithoutShadowingTheAPI(t *testing.T) {
	d, err := db.New(db.Config{URL: "postgres://nobody@127.0.0.1:1/none"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	deps := dependency.Set{d.Tracker()}
	files := fstest.MapFS{
		"index.html":              {Data: []byte(`<!doctype html><div id="root"></div><script type="module" src="/assets/app-3f2a9c.js"></script>`)},
		"assets/app-3f2a9c.js":    {Data: []byte(`console.log("app")`)},
		"assets/style-77aa01.css": {Data: []byte(`body{}`)},
		"favicon.svg":             {Data: []byte(`<svg/>`)},
	}
	handler := func(ui bool) http.Handler {
		opts := Options{Version: "test", MaxBodyBytes: 1 << 10, RequestTimeout: time.Second}
		if ui {
			opts.UI = files
		}
		return NewHandler(opts, Deps{Database: d, Dependencies: deps, Jobs: jobs.NewService(d, eventlog.New(d), jobs.Policy{}), Metrics: metrics.New(deps, d.Stat)})
	}
	withUI, withoutUI := handler(true), handler(false)
	get := func(h http.Handler, method, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec
	}
	tests := []struct {
		name, method, path string
		ui                 bool
		status             int
		contains           string
		cache              string
		contentType        string
	}{
		{"index", "GET", "/", true, 200, `id="root"`, "no-cache", "text/html"},
		{"client-side route falls back to the app", "GET", "/jobs/3b1c", true, 200, `id="root"`, "no-cache", "text/html"},
		{"hashed asset, cached for good", "GET", "/assets/app-3f2a9c.js", true, 200, `console.log`, "immutable", "javascript"},
		{"css", "GET", "/assets/style-77aa01.css", true, 200, `body{}`, "immutable", "text/css"},
		{"other file, revalidated", "GET", "/favicon.svg", true, 200, `<svg/>`, "no-cache", "image/svg+xml"},
		{"missing asset is a 404, not the app", "GET", "/assets/app-old.js", true, 404, "No such file", "", "application/problem+json"},
		{"unknown API route stays a problem", "GET", "/api/nope", true, 404, "No such route", "", "application/problem+json"},
		{"under /metrics is not the app", "GET", "/metrics/x", true, 404, "No such route", "", "application/problem+json"},
		{"metrics still served", "GET", "/metrics", true, 200, "rca_dependency", "", "text/plain"},
		{"api still served", "GET", "/api/health/live", true, 200, `"status":"ok"`, "", "application/json"},
		{"no build: / says how to build", "GET", "/", false, 200, "npm run build", "no-store", "text/plain"},
		{"no build: other pages 404", "GET", "/jobs", false, 404, "not built", "", "application/problem+json"},
		{"POST is not a page", "POST", "/", true, 405, "", "", "application/problem+json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := withoutUI
			if tt.ui {
				h = withUI
			}
			rec := get(h, tt.method, tt.path)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.contains) ||
				!strings.Contains(rec.Header().Get("Cache-Control"), tt.cache) ||
				!strings.Contains(rec.Header().Get("Content-Type"), tt.contentType) {
				t.Errorf("%s %s = %d %q Cache-Control %q Content-Type %q", tt.method, tt.path, rec.Code,
					truncate(rec.Body.String(), 120), rec.Header().Get("Cache-Control"), rec.Header().Get("Content-Type"))
			}
		})
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
