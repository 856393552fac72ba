package analysis

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/analysis/logparse"
)

// feed builds records directly (no parser): the ranking's own tests do not
// depend on what the parser recognises.
type feed struct {
	t    *testing.T
	a    *Analyzer
	recs map[string][]logparse.Record
	ord  []string
}

func newFeed(t *testing.T) *feed {
	a, err := NewAnalyzer(Options{JobID: "j", Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return &feed{t: t, a: a, recs: map[string][]logparse.Record{}}
}

func (f *feed) add(file string, at time.Time, lvl logparse.Level, msg string) {
	if _, ok := f.recs[file]; !ok {
		f.ord = append(f.ord, file)
	}
	n := len(f.recs[file]) + 1
	text := msg
	if !at.IsZero() {
		text = at.Format(time.RFC3339Nano) + " " + strings.ToUpper(lvl.String()) + " " + msg
	}
	f.recs[file] = append(f.recs[file], logparse.Record{Source: file, Line: n, Lines: 1, Time: at, Zoned: true,
		Level: lvl, Message: msg, Text: text, Format: "test"})
}

func (f *feed) report() *Report {
	for _, name := range f.ord {
		fs := &fileState{idx: len(f.a.files), name: name, counts: map[string]int{}}
		f.a.files = append(f.a.files, fs)
		for i := range f.recs[name] {
			r := f.recs[name][i]
			f.a.observe(fs, &r)
		}
	}
	r, err := f.a.Report(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func rankOf(r *Report, substr string) int {
	for _, c := range r.Causes {
		if strings.Contains(c.Template, substr) {
			return c.Rank
		}
	}
	return 1 << 30
}

func dumpCauses(r *Report) string {
	var b strings.Builder
	for _, c := range r.Causes {
		fmt.Fprintf(&b, "#%d %.3f %s [%s] %v\n", c.Rank, c.Score, c.Template, c.Level, c.Reasons)
	}
	return b.String()
}

var t0 = time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)

// A rare fatal line that starts a cascade across files outranks a warning
// that repeats all along, and the symptoms.
func TestRankRareFatalBeforeCascade(t *testing.T) {
	f := newFeed(t)
	incident := t0.Add(40 * time.Minute)
	for i := 0; i < 720; i++ { // an hour of traffic and a benign warning every 30 s
		at := t0.Add(time.Duration(i) * 5 * time.Second)
		f.add("app.log", at, logparse.LevelInfo, "GET /api/orders 200")
		if i%6 == 0 {
			f.add("app.log", at, logparse.LevelWarn, "cache hit ratio below threshold")
		}
		if at.After(incident) {
			f.add("app.log", at, logparse.LevelError, "pool timeout acquiring connection")
			f.add("app.log", at, logparse.LevelError, "pool timeout acquiring connection")
			f.add("gw.log", at, logparse.LevelError, "upstream returned 500")
		}
		if i%60 == 0 {
			f.add("db.log", at, logparse.LevelInfo, "checkpoint complete")
		}
		if at.Equal(incident) {
			f.add("db.log", at.Add(time.Second), logparse.LevelCritical, "could not write to WAL: no space left on device")
			f.add("db.log", at.Add(time.Second), logparse.LevelInfo, "database system is shut down")
			f.add("app.log", at.Add(2*time.Second), logparse.LevelError, "connect to db:5432 refused")
		}
	}
	r := f.report()
	t.Log(dumpCauses(r))
	if len(r.Causes) == 0 || !strings.Contains(r.Causes[0].Template, "no space left") {
		t.Fatalf("top cause is not the fatal WAL line:\n%s", dumpCauses(r))
	}
	ev := r.Causes[0].Evidence[0]
	if ev.File != "db.log" || ev.Line != 10 {
		t.Errorf("first evidence %s:%d, want db.log:10", ev.File, ev.Line)
	}
	if w := rankOf(r, "cache hit ratio"); w <= 1 {
		t.Errorf("the benign warning ranks %d", w)
	}
	if s := rankOf(r, "pool timeout"); s <= 1 {
		t.Errorf("a symptom ranks first")
	}
	if r.Severity != "critical" {
		t.Errorf("severity %q", r.Severity)
	}
	if r.FirstError == nil || !strings.Contains(r.FirstError.Template, "no space left") {
		t.Errorf("first error %+v", r.FirstError)
	}
	joined := strings.Join(r.Causes[0].Reasons, "; ")
	for _, want := range []string{"first error", "rare: 1 occurrence", "starts a cascade", "in 3 files"} {
		if !strings.Contains(joined, want) {
			t.Errorf("reasons %q lack %q", joined, want)
		}
	}
}
