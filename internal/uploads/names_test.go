package uploads

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSanitizeName(t *testing.T) {
	long := strings.Repeat("é", 150) + ".log" // 304 bytes
	tests := []struct{ in, want string }{
		{"app.log", "app.log"},
		{"../../etc/passwd", "passwd"},
		{`..\..\windows\system.ini`, "system.ini"},
		{"/var/log/syslog", "syslog"},
		{"a\x00b.log", "ab.log"},
		{"evil\u202egol.exe", "evilgol.exe"},
		{"\u2066x\u2069.log", "x.log"},
		{"...", "upload"},
		{"..", "upload"},
		{"", "upload"},
		{" .hidden.log ", "hidden.log"},
		{"new\nline.log", "newline.log"},
		{"a:b|c?.log", "a_b_c_.log"},
		{"\xff\xfe.log", "log"},
	}
	for _, tt := range tests {
		if got := SanitizeName(tt.in); got != tt.want {
			t.Errorf("SanitizeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	got := SanitizeName(long)
	if len(got) > MaxNameBytes || !strings.HasSuffix(got, ".log") || !utf8.ValidString(got) {
		t.Errorf("a 300-byte name became %q (%d bytes)", got, len(got))
	}
	if got := SanitizeName(strings.Repeat("a", 300) + ".tar.gz"); len(got) != MaxNameBytes || !strings.HasSuffix(got, ".tar.gz") {
		t.Errorf("long .tar.gz = %q", got)
	}
	if d := DisplayName("../x\u202e/a.log\x00"); d != "../x/a.log" {
		t.Errorf("DisplayName = %q", d)
	}
}

// TestLineIndex compares the streaming count and index with a plain
// count, for every encoding, whatever the write sizes.
func TestLineIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var plain bytes.Buffer
	for i := range 4321 {
		plain.WriteString(strings.Repeat("x", rng.IntN(50)))
		if i != 4320 {
			plain.WriteByte('\n')
		}
	}
	utf16le := func(s string, be bool) []byte {
		out := []byte{0xFF, 0xFE}
		if be {
			out = []byte{0xFE, 0xFF}
		}
		for _, r := range s {
			if be {
				out = append(out, byte(r>>8), byte(r))
			} else {
				out = append(out, byte(r), byte(r>>8))
			}
		}
		return out
	}
	// U+0A0A and U+010A hold 0x0A bytes that are not newlines in UTF-16.
	tricky := strings.ReplaceAll(plain.String(), "xx", "\u0a0a\u010a")
	cases := map[string]struct {
		data  []byte
		unit  int64
		start int64
	}{
		"utf-8":     {plain.Bytes(), 1, 0},
		"utf-8 bom": {append([]byte{0xEF, 0xBB, 0xBF}, plain.Bytes()...), 1, 3},
		"utf-16le":  {utf16le(tricky, false), 2, 2},
		"utf-16be":  {utf16le(tricky, true), 2, 2},
	}
	for name, c := range cases {
		for _, chunk := range []int{1, 3, 4096, 1 << 20} {
			x := &lineIndex{}
			for i := 0; i < len(c.data); i += chunk {
				x.Write(c.data[i:min(i+chunk, len(c.data))])
			}
			lines, offsets := x.finish()
			if lines != 4321 {
				t.Errorf("%s/%d: %d lines, want 4321", name, chunk, lines)
			}
			if len(offsets) != 4 {
				t.Fatalf("%s/%d: %d offsets, want 4", name, chunk, len(offsets))
			}
			// offsets[i] is where line (i+1)*LineStep+1 starts: right after
			// the (i+1)*LineStep-th newline.
			want := c.start
			seen := 0
			for p := c.start; p < int64(len(c.data)); p += c.unit {
				nl := c.data[p] == '\n'
				if c.unit == 2 {
					lo, hi := c.data[p], c.data[p+1]
					if name == "utf-16be" {
						lo, hi = hi, lo
					}
					nl = lo == '\n' && hi == 0
				}
				if nl {
					seen++
					if seen == LineStep {
						want = p + c.unit
						break
					}
				}
			}
			if offsets[0] != want {
				t.Errorf("%s/%d: offsets[0] = %d, want %d", name, chunk, offsets[0], want)
			}
		}
	}
}
