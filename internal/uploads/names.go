package uploads

import (
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameBytes bounds a stored filename (most file systems' limit).
const MaxNameBytes = 255

// maxDisplayBytes bounds original_filename, the name as the user gave it.
const maxDisplayBytes = 1024

// unsafeRune reports the runes no filename keeps: NUL and the other
// control characters (C0, DEL, C1), and the bidirectional controls that
// let "gpj.exe" display as "exe.jpg" (U+202A–U+202E, U+2066–U+2069, the
// marks U+200E, U+200F, U+061C), plus the BOM and line/paragraph
// separators that break one-line displays.
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true
	case r == 0xfeff, r == 0x2028, r == 0x2029, r == utf8.RuneError:
		return true
	}
	return false
}

// cleanText drops invalid UTF-8 and unsafe runes.
func cleanText(s string) string {
	return strings.Map(func(r rune) rune {
		if unsafeRune(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
}

// SanitizeName turns the name a client sent into the stored filename: its
// last path component only (either slash; "../../etc/passwd" is "passwd"),
// without control or bidirectional-override characters, without leading
// dots or spaces (no hidden files, no "..") and at most MaxNameBytes bytes,
// cut in the stem so the extension survives. A name with nothing left is
// "upload".
func SanitizeName(name string) string {
	name = cleanText(name)
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.TrimLeftFunc(name, func(r rune) bool { return r == '.' || unicode.IsSpace(r) })
	name = strings.TrimRightFunc(name, func(r rune) bool { return r == '.' || unicode.IsSpace(r) })
	// Characters Windows refuses in names, for downloads saved there.
	name = strings.Map(func(r rune) rune {
		if strings.ContainsRune(`<>:"|?*`, r) {
			return '_'
		}
		return r
	}, name)
	if name == "" {
		return "upload"
	}
	if len(name) <= MaxNameBytes {
		return name
	}
	ext := fullExt(name)
	if len(ext) > 32 {
		ext = "" // not an extension worth keeping: a long dotted name
	}
	stem := name[:len(name)-len(ext)]
	stem = truncateUTF8(stem, MaxNameBytes-len(ext))
	return stem + ext
}

// DisplayName is original_filename: the name as the user gave it, path
// included, for display only: unsafe characters dropped, length bounded.
// Nothing reads it as a path.
func DisplayName(name string) string {
	name = cleanText(name)
	if name == "" {
		return "upload"
	}
	return truncateUTF8(name, maxDisplayBytes)
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// fullExt is the extension including a compression suffix: ".tar.gz" for
// "x.tar.gz", ".log" for "x.log", "" for "x".
func fullExt(name string) string {
	lower := strings.ToLower(name)
	for _, double := range []string{".tar.gz", ".tar.bz2", ".tar.xz"} {
		if strings.HasSuffix(lower, double) && len(name) > len(double) {
			return name[len(name)-len(double):]
		}
	}
	return path.Ext(name)
}

// extension is the lower-case last extension without its dot ("gz" for
// "x.tar.gz"), "" when there is none.
func extension(name string) string {
	return strings.TrimPrefix(strings.ToLower(path.Ext(name)), ".")
}
