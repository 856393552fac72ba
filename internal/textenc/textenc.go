// Package textenc tells text from binary by content, not by name, and turns
// the encodings logs arrive in (UTF-8, UTF-16 with a byte-order mark as
// Windows exports them, Latin-1) into UTF-8. Uploads use it to refuse a binary
// file renamed .log; the log reader uses it to decode what it reads.
package textenc

import (
	"bytes"
	"io"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Encoding names an encoding that Decode understands.
type Encoding string

const (
	UTF8    Encoding = "utf-8"
	UTF16LE Encoding = "utf-16le"
	UTF16BE Encoding = "utf-16be"
	Latin1  Encoding = "latin-1"
)

// Info is what Sniff concluded from the head of a file.
type Info struct {
	Encoding Encoding
	// Text is false when the content looks binary; Reason then says why, in
	// words fit for a user ("contains NUL bytes").
	Text   bool
	Reason string
	// BOM is the length of the byte-order mark to skip (0 when none).
	BOM int
}

// SniffSize is how much of a file Sniff wants to see.
const SniffSize = 8 << 10

// Sniff looks at the first bytes of a file (up to SniffSize). An empty head is
// not text: an empty log has nothing to analyse.
func Sniff(head []byte) Info {
	switch {
	case len(head) == 0:
		return Info{Encoding: UTF8, Reason: "the file is empty"}
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		return Info{Encoding: UTF8, Text: true, BOM: 3}
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		return Info{Encoding: UTF16LE, Text: true, BOM: 2}
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return Info{Encoding: UTF16BE, Text: true, BOM: 2}
	}
	if bytes.IndexByte(head, 0) >= 0 {
		if enc, ok := utf16NoBOM(head); ok {
			return Info{Encoding: enc, Text: true}
		}
		return Info{Encoding: UTF8, Reason: "the file contains NUL bytes: it looks binary"}
	}
	control := 0
	for _, b := range head {
		if b < 0x20 && b != '\n' && b != '\r' && b != '\t' && b != '\f' && b != 0x1b {
			control++
		}
	}
	if control*20 > len(head) { // more than 5 % control characters
		return Info{Encoding: UTF8, Reason: "the file is mostly control characters: it looks binary"}
	}
	if validUTF8Prefix(head) {
		return Info{Encoding: UTF8, Text: true}
	}
	return Info{Encoding: Latin1, Text: true}
}

// validUTF8Prefix is utf8.Valid allowing a rune cut at the end of the head.
func validUTF8Prefix(b []byte) bool {
	for i := 0; i < 3 && len(b) > 0; i++ {
		if utf8.Valid(b) {
			return true
		}
		r, _ := utf8.DecodeLastRune(b)
		if r != utf8.RuneError {
			return false
		}
		b = b[:len(b)-1]
	}
	return utf8.Valid(b)
}

// Decode returns a reader of r as UTF-8. r must start after the BOM Sniff
// reported (or at it: a BOM left in place is dropped for UTF-16).
func Decode(r io.Reader, enc Encoding) io.Reader {
	switch enc {
	case UTF16LE:
		return transform.NewReader(r, unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM).NewDecoder())
	case UTF16BE:
		return transform.NewReader(r, unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM).NewDecoder())
	case Latin1:
		return transform.NewReader(r, charmap.ISO8859_1.NewDecoder())
	default:
		return r
	}
}

// utf16NoBOM recognises UTF-16 text written without a byte-order mark (some
// tools redirecting Windows output do): mostly-ASCII text then has a NUL in
// every other byte, on the odd positions for little-endian, the even ones
// for big-endian, and almost none on the other side.
func utf16NoBOM(head []byte) (Encoding, bool) {
	if len(head) < 16 {
		return "", false
	}
	n := len(head) &^ 1
	var even, odd int
	for i := 0; i < n; i += 2 {
		if head[i] == 0 {
			even++
		}
		if head[i+1] == 0 {
			odd++
		}
	}
	pairs := n / 2
	switch {
	case odd*10 >= pairs*9 && even*20 <= pairs:
		return UTF16LE, true
	case even*10 >= pairs*9 && odd*20 <= pairs:
		return UTF16BE, true
	}
	return "", false
}
