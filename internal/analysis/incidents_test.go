package analysis_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/analysis"
)

type expect struct {
	Description string `json:"description"`
	TopContains string `json:"top_contains"`
	File        string `json:"file"`
	Line        int    `json:"line"`
	Benign      string `json:"benign"`
	Action      string `json:"action"`
	PrecededBy  string `json:"preceded_by"`
}

// dirSources lists a folder's files as sources named by their base name.
func dirSources(t testing.TB, dir string) []analysis.Source {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []analysis.Source
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, analysis.Source{Name: e.Name(), ID: "f-" + e.Name(), Size: st.Size(),
			Open: func() (io.ReadCloser, error) { return os.Open(p) }})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

var fixedNow = func() time.Time { return time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC) }

func analyzeDir(t testing.TB, dir string, opts analysis.Options) *analysis.Report {
	t.Helper()
	if opts.Now == nil {
		opts.Now = fixedNow
	}
	r, err := analysis.Analyze(context.Background(), dirSources(t, dir), opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func causesText(r *analysis.Report) string {
	var b strings.Builder
	for _, c := range r.Causes {
		b.WriteString(c.Title + " | " + strings.Join(c.Reasons, "; ") + "\n")
	}
	return b.String()
}

// Each corpus is an incident with a known root cause across several files;
// the top cause must be it, with its first evidence line, and the benign
// warning that repeats all along must rank below it.
func TestIncidents(t *testing.T) {
	exps, err := filepath.Glob("testdata/incidents/*.expect.json")
	if err != nil || len(exps) == 0 {
		t.Fatalf("no corpora: %v", err)
	}
	for _, ef := range exps {
		name := strings.TrimSuffix(filepath.Base(ef), ".expect.json")
		t.Run(name, func(t *testing.T) {
			var ex expect
			b, err := os.ReadFile(ef)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &ex); err != nil {
				t.Fatal(err)
			}
			var done []analysis.FileDone
			r := analyzeDir(t, filepath.Join("testdata/incidents", name), analysis.Options{JobID: name,
				FileDone: func(d analysis.FileDone) { done = append(done, d) }})
			if len(done) != len(r.Files) {
				t.Fatalf("FileDone called %d times for %d files", len(done), len(r.Files))
			}
			for i, d := range done {
				f := r.Files[i]
				if d.Name != f.Filename || d.ID != f.FileID || d.Lines != f.LineCount || d.Errors != f.ErrorCount ||
					d.Warnings != f.WarningCount || d.Critical != f.CriticalCount {
					t.Errorf("FileDone %+v disagrees with the report's file %+v", d, f)
				}
			}
			if len(r.Causes) == 0 {
				t.Fatalf("%s: no causes", ex.Description)
			}
			top := r.Causes[0]
			if len(top.Evidence) == 0 {
				t.Fatalf("top cause has no evidence")
			}
			first := top.Evidence[0]
			if !strings.Contains(top.Template, ex.TopContains) && !strings.Contains(first.Text, ex.TopContains) {
				t.Errorf("%s:\ntop cause %q, want one with %q; causes:\n%s", ex.Description, top.Title, ex.TopContains, causesText(r))
			}
			if first.File != ex.File || first.Line != ex.Line {
				t.Errorf("first evidence %s:%d, want %s:%d (%q)", first.File, first.Line, ex.File, ex.Line, first.Text)
			}
			if !strings.Contains(first.Text, ex.TopContains) {
				t.Errorf("first evidence text %q lacks %q", first.Text, ex.TopContains)
			}
			for _, c := range r.Causes {
				if strings.Contains(c.Template, ex.Benign) && c.Rank <= 1 {
					t.Errorf("the benign warning %q ranks %d", ex.Benign, c.Rank)
				}
			}
			if ex.Action != "" && !strings.Contains(strings.Join(r.RecommendedActions, "\n"), ex.Action) {
				t.Errorf("no recommended action mentions %q: %q", ex.Action, r.RecommendedActions)
			}
			if ex.PrecededBy != "" {
				found := false
				for _, e := range top.Evidence {
					if e.Role == "preceded_by" && strings.Contains(e.Text, ex.PrecededBy) {
						found = true
					}
				}
				if !found {
					t.Errorf("the top cause's evidence does not show what preceded it (%q): %+v", ex.PrecededBy, top.Evidence)
				}
			}
			if r.Severity != "high" && r.Severity != "critical" {
				t.Errorf("severity %q for an outage", r.Severity)
			}
			if !strings.Contains(r.Summary, top.Template) && !strings.Contains(r.Summary, "most probable cause") {
				t.Errorf("summary does not name the cause: %s", r.Summary)
			}
		})
	}
}
