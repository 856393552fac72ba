package analysis_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/analysis"
	"github.com/rca-engine/api/internal/analysis/drain"
	"github.com/rca-engine/api/internal/analysis/logparse"
	"github.com/rca-engine/api/internal/analysis/redact"
)

func strSource(name, content string) analysis.Source {
	return analysis.Source{Name: name, Size: int64(len(content)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(content)), nil }}
}

func analyzeStrings(t *testing.T, opts analysis.Options, files ...string) *analysis.Report {
	t.Helper()
	var srcs []analysis.Source
	for i := 0; i+1 < len(files); i += 2 {
		srcs = append(srcs, strSource(files[i], files[i+1]))
	}
	if opts.Now == nil {
		opts.Now = fixedNow
	}
	r, err := analysis.Analyze(context.Background(), srcs, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestEmptyInput(t *testing.T) {
	if _, err := analysis.Analyze(context.Background(), nil, analysis.Options{}); !errors.Is(err, analysis.ErrNoInput) {
		t.Fatalf("no sources: %v, want ErrNoInput", err)
	}
	r := analyzeStrings(t, analysis.Options{}, "empty.log", "")
	if r.Metrics.Lines != 0 || len(r.Causes) != 0 || r.FirstError != nil || r.Severity != "low" {
		t.Errorf("empty file: lines %d, causes %d, first error %v, severity %s", r.Metrics.Lines, len(r.Causes), r.FirstError, r.Severity)
	}
	if len(r.Files) != 1 || r.Files[0].Filename != "empty.log" || r.Files[0].LineCount != 0 {
		t.Errorf("files %+v", r.Files)
	}
	if !strings.Contains(r.Summary, "No probable cause") {
		t.Errorf("summary %q", r.Summary)
	}
	// Every output renders, and the JSON has the contract's keys, none null
	// that the frontend iterates.
	out, err := r.Outputs()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := r.JSON()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"job_id", "analysis_type", "generated_at", "severity", "categories", "tags", "metrics",
		"files", "summary", "llm", "recommended_actions", "ticketing", "signatures", "causes", "timeline", "first_error"} {
		if _, ok := m[k]; !ok {
			t.Errorf("outputs.json lacks %q", k)
		}
	}
	for _, k := range []string{"categories", "tags", "files", "recommended_actions", "signatures", "causes"} {
		if m[k] == nil {
			t.Errorf("%q is null", k)
		}
	}
	if out.Markdown == "" || out.HTML == "" || out.JSON != r {
		t.Errorf("outputs incomplete")
	}
	if m["analysis_type"] != "rca_analysis" {
		t.Errorf("analysis_type %v", m["analysis_type"])
	}
	// result_data: the original's keys, outputs with its three forms.
	res, err := r.Result()
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := json.Marshal(res)
	var rm map[string]any
	json.Unmarshal(rb, &rm)
	for _, k := range []string{"job_id", "analysis_type", "generated_at", "metrics", "files", "llm", "outputs"} {
		if _, ok := rm[k]; !ok {
			t.Errorf("result_data lacks %q", k)
		}
	}
	if o, _ := rm["outputs"].(map[string]any); o["markdown"] == nil || o["html"] == nil || o["json"] == nil {
		t.Errorf("outputs %v", rm["outputs"])
	}
}

// A log without timestamps is placed by order: the first error is the
// first error line, the timeline counts records, and a cascade after a rare
// fatal line is still found.
func TestNoTimestamps(t *testing.T) {
	var b strings.Builder
	for i := 1; i <= 600; i++ {
		switch {
		case i == 400:
			b.WriteString("FATAL cannot open database file /var/lib/app/app.db: permission denied\n")
		case i > 400 && i%2 == 0:
			fmt.Fprintf(&b, "ERROR request %d failed: storage unavailable\n", i)
		case i%10 == 0:
			b.WriteString("WARN config value cache.ttl is deprecated\n")
		default:
			fmt.Fprintf(&b, "INFO handled request %d in %d ms\n", i, i%17)
		}
	}
	r := analyzeStrings(t, analysis.Options{}, "plain.log", b.String())
	if r.Timeline.Axis != "record" || r.TimeRange != nil {
		t.Errorf("timeline axis %q, time range %v", r.Timeline.Axis, r.TimeRange)
	}
	if r.Files[0].TimedRecords != 0 || r.Files[0].LineCount != 600 {
		t.Errorf("file %+v", r.Files[0])
	}
	if r.FirstError == nil || r.FirstError.Evidence.Line != 400 {
		t.Fatalf("first error %+v", r.FirstError)
	}
	if len(r.Causes) == 0 || r.Causes[0].Evidence[0].Line != 400 {
		t.Fatalf("top cause:\n%s", causesText(r))
	}
	if strings.Contains(r.Causes[0].Template, "deprecated") {
		t.Errorf("the steady warning is on top")
	}
	if !strings.Contains(strings.Join(r.RecommendedActions, " "), "no timestamps") {
		t.Errorf("actions do not say the file has no timestamps: %q", r.RecommendedActions)
	}
}

// Two files in different zones: aligned on UTC, the database's fatal line
// (written at 12:20 +02:00) comes before the app's errors (10:20:01Z).
func TestTimezonesAligned(t *testing.T) {
	var app, db strings.Builder
	base := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	cest := time.FixedZone("CEST", 2*3600)
	for i := 0; i < 600; i++ {
		at := base.Add(time.Duration(i) * 3 * time.Second)
		fmt.Fprintf(&app, `{"time":%q,"level":"info","msg":"GET /api/items/%d 200"}`+"\n", at.Format(time.RFC3339Nano), i)
		if at.After(base.Add(20 * time.Minute)) {
			fmt.Fprintf(&app, `{"time":%q,"level":"error","msg":"query failed: server closed the connection unexpectedly"}`+"\n", at.Format("2006-01-02T15:04:05.000Z07:00"))
		}
		if i%20 == 0 {
			fmt.Fprintf(&db, `{"time":%q,"level":"info","msg":"checkpoint complete"}`+"\n", at.In(cest).Format("2006-01-02T15:04:05.000-07:00"))
		}
		if at.Equal(base.Add(20 * time.Minute)) {
			fmt.Fprintf(&db, `{"time":%q,"level":"critical","msg":"terminating all connections: out of shared memory"}`+"\n", at.In(cest).Format("2006-01-02T15:04:05.000-07:00"))
		}
	}
	r := analyzeStrings(t, analysis.Options{}, "app.log", app.String(), "db.log", db.String())
	if r.FirstError == nil || r.FirstError.Evidence.File != "db.log" {
		t.Fatalf("first error %+v\n%s", r.FirstError, causesText(r))
	}
	want := base.Add(20 * time.Minute)
	if ts := r.FirstError.Evidence.Timestamp; ts == nil || !ts.Equal(want) {
		t.Errorf("first error at %v, want %v", ts, want)
	}
	if len(r.Causes) == 0 || r.Causes[0].Evidence[0].File != "db.log" {
		t.Errorf("top cause:\n%s", causesText(r))
	}
	if r.TimeRange == nil || !r.TimeRange.Start.Equal(base) {
		t.Errorf("time range %+v", r.TimeRange)
	}

	// The same database log without offsets, read in its zone by option.
	var local strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(db.String()), "\n") {
		local.WriteString(strings.Replace(l, "+02:00", "", 1) + "\n")
	}
	r2 := analyzeStrings(t, analysis.Options{Parse: parseIn(cest)}, "app.log", app.String(), "db.log", local.String())
	if r2.FirstError == nil || r2.FirstError.Evidence.File != "db.log" || !r2.FirstError.Evidence.Timestamp.Equal(want) {
		t.Errorf("with Location: first error %+v", r2.FirstError)
	}
	// Read as UTC instead, the database's line is two hours late and the
	// app's error is first: the zone matters.
	r3 := analyzeStrings(t, analysis.Options{}, "app.log", app.String(), "db.log", local.String())
	if r3.FirstError == nil || r3.FirstError.Evidence.File != "app.log" {
		t.Errorf("without Location: first error %+v", r3.FirstError)
	}
}

// Log content reaches HTML and Markdown escaped: a <script> line, quotes,
// ampersands and runs of backticks cannot break out.
func TestRenderingEscapes(t *testing.T) {
	var b strings.Builder
	base := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	for i := 0; i < 200; i++ {
		at := base.Add(time.Duration(i) * time.Second).Format(time.RFC3339)
		fmt.Fprintf(&b, "%s INFO [web] served page %d\n", at, i)
		if i == 150 {
			fmt.Fprintf(&b, "%s CRITICAL [web] injected <script>alert(\"x\")</script> & 'quotes' ```` fence `` tick <img src=x onerror=alert(1)>\n", at)
		}
	}
	r := analyzeStrings(t, analysis.Options{JobID: `<b>"job"</b>`}, "web<1>.log", b.String())
	if len(r.Causes) == 0 || !strings.Contains(r.Causes[0].Evidence[0].Text, "<script>") {
		t.Fatalf("the injected line is not the top cause's evidence:\n%s", causesText(r))
	}
	h, err := r.HTML()
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script", "<img", "<b>", "onerror=alert(1)>"} {
		if strings.Contains(h, bad) {
			t.Errorf("HTML contains %q", bad)
		}
	}
	if !strings.Contains(h, "&lt;script&gt;") || !strings.Contains(h, "&#34;x&#34;") || !strings.Contains(h, "web&lt;1&gt;.log") {
		t.Errorf("HTML does not show the escaped text")
	}
	// Markdown: every fenced block's fence is longer than any backtick run
	// inside it, so the block ends where the renderer thinks it does.
	md := r.Markdown()
	lines := strings.Split(md, "\n")
	fenceRe := regexp.MustCompile("^(`{3,})text$")
	runRe := regexp.MustCompile("`+")
	blocks := 0
	for i := 0; i < len(lines); i++ {
		m := fenceRe.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		blocks++
		j := i + 1
		for ; j < len(lines) && lines[j] != m[1]; j++ {
			for _, run := range runRe.FindAllString(lines[j], -1) {
				if len(run) >= len(m[1]) {
					t.Errorf("line %q has a backtick run as long as its fence %q", lines[j], m[1])
				}
			}
		}
		if j == len(lines) {
			t.Fatalf("unclosed fence at line %d", i)
		}
		i = j
	}
	if blocks == 0 {
		t.Errorf("no evidence block in the Markdown")
	}
	if strings.Contains(md, "<script>") && !strings.Contains(md, "````text") {
		t.Errorf("a raw <script> outside a long fence")
	}
	// The JSON escapes < > & too, safe in an HTML attribute or script tag.
	j, _ := r.JSON()
	if bytes.Contains(j, []byte("<script")) {
		t.Errorf("JSON contains a raw <script")
	}
}

// Same input, same report: byte for byte apart from generated_at.
func TestDeterministic(t *testing.T) {
	var outs [][]byte
	for i := 0; i < 3; i++ {
		now := time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC)
		r := analyzeDir(t, "testdata/incidents/db-refused", analysis.Options{JobID: "j", Now: func() time.Time { return now }})
		r.GeneratedAt = time.Time{}
		b, err := r.JSON()
		if err != nil {
			t.Fatal(err)
		}
		h, _ := r.HTML()
		b = append(b, h...)
		b = append(b, r.Markdown()...)
		outs = append(outs, b)
	}
	for i := 1; i < len(outs); i++ {
		if !bytes.Equal(outs[0], outs[i]) {
			t.Fatalf("run %d differs from run 0", i)
		}
	}
}

// Redaction reaches the evidence and is counted per file.
func TestRedactedEvidence(t *testing.T) {
	cfg := redact.Config{Enabled: true}
	red, err := redact.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	secret := "alice@example.com"
	if got := red.String("mail "+secret, nil); strings.Contains(got, secret) {
		t.Skip("the redactor does not redact emails yet")
	}
	var b strings.Builder
	base := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	for i := 0; i < 100; i++ {
		at := base.Add(time.Duration(i) * time.Second).Format(time.RFC3339)
		fmt.Fprintf(&b, "%s INFO [auth] login ok for user %d\n", at, i)
		if i == 60 {
			fmt.Fprintf(&b, "%s CRITICAL [auth] account store corrupt for %s\n", at, secret)
		}
	}
	var seen []string
	r := analyzeStrings(t, analysis.Options{Redact: cfg, Line: func(rec *logparse.Record, _ drain.ClusterID) {
		seen = append(seen, rec.Text, rec.Message)
	}}, "auth.log", b.String())
	if strings.Contains(strings.Join(seen, "\n"), secret) {
		t.Errorf("the Line callback saw the email")
	}
	j, _ := r.JSON()
	if bytes.Contains(j, []byte(secret)) || strings.Contains(r.Markdown(), secret) {
		t.Errorf("the email reached the report")
	}
	if r.Files[0].RedactionCounts["email"] != 1 || !r.Files[0].RedactionApplied {
		t.Errorf("redaction counts %v", r.Files[0].RedactionCounts)
	}
}

// A 1 MB line is evidence like any other, cut to a size a report can carry
// and marked so.
func TestHugeLineEvidence(t *testing.T) {
	var b strings.Builder
	base := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	for i := 0; i < 300; i++ {
		at := base.Add(time.Duration(i) * time.Second).Format(time.RFC3339)
		fmt.Fprintf(&b, "%s INFO [main] tick %d\n", at, i)
		if i == 200 {
			fmt.Fprintf(&b, "%s CRITICAL [main] state dump: %s\n", at, strings.Repeat("x ", 1<<19))
		}
	}
	r := analyzeStrings(t, analysis.Options{}, "huge.log", b.String())
	if len(r.Causes) == 0 {
		t.Fatal("no cause")
	}
	ev := r.Causes[0].Evidence[0]
	if ev.Line != 202 || !ev.Truncated || len(ev.Text) > 4<<10 || !strings.Contains(ev.Text, "state dump") {
		t.Errorf("evidence line %d truncated %v, %d bytes", ev.Line, ev.Truncated, len(ev.Text))
	}
	j, _ := r.JSON()
	if len(j) > 256<<10 {
		t.Errorf("the report is %d KB for one huge line", len(j)>>10)
	}
}

// A file without timestamps next to timed ones: its records count (levels,
// rarity) but are not placed on the timeline, and the report says so.
func TestMixedTimedAndUntimed(t *testing.T) {
	var timed, plain strings.Builder
	base := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&timed, `{"time":%q,"level":"info","msg":"tick %d"}`+"\n", base.Add(time.Duration(i)*time.Second).Format(time.RFC3339), i)
		if i == 100 {
			plain.WriteString("FATAL worker pool exhausted, giving up\n")
		} else if i%3 == 0 {
			fmt.Fprintf(&plain, "INFO worker %d idle\n", i)
		}
	}
	r := analyzeStrings(t, analysis.Options{}, "timed.log", timed.String(), "plain.log", plain.String())
	if r.Timeline.Axis != "time" {
		t.Errorf("axis %q", r.Timeline.Axis)
	}
	var fatal *analysis.Cause
	for i := range r.Causes {
		if strings.Contains(r.Causes[i].Template, "pool exhausted") {
			fatal = &r.Causes[i]
		}
	}
	if fatal == nil || fatal.Rank != 1 {
		t.Fatalf("the untimed fatal line is not the top cause:\n%s", causesText(r))
	}
	if !strings.Contains(strings.Join(fatal.Reasons, " "), "no timestamps") || fatal.Evidence[0].Timestamp != nil {
		t.Errorf("reasons %q, evidence %+v", fatal.Reasons, fatal.Evidence[0])
	}
	if r.FirstError == nil || r.FirstError.Evidence.File != "plain.log" || r.FirstError.Evidence.Line != 35 {
		t.Errorf("first error %+v", r.FirstError)
	}
}
