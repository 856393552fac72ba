package analysis

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/rca-engine/api/internal/analysis/drain"
	"github.com/rca-engine/api/internal/analysis/logparse"
)

// Report is the engine's answer. Its JSON is the original's outputs.json
// contract (job_id, analysis_type, generated_at, severity, categories, tags,
// metrics, files, summary, llm, recommended_actions, ticketing), extended
// with signatures, causes, timeline and first_error.
type Report struct {
	JobID              string         `json:"job_id"`
	AnalysisType       string         `json:"analysis_type"`
	GeneratedAt        time.Time      `json:"generated_at"`
	Severity           string         `json:"severity"`
	Categories         []string       `json:"categories"`
	Tags               []string       `json:"tags"`
	Metrics            Metrics        `json:"metrics"`
	Files              []FileSummary  `json:"files"`
	Summary            string         `json:"summary"`
	LLM                LLM            `json:"llm"`
	RecommendedActions []string       `json:"recommended_actions"`
	Ticketing          map[string]any `json:"ticketing"`

	TimeRange  *TimeRange  `json:"time_range,omitempty"`
	Causes     []Cause     `json:"causes"`
	FirstError *FirstError `json:"first_error"`
	Signatures []Signature `json:"signatures"`
	Timeline   Timeline    `json:"timeline"`
}

// Metrics are the totals (the original's keys first).
type Metrics struct {
	Files            int   `json:"files"`
	Lines            int64 `json:"lines"`
	Errors           int64 `json:"errors"`
	Warnings         int64 `json:"warnings"`
	Critical         int64 `json:"critical"`
	Chunks           int   `json:"chunks"` // always 0: the engine does not chunk
	Info             int64 `json:"info"`
	Records          int64 `json:"records"`
	Bytes            int64 `json:"bytes"`
	Signatures       int   `json:"signatures"`
	SignaturesListed int   `json:"signatures_listed"`
	TimedRecords     int64 `json:"timed_records"`
	RedactedValues   int   `json:"redacted_values"`
	TruncatedLines   int64 `json:"truncated_lines"`
}

// LLM is the original's llm block; without a model the engine's own
// summary is there, with provider "none".
type LLM struct {
	Provider string         `json:"provider"`
	Model    string         `json:"model"`
	Summary  string         `json:"summary"`
	Error    string         `json:"error,omitempty"`
	Usage    map[string]any `json:"usage,omitempty"`
}

// FileSummary is one file (the original's FileSummary keys, extended).
type FileSummary struct {
	FileID           string           `json:"file_id"`
	Filename         string           `json:"filename"`
	Checksum         string           `json:"checksum"`
	FileSize         int64            `json:"file_size"`
	ContentType      string           `json:"content_type"`
	LineCount        int              `json:"line_count"`
	ErrorCount       int64            `json:"error_count"`
	WarningCount     int64            `json:"warning_count"`
	CriticalCount    int64            `json:"critical_count"`
	InfoCount        int64            `json:"info_count"`
	SampleHead       []string         `json:"sample_head"`
	SampleTail       []string         `json:"sample_tail"`
	TopKeywords      []string         `json:"top_keywords"`
	ChunkCount       int              `json:"chunk_count"`
	RedactionApplied bool             `json:"redaction_applied"`
	RedactionCounts  map[string]int   `json:"redaction_counts"`
	Format           string           `json:"format"`
	Records          int64            `json:"records"`
	TimedRecords     int64            `json:"timed_records"`
	BytesRead        int64            `json:"bytes_read"`
	TruncatedLines   int64            `json:"truncated_lines"`
	Levels           map[string]int64 `json:"levels"`
	FirstTime        *time.Time       `json:"first_time,omitempty"`
	LastTime         *time.Time       `json:"last_time,omitempty"`
}

// TimeRange is the span of the timed records.
type TimeRange struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Evidence is one log record shown as evidence (its text redacted).
type Evidence struct {
	Role        string     `json:"role"` // first, example, highest_level, context, preceded_by, first_error
	File        string     `json:"file"`
	FileID      string     `json:"file_id,omitempty"`
	Line        int        `json:"line"`
	Lines       int        `json:"lines"`
	Timestamp   *time.Time `json:"timestamp,omitempty"`
	Level       string     `json:"level"`
	Text        string     `json:"text"`
	Truncated   bool       `json:"truncated,omitempty"`
	SignatureID string     `json:"signature_id,omitempty"`
}

// Cause is one probable cause.
type Cause struct {
	Rank        int        `json:"rank"`
	SignatureID string     `json:"signature_id"`
	Title       string     `json:"title"`
	Template    string     `json:"template"`
	Level       string     `json:"level"`
	Score       float64    `json:"score"`
	Count       int64      `json:"count"`
	Category    string     `json:"category,omitempty"`
	Reasons     []string   `json:"reasons"`
	Evidence    []Evidence `json:"evidence"`
	Symptoms    []string   `json:"symptoms,omitempty"` // signature ids that rose after it
}

// FirstError is the earliest record at level error or above, with the
// records before it in its file.
type FirstError struct {
	SignatureID string     `json:"signature_id"`
	Template    string     `json:"template"`
	Evidence    Evidence   `json:"evidence"`
	Preceding   []Evidence `json:"preceding"`
}

// Occurrence is where a signature was seen.
type Occurrence struct {
	File      string     `json:"file"`
	Line      int        `json:"line"`
	Timestamp *time.Time `json:"timestamp,omitempty"`
}

// SignatureFile is how often a signature occurs in one file.
type SignatureFile struct {
	File  string `json:"file"`
	Count int64  `json:"count"`
}

// Signature is one template and what the engine knows of it.
type Signature struct {
	ID        string           `json:"id"`
	Template  string           `json:"template"`
	Count     int64            `json:"count"`
	Level     string           `json:"level"` // the highest level seen
	Levels    map[string]int64 `json:"levels"`
	FirstSeen Occurrence       `json:"first_seen"`
	LastSeen  Occurrence       `json:"last_seen"`
	Files     []SignatureFile  `json:"files"`
	MoreFiles int64            `json:"more_files,omitempty"` // occurrences in files past the first 64
	Example   *Evidence        `json:"example"`
	Rare      bool             `json:"rare"`
	New       bool             `json:"new"`
	Steady    bool             `json:"steady"`
	Burst     *Burst           `json:"burst,omitempty"`
}

// Burst is a jump in a signature's rate.
type Burst struct {
	Onset      *time.Time `json:"onset,omitempty"`
	OnsetIndex int64      `json:"onset_record,omitempty"` // on the order axis
	RateBefore float64    `json:"rate_before"`            // per RateUnit
	RateAfter  float64    `json:"rate_after"`
	RateUnit   string     `json:"rate_unit"` // second, minute, hour, day; "1,000 records" on the order axis
}

// Timeline is counts per bucket and level over the whole input.
type Timeline struct {
	Axis          string           `json:"axis"` // "time", "record" (no timestamps), "" (empty)
	BucketSeconds float64          `json:"bucket_seconds,omitempty"`
	BucketRecords int64            `json:"bucket_records,omitempty"`
	Buckets       []TimelineBucket `json:"buckets"`
}

// TimelineBucket is one bucket of the timeline.
type TimelineBucket struct {
	Start       *time.Time       `json:"start,omitempty"`
	FirstRecord int64            `json:"first_record,omitempty"`
	Total       int64            `json:"total"`
	Levels      map[string]int64 `json:"levels"`
}

// Signature returns the signature id and final template of a cluster, once
// Report has run (the rca command's --structured output).
func (a *Analyzer) Signature(id drain.ClusterID) (sigID, template string) {
	if a.clusterSig == nil || int(id) < 0 || int(id) >= len(a.clusterSig) {
		return "", ""
	}
	return a.clusterSig[id], a.clusterTpl[id]
}

// Report ranks and returns the report, after the last Add (later calls
// return the same report).
func (a *Analyzer) Report(ctx context.Context) (*Report, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if a.report != nil { // ranking merges the clusters' aggregates: once
		return a.report, nil
	}
	a.reported = true
	a.progress("ranking", "", 0, true)
	sigs, clusterSig := a.signatures()
	ax := a.axis()

	// The first error over all files.
	var fe *fileFirstError
	var feFile *fileState
	for _, f := range a.files {
		if f.firstErr != nil && (fe == nil || f.firstErr.ex.key.less(fe.ex.key)) {
			fe, feFile = f.firstErr, f
		}
	}
	var feSig *sig
	if fe != nil {
		feSig = clusterSig[fe.cluster]
		feSig.firstError, feSig.firstErrKey = true, fe.ex.key
	}
	causes := a.rank(sigs, ax, feSig)

	r := &Report{JobID: a.opts.JobID, AnalysisType: a.opts.AnalysisType, GeneratedAt: a.opts.Now().UTC(),
		Ticketing: a.opts.Ticketing, Categories: []string{}, Tags: []string{}, RecommendedActions: []string{},
		Causes: []Cause{}, Signatures: []Signature{}, Files: []FileSummary{}}
	if r.Ticketing == nil {
		r.Ticketing = map[string]any{}
	}
	a.fillFiles(r, sigs)
	if a.tgrid.set {
		r.TimeRange = &TimeRange{Start: time.Unix(0, a.tgrid.lo).UTC(), End: time.Unix(0, a.tgrid.hi).UTC()}
	}
	if fe != nil {
		r.FirstError = &FirstError{SignatureID: feSig.id, Template: shortTemplate(feSig.template),
			Evidence: a.evidence("first_error", feFile, fe.ex, feSig.id)}
		for _, b := range fe.before {
			r.FirstError.Preceding = append(r.FirstError.Preceding, a.evidence("context", feFile, b, ""))
		}
		if r.FirstError.Preceding == nil {
			r.FirstError.Preceding = []Evidence{}
		}
	}
	for i, c := range causes {
		r.Causes = append(r.Causes, a.cause(i+1, c, ax, fe, feFile))
	}
	a.fillSignatures(r, sigs, causes, ax)
	r.Timeline = a.timeline(ax)
	r.Severity = severity(r, causes, ax)
	a.classify(r, causes)
	r.Summary = summary(r, causes, ax)
	r.LLM = LLM{Provider: "none", Summary: r.Summary}
	a.report = r
	return r, nil
}

// maxTemplate caps a template in the report (a 1 MB line makes a 1 MB
// template; the --structured output keeps it whole).
const maxTemplate = 2 << 10

func shortTemplate(t string) string {
	if s, cut := capText(t, maxTemplate); cut {
		return s + "…"
	}
	return t
}

func (a *Analyzer) fileName(idx int) string {
	if idx >= 0 && idx < len(a.files) {
		return a.files[idx].name
	}
	return ""
}

func ptime(ok bool, t time.Time) *time.Time {
	if !ok {
		return nil
	}
	u := t.UTC()
	return &u
}

func (a *Analyzer) evidence(role string, f *fileState, e example, sigID string) Evidence {
	if f == nil {
		f = a.files[e.key.file]
	}
	return Evidence{Role: role, File: f.name, FileID: f.id, Line: e.line, Lines: e.lines,
		Timestamp: ptime(e.hasTime, e.time), Level: e.level.String(), Text: e.text,
		Truncated: e.truncated, SignatureID: sigID}
}

func (a *Analyzer) fillFiles(r *Report, sigs []*sig) {
	// Per file, its most frequent signatures give its keywords.
	type fsig struct {
		s *sig
		n int64
	}
	per := make([][]fsig, len(a.files))
	for _, s := range sigs {
		for _, fc := range s.st.files {
			per[fc.file] = append(per[fc.file], fsig{s, fc.count})
		}
	}
	for i, f := range a.files {
		sort.Slice(per[i], func(x, y int) bool {
			if per[i][x].n != per[i][y].n {
				return per[i][x].n > per[i][y].n
			}
			return per[i][x].s.id < per[i][y].s.id
		})
		var kw []string
		seen := map[string]bool{}
		for _, fs := range per[i] {
			for _, w := range keywords(fs.s.template) {
				if !seen[w] && len(kw) < 5 {
					seen[w] = true
					kw = append(kw, w)
				}
			}
			if len(kw) >= 5 {
				break
			}
		}
		fsum := FileSummary{FileID: f.id, Filename: f.name, Checksum: f.checksum, FileSize: f.size,
			ContentType: f.contentType, LineCount: f.lines,
			ErrorCount: f.levels[logparse.LevelError], WarningCount: f.levels[logparse.LevelWarn],
			CriticalCount: f.levels[logparse.LevelCritical], InfoCount: f.levels[logparse.LevelInfo],
			SampleHead: []string{}, SampleTail: []string{}, TopKeywords: kw, RedactionCounts: map[string]int{},
			Format: f.format(), Records: f.records, TimedRecords: f.timed, BytesRead: f.bytes,
			TruncatedLines: f.truncated, Levels: levelMap(f.levels[:])}
		if fsum.TopKeywords == nil {
			fsum.TopKeywords = []string{}
		}
		if fsum.ContentType == "" {
			fsum.ContentType = "text/plain"
		}
		if fsum.FileSize <= 0 {
			fsum.FileSize = f.bytes
		}
		total := 0
		for k, v := range f.counts {
			if v > 0 {
				fsum.RedactionCounts[k] = v
				total += v
			}
		}
		fsum.RedactionApplied = total > 0
		r.Metrics.RedactedValues += total
		for _, h := range f.head {
			fsum.SampleHead = append(fsum.SampleHead, h.text)
		}
		if f.ring.seen > ringSize { // like the original: a tail only past five records
			for j := 0; j < f.ring.n; j++ {
				fsum.SampleTail = append(fsum.SampleTail, a.red.String(string(f.ring.at(j).buf), nil))
			}
		}
		if f.hasTime {
			fsum.FirstTime = ptime(true, time.Unix(0, f.firstTime))
			fsum.LastTime = ptime(true, time.Unix(0, f.maxTime))
		}
		r.Files = append(r.Files, fsum)
		r.Metrics.Lines += int64(f.lines)
		r.Metrics.Errors += f.levels[logparse.LevelError]
		r.Metrics.Warnings += f.levels[logparse.LevelWarn]
		r.Metrics.Critical += f.levels[logparse.LevelCritical]
		r.Metrics.Info += f.levels[logparse.LevelInfo]
		r.Metrics.Records += f.records
		r.Metrics.Bytes += f.bytes
		r.Metrics.TimedRecords += f.timed
		r.Metrics.TruncatedLines += f.truncated
	}
	r.Metrics.Files = len(a.files)
	r.Metrics.Signatures = len(sigs)
}

// keywords are the words of a template worth showing (no variables, no
// short words).
func keywords(tpl string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(tpl), func(r rune) bool { return !unicode.IsLetter(r) }) {
		if len(w) >= 4 && !stopWords[w] {
			out = append(out, w)
		}
	}
	return out
}

var stopWords = map[string]bool{"with": true, "from": true, "that": true, "this": true, "have": true, "been": true,
	"were": true, "will": true, "into": true, "after": true, "than": true, "then": true, "when": true, "info": true,
	"warn": true, "error": true, "debug": true}

func levelMap(c []int64) map[string]int64 {
	m := map[string]int64{}
	for i, n := range c {
		if n > 0 {
			m[logparse.Level(i).String()] = n
		}
	}
	return m
}

func (a *Analyzer) occurrence(k okey) Occurrence {
	o := Occurrence{File: a.fileName(int(k.file)), Line: int(k.line)}
	if k.dom == 0 {
		o.Timestamp = ptime(true, time.Unix(0, k.pos))
	}
	return o
}

func (a *Analyzer) fillSignatures(r *Report, sigs []*sig, causes []*sig, ax *axis) {
	list := append([]*sig(nil), sigs...)
	sort.Slice(list, func(i, j int) bool {
		if list[i].st.count != list[j].st.count {
			return list[i].st.count > list[j].st.count
		}
		return list[i].id < list[j].id
	})
	keep := map[*sig]bool{}
	for _, c := range causes {
		keep[c] = true
	}
	for i, s := range list {
		if i >= a.opts.MaxSignatures && !keep[s] {
			continue
		}
		sg := Signature{ID: s.id, Template: shortTemplate(s.template), Count: s.st.count, Level: s.st.maxLevel.String(),
			Levels: levelMap(s.st.levels[:]), FirstSeen: a.occurrence(s.st.first), LastSeen: a.occurrence(s.st.last),
			MoreFiles: s.st.moreFiles, Rare: s.st.count <= rareMax, New: s.isNew, Steady: s.steady}
		for _, fc := range s.st.files {
			sg.Files = append(sg.Files, SignatureFile{File: a.fileName(fc.file), Count: fc.count})
		}
		if len(s.st.ex) > 0 {
			e := a.evidence("example", nil, s.st.ex[0], s.id)
			sg.Example = &e
		}
		if s.burst {
			b := &Burst{}
			var per float64
			b.RateUnit, per = rateUnit(ax)
			if ax.ordinal {
				b.OnsetIndex = ax.g.start(s.burstIdx)
			} else {
				b.Onset = ptime(true, time.Unix(0, ax.g.start(s.burstIdx)))
			}
			b.RateBefore = round3(s.rateBefore * per)
			b.RateAfter = round3(s.rateAfter * per)
			sg.Burst = b
		}
		r.Signatures = append(r.Signatures, sg)
	}
	r.Metrics.SignaturesListed = len(r.Signatures)
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

func (a *Analyzer) timeline(ax *axis) Timeline {
	t := Timeline{Buckets: []TimelineBucket{}}
	if !ax.g.set {
		return t
	}
	tl := &a.ttl
	if ax.ordinal {
		tl = &a.otl
		t.Axis, t.BucketRecords = "record", ax.g.width()
	} else {
		t.Axis, t.BucketSeconds = "time", float64(ax.g.width())/1e9
	}
	for i := ax.tlLo; i <= ax.tlHi; i++ {
		b := TimelineBucket{Levels: map[string]int64{}}
		for l := range tl {
			if n := tl[l][i]; n > 0 {
				b.Levels[logparse.Level(l).String()] = int64(n)
				b.Total += int64(n)
			}
		}
		if ax.ordinal {
			b.FirstRecord = ax.g.start(i)
		} else {
			b.Start = ptime(true, time.Unix(0, ax.g.start(i)))
		}
		t.Buckets = append(t.Buckets, b)
	}
	return t
}

func (a *Analyzer) cause(rank int, c *sig, ax *axis, fe *fileFirstError, feFile *fileState) Cause {
	out := Cause{Rank: rank, SignatureID: c.id, Template: shortTemplate(c.template), Level: c.st.maxLevel.String(),
		Score: c.score, Count: c.st.count, Reasons: []string{}, Evidence: []Evidence{}}
	title := c.template
	if t, cut := capText(title, 120); cut {
		title = t + "…"
	}
	if c.hint != nil {
		out.Category = c.hint.category
		if c.hint.category == "network" && isDatabase(c.template) {
			out.Category = "database"
		}
		title = c.hint.name + ": " + title
	}
	out.Title = title
	out.Reasons = a.reasons(c, ax)

	// Evidence: the first occurrence, the first at the highest level, a
	// couple more; the lines before the first error; what preceded it.
	if len(c.st.ex) > 0 {
		out.Evidence = append(out.Evidence, a.evidence("first", nil, c.st.ex[0], c.id))
	}
	if m := c.st.maxExample(); m != nil && (len(c.st.ex) == 0 || m.key != c.st.ex[0].key) {
		out.Evidence = append(out.Evidence, a.evidence("highest_level", nil, *m, c.id))
	}
	// What preceded it (often in another file), then the lines before the
	// first error in its own file, then more occurrences.
	for _, p := range c.preceded {
		if len(p.st.ex) > 0 {
			out.Evidence = append(out.Evidence, a.evidence("preceded_by", nil, p.st.ex[0], p.id))
		}
	}
	if c.firstError && fe != nil {
		for _, b := range fe.before {
			out.Evidence = append(out.Evidence, a.evidence("context", feFile, b, ""))
		}
	}
	for _, e := range c.st.ex[min(1, len(c.st.ex)):] {
		if m := c.st.maxExample(); m != nil && m.key == e.key {
			continue
		}
		out.Evidence = append(out.Evidence, a.evidence("example", nil, e, c.id))
	}
	for i, s := range c.symptoms {
		if i == 5 {
			break
		}
		out.Symptoms = append(out.Symptoms, s.id)
	}
	return out
}

// reasons says in words why c is ranked where it is.
func (a *Analyzer) reasons(c *sig, ax *axis) []string {
	var rs []string
	where := func(k okey) string {
		s := fmt.Sprintf("%s:%d", a.fileName(int(k.file)), k.line)
		if k.dom == 0 {
			s += ", " + fmtTime(time.Unix(0, k.pos))
		}
		return s
	}
	if c.firstError {
		rs = append(rs, "first error in the logs ("+where(c.firstErrKey)+")")
	}
	if c.st.maxLevel == logparse.LevelCritical {
		rs = append(rs, "level critical")
	}
	if c.st.count <= rareMax {
		rs = append(rs, "rare: "+plural(c.st.count, "occurrence"))
	}
	if len(c.symptoms) > 0 {
		lead := c.symptoms[0]
		s := fmt.Sprintf("starts a cascade: %s rising within %s after it (%s in %s), led by %s (%s ×%s, %s)",
			plural(int64(c.nSymptoms), "signature"), fmtSpan(ax.window, ax.ordinal),
			plural(c.symptomCount, "line"), plural(int64(c.symptomFiles), "file"),
			quote(lead.template, 60), lead.st.maxLevel, fmtInt(lead.st.count),
			later(lead.onset-c.first.pos, ax.ordinal))
		rs = append(rs, s)
	}
	if c.precedesFirstEr {
		rs = append(rs, "just before the first error")
	}
	for _, p := range c.preceded {
		rs = append(rs, fmt.Sprintf("preceded %s by %s (%s, %s, %s)", earlier(c.first.pos-p.first.pos, ax.ordinal),
			quote(p.template, 60), p.st.maxLevel, plural(p.st.count, "occurrence"), where(p.first)))
	}
	if c.burst {
		unit, per := rateUnit(ax)
		at := "record " + fmtInt(ax.g.start(c.burstIdx))
		if !ax.ordinal {
			at = fmtTime(time.Unix(0, ax.g.start(c.burstIdx)))
		}
		rs = append(rs, fmt.Sprintf("burst at %s: from %s to %s per %s", at, fmtRate(c.rateBefore*per), fmtRate(c.rateAfter*per), unit))
	}
	if c.isNew && !c.burst {
		rs = append(rs, "new: first seen "+fmtSpan(c.first.pos-ax.lo, ax.ordinal)+" into the logs")
	}
	if c.st.count > rareMax {
		rs = append(rs, fmt.Sprintf("%s in %s", plural(c.st.count, "occurrence"), plural(int64(len(c.st.files))+boolInt(c.st.moreFiles > 0), "file")))
	}
	if c.steady {
		rs = append(rs, "steady: repeats from the start to the end of the logs, so unlikely the cause")
	}
	if !c.onAxis {
		rs = append(rs, "no timestamps: not placed on the timeline")
	}
	return rs
}

// rateUnit is the unit rates are given in, fit to the bucket width, and the
// factor from "per bucket" to it.
func rateUnit(ax *axis) (string, float64) {
	w := float64(ax.g.width())
	if ax.ordinal {
		return "1,000 records", 1000 / w
	}
	switch {
	case w < 1e9:
		return "second", 1e9 / w
	case w < 3600e9:
		return "minute", 60e9 / w
	case w < 86400e9:
		return "hour", 3600e9 / w
	}
	return "day", 86400e9 / w
}

func later(d int64, ordinal bool) string {
	if d <= 0 {
		return "at the same moment"
	}
	return fmtSpan(d, ordinal) + " later"
}

func earlier(d int64, ordinal bool) string {
	if d <= 0 {
		return "at the same moment"
	}
	return fmtSpan(d, ordinal) + " earlier"
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func quote(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if t, cut := capText(s, n); cut {
		s = t + "…"
	}
	return "“" + s + "”"
}

func plural(n int64, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmtInt(n) + " " + word + "s"
}

func fmtInt(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func fmtRate(f float64) string {
	switch {
	case f == 0:
		return "0"
	case f < 0.1:
		return fmt.Sprintf("%.2f", f)
	case f < 10:
		return fmt.Sprintf("%.1f", f)
	}
	return fmtInt(int64(f + 0.5))
}

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000 UTC") }

// fmtSpan is a distance on the axis in words.
func fmtSpan(d int64, ordinal bool) string {
	if ordinal {
		return plural(d, "record")
	}
	dur := time.Duration(d)
	switch {
	case dur < time.Second:
		return fmt.Sprintf("%d ms", dur.Milliseconds())
	case dur < 10*time.Second:
		return fmt.Sprintf("%.1f s", dur.Seconds())
	case dur < 2*time.Minute:
		return fmt.Sprintf("%d s", int(dur.Seconds()))
	case dur < 2*time.Hour:
		return fmt.Sprintf("%d min", int(dur.Minutes()))
	case dur < 48*time.Hour:
		return fmt.Sprintf("%.1f h", dur.Hours())
	}
	return fmt.Sprintf("%.1f days", dur.Hours()/24)
}

// severity comes from parsed levels and the shape of the incident.
func severity(r *Report, causes []*sig, ax *axis) string {
	cascadeErrors := 0
	files := 0
	if len(causes) > 0 {
		cascadeErrors = causes[0].symptomErrors
		files = causes[0].symptomFiles
	}
	// An error that comes back episode after episode (a crash loop) is
	// more than an isolated error.
	recurring := len(causes) > 0 && causes[0].st.maxLevel >= logparse.LevelError && ax.episodes(causes[0]) >= 3
	bursting := false
	for _, c := range causes {
		if c.burst && c.st.maxLevel >= logparse.LevelError {
			bursting = true
		}
	}
	switch {
	case r.Metrics.Critical > 0, cascadeErrors >= 2 && files >= 2:
		return "critical"
	case r.Metrics.Errors > 0 && (bursting || recurring || cascadeErrors >= 1):
		return "high"
	case r.Metrics.Errors > 0, r.Metrics.Warnings > 0 && len(causes) > 0 && causes[0].burst:
		return "moderate"
	}
	return "low"
}

func (a *Analyzer) classify(r *Report, causes []*sig) {
	cats := map[string]bool{a.opts.AnalysisType: true, "rca": true}
	tags := map[string]bool{}
	if r.Severity == "critical" {
		cats["priority-incident"] = true
	}
	if r.Metrics.Errors+r.Metrics.Critical > 0 {
		cats["error-detected"] = true
	}
	if r.Metrics.Warnings > 0 {
		cats["warning-detected"] = true
	}
	var actions []string
	seen := map[string]bool{}
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			actions = append(actions, s)
		}
	}
	for i, c := range causes {
		if i == 3 {
			break
		}
		if c.hint != nil {
			cat := c.hint.category
			if cat == "network" && isDatabase(c.template) {
				cat = "database"
			}
			cats[cat] = true
			tags[c.hint.tag] = true
			add(c.hint.action)
		}
		for _, p := range c.preceded {
			if p.hint != nil && (p.hint.category == "deploy" || p.hint.category == "restart") {
				tags[p.hint.tag] = true
				add(p.hint.action)
			}
		}
	}
	if len(causes) > 0 {
		c := causes[0]
		k := c.st.first
		where := fmt.Sprintf("%s line %d", a.fileName(int(k.file)), k.line)
		if k.dom == 0 {
			where += " (" + fmtTime(time.Unix(0, k.pos)) + ")"
		}
		add("Start from the evidence of cause #1 at " + where + " and the lines just before it in every file: it is the earliest unusual event the engine found.")
	} else {
		add("No error or unusual event stood out; if the problem is real, add the logs of the service that failed, covering the time it failed.")
	}
	for _, f := range r.Files {
		if f.Records > 0 && f.TimedRecords == 0 {
			add("Some files have no timestamps the engine could read (" + f.Filename + "): they are ordered by line only; pass --tz or a log with times to align them.")
			break
		}
	}
	r.RecommendedActions = actions
	for _, f := range r.Files {
		if f.Format != "" && f.Format != string(logparse.FormatPlain) {
			tags[f.Format] = true
		}
	}
	for k := range cats {
		if k != "" {
			r.Categories = append(r.Categories, k)
		}
	}
	sort.Strings(r.Categories)
	for k := range tags {
		r.Tags = append(r.Tags, k)
	}
	sort.Strings(r.Tags)
	if len(r.Tags) > 10 {
		r.Tags = r.Tags[:10]
	}
}

// summary is a plain-language paragraph from the top causes.
func summary(r *Report, causes []*sig, ax *axis) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Analysed %s in %s", plural(r.Metrics.Lines, "line"), plural(int64(r.Metrics.Files), "file"))
	if r.TimeRange != nil {
		fmt.Fprintf(&b, " from %s to %s", fmtTime(r.TimeRange.Start), fmtTime(r.TimeRange.End))
	}
	fmt.Fprintf(&b, ": %s, %s, %s, in %s. ", plural(r.Metrics.Critical, "critical record"),
		plural(r.Metrics.Errors, "error"), plural(r.Metrics.Warnings, "warning"), plural(int64(r.Metrics.Signatures), "signature"))
	if len(causes) == 0 {
		b.WriteString("No probable cause stands out: no error and no rare or bursting event.")
		return b.String()
	}
	c := r.Causes[0]
	fmt.Fprintf(&b, "The most probable cause is %s (%s, %s)", quote(c.Template, 140), c.Level, plural(c.Count, "occurrence"))
	if len(c.Evidence) > 0 {
		e := c.Evidence[0]
		fmt.Fprintf(&b, ", first seen at %s line %d", e.File, e.Line)
		if e.Timestamp != nil {
			fmt.Fprintf(&b, " (%s)", fmtTime(*e.Timestamp))
		}
	}
	if len(c.Reasons) > 0 {
		b.WriteString(": " + strings.Join(c.Reasons, "; "))
	}
	b.WriteString(".")
	if len(r.Causes) > 1 {
		var next []string
		for _, n := range r.Causes[1:min(3, len(r.Causes))] {
			next = append(next, quote(n.Template, 80))
		}
		b.WriteString(" Next candidates: " + strings.Join(next, ", ") + ".")
	}
	return b.String()
}
