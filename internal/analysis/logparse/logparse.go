// Package logparse reads logs as a stream of records: it splits lines (with a
// cap on their length), decodes the encoding, joins multi-line records such as
// stack traces, recognises the format of each file and pulls out of every
// record its time, level, component and message. It imports nothing internal
// but textenc, holds no more than one record in memory, and never fails on
// content: what it cannot parse is a record with a message and no header.
//
// The format is detected once per file, on its first lines (up to 64 KiB);
// every line is then parsed with that format, and a line it does not fit
// falls back to a generic header (a timestamp and a level near the start),
// then to plain text. In a file whose lines have headers, a line without one
// continues the record before it (as Filebeat's multiline "negate" rule does);
// in any file, indented lines, "Caused by:", Python tracebacks and Go
// goroutine dumps continue the record they follow. What is joined into one
// record is capped (Options.MaxRecordLines, MaxRecordBytes); a longer trace
// goes on in the next record.
//
// Formats: syslog (RFC 3164, also with RFC 3339 stamps, and RFC 5424), JSON
// lines (level, message, time, logger by their common names, nested too;
// journald, Docker, pino/bunyan numbers, ECS), logfmt, Apache/nginx access
// and error logs, W3C extended (IIS), Windows Event Viewer and PowerShell CSV
// and <Event> XML, klog, PostgreSQL, the Loghub-style headers (date, time,
// pid, level, [thread], component: Java, Python, Android, Spring Boot, Ruby,
// Redis...), and a fallback that takes a timestamp and a level near the
// start. A level comes from the header's level field or token only, never
// from a word inside the message.
//
// Known limit: an XML export with several <Event> elements on one physical
// line yields one record for that line (the first event's fields).
package logparse

import (
	"bufio"
	"io"
	"strings"
	"time"
	"unsafe"

	"github.com/rca-engine/api/internal/textenc"
)

// Level is a record's severity, normalised across formats.
type Level uint8

const (
	LevelUnknown Level = iota
	LevelTrace
	LevelDebug
	LevelInfo
	LevelNotice
	LevelWarn
	LevelError
	LevelCritical // critical, fatal, emergency, alert, panic
)

var levelNames = [...]string{"unknown", "trace", "debug", "info", "notice", "warn", "error", "critical"}

func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return "unknown"
}

// Format names a log format the reader recognises.
type Format string

const (
	FormatPlain       Format = "plain"          // no header recognised
	FormatJSON        Format = "json"           // JSON lines
	FormatLogfmt      Format = "logfmt"         // key=value pairs
	FormatSyslog3164  Format = "syslog-rfc3164" // BSD syslog, also as /var/log/syslog writes it
	FormatSyslog5424  Format = "syslog-rfc5424"
	FormatAccess      Format = "access"       // Apache/nginx common and combined access logs
	FormatApacheError Format = "apache-error" // [Sun Dec 04 04:47:44 2005] [error] ...
	FormatNginxError  Format = "nginx-error"  // 2024/01/02 15:04:05 [error] 12#12: ...
	FormatWindowsCSV  Format = "windows-csv"  // Event Viewer / Export-Csv
	FormatWindowsXML  Format = "windows-xml"  // <Event> records
	FormatKlog        Format = "klog"         // I0102 15:04:05.000000 ...
	FormatPostgres    Format = "postgresql"
	FormatHeader      Format = "header"     // date, time, pid, level, component: Java, Python, Loghub shapes
	FormatRAS         Format = "ras"        // label, epoch, date, node ... (BGL, Thunderbird)
	FormatNodeEvent   Format = "node-event" // id node component state epoch flag message (HPC)
	FormatW3C         Format = "w3c"        // W3C extended logs (IIS) with a #Fields: directive
)

// Record is one log record: usually one physical line, several when a stack
// trace or continuation lines were joined to the line that started it.
type Record struct {
	Source string    // the file's name (with its path inside an archive)
	Line   int       // 1-based number of the record's first physical line
	Lines  int       // how many physical lines the record spans (≥ 1)
	Time   time.Time // zero when the record carries no time
	Zoned  bool      // Time came with its own zone or offset
	Level  Level
	// Component is the logger, program, tag or module the header names.
	Component string
	// Message is the record without its header: what the template miner
	// sees. For a joined record it spans all its lines (FirstLine gives the
	// first); for JSON, logfmt, CSV and XML it is the message field.
	Message   string
	Text      string // the whole record, physical lines joined with "\n"
	Format    Format
	Truncated bool // a physical line was longer than Options.MaxLineBytes and was cut
}

// FirstLine is the message's first line: a joined stack trace without its
// frames.
func (r *Record) FirstLine() string {
	if i := strings.IndexByte(r.Message, '\n'); i >= 0 {
		return r.Message[:i]
	}
	return r.Message
}

// Options tune a Reader. The zero value is usable.
type Options struct {
	// MaxLineBytes caps a physical line; the rest of it is skipped and the
	// record marked Truncated. Default 1 MiB.
	MaxLineBytes int
	// MaxRecordLines and MaxRecordBytes cap what is joined into one record
	// (a trace longer than that goes on in a new record). Defaults 1000
	// lines and 4 MiB (at least MaxLineBytes).
	MaxRecordLines int
	MaxRecordBytes int
	// Location is the zone of timestamps that carry none. Default UTC.
	Location *time.Location
	// Year is the year of timestamps written without one (syslog, klog,
	// logcat). Zero infers it: the current year, or the one before if the
	// date would otherwise lie more than a month in the future; a file that
	// goes from December to January moves on a year.
	Year int
	// Now is the clock the year inference uses. Default time.Now.
	Now func() time.Time
}

const headSize = 64 << 10 // what format detection looks at

// Reader reads records from one file. It is not safe for concurrent use.
type Reader struct {
	src  string
	opts Options

	raw     io.Reader
	counter *countingReader
	br      *bufio.Reader
	lr      *lineReader
	started bool
	utf8    bool

	format  Format
	csv     *csvLayout
	w3c     *w3cLayout
	physLn  int   // physical lines read
	read    int64 // bytes of the records returned
	bom     int64
	zones   map[int]*time.Location
	yearSet bool
	year    int
	lastMon time.Month

	pend pending
	cont []byte
	scr  parsed // what joins parsed of the line it refused
	scrF Format
	scrV string // the line scr was parsed from (a view of the read buffer)
	// capHit: joins refused a line because the record was full
	capHit bool
}

// pending is the record being assembled: its first line, parsed, and the
// lines joined to it so far.
type pending struct {
	active    bool
	head      string
	p         parsed
	format    Format
	line      int
	lines     int
	truncated bool
	consumed  int64
	indented  bool // the head line starts with white space
	quote     bool // a CSV field is open across lines
	xml       bool // an <Event> is open across lines
	goTrace   bool // a Go panic or goroutine dump
	pyTrace   bool // a Python traceback awaiting its exception line
	overflow  bool // goes on from a record that hit a cap
}

// NewReader reads r, which holds the file called source.
func NewReader(r io.Reader, source string, opts Options) *Reader {
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = 1 << 20
	}
	if opts.MaxRecordLines <= 0 {
		opts.MaxRecordLines = 1000
	}
	if opts.MaxRecordBytes <= 0 {
		opts.MaxRecordBytes = 4 << 20
	}
	if opts.MaxRecordBytes < opts.MaxLineBytes {
		opts.MaxRecordBytes = opts.MaxLineBytes
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Reader{src: source, opts: opts, raw: r, zones: map[int]*time.Location{}}
}

// Format is the format detected for the file (known after the first Next).
func (r *Reader) Format() Format { return r.format }

// start sniffs the encoding and the format.
func (r *Reader) start() {
	r.started = true
	r.counter = &countingReader{r: r.raw}
	raw := bufio.NewReaderSize(r.counter, textenc.SniffSize)
	head, _ := raw.Peek(textenc.SniffSize)
	info := textenc.Sniff(head)
	if info.BOM > 0 {
		raw.Discard(info.BOM)
		r.bom = int64(info.BOM)
	}
	enc := info.Encoding
	if !info.Text && enc != textenc.UTF16LE && enc != textenc.UTF16BE {
		enc = textenc.UTF8 // binary or empty: read it as it is, never fail
	}
	r.utf8 = enc == textenc.UTF8
	var dec io.Reader = raw
	if !r.utf8 {
		dec = textenc.Decode(raw, enc)
	}
	r.br = bufio.NewReaderSize(dec, headSize)
	r.lr = newLineReader(r.br, r.opts.MaxLineBytes)
	peek, err := r.br.Peek(headSize)
	r.format, r.csv, r.w3c = detect(splitHead(peek, err != nil, 64))
}

// Next returns the next record, or io.EOF after the last.
func (r *Reader) Next() (Record, error) {
	if !r.started {
		r.start()
	}
	for {
		line, consumed, trunc, err := r.lr.next()
		if err != nil {
			if r.pend.active {
				return r.emit(), nil
			}
			if err == io.EOF {
				return Record{}, io.EOF
			}
			return Record{}, err
		}
		r.physLn++
		view := unsafe.String(unsafe.SliceData(line), len(line))
		if r.pend.active && r.joins(view) {
			r.scrV = ""
			r.appendLine(line, consumed, trunc)
			continue
		}
		if !r.pend.active {
			r.begin(view, consumed, trunc)
			continue
		}
		out := r.emit()
		r.begin(view, consumed, trunc)
		return out, nil
	}
}

// Offset is how many bytes of the input the records returned so far
// consumed. For UTF-16 and Latin-1 input, whose lines are counted after
// decoding, it is the raw bytes read so far instead (slightly ahead).
func (r *Reader) Offset() int64 {
	if !r.started {
		return 0
	}
	if !r.utf8 {
		return r.counter.n
	}
	return r.read + r.bom
}

// parseLine runs the file's format on s, then the fallbacks.
func (r *Reader) parseLine(s string, p *parsed) Format {
	*p = parsed{msgOff: -1}
	if r.format != FormatPlain && r.format != FormatHeader {
		if parseWith(r, r.format, s, p) {
			return r.format
		}
		*p = parsed{msgOff: -1}
	}
	if parseHeader(s, p) {
		return FormatHeader
	}
	*p = parsed{msgOff: -1}
	return FormatPlain
}

// joins decides whether line continues the pending record.
func (r *Reader) joins(line string) bool {
	pd := &r.pend
	if pd.lines >= r.opts.MaxRecordLines || len(pd.head)+len(r.cont)+1+len(line) > r.opts.MaxRecordBytes {
		r.capHit = true
		return false
	}
	if pd.quote || pd.xml {
		return true
	}
	if len(line) == 0 {
		return pd.goTrace || pd.pyTrace
	}
	if r.format == FormatW3C && line[0] == '#' {
		if lay := w3cFields(line); lay != nil {
			r.w3c = lay // a server restarted with other fields
		}
		return false // directives stand alone
	}
	if c := line[0]; (c == ' ' || c == '\t') && !pd.indented {
		return true
	}
	if traceMarker(line) {
		if strings.HasPrefix(line, "Traceback (") {
			// After a logged error it is that error's traceback; in a file
			// without headers, a traceback of its own.
			if pd.format == FormatPlain && pd.p.level == LevelUnknown && !pd.overflow {
				return false
			}
			pd.pyTrace = true
		}
		return true
	}
	if pd.pyTrace { // the exception that ends a traceback: "ValueError: ..."
		if looksException(line) {
			pd.pyTrace = false
			return true
		}
	}
	if isGoroutineHeader(line) {
		pd.goTrace = true
		return true
	}
	f := r.parseLine(line, &r.scr)
	r.scrF, r.scrV = f, line
	if f != FormatPlain {
		if r.scr.joinPrev {
			return true
		}
		return false
	}
	if pd.goTrace {
		return true
	}
	if looksJavaException(line) {
		return true
	}
	// In a file with headers, a line without one belongs to the record above.
	return r.format != FormatPlain && pd.format != FormatPlain
}

func (r *Reader) begin(view string, consumed int, trunc bool) {
	head := strings.Clone(view) // view aliases the read buffer
	pd := &r.pend
	prev := *pd
	overflow := r.capHit
	r.capHit = false
	*pd = pending{active: true, head: head, line: r.physLn, lines: 1, truncated: trunc, consumed: int64(consumed)}
	if r.scrV != "" && unsafe.StringData(r.scrV) == unsafe.StringData(view) && len(r.scrV) == len(view) {
		// joins parsed this very line already: move its strings onto head.
		pd.p, pd.format = r.scr, r.scrF
		pd.p.comp = rebase(pd.p.comp, view, head)
		pd.p.msg = rebase(pd.p.msg, view, head)
	} else {
		pd.format = r.parseLine(head, &pd.p)
	}
	r.scrV = ""
	pd.p.resolveTime(r)
	r.cont = r.cont[:0]
	if len(head) > 0 && (head[0] == ' ' || head[0] == '\t') {
		pd.indented = true
	}
	switch {
	case r.format == FormatWindowsCSV && strings.Count(head, `"`)%2 == 1:
		// A quoted field goes on over the next lines: the record is parsed
		// whole when it ends.
		pd.quote, pd.format = true, FormatWindowsCSV
	case pd.format == FormatWindowsXML:
		pd.xml = !strings.Contains(head, "</Event>")
	}
	if pd.format == FormatPlain {
		if strings.HasPrefix(head, "panic: ") || strings.HasPrefix(head, "fatal error: ") || isGoroutineHeader(head) {
			pd.goTrace = true
		}
		if strings.HasPrefix(head, "Traceback (") {
			pd.pyTrace = true
		}
	}
	if strings.HasPrefix(pd.p.msg, "panic: ") || strings.HasPrefix(head, "panic: ") || strings.HasPrefix(head, "fatal error: ") {
		pd.goTrace = true
	}
	if overflow && pd.format == FormatPlain {
		// The record before hit a cap: this one goes on with the same trace.
		pd.overflow, pd.indented = true, false
		pd.goTrace, pd.pyTrace, pd.quote, pd.xml = prev.goTrace, prev.pyTrace, prev.quote, prev.xml
		if prev.format != FormatPlain {
			pd.format = prev.format
			pd.p = parsed{msgOff: 0, msg: head, t: prev.p.t, zoned: prev.p.zoned, level: prev.p.level, comp: prev.p.comp}
		}
	}
}

func (r *Reader) appendLine(line []byte, consumed int, trunc bool) {
	pd := &r.pend
	r.cont = append(r.cont, '\n')
	r.cont = append(r.cont, line...)
	pd.lines++
	pd.consumed += int64(consumed)
	pd.truncated = pd.truncated || trunc
	if pd.quote {
		n := 0
		for _, c := range line {
			if c == '"' {
				n++
			}
		}
		if n%2 == 1 {
			pd.quote = false
		}
	}
	if pd.xml && strings.Contains(unsafe.String(unsafe.SliceData(line), len(line)), "</Event>") {
		pd.xml = false
	}
}

func (r *Reader) emit() Record {
	pd := &r.pend
	pd.active = false
	r.read += pd.consumed
	text := pd.head
	p := &pd.p
	multi := len(r.cont) > 0
	if multi {
		var b strings.Builder
		b.Grow(len(pd.head) + len(r.cont))
		b.WriteString(pd.head)
		b.Write(r.cont)
		text = b.String()
		r.cont = r.cont[:0]
	}
	switch {
	case (pd.format == FormatWindowsCSV || pd.format == FormatWindowsXML) && (multi || pd.quote || pd.xml):
		// Their fields span lines: parse the whole record (also one left
		// open at the end of the file).
		var q parsed
		q.msgOff = -1
		if parseWith(r, pd.format, text, &q) {
			q.resolveTime(r)
			*p = q
		} else {
			*p = parsed{msgOff: 0, msg: text}
		}
	case multi && p.msgOff >= 0:
		p.msg = text[p.msgOff:]
	case multi:
		p.msg += text[len(pd.head):]
	}
	if cap(r.cont) > 1<<20 {
		r.cont = nil
	}
	rec := Record{
		Source: r.src, Line: pd.line, Lines: pd.lines, Time: p.t, Zoned: p.zoned, Level: p.level,
		Component: p.comp, Message: p.msg, Text: text, Format: pd.format, Truncated: pd.truncated,
	}
	if p.msgOff < 0 && p.msg == "" && pd.format == FormatPlain {
		rec.Message = text
	}
	return rec
}

// parsed is what a format's parser found in a line.
type parsed struct {
	st       stamp // hasStamp: resolved into t by resolveTime
	hasStamp bool
	t        time.Time
	zoned    bool
	level    Level
	comp     string
	msg      string
	msgOff   int  // msg is s[msgOff:] when ≥ 0
	joinPrev bool // the line's header says it continues the record before (PostgreSQL DETAIL)
}

func (p *parsed) suffix(s string, off int) {
	if off > len(s) {
		off = len(s)
	}
	p.msg, p.msgOff = s[off:], off
}

func (p *parsed) resolveTime(r *Reader) {
	if !p.hasStamp {
		return
	}
	st := p.st
	if st.year == 0 {
		st.year = r.inferYear(st.mon)
	}
	loc := r.opts.Location
	if st.zoned {
		loc = r.zone(st.off)
		p.zoned = true
	}
	p.t = time.Date(st.year, st.mon, st.day, st.h, st.m, st.s, st.ns, loc)
	p.hasStamp = false
}

func (r *Reader) zone(off int) *time.Location {
	if off == 0 {
		return time.UTC
	}
	loc, ok := r.zones[off]
	if !ok {
		loc = time.FixedZone("", off)
		r.zones[off] = loc
	}
	return loc
}

func (r *Reader) inferYear(mon time.Month) int {
	switch {
	case r.opts.Year > 0 && !r.yearSet:
		r.year, r.yearSet = r.opts.Year, true
	case !r.yearSet:
		now := r.opts.Now()
		r.year, r.yearSet = now.Year(), true
		if mon > now.Month()+1 {
			r.year--
		}
	case r.lastMon >= mon+6: // December, then January: a new year
		r.year++
	}
	r.lastMon = mon
	return r.year
}

// rebase returns sub, a substring of view, as the same substring of head (a
// copy of view); a string that does not point into view is returned as is.
func rebase(sub, view, head string) string {
	if len(sub) == 0 || len(view) == 0 {
		return sub
	}
	vp := uintptr(unsafe.Pointer(unsafe.StringData(view)))
	sp := uintptr(unsafe.Pointer(unsafe.StringData(sub)))
	if sp < vp || sp+uintptr(len(sub)) > vp+uintptr(len(view)) {
		return sub
	}
	off := int(sp - vp)
	return head[off : off+len(sub)]
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
