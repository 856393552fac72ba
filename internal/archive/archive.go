// Package archive unpacks .gz, .zip, .tar and .tar.gz/.tgz into their member
// files, refusing what could hurt the server: zip bombs (limits on total
// uncompressed size, member count, compression ratio and nesting depth) and
// members whose path would escape their folder (absolute paths, "..").
//
// Nothing here trusts a header to allow anything: sizes are counted while
// the bytes are decompressed, and the compression ratio is watched as they
// come, so a 42.zip or a gigabyte of zeros is stopped after about a
// megabyte of work. Headers are trusted only to refuse early.
//
// Walk never writes to disk except to spool a nested, compressed zip that
// is too large to hold in memory (zip needs random access); the spool is
// bounded by the member limit and removed before Walk returns.
package archive

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"

	"github.com/rca-engine/api/internal/apperr"
	"github.com/rca-engine/api/internal/textenc"
)

// Format is an archive format, or None for a plain file.
type Format string

const (
	None  Format = ""
	Gzip  Format = "gzip"
	Zip   Format = "zip"
	Tar   Format = "tar"
	TarGz Format = "tar.gz"
)

// Limits bound what one archive may unpack to.
type Limits struct {
	MaxTotalBytes  int64   // uncompressed, over all members and nesting levels
	MaxMemberBytes int64   // one member
	MaxMembers     int     // over all nesting levels
	MaxRatio       float64 // uncompressed / compressed, per member and overall
	MaxDepth       int     // archives inside archives
	// TempDir is where a nested zip too large for memory is spooled; empty
	// means os.TempDir().
	TempDir string
}

// DefaultLimits are generous for real log bundles and cheap to enforce:
//   - 10 GiB in total: a support bundle of a whole /var/log rarely unpacks
//     to more than a few GiB, and every member is staged on disk by its
//     reader, so the total must fit a disk;
//   - 2 GiB per member: the largest single logs users attach;
//   - 100,000 members: a busy /var/log/journal or a year of hourly rotated
//     logs stays under it, while a directory-entry bomb does not;
//   - a ratio of 200: deflate gives 5-20x on logs and rarely 100x on the
//     most repetitive ones, while zeros and bombs give about 1,000x;
//     checked once a stream has produced 1 MiB (RatioFloor);
//   - 4 levels of nesting: a tar.gz of zips of .gz rotations is 2.
func DefaultLimits() Limits {
	return Limits{
		MaxTotalBytes:  10 << 30,
		MaxMemberBytes: 2 << 30,
		MaxMembers:     100_000,
		MaxRatio:       200,
		MaxDepth:       4,
	}
}

// RatioFloor is how much a stream may produce before its compression ratio
// is checked: a small file of one repeated line compresses far beyond any
// sane ratio and harms nobody.
const RatioFloor = 1 << 20

// maxPathBytes bounds a member's path; longer ones are skipped.
const maxPathBytes = 4096

// memSpool is the largest nested zip held in memory rather than spooled.
const memSpool = 8 << 20

// Member is one file inside an archive.
type Member struct {
	Path string // cleaned, slash-separated, relative; nested archives as "outer.zip/inner.tar/x.log"
	Size int64  // uncompressed size when the archive says it, else -1
	// Encoding is what textenc.Sniff made of the member's head; the reader
	// given with it still starts at the first byte (BOM included).
	Encoding textenc.Encoding
}

// Skip is an entry Walk did not give to its callback, and why, in words fit
// for a user: a binary member, a link, a device, an entry too large.
type Skip struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Result is what a walk found besides the members it gave to its callback.
type Result struct {
	Members int    // members given to the callback
	Bytes   int64  // uncompressed bytes produced, over all levels
	Skipped []Skip // in archive order; at most MaxMembers
}

// Reason names the limit or rule a refused archive broke.
type Reason string

const (
	TooLarge       Reason = "total_size"   // MaxTotalBytes
	MemberTooLarge Reason = "member_size"  // MaxMemberBytes, a member larger than its header said
	TooManyMembers Reason = "member_count" // MaxMembers
	Ratio          Reason = "ratio"        // MaxRatio
	TooDeep        Reason = "depth"        // MaxDepth
	BadPath        Reason = "path"         // a member path that escapes its folder
	Corrupt        Reason = "corrupt"      // not a valid archive of its format
	NotArchive     Reason = "not_archive"  // Walk of something that is no archive
)

// ErrRefused matches (errors.Is) every *Refusal.
var ErrRefused = errors.New("archive refused")

// Refusal is an archive Walk refused: it broke a limit, held a path that
// escapes its folder, or is not a valid archive. Its kind is Invalid (the
// upload's fault, a 4xx); its message names the limit and, where there is
// one, the member. I/O errors of the ReaderAt, errors of the callback and
// the context's are never a Refusal.
type Refusal struct {
	Reason Reason
	Path   string // the member at fault, if any
	Detail string
}

func (e *Refusal) Error() string {
	if e.Path != "" {
		return "archive refused: " + e.Path + ": " + e.Detail
	}
	return "archive refused: " + e.Detail
}

// ErrorKind makes a Refusal an apperr.Kinded of kind Invalid.
func (e *Refusal) ErrorKind() apperr.Kind { return apperr.Invalid }

// Is makes errors.Is(err, ErrRefused) true.
func (e *Refusal) Is(target error) bool { return target == ErrRefused }

func refuse(r Reason, p, format string, args ...any) *Refusal {
	return &Refusal{Reason: r, Path: p, Detail: fmt.Sprintf(format, args...)}
}

// Detect tells an archive by its first bytes, the name breaking ties: a
// gzip named .tgz or .tar.gz is TarGz (any other gzip is Gzip, and Walk
// still finds a tar inside it). Give it at least 512 bytes to recognise a
// tar; a name alone never makes an archive.
func Detect(name string, head []byte) Format {
	lower := strings.ToLower(name)
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		if strings.HasSuffix(lower, ".tgz") || strings.HasSuffix(lower, ".tar.gz") {
			return TarGz
		}
		return Gzip
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return Zip
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return Tar
	case len(head) >= 512 && strings.HasSuffix(lower, ".tar") && v7TarHeader(head[:512]):
		return Tar
	}
	return None
}

// v7TarHeader reports whether b is a pre-POSIX tar header: a name and a
// checksum that adds up.
func v7TarHeader(b []byte) bool {
	if b[0] == 0 {
		return false
	}
	field := bytes.TrimRight(bytes.TrimLeft(b[148:156], " \x00"), " \x00")
	if len(field) == 0 {
		return false
	}
	var want int64
	for _, c := range field {
		if c < '0' || c > '7' {
			return false
		}
		want = want*8 + int64(c-'0')
	}
	var sum int64
	for i, c := range b {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int64(c)
	}
	return sum == want
}

// Walk calls fn for every regular member of the archive in ra (size bytes,
// named name), in archive order, recursing into nested archives up to the
// depth limit. fn must read the member before it returns. An error from fn
// stops the walk and is returned as is, except when it is the member's own
// reader reporting the member damaged (see below). Members that are not
// text (binary, empty), links, devices, entries too large and damaged
// members (a bad checksum, a nested .gz cut short, a nested zip without
// its directory: one bad file does not refuse a bundle) are skipped:
// Unpack reports them. Damage to the archive around its members (a tar.gz
// cut short) refuses it.
func Walk(ctx context.Context, name string, ra io.ReaderAt, size int64, lim Limits,
	fn func(m Member, r io.Reader) error) error {
	_, err := Unpack(ctx, name, ra, size, lim, fn)
	return err
}

// Unpack is Walk that also returns what it skipped and why. The result is
// valid (what was found so far) even with an error.
func Unpack(ctx context.Context, name string, ra io.ReaderAt, size int64, lim Limits,
	fn func(m Member, r io.Reader) error) (*Result, error) {
	d := DefaultLimits()
	if lim.MaxTotalBytes <= 0 {
		lim.MaxTotalBytes = d.MaxTotalBytes
	}
	if lim.MaxMemberBytes <= 0 {
		lim.MaxMemberBytes = d.MaxMemberBytes
	}
	if lim.MaxMembers <= 0 {
		lim.MaxMembers = d.MaxMembers
	}
	if lim.MaxRatio <= 0 {
		lim.MaxRatio = d.MaxRatio
	}
	if lim.MaxDepth < 0 {
		lim.MaxDepth = 0
	}
	w := &walker{ctx: ctx, lim: lim, fn: fn, topSize: size, res: &Result{}}
	src := &trackedReaderAt{ra: ra, w: w}
	w.src = src
	head := make([]byte, min(size, 512))
	n, err := io.NewSectionReader(src, 0, size).ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return w.res, fmt.Errorf("archive: read: %w", err)
	}
	head = head[:n]
	base := path.Base(strings.ReplaceAll(name, "\\", "/"))
	err = w.archive(0, "", base, Detect(name, head), src, size)
	if err != nil && w.ioErr != nil {
		// The store or the disk failed under us: an I/O error, not the
		// archive's fault, whatever the reader made of the missing bytes.
		err = fmt.Errorf("archive: read: %w", w.ioErr)
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			err = cerr
		}
	}
	return w.res, err
}

// trackedReaderAt remembers the first real error of the underlying
// ReaderAt, so a failing disk is not reported as a corrupt archive.
type trackedReaderAt struct {
	ra io.ReaderAt
	w  *walker
}

func (t *trackedReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		// An offset computed from a crafted header: the archive's fault.
		return 0, errors.New("an offset before the start of the file")
	}
	n, err := t.ra.ReadAt(p, off)
	if err != nil && err != io.EOF && t.w.ioErr == nil {
		t.w.ioErr = err
	}
	return n, err
}

type walker struct {
	ctx     context.Context
	lim     Limits
	fn      func(Member, io.Reader) error
	src     *trackedReaderAt
	ioErr   error // the first error of a ReaderAt: the archive's or a spool's
	topSize int64
	entries int // every entry seen, over all levels
	res     *Result

	// Reused per nesting depth (members of one depth come one at a time;
	// a nested archive's members are one depth down): a member's sniff
	// buffer and a zip member's decompressor, so 100,000 small members do
	// not cost 100,000 of each.
	sniffers []*bufio.Reader
	inflates []io.ReadCloser
	rawBufs  []*bufio.Reader
}

// reuse returns the buffer of slot depth in bufs, reset to read r.
func reuse(bufs *[]*bufio.Reader, depth, size int, r io.Reader) *bufio.Reader {
	for len(*bufs) <= depth {
		*bufs = append(*bufs, nil)
	}
	if (*bufs)[depth] == nil {
		(*bufs)[depth] = bufio.NewReaderSize(r, size)
	} else {
		(*bufs)[depth].Reset(r)
	}
	return (*bufs)[depth]
}

func (w *walker) sniffer(depth int, r io.Reader) *bufio.Reader {
	return reuse(&w.sniffers, depth, textenc.SniffSize, r)
}

func (w *walker) inflater(depth int, r io.Reader) io.Reader {
	for len(w.inflates) <= depth {
		w.inflates = append(w.inflates, nil)
	}
	if w.inflates[depth] == nil {
		w.inflates[depth] = flate.NewReader(r)
	} else if err := w.inflates[depth].(flate.Resetter).Reset(r, nil); err != nil {
		w.inflates[depth] = flate.NewReader(r)
	}
	return w.inflates[depth]
}

func (w *walker) skip(p, reason string) {
	w.res.Skipped = append(w.res.Skipped, Skip{Path: p, Reason: reason})
}

// entry counts one more archive entry against MaxMembers.
func (w *walker) entry() error {
	w.entries++
	if w.entries > w.lim.MaxMembers {
		return refuse(TooManyMembers, "", "more than %d members (the limit)", w.lim.MaxMembers)
	}
	return w.ctx.Err()
}

// produced counts n more uncompressed bytes against the total and the
// overall ratio.
func (w *walker) produced(n int64) error {
	w.res.Bytes += n
	if w.res.Bytes > w.lim.MaxTotalBytes {
		return refuse(TooLarge, "", "unpacks to more than %s (the limit)", human(w.lim.MaxTotalBytes))
	}
	if w.res.Bytes > RatioFloor && float64(w.res.Bytes) > w.lim.MaxRatio*float64(max(w.topSize, 1)) {
		return refuse(Ratio, "", "unpacks to more than %.0f times its size (the limit): a zip bomb?", w.lim.MaxRatio)
	}
	return nil
}

// archive walks one archive of format f, itself at path p (relative to the
// top; "" for the top) and named name, at nesting depth depth.
func (w *walker) archive(depth int, p, name string, f Format, ra io.ReaderAt, size int64) error {
	if depth > w.lim.MaxDepth {
		return refuse(TooDeep, p, "archives nested more than %d deep (the limit)", w.lim.MaxDepth)
	}
	prefix := ""
	if p != "" {
		prefix = p + "/"
	}
	switch f {
	case Zip:
		return w.zip(depth, prefix, ra, size)
	case Tar:
		return w.tar(depth, prefix, io.NewSectionReader(ra, 0, size), false)
	case Gzip, TarGz:
		if p == "" {
			return w.gzip(depth, name, true, io.NewSectionReader(ra, 0, size))
		}
		return w.gzip(depth, p, false, io.NewSectionReader(ra, 0, size))
	default:
		return refuse(NotArchive, p, "not a .zip, .tar, .gz or .tar.gz archive")
	}
}

// nested walks an archive found as member p of another, read from r whose
// bytes were already counted. A zip needs random access: it is spooled.
func (w *walker) nested(depth int, p string, f Format, r io.Reader, size int64) error {
	if depth > w.lim.MaxDepth {
		return refuse(TooDeep, p, "archives nested more than %d deep (the limit)", w.lim.MaxDepth)
	}
	switch f {
	case Tar:
		return w.tar(depth, p+"/", r, true)
	case Gzip, TarGz:
		return w.gzip(depth, p, false, r)
	case Zip:
		return w.spooledZip(depth, p, r, size)
	}
	return refuse(NotArchive, p, "not an archive")
}

// gzip walks a gzip stream at path p (its name when top): one file, named
// as the gzip without .gz, or a tar (a .tar.gz, whatever its name) walked
// at the same depth, its members under p (at the top level when top).
func (w *walker) gzip(depth int, p string, top bool, r io.Reader) error {
	in := &countReader{r: r}
	zr, err := gzip.NewReader(bufio.NewReader(in))
	if err != nil {
		return corrupt(p, "gzip", err)
	}
	defer zr.Close()
	// The whole decompressed stream counts against the total and its
	// ratio, whatever reads it: a tar's members, or the file itself.
	g := &guard{w: w, r: zr, in: in, path: p, maxOut: w.lim.MaxTotalBytes, over: TooLarge, total: true, format: "gzip"}
	br := bufio.NewReaderSize(g, 64<<10)
	head, _ := br.Peek(512)
	if g.err != nil {
		return g.err
	}
	if len(head) >= 262 && string(head[257:262]) == "ustar" {
		prefix := p + "/"
		if top {
			prefix = ""
		}
		return w.tar(depth, prefix, br, true)
	}
	inner := p
	if lower := strings.ToLower(p); strings.HasSuffix(lower, ".tgz") {
		inner = p[:len(p)-4] + ".tar"
	} else {
		for _, ext := range []string{".gz", ".gzip"} {
			if strings.HasSuffix(lower, ext) && len(p) > len(ext) && p[len(p)-len(ext)-1] != '/' {
				inner = p[:len(p)-len(ext)]
				break
			}
		}
	}
	if top {
		var why string
		if inner, why, err = memberPath("", inner); err != nil || why != "" {
			inner = "file"
		}
	}
	if err := w.entry(); err != nil {
		return err
	}
	// The gzip's own bytes are already counted by g; the member guard only
	// enforces the member limit.
	m := &guard{w: w, r: br, path: inner, maxOut: w.lim.MaxMemberBytes, format: "gzip"}
	return w.member(depth, inner, -1, m)
}

// tar walks a tar stream; counted says its bytes were already counted
// against the total (it came out of a gzip or another archive).
func (w *walker) tar(depth int, prefix string, r io.Reader, counted bool) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			if g := asRefusal(err); g != nil {
				return g
			}
			return corrupt(strings.TrimSuffix(prefix, "/"), "tar", err)
		}
		if err := w.entry(); err != nil {
			return err
		}
		p, why, err := memberPath(prefix, hdr.Name)
		if err != nil {
			return err
		}
		if why != "" {
			w.skip(p, why)
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		case tar.TypeDir:
			continue
		case tar.TypeSymlink, tar.TypeLink:
			w.skip(p, "a link: links are not followed")
			continue
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			w.skip(p, "a device or pipe, not a file")
			continue
		default:
			w.skip(p, fmt.Sprintf("an entry of tar type %q, not a regular file", hdr.Typeflag))
			continue
		}
		if hdr.Size > w.lim.MaxMemberBytes {
			w.skip(p, fmt.Sprintf("larger than the %s allowed per member", human(w.lim.MaxMemberBytes)))
			continue
		}
		// A plain tar's members are read straight from the archive: they
		// count towards the total here. Inside a gzip they were counted as
		// the gzip produced them.
		m := &guard{w: w, r: tr, path: p, maxOut: w.lim.MaxMemberBytes, total: !counted, format: "tar"}
		if err := w.member(depth, p, hdr.Size, m); err != nil {
			return err
		}
	}
}

func (w *walker) zip(depth int, prefix string, ra io.ReaderAt, size int64) error {
	where := strings.TrimSuffix(prefix, "/")
	// archive/zip holds every directory entry in memory: count them first.
	if n, ok := zipEntries(ra, size, w.lim.MaxMembers-w.entries+1); ok && w.entries+n > w.lim.MaxMembers {
		return refuse(TooManyMembers, where, "more than %d members (the limit)", w.lim.MaxMembers)
	}
	zr, err := zip.NewReader(ra, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return corrupt(where, "zip", err)
	}
	var declared uint64
	for _, f := range zr.File {
		if declared += f.UncompressedSize64; declared < f.UncompressedSize64 {
			declared = 1 << 63 // wrapped around: a lie, and over any limit
		}
	}
	if declared > uint64(w.lim.MaxTotalBytes) {
		return refuse(TooLarge, where, "its members say they unpack to %s, more than the %s limit",
			human(int64(min(declared, 1<<62))), human(w.lim.MaxTotalBytes))
	}
	for _, f := range zr.File {
		if err := w.entry(); err != nil {
			return err
		}
		name := f.Name
		if f.NonUTF8 && !utf8.ValidString(name) {
			// The zip format's legacy encoding, still what Windows' own
			// "Send to compressed folder" writes for non-ASCII names.
			if dec, err := charmap.CodePage437.NewDecoder().String(name); err == nil {
				name = dec
			}
		}
		p, why, err := memberPath(prefix, name)
		if err != nil {
			return err
		}
		if why != "" {
			w.skip(p, why)
			continue
		}
		mode := f.Mode()
		switch {
		case mode.IsDir() || strings.HasSuffix(f.Name, "/"):
			continue
		case mode&os.ModeSymlink != 0:
			w.skip(p, "a link: links are not followed")
			continue
		case !mode.IsRegular():
			w.skip(p, "a device or pipe, not a file")
			continue
		case f.Flags&1 != 0:
			w.skip(p, "encrypted")
			continue
		case f.Method != zip.Store && f.Method != zip.Deflate:
			w.skip(p, fmt.Sprintf("compressed with method %d, which is not supported (only stored and deflate)", f.Method))
			continue
		case f.UncompressedSize64 > uint64(w.lim.MaxMemberBytes):
			w.skip(p, fmt.Sprintf("larger than the %s allowed per member", human(w.lim.MaxMemberBytes)))
			continue
		}
		if f.UncompressedSize64 > RatioFloor && float64(f.UncompressedSize64) > w.lim.MaxRatio*float64(max(f.CompressedSize64, 1)) {
			return refuse(Ratio, p, "compressed more than %.0f times (the limit): a zip bomb?", w.lim.MaxRatio)
		}
		if err := w.zipMember(depth, p, f); err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) zipMember(depth int, p string, f *zip.File) error {
	raw, err := f.OpenRaw()
	if err != nil {
		return corrupt(p, "zip", err)
	}
	in := &countReader{r: raw}
	var dec io.Reader = in
	if f.Method == zip.Deflate {
		dec = w.inflater(depth, reuse(&w.rawBufs, depth, 4096, in))
	}
	m := &guard{w: w, r: dec, in: in, path: p, maxOut: w.lim.MaxMemberBytes, total: true, format: "zip",
		declared: int64(f.UncompressedSize64), checkDeclared: true, crc: crc32.NewIEEE(), wantCRC: f.CRC32}
	if f.Method == zip.Store {
		m.in = nil // stored: no ratio to watch
	}
	size := int64(f.UncompressedSize64)
	if f.Method == zip.Store && packageExt(p) == "" {
		// A stored zip inside a zip is read in place, without a copy.
		var head [4]byte
		if off, err := f.DataOffset(); err == nil && size >= 22 {
			if _, err := w.src.ReadAt(head[:], off); err == nil && Detect(p, head[:]) == Zip {
				if err := w.produced(size); err != nil {
					return err
				}
				return w.damaged(p, w.archive(depth+1, p, path.Base(p), Zip, io.NewSectionReader(w.src, off, size), size))
			}
		}
	}
	return w.member(depth, p, size, m)
}

// member sniffs the head of the member read through g: a nested archive
// is walked, a binary or empty member is skipped, a text one goes to fn
// with a reader of all of it. g's counting sees every byte once: the
// buffer here reads through it.
func (w *walker) member(depth int, p string, size int64, g *guard) error {
	br := w.sniffer(depth, g)
	head, _ := br.Peek(textenc.SniffSize)
	if g.err != nil {
		return w.damaged(p, g.err)
	}
	if f := Detect(p, head); f != None {
		if ext := packageExt(p); ext != "" && f == Zip {
			w.skip(p, "a "+ext+" file (a document or package in zip form), not a log")
			return nil
		}
		err := w.nested(depth+1, p, f, br, size)
		if g.err != nil {
			// The stream holding the nested archive failed: that is the
			// outer archive's problem, not the nested one's.
			return w.damaged(p, g.err)
		}
		return w.damaged(p, err)
	}
	info := textenc.Sniff(head)
	if !info.Text {
		w.skip(p, info.Reason)
		return nil
	}
	if err := w.fn(Member{Path: p, Size: size, Encoding: info.Encoding}, br); err != nil {
		return w.damaged(p, err)
	}
	if g.err != nil {
		// fn swallowed a limit or corruption its reader reported.
		return w.damaged(p, g.err)
	}
	w.res.Members++
	return nil
}

// damaged turns err, when it says that the member or nested archive at p
// is itself corrupt (a bad checksum, a truncated .gz, an unreadable nested
// zip), into a skip of p: one damaged file in a support bundle does not
// refuse the rest. Limits, bad paths, corruption of the archive around p,
// fn's own errors and I/O errors are returned as they are. A member whose
// reader failed this way was not counted; fn saw the failure and must not
// keep it.
func (w *walker) damaged(p string, err error) error {
	r := asRefusal(err)
	if r == nil || r.Reason != Corrupt || r.Path != p || w.ioErr != nil {
		return err
	}
	w.skip(p, "damaged: "+r.Detail)
	return nil
}

// packageExt is the extension of p when it names a zip-based document or
// package format, whose insides are no logs.
func packageExt(p string) string {
	ext := strings.ToLower(path.Ext(p))
	switch ext {
	case ".docx", ".xlsx", ".pptx", ".odt", ".ods", ".odp", ".jar", ".war", ".ear", ".apk", ".epub",
		".whl", ".nupkg", ".vsix", ".xpi", ".ipa", ".aar":
		return ext
	}
	return ""
}

// spooledZip walks a compressed zip found inside another archive: zip needs
// random access, so it is read into memory when small and into a temporary
// file otherwise, never beyond the member limit (g enforces it).
func (w *walker) spooledZip(depth int, p string, g io.Reader, size int64) error {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(g, memSpool+1))
	if err != nil {
		return err
	}
	if n <= memSpool {
		return w.archive(depth, p, path.Base(p), Zip, bytes.NewReader(buf.Bytes()), n)
	}
	f, err := os.CreateTemp(w.lim.TempDir, "rca-archive-*.zip")
	if err != nil {
		return fmt.Errorf("archive: spool a nested zip: %w", err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	if _, err := f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("archive: spool a nested zip: %w", err)
	}
	buf = bytes.Buffer{}
	rest, err := io.Copy(f, g)
	if err != nil {
		if r := asRefusal(err); r != nil {
			return r
		}
		return fmt.Errorf("archive: spool a nested zip: %w", err)
	}
	return w.archive(depth, p, path.Base(p), Zip, &trackedReaderAt{ra: f, w: w}, n+rest)
}

// guard reads a decompressed stream and enforces the limits as the bytes
// come: the member limit (or the header's size, which must be exact), the
// ratio to the compressed bytes consumed (in), the walk's total when total
// is set, and a CRC when it has one. Its first error sticks.
type guard struct {
	w      *walker
	r      io.Reader
	in     *countReader // compressed bytes consumed; nil when not compressed
	path   string
	format string
	out    int64
	maxOut int64
	over   Reason // what passing maxOut means: TooLarge or MemberTooLarge
	total  bool

	declared      int64
	checkDeclared bool
	crc           interface {
		io.Writer
		Sum32() uint32
	}
	wantCRC uint32
	err     error
}

func (g *guard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.r.Read(p)
	if n > 0 {
		if cerr := g.count(p[:n]); cerr != nil {
			g.err = cerr
			return 0, cerr
		}
	}
	if err == io.EOF {
		if cerr := g.atEOF(); cerr != nil {
			g.err = cerr
			return n, cerr
		}
		return n, io.EOF
	}
	return n, g.fail(err)
}

func (g *guard) fail(err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	if g.err == nil {
		if r := asRefusal(err); r != nil {
			g.err = r
		} else if g.w.ioErr != nil || isCtx(err) {
			g.err = err
		} else {
			g.err = corrupt(g.path, g.format, err)
		}
	}
	return g.err
}

func isCtx(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func (g *guard) count(b []byte) error {
	g.out += int64(len(b))
	if g.crc != nil {
		g.crc.Write(b)
	}
	if err := g.w.ctx.Err(); err != nil {
		return err
	}
	if g.checkDeclared && g.out > g.declared {
		return refuse(MemberTooLarge, g.path, "the member is larger than its header says")
	}
	if g.out > g.maxOut {
		if g.over == TooLarge {
			return refuse(TooLarge, g.path, "unpacks to more than %s (the limit)", human(g.maxOut))
		}
		return refuse(MemberTooLarge, g.path, "unpacks to more than the %s allowed per member", human(g.maxOut))
	}
	if g.in != nil && g.out > RatioFloor && float64(g.out) > g.w.lim.MaxRatio*float64(max(g.in.n, 1)) {
		return refuse(Ratio, g.path, "compressed more than %.0f times (the limit): a zip bomb?", g.w.lim.MaxRatio)
	}
	if g.total {
		return g.w.produced(int64(len(b)))
	}
	return nil
}

func (g *guard) atEOF() error {
	if g.checkDeclared && g.out != g.declared {
		return refuse(Corrupt, g.path, "the member is shorter than its header says")
	}
	if g.crc != nil && g.crc.Sum32() != g.wantCRC {
		return refuse(Corrupt, g.path, "the member's checksum does not match")
	}
	return nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func asRefusal(err error) *Refusal {
	var r *Refusal
	if errors.As(err, &r) {
		return r
	}
	return nil
}

func corrupt(p, format string, err error) error {
	if r := asRefusal(err); r != nil {
		return r
	}
	if isCtx(err) {
		return err
	}
	return &Refusal{Reason: Corrupt, Path: p, Detail: "not a valid " + format + " archive (" + err.Error() + ")"}
}

// memberPath turns an entry's name into its path under prefix. A name that
// would escape its folder (absolute, a drive letter, a ".." component, also
// with backslashes) refuses the whole archive: such an archive was made to
// attack. Control characters and invalid UTF-8 become U+FFFD so the path is
// safe to store and show; other characters (right-to-left overrides
// included) are data and kept. why is set for an entry to skip.
func memberPath(prefix, name string) (p, why string, err error) {
	shown := prefix + cleanChars(name)
	n := strings.ReplaceAll(cleanChars(name), "\\", "/")
	switch {
	case strings.HasPrefix(n, "/"):
		return "", "", refuse(BadPath, shown, "an absolute path")
	case len(n) >= 2 && n[1] == ':' && (n[0]|0x20 >= 'a' && n[0]|0x20 <= 'z'):
		return "", "", refuse(BadPath, shown, "a path with a drive letter")
	}
	var segs []string
	for _, s := range strings.Split(n, "/") {
		switch s {
		case "", ".":
			continue
		case "..":
			return "", "", refuse(BadPath, shown, "a path with a .. component, which could escape its folder")
		}
		segs = append(segs, s)
	}
	p = prefix + strings.Join(segs, "/")
	if len(segs) == 0 {
		return prefix + ".", "an entry without a name", nil
	}
	if len(p) > maxPathBytes {
		return strings.ToValidUTF8(p[:256], "") + "…", fmt.Sprintf("a path longer than %d bytes", maxPathBytes), nil
	}
	return p, "", nil
}

// cleanChars replaces invalid UTF-8, NUL and the other control characters
// with U+FFFD.
func cleanChars(s string) string {
	ok := utf8.ValidString(s)
	if ok {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] == 0x7f {
				ok = false
				break
			}
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			r = '\uFFFD'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// zipEntries counts the central directory's entries of the zip in ra, up
// to limit (it stops counting there), without holding them. ok is false
// when the directory cannot be found; zip.NewReader then says why.
func zipEntries(ra io.ReaderAt, size int64, limit int) (n int, ok bool) {
	const eocdLen = 22
	tailLen := min(size, eocdLen+65535)
	if tailLen < eocdLen {
		return 0, false
	}
	tail := make([]byte, tailLen)
	if _, err := ra.ReadAt(tail, size-tailLen); err != nil && err != io.EOF {
		return 0, false
	}
	i := bytes.LastIndex(tail, []byte("PK\x05\x06"))
	for i >= 0 && i+eocdLen > len(tail) {
		i = bytes.LastIndex(tail[:i], []byte("PK\x05\x06"))
	}
	if i < 0 {
		return 0, false
	}
	eocdAt := size - tailLen + int64(i)
	dirSize := int64(le32(tail[i+12:]))
	dirOff := int64(le32(tail[i+16:]))
	if dirSize == 0xffffffff || dirOff == 0xffffffff || le16(tail[i+10:]) == 0xffff {
		// zip64: the locator sits just before the end record.
		if i < 20 || string(tail[i-20:i-16]) != "PK\x06\x07" {
			return 0, false
		}
		rec := make([]byte, 56)
		off := int64(le64(tail[i-20+8:]))
		if _, err := ra.ReadAt(rec, off); err != nil || string(rec[:4]) != "PK\x06\x06" {
			return 0, false
		}
		dirSize, dirOff = int64(le64(rec[40:])), int64(le64(rec[48:]))
		eocdAt = off
	}
	if dirSize < 0 || dirOff < 0 {
		return 0, false
	}
	start := dirOff
	sig := make([]byte, 4)
	if _, err := ra.ReadAt(sig, start); err != nil || string(sig) != "PK\x01\x02" {
		// Data before the zip (a self-extractor): the directory ends where
		// the end record starts.
		start = eocdAt - dirSize
	}
	if start < 0 || start >= size {
		return 0, false
	}
	br := bufio.NewReader(io.NewSectionReader(ra, start, size-start))
	hdr := make([]byte, 46)
	for n <= limit {
		if _, err := io.ReadFull(br, hdr); err != nil || string(hdr[:4]) != "PK\x01\x02" {
			return n, true
		}
		n++
		skip := int64(le16(hdr[28:])) + int64(le16(hdr[30:])) + int64(le16(hdr[32:]))
		if _, err := br.Discard(int(skip)); err != nil {
			return n, true
		}
	}
	return n, true
}

func le16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }
func le32(b []byte) uint32 { return uint32(le16(b)) | uint32(le16(b[2:]))<<16 }
func le64(b []byte) uint64 { return uint64(le32(b)) | uint64(le32(b[4:]))<<32 }

func human(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
