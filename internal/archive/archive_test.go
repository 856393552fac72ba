package archive_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/apperr"
	"github.com/rca-engine/api/internal/archive"
)

// entry is one member of an archive a test builds.
type entry struct {
	name   string
	data   []byte
	stored bool   // zip: no compression
	kind   byte   // tar type flag; 0 means a regular file
	link   string // tar link target; zip: makes a symlink
}

func file(name, data string) entry { return entry{name: name, data: []byte(data)} }

func zipOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.stored {
			h.Method = zip.Store
		}
		data := e.data
		if e.link != "" {
			h.SetMode(os.ModeSymlink | 0o777)
			data = []byte(e.link)
		}
		if strings.HasSuffix(e.name, "/") {
			h.SetMode(os.ModeDir | 0o755)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tarOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: tar.TypeReg,
			ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		if e.kind != 0 {
			h.Typeflag, h.Linkname, h.Size = e.kind, e.link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar header %q: %v", e.name, err)
		}
		if h.Size > 0 {
			if _, err := tw.Write(e.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// got is what a walk delivered.
type got struct {
	paths []string
	data  map[string]string
	res   *archive.Result
	err   error
}

func walk(t testing.TB, name string, b []byte, lim archive.Limits) got {
	t.Helper()
	g := got{data: map[string]string{}}
	g.res, g.err = archive.Unpack(context.Background(), name, bytes.NewReader(b), int64(len(b)), lim,
		func(m archive.Member, r io.Reader) error {
			data, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			g.paths = append(g.paths, m.Path)
			g.data[m.Path] = string(data)
			return nil
		})
	return g
}

func refusal(t *testing.T, err error, want archive.Reason) *archive.Refusal {
	t.Helper()
	var r *archive.Refusal
	if !errors.As(err, &r) {
		t.Fatalf("err = %v, want a refusal (%s)", err, want)
	}
	if r.Reason != want {
		t.Fatalf("refused for %s (%v), want %s", r.Reason, err, want)
	}
	if !errors.Is(err, archive.ErrRefused) || apperr.KindOf(err) != apperr.Invalid {
		t.Fatalf("a refusal must be ErrRefused of kind invalid: %v (%s)", err, apperr.KindOf(err))
	}
	return r
}

const logText = "2024-01-01T00:00:00Z INFO service started\n2024-01-01T00:00:01Z ERROR connection refused\n"

func TestDetect(t *testing.T) {
	tarball := tarOf(t, file("a.log", logText))
	v7 := append([]byte(nil), tarball...)
	// Older tars have no "ustar" magic: only a checksum that adds up.
	copy(v7[257:265], make([]byte, 8))
	var sum int64
	for i, c := range v7[:512] {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int64(c)
	}
	copy(v7[148:156], fmt.Sprintf("%06o\x00 ", sum))
	for _, c := range []struct {
		name string
		head []byte
		want archive.Format
	}{
		{"logs.zip", zipOf(t, file("a.log", logText)), archive.Zip},
		{"anything", zipOf(t), archive.Zip}, // an empty zip starts with its end record
		{"app.log.gz", gz(t, []byte(logText)), archive.Gzip},
		{"bundle.tgz", gz(t, tarball), archive.TarGz},
		{"bundle.TAR.GZ", gz(t, tarball), archive.TarGz},
		{"misnamed.zip", gz(t, []byte(logText)), archive.Gzip}, // the bytes win over the name
		{"bundle.tar", tarball, archive.Tar},
		{"no-extension", tarball, archive.Tar},
		{"old.tar", v7, archive.Tar},
		{"old.log", v7, archive.None}, // no magic and no hint: not taken for a tar
		{"app.log", []byte(logText), archive.None},
		{"fake.zip", []byte("PK but not really"), archive.None},
		{"empty.gz", nil, archive.None},
	} {
		if f := archive.Detect(c.name, c.head); f != c.want {
			t.Errorf("Detect(%q) = %q, want %q", c.name, f, c.want)
		}
	}
}

func TestWalkFormats(t *testing.T) {
	members := []entry{file("var/log/app.log", logText), file("var/log/db.log", "db up\n"), {name: "var/log/", data: nil}}
	tarball := tarOf(t, file("var/log/app.log", logText), file("var/log/db.log", "db up\n"))
	want := map[string]string{"var/log/app.log": logText, "var/log/db.log": "db up\n"}
	for _, c := range []struct {
		name string
		data []byte
		want map[string]string
	}{
		{"logs.zip", zipOf(t, members...), want},
		{"logs.tar", tarball, want},
		{"logs.tar.gz", gz(t, tarball), want},
		{"logs.tgz", gz(t, tarball), want},
		{"logs.gz", gz(t, tarball), want}, // a tar inside a gzip is a tar.gz whatever its name
		{"app.log.gz", gz(t, []byte(logText)), map[string]string{"app.log": logText}},
		{"APP.LOG.GZ", gz(t, []byte(logText)), map[string]string{"APP.LOG": logText}},
		{"stored.zip", zipOf(t, entry{name: "a.log", data: []byte(logText), stored: true}), map[string]string{"a.log": logText}},
		{"empty.zip", zipOf(t), map[string]string{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := walk(t, c.name, c.data, archive.DefaultLimits())
			if g.err != nil {
				t.Fatal(g.err)
			}
			if len(g.data) != len(c.want) || g.res.Members != len(c.want) {
				t.Fatalf("members %v (%d), want %v", g.paths, g.res.Members, c.want)
			}
			for p, d := range c.want {
				if g.data[p] != d {
					t.Errorf("%s = %q, want %q", p, g.data[p], d)
				}
			}
		})
	}
}

func TestWalkNested(t *testing.T) {
	inner := zipOf(t, file("inner.log", "inner line\n"))
	rotated := gz(t, []byte("rotated line\n"))
	outer := tarOf(t,
		entry{name: "support/inner.zip", data: inner},
		entry{name: "support/app.log.1.gz", data: rotated},
		file("support/app.log", logText))
	g := walk(t, "bundle.tar.gz", gz(t, outer), archive.DefaultLimits())
	if g.err != nil {
		t.Fatal(g.err)
	}
	want := map[string]string{
		"support/inner.zip/inner.log": "inner line\n",
		"support/app.log.1":           "rotated line\n",
		"support/app.log":             logText,
	}
	if fmt.Sprint(g.data) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", g.data, want)
	}

	// A stored zip inside a zip is read in place; a zip inside a gzip is spooled.
	g = walk(t, "x.zip", zipOf(t, entry{name: "in.zip", data: inner, stored: true}), archive.DefaultLimits())
	if g.err != nil || g.data["in.zip/inner.log"] != "inner line\n" {
		t.Fatalf("stored zip in zip: %v %v", g.data, g.err)
	}
	g = walk(t, "in.zip.gz", gz(t, inner), archive.DefaultLimits())
	if g.err != nil || g.data["in.zip/inner.log"] != "inner line\n" {
		t.Fatalf("zip in gzip: %v %v", g.data, g.err)
	}
}

// nest wraps a log in depth zips: depth 0 is the log itself.
func nest(t *testing.T, depth int) []byte {
	b := []byte(logText)
	name := "deep.log"
	for i := range depth {
		b = zipOf(t, entry{name: name, data: b})
		name = fmt.Sprintf("level%d.zip", depth-i)
	}
	return b
}

func TestWalkDepthLimit(t *testing.T) {
	lim := archive.DefaultLimits()
	lim.MaxDepth = 2
	// The top archive is depth 0: two archives inside it are allowed.
	g := walk(t, "top.zip", nest(t, 3), lim)
	if g.err != nil || g.res.Members != 1 {
		t.Fatalf("at the depth limit: %v, %d members", g.err, g.res.Members)
	}
	if _, ok := g.data["level2.zip/level3.zip/deep.log"]; !ok {
		t.Fatalf("nested path: %v", g.paths)
	}
	g = walk(t, "top.zip", nest(t, 4), lim)
	r := refusal(t, g.err, archive.TooDeep)
	if !strings.Contains(r.Error(), "2 deep") {
		t.Errorf("the message does not name the limit: %v", r)
	}
}

func TestWalkZipBombRatio(t *testing.T) {
	zeros := make([]byte, 4<<20) // deflates about 1000 to 1
	start := time.Now()
	g := walk(t, "bomb.zip", zipOf(t, entry{name: "zeros.log", data: zeros}), archive.DefaultLimits())
	refusal(t, g.err, archive.Ratio)
	t.Logf("refused in %v", time.Since(start))

	// The same with a header that lies about sizes: caught while reading.
	lying := rawZip(t, "zeros.log", zeros, 1000)
	g = walk(t, "lying.zip", lying, archive.DefaultLimits())
	if g.err == nil {
		t.Fatal("a member larger than its header was accepted")
	}
	refusal(t, g.err, archive.MemberTooLarge)
	if g.res.Bytes > 2<<20 {
		t.Errorf("decompressed %d bytes before stopping", g.res.Bytes)
	}
}

// rawZip writes data deflated under a header that claims uncompressed size
// claim (the true size when -1) and, when the true size is claimed, a
// compressed size as large, to hide the ratio.
func rawZip(t *testing.T, name string, data []byte, claim int64) []byte {
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.BestCompression)
	fw.Write(data)
	fw.Close()
	size := uint64(len(data))
	if claim >= 0 {
		size = uint64(claim)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: name, Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(data),
		CompressedSize64: uint64(comp.Len()), UncompressedSize64: size})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(comp.Bytes())
	zw.Close()
	return buf.Bytes()
}

// recursiveBomb is a 42.zip in miniature: width zips of width zips of ...
// a member of zeros, depth levels.
func recursiveBomb(t *testing.T, width, depth int, leaf int) []byte {
	b := zipOf(t, entry{name: "0.log", data: make([]byte, leaf)})
	for d := 0; d < depth; d++ {
		var es []entry
		for i := range width {
			es = append(es, entry{name: fmt.Sprintf("%d.zip", i), data: b})
		}
		b = zipOf(t, es...)
	}
	return b
}

func TestWalk42Zip(t *testing.T) {
	// 16^3 leaves of 4 MiB: 16 GiB once unpacked, a few hundred KiB packed.
	bomb := recursiveBomb(t, 16, 3, 4<<20)
	t.Logf("bomb: %d bytes", len(bomb))
	start := time.Now()
	g := walk(t, "42.zip", bomb, archive.DefaultLimits())
	if g.err == nil {
		t.Fatal("a recursive zip bomb was accepted")
	}
	refusal(t, g.err, archive.Ratio)
	if g.res.Bytes > 8<<20 {
		t.Errorf("decompressed %d bytes before stopping", g.res.Bytes)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v to stop a bomb", d)
	}
}

// zerosGzip is a gzip stream of n MiB of one byte (zeros, or a letter to
// look like text), made of 1 MiB gzip members (one stream to a reader):
// about a kilobyte per MiB.
func zerosGzip(t testing.TB, mib int, fill ...byte) []byte {
	b := make([]byte, 1<<20)
	if len(fill) > 0 {
		for i := range b {
			b[i] = fill[0]
		}
	}
	return bytes.Repeat(gz(t, b), mib)
}

func TestWalkGzipOfZeros(t *testing.T) {
	gb := zerosGzip(t, 1024) // 1 GiB of zeros in about 1 MB
	start := time.Now()
	g := walk(t, "zeros.log.gz", gb, archive.DefaultLimits())
	// Zeros are binary: skipped on their first 8 KiB.
	if g.err != nil || len(g.res.Skipped) != 1 || !strings.Contains(g.res.Skipped[0].Reason, "NUL") || g.res.Bytes > 1<<20 {
		t.Fatalf("1 GiB of zeros: %v, skipped %v after %d bytes", g.err, g.res.Skipped, g.res.Bytes)
	}
	// 1 GiB of one letter looks like text: the ratio stops it.
	g = walk(t, "aaaa.log.gz", zerosGzip(t, 1024, 'a'), archive.DefaultLimits())
	refusal(t, g.err, archive.Ratio)
	if g.res.Bytes > 4<<20 {
		t.Errorf("decompressed %d bytes before stopping", g.res.Bytes)
	}
	t.Logf("1 GiB of text refused after %d bytes in %v", g.res.Bytes, time.Since(start))

	// With the ratio out of the way, the member and total limits hold.
	lim := archive.DefaultLimits()
	lim.MaxRatio = 1e9
	lim.MaxMemberBytes = 32 << 20
	g = walk(t, "zeros.log.gz", zerosGzip(t, 64, 'a'), lim)
	r := refusal(t, g.err, archive.MemberTooLarge)
	if !strings.Contains(r.Error(), "32 MiB") {
		t.Errorf("the message does not name the limit: %v", r)
	}
	lim.MaxMemberBytes = 1 << 30
	lim.MaxTotalBytes = 16 << 20
	g = walk(t, "zeros.log.gz", zerosGzip(t, 64, 'a'), lim)
	refusal(t, g.err, archive.TooLarge)
	if g.res.Bytes > 17<<20 {
		t.Errorf("produced %d bytes with a 16 MiB limit", g.res.Bytes)
	}
}

func TestWalkMemberCount(t *testing.T) {
	const n = 100_000
	es := make([]entry, n)
	for i := range es {
		es[i] = entry{name: fmt.Sprintf("logs/%06d.log", i), data: []byte("line\n"), stored: true}
	}
	big := zipOf(t, es...)
	lim := archive.DefaultLimits()
	lim.MaxMembers = n
	delivered := 0
	_, err := archive.Unpack(context.Background(), "many.zip", bytes.NewReader(big), int64(len(big)), lim,
		func(m archive.Member, r io.Reader) error { delivered++; _, err := io.Copy(io.Discard, r); return err })
	if err != nil || delivered != n {
		t.Fatalf("%d members at a limit of %d: %v, %d delivered", n, n, err, delivered)
	}
	lim.MaxMembers = n - 1
	delivered = 0
	start := time.Now()
	_, err = archive.Unpack(context.Background(), "many.zip", bytes.NewReader(big), int64(len(big)), lim,
		func(m archive.Member, r io.Reader) error { delivered++; return nil })
	r := refusal(t, err, archive.TooManyMembers)
	if delivered != 0 {
		t.Errorf("%d members delivered before the count was refused: the directory is counted first", delivered)
	}
	if !strings.Contains(r.Error(), "99999") {
		t.Errorf("the message does not name the limit: %v", r)
	}
	t.Logf("refused in %v", time.Since(start))

	// A tar.gz has no directory: counted as it goes.
	tes := make([]entry, 2000)
	for i := range tes {
		tes[i] = file(fmt.Sprintf("%d.log", i), "x\n")
	}
	lim.MaxMembers = 1999
	g := walk(t, "many.tgz", gz(t, tarOf(t, tes...)), lim)
	refusal(t, g.err, archive.TooManyMembers)
}

func TestWalkPathTraversal(t *testing.T) {
	for _, name := range []string{"../../etc/passwd", "/etc/passwd", "C:\\Windows\\x.log", "c:/x.log",
		"a\\..\\..\\b", "logs/../../b", "a/../b", "..", "\\\\server\\share\\x"} {
		t.Run(name, func(t *testing.T) {
			for _, c := range []struct {
				format string
				data   []byte
			}{
				{"x.zip", zipOf(t, file("ok.log", logText), file(name, logText))},
				{"x.tar", tarOf(t, file("ok.log", logText), file(name, logText))},
				{"x.tgz", gz(t, tarOf(t, file(name, logText)))},
			} {
				g := walk(t, c.format, c.data, archive.DefaultLimits())
				refusal(t, g.err, archive.BadPath)
				for _, p := range g.paths {
					if p != "ok.log" {
						t.Errorf("%s: delivered %q", c.format, p)
					}
				}
			}
		})
	}
}

func TestWalkPathsKeptAsData(t *testing.T) {
	long := strings.Repeat("l", 296) + ".log" // 300 characters
	rtl := "invoice\u202Egol.exe"             // shows as "invoiceexe.log"
	g := walk(t, "x.zip", zipOf(t,
		file("./a/./b.log", "b\n"), file("win\\style\\c.log", "c\n"), file(long, "long\n"),
		file(rtl, "rtl\n"), file("nul\x00name.log", "nul\n"), file("bad\xffutf8.log", "bad\n")), archive.DefaultLimits())
	if g.err != nil {
		t.Fatal(g.err)
	}
	for p, want := range map[string]string{"a/b.log": "b\n", "win/style/c.log": "c\n", long: "long\n",
		rtl: "rtl\n", "nul\uFFFDname.log": "nul\n",
		"bad\u00a0utf8.log": "bad\n"} { // not UTF-8, so read as CP437, where 0xff is a no-break space
		if g.data[p] != want {
			t.Errorf("%q = %q, want %q (got paths %q)", p, g.data[p], want, g.paths)
		}
	}
	// A name in the zip format's legacy code page (CP437), as Windows writes
	// it: "Ü" is 0x9a there.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "M\x9achen.log", Method: zip.Deflate, NonUTF8: true})
	w.Write([]byte("cp437\n"))
	zw.Close()
	g = walk(t, "x.zip", buf.Bytes(), archive.DefaultLimits())
	if g.err != nil || g.data["MÜchen.log"] != "cp437\n" {
		t.Errorf("a CP437 name: %q %v", g.paths, g.err)
	}
	// Bytes that are no UTF-8 in a tar name (tar has no encoding) become U+FFFD.
	var tbuf bytes.Buffer
	tw := tar.NewWriter(&tbuf)
	if err := tw.WriteHeader(&tar.Header{Name: "bad\xffname.log", Size: 4, Mode: 0o644, Format: tar.FormatGNU}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte("bad\n"))
	tw.Close()
	g = walk(t, "x.tar", tbuf.Bytes(), archive.DefaultLimits())
	if g.err != nil || g.data["bad\uFFFDname.log"] != "bad\n" {
		t.Errorf("a tar name that is not UTF-8: %q %v", g.paths, g.err)
	}
	// NUL in a tar name: the tar format itself cuts there.
	g = walk(t, "x.tar", tarOf(t, file(long, "long\n")), archive.DefaultLimits())
	if g.err != nil || g.data[long] != "long\n" {
		t.Fatalf("a 300-character tar name: %v %v", g.paths, g.err)
	}
}

func TestWalkSkips(t *testing.T) {
	binary := append([]byte("\x7fELF\x02\x01\x01\x00"), make([]byte, 100)...)
	docx := zipOf(t, file("word/document.xml", "<w:document/>"))
	z := zipOf(t,
		file("app.log", logText),
		entry{name: "bin/tool", data: binary},
		entry{name: "empty.log", data: nil},
		entry{name: "link.log", link: "/etc/passwd"},
		entry{name: "report.docx", data: docx},
	)
	g := walk(t, "x.zip", z, archive.DefaultLimits())
	if g.err != nil {
		t.Fatal(g.err)
	}
	if fmt.Sprint(g.paths) != "[app.log]" {
		t.Errorf("delivered %v, want only app.log", g.paths)
	}
	reasons := map[string]string{}
	for _, s := range g.res.Skipped {
		reasons[s.Path] = s.Reason
	}
	for p, want := range map[string]string{"bin/tool": "NUL", "empty.log": "empty", "link.log": "link",
		"report.docx": ".docx"} {
		if !strings.Contains(reasons[p], want) {
			t.Errorf("skip reason of %s = %q, want it to mention %q", p, reasons[p], want)
		}
	}

	tb := tarOf(t, file("app.log", logText),
		entry{name: "sym.log", kind: tar.TypeSymlink, link: "../../../etc/shadow"},
		entry{name: "hard.log", kind: tar.TypeLink, link: "app.log"},
		entry{name: "dev/null", kind: tar.TypeChar},
		entry{name: "fifo", kind: tar.TypeFifo})
	g = walk(t, "x.tar", tb, archive.DefaultLimits())
	if g.err != nil {
		t.Fatal(g.err)
	}
	if fmt.Sprint(g.paths) != "[app.log]" || len(g.res.Skipped) != 4 {
		t.Errorf("delivered %v, skipped %v", g.paths, g.res.Skipped)
	}
}

func TestWalkMemberOverLimitIsSkipped(t *testing.T) {
	lim := archive.DefaultLimits()
	lim.MaxMemberBytes = 1000
	g := walk(t, "x.zip", zipOf(t, file("big.log", strings.Repeat("a line of log\n", 100)), file("small.log", "x\n")), lim)
	if g.err != nil || fmt.Sprint(g.paths) != "[small.log]" || len(g.res.Skipped) != 1 ||
		!strings.Contains(g.res.Skipped[0].Reason, "1000 bytes") {
		t.Fatalf("paths %v skipped %v err %v", g.paths, g.res.Skipped, g.err)
	}
}

func TestWalkCorrupt(t *testing.T) {
	z := zipOf(t, file("a.log", strings.Repeat(logText, 100)))
	for name, data := range map[string][]byte{
		"truncated.zip": z[:len(z)-30], // its directory is gone
		"truncated.tgz": gz(t, tarOf(t, file("a.log", logText)))[:40],
		"garbage.gz":    append([]byte{0x1f, 0x8b}, bytes.Repeat([]byte{0xff}, 100)...),
		"cut.log.gz":    gz(t, randomLog(20_000))[:200],
	} {
		g := walk(t, name, data, archive.DefaultLimits())
		refusal(t, g.err, archive.Corrupt)
	}
	g := walk(t, "plain.log", []byte(logText), archive.DefaultLimits())
	refusal(t, g.err, archive.NotArchive)
}

// TestWalkDamagedMemberIsSkipped: one damaged file in a bundle (a bad
// checksum, a .gz cut short while logrotate wrote it, a nested zip without
// its directory) is skipped with its reason; the rest is delivered.
func TestWalkDamagedMemberIsSkipped(t *testing.T) {
	long := string(randomLog(20_000))
	z := zipOf(t, file("a.log", long), file("b.log", "b\n"))
	flipped := append([]byte(nil), z...)
	flipped[60] ^= 0xff // inside a.log's deflate data
	g := walk(t, "flipped.zip", flipped, archive.DefaultLimits())
	if g.err != nil || fmt.Sprint(g.paths) != "[b.log]" || len(g.res.Skipped) != 1 ||
		g.res.Skipped[0].Path != "a.log" || !strings.Contains(g.res.Skipped[0].Reason, "damaged") {
		t.Fatalf("a zip with a damaged member: %v, skipped %v, %v", g.paths, g.res.Skipped, g.err)
	}

	inner := zipOf(t, file("x.log", "x\n"))
	bundle := tarOf(t,
		file("logs/app.log", logText),
		entry{name: "logs/app.log.1.gz", data: gz(t, []byte(long))[:3000]}, // cut short
		entry{name: "logs/old.zip", data: inner[:len(inner)-30]},           // no directory
		file("logs/db.log", "db\n"))
	for _, name := range []string{"bundle.tar", "bundle.tgz"} {
		data := bundle
		if name == "bundle.tgz" {
			data = gz(t, bundle)
		}
		g = walk(t, name, data, archive.DefaultLimits())
		if g.err != nil || fmt.Sprint(g.paths) != "[logs/app.log logs/db.log]" {
			t.Fatalf("%s: delivered %v, %v", name, g.paths, g.err)
		}
		reasons := map[string]string{}
		for _, s := range g.res.Skipped {
			reasons[s.Path] = s.Reason
		}
		for _, p := range []string{"logs/app.log.1.gz", "logs/old.zip"} {
			if !strings.Contains(reasons[p], "damaged") {
				t.Errorf("%s: %s skipped for %q, want damaged", name, p, reasons[p])
			}
		}
	}

	// Damage to the stream around the members still refuses: nothing after
	// it can be read.
	tgz := gz(t, tarOf(t, file("a.log", long), file("b.log", long)))
	g = walk(t, "cut.tgz", tgz[:len(tgz)/2], archive.DefaultLimits())
	refusal(t, g.err, archive.Corrupt)
}

// failingReaderAt fails every read that touches [lo, hi).
type failingReaderAt struct {
	r      *bytes.Reader
	lo, hi int64
}

var errDisk = errors.New("disk on fire")

func (f failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < f.hi && off+int64(len(p)) > f.lo {
		return 0, errDisk
	}
	return f.r.ReadAt(p, off)
}

func TestWalkIOErrorIsNotARefusal(t *testing.T) {
	big := make([]byte, 300_000)
	for i := range big {
		big[i] = "abcdefghij\n"[i%11]
	}
	z := zipOf(t, entry{name: "a.log", data: big, stored: true})
	tgz := gz(t, tarOf(t, entry{name: "a.log", data: big}))
	for _, c := range []struct {
		name string
		ra   failingReaderAt
		size int
	}{
		{"x.zip", failingReaderAt{bytes.NewReader(z), 100_000, 100_001}, len(z)},
		{"x.zip", failingReaderAt{bytes.NewReader(z), int64(len(z)) - 50, int64(len(z))}, len(z)}, // its directory
		{"x.tgz", failingReaderAt{bytes.NewReader(tgz), int64(len(tgz)) / 2, int64(len(tgz))}, len(tgz)},
	} {
		err := archive.Walk(context.Background(), c.name, c.ra, int64(c.size), archive.DefaultLimits(),
			func(m archive.Member, r io.Reader) error { _, err := io.Copy(io.Discard, r); return err })
		if !errors.Is(err, errDisk) || errors.Is(err, archive.ErrRefused) {
			t.Errorf("%s: %v, want the disk's error, not a refusal", c.name, err)
		}
	}
}

func TestWalkCallbackError(t *testing.T) {
	z := zipOf(t, file("a.log", logText), file("b.log", logText))
	stop := errors.New("stop")
	calls := 0
	err := archive.Walk(context.Background(), "x.zip", bytes.NewReader(z), int64(len(z)), archive.DefaultLimits(),
		func(m archive.Member, r io.Reader) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Fatalf("err %v after %d calls, want fn's error as is after 1", err, calls)
	}

	// A callback that swallows its reader's refusal does not hide it.
	lim := archive.DefaultLimits()
	lim.MaxMemberBytes = 16 << 20
	lim.MaxRatio = 1e9
	gzb := zerosGzip(t, 32, 'a')
	err = archive.Walk(context.Background(), "z.log.gz", bytes.NewReader(gzb), int64(len(gzb)), lim,
		func(m archive.Member, r io.Reader) error { io.Copy(io.Discard, r); return nil })
	if !errors.Is(err, archive.ErrRefused) {
		t.Fatalf("a swallowed refusal: %v", err)
	}
}

func TestWalkContextCancelled(t *testing.T) {
	gzb := gz(t, tarOf(t, file("a.log", logText), file("b.log", logText)))
	ctx, cancel := context.WithCancel(context.Background())
	err := archive.Walk(ctx, "x.tgz", bytes.NewReader(gzb), int64(len(gzb)), archive.DefaultLimits(),
		func(m archive.Member, r io.Reader) error { cancel(); _, err := io.Copy(io.Discard, r); return err })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

// randomLog is n bytes of lines of random hex: text that compresses about
// 2 to 1, like real logs at worst.
func randomLog(n int) []byte {
	raw := make([]byte, n/2)
	rand.Read(raw)
	hexed := make([]byte, hex.EncodedLen(len(raw)))
	hex.Encode(hexed, raw)
	var b bytes.Buffer
	for len(hexed) > 0 {
		k := min(79, len(hexed))
		b.Write(hexed[:k])
		b.WriteByte('\n')
		hexed = hexed[k:]
	}
	return b.Bytes()[:n]
}

func TestWalkSpoolsLargeNestedZip(t *testing.T) {
	// A zip of 10 MiB inside a tar.gz: over the in-memory bound, so spooled.
	es := []entry{}
	for i := range 10 {
		es = append(es, entry{name: fmt.Sprintf("%d.log", i), data: randomLog(1 << 20), stored: true})
	}
	inner := zipOf(t, es...)
	tmp := t.TempDir()
	lim := archive.DefaultLimits()
	lim.TempDir = tmp
	g := walk(t, "x.tgz", gz(t, tarOf(t, entry{name: "inner.zip", data: inner})), lim)
	if g.err != nil || g.res.Members != 10 {
		t.Fatalf("%d members, %v", g.res.Members, g.err)
	}
	left, _ := os.ReadDir(tmp)
	if len(left) != 0 {
		t.Errorf("spool files left behind: %v", left)
	}
}
