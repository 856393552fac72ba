package logparse

import (
	"bufio"
	"bytes"
)

// lineReader splits a stream into physical lines without ever holding more
// than max bytes of one line: the rest of a longer line is read and dropped,
// and the line is reported truncated. bufio.Scanner would instead fail the
// whole file with ErrTooLong, which is what a user with one huge line does not
// want.
type lineReader struct {
	br   *bufio.Reader
	max  int
	long []byte // accumulates a line longer than the bufio buffer
	err  error
}

func newLineReader(br *bufio.Reader, max int) *lineReader {
	return &lineReader{br: br, max: max}
}

// next returns the next line without its "\n" (and a "\r" before it), how
// many input bytes it consumed, and whether it was cut. The slice is valid
// until the next call. At the end of input it returns io.EOF (after a last
// line without a newline, that line first).
func (l *lineReader) next() (line []byte, consumed int, truncated bool, err error) {
	if l.err != nil {
		return nil, 0, false, l.err
	}
	frag, err := l.br.ReadSlice('\n')
	consumed = len(frag)
	if err == nil || (err != bufio.ErrBufferFull && len(frag) > 0) {
		if err != nil {
			l.err = err
		}
		return l.trim(frag, &truncated), consumed, truncated, nil
	}
	if err != bufio.ErrBufferFull {
		l.err = err
		return nil, 0, false, err
	}
	// A line longer than the buffer: keep up to max bytes, skip the rest.
	l.long = l.long[:0]
	for {
		if room := l.max - len(l.long); room > 0 {
			if len(frag) > room {
				l.long = append(l.long, frag[:room]...)
				truncated = truncated || !onlyEOL(frag[room:])
			} else {
				l.long = append(l.long, frag...)
			}
		} else if !onlyEOL(frag) {
			truncated = true
		}
		if err != bufio.ErrBufferFull {
			if err != nil {
				l.err = err
			}
			break
		}
		frag, err = l.br.ReadSlice('\n')
		consumed += len(frag)
	}
	line = l.trim(l.long, &truncated)
	if cap(l.long) > 4*l.max { // do not keep a huge buffer forever
		l.long = nil
	}
	return line, consumed, truncated, nil
}

// onlyEOL: what was cut is just the line's end, not its content.
func onlyEOL(b []byte) bool {
	for _, c := range b {
		if c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

func (l *lineReader) trim(b []byte, truncated *bool) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	if len(b) > l.max {
		b = b[:l.max]
		*truncated = true
	}
	return b
}

// splitHead returns the complete lines at the start of head (the last one
// only if atEOF), for format detection.
func splitHead(head []byte, atEOF bool, maxLines int) [][]byte {
	var out [][]byte
	for len(head) > 0 && len(out) < maxLines {
		i := bytes.IndexByte(head, '\n')
		if i < 0 {
			if atEOF {
				out = append(out, bytes.TrimSuffix(head, []byte{'\r'}))
			}
			break
		}
		out = append(out, bytes.TrimSuffix(head[:i], []byte{'\r'}))
		head = head[i+1:]
	}
	return out
}
