// Package analysis turns logs into a root-cause report: it reads every source
// as a stream (logparse), redacts it (redact), mines templates (drain), aligns
// the files by time and ranks probable causes with their reasons and evidence.
// It is a pure library: bytes in, report out, no database and no HTTP, so the
// worker and the rca command run the same code.
//
// Memory is bounded whatever the size of the input: it grows with the number
// of signatures, never with the number of lines. Per signature the engine
// keeps counts per level, exact positions for its first 32 occurrences then
// 256 time buckets (1 KiB), its first three occurrences (one past 5,000
// signatures) and the first at its highest level as evidence (text capped at
// 2 KiB, 256 bytes once 16 MiB of evidence text is held), and up to 64 files
// it appears in; per file, the last five records (512 bytes each) as context
// and its first error. The number of signatures is bounded by the miner
// (drain.Config.MaxClusters, 50,000 by default). Measured (TestBigLog...,
// TestManySignatures...): a 200 MB or 2 GB log of a few templates peaks at
// 4-14 MB of heap in use; 20,000 distinct templates at about 63 MB and 40,000
// at about 112 MB, the miner's own clusters included, so the default cap of
// 50,000 stays near 140 MB. The tests enforce 96 MB for the big log and
// 192 MB for the many templates.
//
// Alignment: records are placed by their parsed time (UTC; a time without a
// zone is read in logparse.Options.Location). A record without a time takes
// the time of the record before it in the same file (continuation lines,
// banners in the middle of a timed log). Records before the first timed
// record of their file, and files with no time at all, are placed by order:
// on a second axis that counts records across the files in the order given.
// When any record carries a time the ranking runs on the time axis and
// untimed records still count (levels, rarity, files) but take no part in
// bursts and cascades; when none does, it runs on the order axis.
package analysis

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/rca-engine/api/internal/analysis/drain"
	"github.com/rca-engine/api/internal/analysis/logparse"
	"github.com/rca-engine/api/internal/analysis/redact"
)

// Source is one log to analyse. Open is called once; the engine closes what
// it returns.
type Source struct {
	Name string // shown in reasons and evidence ("app.log", "logs.zip/var/log/db.log")
	Size int64  // in bytes, for progress; ≤ 0 when unknown
	Open func() (io.ReadCloser, error)
	// ID is the caller's id for the source (a file id), echoed in the report.
	ID string
	// Checksum and ContentType, when the caller knows them, are echoed in
	// the report's file summary (the original's FileSummary keys).
	Checksum    string
	ContentType string
}

// Progress is what the engine reports while it runs.
type Progress struct {
	Phase      string // "reading", "ranking", "rendering"
	Source     string
	BytesRead  int64 // over all sources
	BytesTotal int64 // sum of the known sizes
}

// Options configure one analysis. The zero value is usable.
type Options struct {
	JobID        string
	AnalysisType string // "rca_analysis" by default
	Redact       redact.Config
	Parse        logparse.Options
	Miner        drain.Config
	// Progress, when set, is called at most a few times a second, and once at
	// each phase change.
	Progress func(Progress)
	// Line, when set, is called for every record with the cluster it fell into,
	// before the clusters are final (the rca command's --structured output
	// keeps ids and asks the templates at the end). Message and Text are
	// redacted; the record is valid only during the call.
	Line func(rec *logparse.Record, cluster drain.ClusterID)
	Now  func() time.Time
	// BytesTotal is the sum of the sizes to read, for progress, when the
	// caller adds sources one by one (Analyzer.Add).
	BytesTotal int64
	// Ticketing is echoed as the report's ticketing (the job's settings).
	Ticketing map[string]any
	// MaxCauses bounds the ranked causes in the report (default 10).
	MaxCauses int
	// MaxSignatures bounds the signatures listed in the report (default 500,
	// the most frequent; the causes' signatures are always listed).
	MaxSignatures int
	// FileDone, when set, is called as each source is read to its end, with
	// its counts (the worker's file-processing-completed event).
	FileDone func(FileDone)
}

// FileDone is what is known of a source once it has been read.
type FileDone struct {
	Name, ID                         string
	Lines                            int // physical lines
	Records                          int64
	Errors, Warnings, Critical, Info int64
	Bytes                            int64
	RedactionCounts                  map[string]int // per kind; a copy
	RedactionHits                    int            // their sum
}

// ErrNoInput is returned when there is nothing to analyse.
var ErrNoInput = errors.New("analysis: no input")

// Analyze reads every source and returns the report.
func Analyze(ctx context.Context, sources []Source, opts Options) (*Report, error) {
	if len(sources) == 0 {
		return nil, ErrNoInput
	}
	if opts.BytesTotal == 0 {
		for _, s := range sources {
			if s.Size > 0 {
				opts.BytesTotal += s.Size
			}
		}
	}
	a, err := NewAnalyzer(opts)
	if err != nil {
		return nil, err
	}
	for _, s := range sources {
		rc, err := s.Open()
		if err != nil {
			return nil, err
		}
		err = a.Add(ctx, s, rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
	}
	return a.Report(ctx)
}

// Analyzer is an analysis fed one source at a time, for callers whose
// sources come from a walk (archive members) rather than a list. It is not
// safe for concurrent use.
type Analyzer struct {
	opts  Options
	red   *redact.Redactor
	miner *drain.Miner

	stats []*sigStat // by drain.ClusterID
	files []*fileState

	tgrid, ogrid       grid
	ttl, otl           [nLevels][]uint64 // timelines per level
	scratch            []uint32
	scratch64          []uint64
	ordinal            int64
	bytesDone          int64
	exampleBytes       int64
	lastProgress       time.Time
	anyTimed           bool
	reported           bool
	report             *Report
	clusterSig         []string // after Report: signature id per cluster
	clusterTpl         []string
	records, physLines int64
}

const nLevels = int(logparse.LevelCritical) + 1

// NewAnalyzer checks opts (an extra redaction pattern that does not compile
// is an error) and returns an empty analysis.
func NewAnalyzer(opts Options) (*Analyzer, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AnalysisType == "" {
		opts.AnalysisType = "rca_analysis"
	}
	if opts.MaxCauses <= 0 {
		opts.MaxCauses = 10
	}
	if opts.MaxSignatures <= 0 {
		opts.MaxSignatures = 500
	}
	red, err := redact.New(opts.Redact)
	if err != nil {
		return nil, err
	}
	a := &Analyzer{opts: opts, red: red, miner: drain.New(opts.Miner),
		tgrid: grid{ladder: timeLadder}, ogrid: grid{ladder: ordLadder},
		scratch: make([]uint32, gridBuckets), scratch64: make([]uint64, gridBuckets)}
	for i := range a.ttl {
		a.ttl[i] = make([]uint64, gridBuckets)
		a.otl[i] = make([]uint64, gridBuckets)
	}
	return a, nil
}

// Add reads one source to its end. src.Open is not called: r is the content.
func (a *Analyzer) Add(ctx context.Context, src Source, r io.Reader) error {
	if a.reported {
		return errors.New("analysis: Add after Report")
	}
	f := &fileState{idx: len(a.files), name: src.Name, id: src.ID, checksum: src.Checksum,
		contentType: src.ContentType, size: src.Size, counts: redact.Counts{}}
	a.files = append(a.files, f)
	a.progress("reading", src.Name, 0, true)
	rd := logparse.NewReader(r, src.Name, a.opts.Parse)
	n := 0
	// One Record for the whole file: observe takes its address (the Line
	// callback may keep it for the call), which would move a per-line
	// variable to the heap.
	var rec logparse.Record
	var err error
	for {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if n > 0 {
				a.progress("reading", src.Name, rd.Offset(), false)
			}
		}
		n++
		rec, err = rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		a.observe(f, &rec)
	}
	f.bytes = rd.Offset()
	a.bytesDone += f.bytes
	a.progress("reading", src.Name, 0, true)
	if a.opts.FileDone != nil {
		d := FileDone{Name: f.name, ID: f.id, Lines: f.lines, Records: f.records, Bytes: f.bytes,
			Errors: f.levels[logparse.LevelError], Warnings: f.levels[logparse.LevelWarn],
			Critical: f.levels[logparse.LevelCritical], Info: f.levels[logparse.LevelInfo],
			RedactionCounts: map[string]int{}}
		for k, v := range f.counts {
			if v > 0 {
				d.RedactionCounts[k] = v
				d.RedactionHits += v
			}
		}
		a.opts.FileDone(d)
	}
	return nil
}

func (a *Analyzer) progress(phase, source string, cur int64, force bool) {
	if a.opts.Progress == nil {
		return
	}
	now := time.Now()
	if !force && now.Sub(a.lastProgress) < 200*time.Millisecond {
		return
	}
	a.lastProgress = now
	a.opts.Progress(Progress{Phase: phase, Source: source, BytesRead: a.bytesDone + cur, BytesTotal: a.opts.BytesTotal})
}

// redacted is a record's text after redaction, built only when kept.
type redacted struct {
	rec          *logparse.Record
	header, text string
	whole        bool // text is the whole redacted Text; else header+Message
}

func (r *redacted) Text() string {
	if r.whole {
		return r.text
	}
	return r.header + r.rec.Message
}

// observe takes one record through redaction, mining and aggregation.
func (a *Analyzer) observe(f *fileState, rec *logparse.Record) {
	// Redact once per byte: the header (Text before Message) and Message
	// separately when Message is the tail of Text, which is the usual case;
	// the counts are those of the whole text either way.
	rt := redacted{rec: rec}
	switch {
	case rec.Text == rec.Message:
		rec.Message = a.red.String(rec.Message, f.counts)
	case strings.HasSuffix(rec.Text, rec.Message):
		if h := rec.Text[:len(rec.Text)-len(rec.Message)]; h != "" {
			rt.header = a.red.String(h, f.counts)
		}
		rec.Message = a.red.String(rec.Message, f.counts)
	default:
		rt.text, rt.whole = a.red.String(rec.Text, f.counts), true
		rec.Message = a.red.String(rec.Message, nil)
	}
	id := a.miner.Add(rec.Message)
	if a.opts.Line != nil {
		// The callback sees the record redacted, Text included (this costs
		// one string per line, paid only by callers who ask).
		raw := rec.Text
		rec.Text = rt.Text()
		a.opts.Line(rec, id)
		rec.Text = raw
	}
	for int(id) >= len(a.stats) {
		a.stats = append(a.stats, nil)
	}
	st := a.stats[id]
	if st == nil {
		st = &sigStat{}
		a.stats[id] = st
	}

	// Position.
	var k okey
	k.file, k.line = int32(f.idx), int32(rec.Line)
	var ts time.Time
	switch {
	case !rec.Time.IsZero() && plausible(rec.Time):
		ts = rec.Time
		f.lastTime, f.hasTime = rec.Time.UnixNano(), true
		k.pos = f.lastTime
		if f.firstTime == 0 || k.pos < f.firstTime {
			f.firstTime = k.pos
		}
		if k.pos > f.maxTime {
			f.maxTime = k.pos
		}
		f.timed++
	case f.hasTime:
		k.pos = f.lastTime
		ts = time.Unix(0, k.pos)
	default:
		k.dom = 1
		k.pos = a.ordinal
	}
	a.ordinal++
	lvl := rec.Level
	if int(lvl) >= nLevels {
		lvl = logparse.LevelUnknown
	}
	if k.dom == 0 {
		a.anyTimed = true
		if rm := a.tgrid.fit(k.pos); rm != nil {
			a.remapAll(rm, false)
		}
		a.ttl[lvl][a.tgrid.index(k.pos)]++
		st.tser.add(&a.tgrid, k.pos)
	} else {
		if rm := a.ogrid.fit(k.pos); rm != nil {
			a.remapAll(rm, true)
		}
		a.otl[lvl][a.ogrid.index(k.pos)]++
		st.oser.add(&a.ogrid, k.pos)
	}

	// Counts.
	a.records++
	lines := rec.Lines
	if lines < 1 {
		lines = 1
	}
	a.physLines += int64(lines)
	f.records++
	f.levels[lvl]++
	if end := rec.Line + lines - 1; end > f.lines {
		f.lines = end
	}
	if rec.Truncated {
		f.truncated++
	}
	if rec.Format != "" {
		f.noteFormat(rec.Format)
	}
	st.count++
	st.levels[lvl]++
	if st.count == 1 || k.less(st.first) {
		st.first = k
	}
	if st.count == 1 || st.last.less(k) {
		st.last = k
	}
	if d := k.dom; !st.dhas[d] {
		st.dhas[d], st.dfirst[d], st.dlast[d] = true, k, k
	} else {
		if k.less(st.dfirst[d]) {
			st.dfirst[d] = k
		}
		if st.dlast[d].less(k) {
			st.dlast[d] = k
		}
	}
	if !st.lvlHas[lvl] || k.less(st.lvlFirst[lvl]) {
		st.lvlHas[lvl], st.lvlFirst[lvl] = true, k
	}
	if f.records <= 5 {
		f.head = append(f.head, a.example(k, ts, rec, &rt))
	}
	st.addFile(f.idx)

	// Evidence: the three earliest occurrences and the first at the
	// signature's highest level.
	if len(st.ex) < a.maxExamples() || k.less(st.ex[len(st.ex)-1].key) {
		st.insertExample(a.example(k, ts, rec, &rt), a.maxExamples())
	}
	if lvl > st.maxLevel || st.count == 1 {
		st.maxLevel = lvl
		st.exMax = nil
		if !st.inExamples(k) && (lvl >= logparse.LevelWarn || a.maxExamples() > 1) {
			e := a.example(k, ts, rec, &rt)
			st.exMax = &e
		}
	} else if lvl == st.maxLevel && st.exMax != nil && k.less(st.exMax.key) {
		e := a.example(k, ts, rec, &rt)
		st.exMax = &e
	}

	// Per file: the first error with what preceded it, then the context ring.
	if lvl >= logparse.LevelError && f.firstErr == nil {
		fe := &fileFirstError{ex: a.example(k, ts, rec, &rt), cluster: id}
		for i := f.ring.n - 1; i >= 0 && len(fe.before) < 3; i-- {
			e := f.ring.at(i)
			fe.before = append(fe.before, example{key: e.key, hasTime: e.hasTime, time: e.time,
				line: e.line, lines: e.lines, level: e.level, truncated: e.truncated,
				text: a.red.String(string(e.buf), nil)})
		}
		for i, j := 0, len(fe.before)-1; i < j; i, j = i+1, j-1 {
			fe.before[i], fe.before[j] = fe.before[j], fe.before[i]
		}
		f.firstErr = fe
	}
	f.ring.push(k, ts, rec, lvl)
}

// plausible says whether t can be placed on the time axis: nanoseconds
// since 1970 in an int64 reach 1678–2262; a year outside 1900–2200 is a
// misread number, and the record is placed by order instead.
func plausible(t time.Time) bool {
	y := t.Year()
	return y >= 1900 && y <= 2200
}

func (a *Analyzer) remapAll(rm *remap, ord bool) {
	for _, st := range a.stats {
		if st == nil {
			continue
		}
		s := &st.tser
		if ord {
			s = &st.oser
		}
		if s.dense != nil {
			rm.apply(s.dense, a.scratch)
		}
	}
	tl := &a.ttl
	if ord {
		tl = &a.otl
	}
	for i := range tl {
		rm.apply64(tl[i], a.scratch64)
	}
}

const (
	exampleCap      = 2 << 10
	exampleCapSmall = 256
	exampleBudget   = 16 << 20
)

func (a *Analyzer) example(k okey, ts time.Time, rec *logparse.Record, rt *redacted) example {
	limit := exampleCap
	if a.exampleBytes > exampleBudget {
		limit = exampleCapSmall
	}
	text, cut := capText(rt.Text(), limit)
	text = strings.Clone(text)
	a.exampleBytes += int64(len(text))
	lines := rec.Lines
	if lines < 1 {
		lines = 1
	}
	return example{key: k, hasTime: k.dom == 0, time: ts, line: rec.Line, lines: lines,
		level: rec.Level, text: text, truncated: cut || rec.Truncated}
}

// capText cuts s to at most n bytes on a rune boundary.
func capText(s string, n int) (string, bool) {
	if len(s) <= n {
		return s, false
	}
	i := n
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i], true
}

// okey orders occurrences: timed (or time-inherited) before untimed, then by
// position, file and line.
type okey struct {
	dom  uint8
	pos  int64
	file int32
	line int32
}

func (a okey) less(b okey) bool {
	if a.dom != b.dom {
		return a.dom < b.dom
	}
	if a.pos != b.pos {
		return a.pos < b.pos
	}
	if a.file != b.file {
		return a.file < b.file
	}
	return a.line < b.line
}

type example struct {
	key       okey
	hasTime   bool
	time      time.Time
	line      int
	lines     int
	level     logparse.Level
	text      string
	truncated bool
}

type fileCount struct {
	file  int
	count int64
}

const maxFilesPerSig = 64

// sigStat is what the engine knows of one cluster while it reads.
type sigStat struct {
	count      int64
	levels     [nLevels]int64
	maxLevel   logparse.Level
	tser, oser series
	first      okey
	last       okey
	dfirst     [2]okey // first and last per axis (0 time, 1 order)
	dlast      [2]okey
	dhas       [2]bool
	lvlFirst   [nLevels]okey // first occurrence at each level
	lvlHas     [nLevels]bool
	files      []fileCount
	moreFiles  int64 // occurrences in files past maxFilesPerSig
	ex         []example
	exMax      *example
}

func (s *sigStat) addFile(idx int) {
	if n := len(s.files); n > 0 && s.files[n-1].file == idx {
		s.files[n-1].count++
		return
	}
	for i := range s.files {
		if s.files[i].file == idx {
			s.files[i].count++
			return
		}
	}
	if len(s.files) < maxFilesPerSig {
		s.files = append(s.files, fileCount{file: idx, count: 1})
		return
	}
	s.moreFiles++
}

// maxExamples is how many earliest occurrences a signature keeps: three,
// one past manySignatures (a log of tens of thousands of templates must not
// hold four texts for each).
func (a *Analyzer) maxExamples() int {
	if len(a.stats) > manySignatures {
		return 1
	}
	return 3
}

const manySignatures = 5000

func (s *sigStat) insertExample(e example, limit int) {
	i := len(s.ex)
	for i > 0 && e.key.less(s.ex[i-1].key) {
		i--
	}
	s.ex = append(s.ex, example{})
	copy(s.ex[i+1:], s.ex[i:])
	s.ex[i] = e
	if len(s.ex) > max(limit, 1) {
		s.ex = s.ex[:max(limit, 1)]
	}
}

func (s *sigStat) inExamples(k okey) bool {
	for _, e := range s.ex {
		if e.key == k {
			return true
		}
	}
	return false
}

// merge adds o into s: two clusters whose final templates are the same are
// one signature.
func (s *sigStat) merge(o *sigStat, tg, og *grid) {
	if o.first.less(s.first) {
		s.first = o.first
	}
	if s.last.less(o.last) {
		s.last = o.last
	}
	s.count += o.count
	for d := range s.dhas {
		if !o.dhas[d] {
			continue
		}
		if !s.dhas[d] {
			s.dhas[d], s.dfirst[d], s.dlast[d] = true, o.dfirst[d], o.dlast[d]
			continue
		}
		if o.dfirst[d].less(s.dfirst[d]) {
			s.dfirst[d] = o.dfirst[d]
		}
		if s.dlast[d].less(o.dlast[d]) {
			s.dlast[d] = o.dlast[d]
		}
	}
	for i := range s.levels {
		s.levels[i] += o.levels[i]
		if o.lvlHas[i] && (!s.lvlHas[i] || o.lvlFirst[i].less(s.lvlFirst[i])) {
			s.lvlHas[i], s.lvlFirst[i] = true, o.lvlFirst[i]
		}
	}
	s.tser.merge(tg, &o.tser)
	s.oser.merge(og, &o.oser)
	for _, fc := range o.files {
		found := false
		for i := range s.files {
			if s.files[i].file == fc.file {
				s.files[i].count += fc.count
				found = true
				break
			}
		}
		if !found {
			if len(s.files) < maxFilesPerSig {
				s.files = append(s.files, fc)
			} else {
				s.moreFiles += fc.count
			}
		}
	}
	s.moreFiles += o.moreFiles
	for _, e := range o.ex {
		if len(s.ex) < 3 || e.key.less(s.ex[len(s.ex)-1].key) {
			s.insertExample(e, 3)
		}
	}
	switch {
	case o.maxLevel > s.maxLevel:
		s.maxLevel = o.maxLevel
		s.exMax = o.exMax
		if s.exMax == nil && len(o.ex) > 0 {
			for i := range o.ex {
				if o.ex[i].level == o.maxLevel {
					e := o.ex[i]
					s.exMax = &e
					break
				}
			}
		}
	case o.maxLevel == s.maxLevel && o.exMax != nil && (s.exMax == nil || o.exMax.key.less(s.exMax.key)):
		s.exMax = o.exMax
	}
	if s.exMax != nil && s.inExamples(s.exMax.key) {
		s.exMax = nil
	}
}

// maxExample is the first occurrence at the signature's highest level.
func (s *sigStat) maxExample() *example {
	for i := range s.ex {
		if s.ex[i].level == s.maxLevel {
			return &s.ex[i]
		}
	}
	return s.exMax
}

// fileState is one source while it is read and after.
type fileState struct {
	idx                   int
	name, id              string
	checksum, contentType string
	size, bytes           int64
	records, timed        int64
	lines                 int
	truncated             int64
	levels                [nLevels]int64
	counts                redact.Counts
	formats               [4]struct {
		f logparse.Format
		n int64
	}
	lastTime, firstTime, maxTime int64
	hasTime                      bool
	firstErr                     *fileFirstError
	ring                         ring
	head                         []example
}

func (f *fileState) noteFormat(ft logparse.Format) {
	for i := range f.formats {
		if f.formats[i].f == ft {
			f.formats[i].n++
			return
		}
		if f.formats[i].f == "" {
			f.formats[i].f, f.formats[i].n = ft, 1
			return
		}
	}
}

func (f *fileState) format() string {
	best := -1
	for i := range f.formats {
		if f.formats[i].f != "" && (best < 0 || f.formats[i].n > f.formats[best].n) {
			best = i
		}
	}
	if best < 0 {
		return ""
	}
	return string(f.formats[best].f)
}

type fileFirstError struct {
	ex      example
	before  []example
	cluster drain.ClusterID
}

// ring holds a file's last records, raw (they are redacted when kept), as
// the context of its first error and its sample tail.
const ringSize = 5
const ringText = 512

type ringEntry struct {
	key       okey
	hasTime   bool
	time      time.Time
	line      int
	lines     int
	level     logparse.Level
	truncated bool
	buf       []byte
}

type ring struct {
	e    [ringSize]ringEntry
	next int
	n    int
	seen int64
}

func (r *ring) push(k okey, ts time.Time, rec *logparse.Record, lvl logparse.Level) {
	e := &r.e[r.next]
	text, cut := capText(rec.Text, ringText)
	e.buf = append(e.buf[:0], text...)
	e.key, e.hasTime, e.time, e.line, e.level, e.truncated = k, k.dom == 0, ts, rec.Line, lvl, cut || rec.Truncated
	e.lines = rec.Lines
	r.next = (r.next + 1) % ringSize
	if r.n < ringSize {
		r.n++
	}
	r.seen++
}

// at returns the i-th entry, oldest first.
func (r *ring) at(i int) *ringEntry {
	start := (r.next - r.n + ringSize) % ringSize
	return &r.e[(start+i)%ringSize]
}
