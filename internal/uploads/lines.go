package uploads

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/rca-engine/api/internal/textenc"
)

// LineStep is the line index's stride: the offset of every LineStep-th
// line is kept, so a window anywhere in a file is read from at most
// LineStep-1 lines before it (a 2 GB log of 20 million lines keeps 20,000
// offsets, 160 KB).
const LineStep = 1000

// Window bounds on GET /api/files/{id}/lines.
const (
	MaxWindowLines = 2000
	MaxLineBytes   = 16 << 10
)

// lineIndex counts lines while the bytes go by (a Writer fed by the upload
// copy) and keeps the offset of every LineStep-th line start. UTF-16 lines
// end at the two-byte unit of '\n' on a unit boundary, not at any 0x0A
// byte, so the encoding is decided from the head before counting.
type lineIndex struct {
	head    []byte
	decided bool
	unit    int   // 1 (UTF-8, Latin-1) or 2 (UTF-16)
	be      bool  // UTF-16BE
	start   int64 // where line 1 starts (after a BOM)
	pos     int64 // bytes seen
	prev    byte  // first byte of a UTF-16 unit cut by a Write
	newline int64 // newlines seen
	lastNL  bool  // the last unit was a newline
	offsets []int64
}

func (x *lineIndex) Write(p []byte) (int, error) {
	n := len(p)
	if !x.decided {
		room := textenc.SniffSize - len(x.head)
		if len(p) < room {
			x.head = append(x.head, p...)
			return n, nil
		}
		x.head = append(x.head, p[:room]...)
		p = p[room:]
		x.decide()
	}
	x.scan(p)
	return n, nil
}

func (x *lineIndex) decide() {
	x.decided = true
	info := textenc.Sniff(x.head)
	x.unit = 1
	switch info.Encoding {
	case textenc.UTF16LE:
		x.unit = 2
	case textenc.UTF16BE:
		x.unit, x.be = 2, true
	}
	x.start = int64(info.BOM)
	head := x.head
	x.head = nil
	x.scan(head)
}

func (x *lineIndex) scan(p []byte) {
	if x.unit == 1 {
		base := x.pos
		for off := 0; ; {
			i := bytes.IndexByte(p[off:], '\n')
			if i < 0 {
				break
			}
			off += i + 1
			if base+int64(off) <= x.start {
				continue
			}
			x.newline++
			if x.newline%LineStep == 0 {
				x.offsets = append(x.offsets, base+int64(off))
			}
		}
		x.pos += int64(len(p))
		if len(p) > 0 && x.pos > x.start {
			x.lastNL = p[len(p)-1] == '\n'
		}
		return
	}
	for _, b := range p {
		rel := x.pos - x.start
		x.pos++
		if rel < 0 {
			continue
		}
		if rel%2 == 0 {
			x.prev = b
			continue
		}
		lo, hi := x.prev, b
		if x.be {
			lo, hi = hi, lo
		}
		x.lastNL = lo == '\n' && hi == 0
		if x.lastNL {
			x.newline++
			if x.newline%LineStep == 0 {
				x.offsets = append(x.offsets, x.pos)
			}
		}
	}
}

// finish ends the count; lines is the number of lines (a last line without
// a newline counts).
func (x *lineIndex) finish() (lines int64, offsets []int64) {
	if !x.decided {
		x.decide()
	}
	lines = x.newline
	if x.pos > x.start && !x.lastNL {
		lines++
	}
	return lines, x.offsets
}

// Line is one line of a window.
type Line struct {
	Number int64  `json:"number"`
	Text   string `json:"text"`
}

// Lines is a window of a file's lines (GET /api/files/{id}/lines).
type Lines struct {
	FileID     string `json:"file_id"`
	From       int64  `json:"from"`
	To         int64  `json:"to"`
	TotalLines int64  `json:"total_lines"`
	Lines      []Line `json:"lines"`
	// Truncated: the window asked for was cut (more than MaxWindowLines,
	// or past the end), or a line in it was longer than MaxLineBytes.
	Truncated bool `json:"truncated"`
}

// readWindow reads lines from..to (1-based, inclusive) of content in
// encoding enc, starting at byte offset start where line first begins.
func readWindow(ctx context.Context, r io.Reader, enc textenc.Encoding, first, from, to int64) ([]Line, bool, error) {
	br := bufio.NewReaderSize(textenc.Decode(r, enc), 64<<10)
	var out []Line
	cut := false
	for n := first; n <= to; n++ {
		if n%10000 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, false, err
			}
		}
		text, long, err := readLine(br, n >= from)
		if n == 1 {
			text = strings.TrimPrefix(text, "\uFEFF") // a UTF-8 byte-order mark
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, false, fmt.Errorf("read lines: %w", err)
		}
		if n >= from && (err == nil || text != "" || long) {
			cut = cut || long
			out = append(out, Line{Number: n, Text: text})
		}
		if err != nil {
			break
		}
	}
	return out, cut, nil
}

// readLine reads one line, keeping at most MaxLineBytes of it when keep
// (the rest is skipped, long reports it), without its line ending.
func readLine(br *bufio.Reader, keep bool) (text string, long bool, err error) {
	var sb strings.Builder
	for {
		chunk, isPrefix, rerr := br.ReadLine()
		if keep && sb.Len() < MaxLineBytes {
			room := MaxLineBytes - sb.Len()
			if len(chunk) > room {
				long = true
				chunk = []byte(truncateUTF8(string(chunk), room))
			}
			sb.Write(chunk)
		} else if keep && len(chunk) > 0 {
			long = true
		}
		if rerr != nil {
			return validText(sb.String()), long, rerr
		}
		if !isPrefix {
			return validText(sb.String()), long, nil
		}
	}
}

// validText makes a decoded line valid UTF-8 for JSON (a Latin-1 file
// sniffed as UTF-8 from its head may hold other bytes further on).
func validText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
