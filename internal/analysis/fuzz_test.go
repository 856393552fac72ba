package analysis_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/analysis"
)

// FuzzAnalyze: whatever two files hold, the engine returns a report whose
// JSON parses and whose HTML carries no tag from the input.
func FuzzAnalyze(f *testing.F) {
	f.Add("2026-03-14T10:00:00Z INFO start\n2026-03-14T10:00:01Z ERROR boom <script>\n", "plain line\n\tat x\n")
	f.Add(`{"level":"error","msg":"x","ts":"2026-03-14T10:00:00Z"}`+"\n", "Mar 14 10:00:00 h p[1]: FATAL ```\n")
	f.Add("", "\x00\xff\xfe")
	f.Add("1970-01-01T00:00:00Z ERROR a\n9999-12-31T23:59:59Z ERROR b\n", "ERROR c\nERROR c\n")
	f.Fuzz(func(t *testing.T, a, b string) {
		src := func(name, s string) analysis.Source {
			return analysis.Source{Name: name, Size: int64(len(s)),
				Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(s)), nil }}
		}
		r, err := analysis.Analyze(context.Background(), []analysis.Source{src("a.log", a), src("b.log", b)},
			analysis.Options{Now: func() time.Time { return time.Unix(0, 0) }})
		if err != nil {
			return // a read error is an answer; a panic is not
		}
		j, err := r.JSON()
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(j, &m); err != nil {
			t.Fatalf("JSON does not parse: %v", err)
		}
		h, err := r.HTML()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(h, "<script") {
			t.Fatalf("HTML has a script tag")
		}
		_ = r.Markdown()
		_ = r.Text()
	})
}
