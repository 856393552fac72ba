package textenc

import (
	"io"
	"strings"
	"testing"
	"unicode/utf16"
)

func utf16Of(s string, big, bom bool) []byte {
	var out []byte
	if bom {
		if big {
			out = append(out, 0xFE, 0xFF)
		} else {
			out = append(out, 0xFF, 0xFE)
		}
	}
	for _, u := range utf16.Encode([]rune(s)) {
		if big {
			out = append(out, byte(u>>8), byte(u))
		} else {
			out = append(out, byte(u), byte(u>>8))
		}
	}
	return out
}

func TestSniff(t *testing.T) {
	text := "2016-09-28 04:30:30, Info CBS Démarrage\r\n"
	cases := []struct {
		name string
		head []byte
		enc  Encoding
		ok   bool
		bom  int
	}{
		{"utf-8", []byte(text), UTF8, true, 0},
		{"utf-8 bom", append([]byte{0xEF, 0xBB, 0xBF}, text...), UTF8, true, 3},
		{"utf-16le bom", utf16Of(text, false, true), UTF16LE, true, 2},
		{"utf-16be bom", utf16Of(text, true, true), UTF16BE, true, 2},
		{"utf-16le without bom", utf16Of(text, false, false), UTF16LE, true, 0},
		{"utf-16be without bom", utf16Of(text, true, false), UTF16BE, true, 0},
		{"latin-1", []byte("caf\xe9 cr\xe8me\n"), Latin1, true, 0},
		{"binary", []byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00>\x00"), UTF8, false, 0},
		{"empty", nil, UTF8, false, 0},
	}
	for _, c := range cases {
		got := Sniff(c.head)
		if got.Encoding != c.enc || got.Text != c.ok || got.BOM != c.bom {
			t.Errorf("%s: %+v", c.name, got)
		}
		if !c.ok && got.Reason == "" {
			t.Errorf("%s: no reason given", c.name)
		}
	}
}

func TestDecode(t *testing.T) {
	text := "line one é\nline two\n"
	for _, big := range []bool{false, true} {
		raw := utf16Of(text, big, false)
		info := Sniff(raw)
		b, err := io.ReadAll(Decode(strings.NewReader(string(raw[info.BOM:])), info.Encoding))
		if err != nil || string(b) != text {
			t.Fatalf("big=%v: %q %v", big, b, err)
		}
	}
}
