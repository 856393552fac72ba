package uploads

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rca-engine/api/internal/apperr"
	"github.com/rca-engine/api/internal/archive"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/textenc"
)

// Upload is one request's files on their way in: Receive each, then
// Commit (or Abort). Nothing is visible to anyone before Commit returns,
// and an Upload that is not committed leaves nothing behind once Abort
// (always deferred) has run.
type Upload struct {
	s     *Service
	actor *jobs.Actor
	id    uuid.UUID // touched_by of its blobs
	user  string    // metadata.uploader

	files []*staged // direct files, in the order received
	total int64
	// unpacked and entries: what the request's archives unpacked so far,
	// against the archive limits, which bound a request (the disk its
	// members are staged on), not each archive alone.
	unpacked int64
	entries  int
	temps    []string
	// pending: some rows were recorded ahead (prerecord).
	pending bool
	// stopArriving ends the job's "upload arriving" heartbeat.
	stopArriving func()
}

// staged is a file (or an archive member) whose bytes are in a temp file.
type staged struct {
	temp        string
	name        string // stored filename
	display     string // original_filename
	contentType string
	size        int64
	sum         string
	kind        string
	encoding    textenc.Encoding
	lines       int64
	offsets     []int64
	// archives
	archivePath string
	members     []*staged
	skipped     []Skipped
	// row is the archive's row when recorded ahead (prerecord).
	row *File
}

// Skipped is an archive member that was not kept, and why.
type Skipped struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// NewUpload starts an upload on behalf of a (nil: nobody checked); uploader
// is the name recorded in each file's metadata.
func (s *Service) NewUpload(a *jobs.Actor, uploader string) *Upload {
	if uploader == "" {
		uploader = jobs.DefaultUserID
	}
	return &Upload{s: s, actor: a, id: uuid.New(), user: uploader}
}

// Abort removes the upload's temp files. It is safe to call after Commit
// and more than once.
func (u *Upload) Abort() {
	if u.stopArriving != nil {
		u.stopArriving()
		u.stopArriving = nil
	}
	for _, t := range u.temps {
		_ = os.Remove(t)
	}
	u.temps = nil
}

// Count is how many files were received.
func (u *Upload) Count() int { return len(u.files) }

// Receive reads one file from body, named name by the client, into a temp
// file while hashing and counting it, and checks it: a type allowed, not
// empty, not over MaxFileBytes nor, with the files before it, over
// MaxRequestBytes, text (or an archive, whose members are unpacked and
// checked in turn). A refusal is a *Refusal naming the file.
func (u *Upload) Receive(ctx context.Context, name, contentType string, body io.Reader) error {
	cfg := u.s.cfg
	stored, display := SanitizeName(name), DisplayName(name)
	if len(u.files) >= cfg.MaxFiles {
		return &Refusal{Kind: apperr.BadRequest, TooLarge: true, Filename: display,
			Detail: fmt.Sprintf("one request takes at most %d files; send the others in another request", cfg.MaxFiles)}
	}
	if ok, why := u.s.Allowed(stored); !ok {
		return refuse(display, "%s", why)
	}
	limit := min(cfg.MaxFileBytes, cfg.MaxRequestBytes-u.total)
	st, err := u.stage(ctx, body, limit)
	if err != nil {
		var over *overLimit
		if errors.As(err, &over) {
			detail := fmt.Sprintf("the file is larger than the %s allowed per file (MAX_FILE_SIZE_MB)", mib(cfg.MaxFileBytes))
			if limit < cfg.MaxFileBytes {
				detail = fmt.Sprintf("the files of this request are larger together than the %s allowed per request (UPLOAD_MAX_REQUEST_MB)",
					mib(cfg.MaxRequestBytes))
			}
			return &Refusal{Kind: apperr.BadRequest, TooLarge: true, Filename: display, Detail: detail}
		}
		return err
	}
	u.total += st.size
	st.name, st.display, st.contentType = stored, display, contentType
	if st.size == 0 {
		return refuse(display, "the file is empty: there is nothing to analyse")
	}
	for _, f := range u.files {
		if f.sum == st.sum {
			return &Refusal{Kind: apperr.Conflict, Filename: display,
				Detail: fmt.Sprintf("the file has the same content as %q, sent earlier in this request", f.display)}
		}
	}
	head, err := readHead(st.temp)
	if err != nil {
		return err
	}
	if format := archive.Detect(stored, head); format != archive.None {
		if err := u.unpack(ctx, st, format); err != nil {
			return err
		}
	} else if why := textRefusal(head, st); why != "" {
		return refuse(display, "%s", why)
	}
	st.contentType = contentTypeOf(st)
	u.files = append(u.files, st)
	return nil
}

// textRefusal judges a file's head: "" for text (its encoding recorded in
// st), else why it is refused.
func textRefusal(head []byte, st *staged) string {
	if bytes.HasPrefix(head, []byte("ElfFile\x00")) {
		return "the file is a binary Windows event log (.evtx): export it as XML or CSV first " +
			"(wevtutil qe <log> /f:xml > events.xml, or Get-WinEvent … | Export-Csv events.csv)"
	}
	info := textenc.Sniff(head)
	if !info.Text {
		return info.Reason + "; only text logs (UTF-8, UTF-16 with a byte-order mark, Latin-1) and archives of them are accepted"
	}
	st.kind, st.encoding = KindLog, info.Encoding
	return ""
}

func contentTypeOf(st *staged) string {
	if st.kind == KindArchive {
		return map[string]string{"zip": "application/zip", "gz": "application/gzip", "tgz": "application/gzip",
			"tar": "application/x-tar"}[extension(st.name)]
	}
	ct := strings.ToLower(strings.TrimSpace(st.contentType))
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = strings.TrimSpace(ct[:i])
	}
	switch {
	case ct == "", ct == "application/octet-stream", len(ct) > 100, strings.ContainsFunc(ct, unsafeRune):
		ct = "text/plain"
	case strings.HasPrefix(ct, "text/"), ct == "application/json", ct == "application/xml", ct == "application/yaml",
		ct == "application/x-yaml", ct == "application/x-ndjson":
	default:
		ct = "text/plain"
	}
	return ct
}

type overLimit struct{ limit int64 }

func (e *overLimit) Error() string { return fmt.Sprintf("over the limit of %d bytes", e.limit) }

// stage copies at most limit bytes of r into a new temp file, hashing and
// indexing its lines on the way; one byte more is an *overLimit (the temp
// file is then removed at once).
func (u *Upload) stage(ctx context.Context, r io.Reader, limit int64) (*staged, error) {
	f, err := os.CreateTemp(u.s.tmp, "up-*")
	if err != nil {
		u.s.cfg.Logger.Warn("the upload directory cannot take an upload", "error", err)
		return nil, noRoom(err)
	}
	u.temps = append(u.temps, f.Name())
	h := sha256.New()
	idx := &lineIndex{}
	tf := &trackedWriter{w: f}
	n, err := io.Copy(io.MultiWriter(tf, h, idx), ctxReader{ctx, io.LimitReader(r, limit+1)})
	if tf.err != nil {
		err = noRoom(tf.err) // the disk's failure, not the client's
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = noRoom(cerr)
	}
	if tf.err != nil || errors.As(err, new(*apperr.Error)) {
		u.s.cfg.Logger.Warn("the upload directory cannot take an upload", "error", err)
	}
	if err == nil && n > limit {
		err = &overLimit{limit}
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return nil, err
	}
	lines, offsets := idx.finish()
	return &staged{temp: f.Name(), size: n, sum: hex.EncodeToString(h.Sum(nil)), lines: lines, offsets: offsets}, nil
}

// trackedWriter remembers its writer's error, to tell a failing disk
// from a failing client in a copy.
type trackedWriter struct {
	w   io.Writer
	err error
}

func (t *trackedWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if err != nil {
		t.err = err
	}
	return n, err
}

// noRoom is the upload directory failing to take the bytes (full, or
// failing): a 503 the client may retry, without the server's paths (err
// is for the log only).
func noRoom(err error) error {
	return &apperr.Error{Kind: apperr.Unavailable, RetryAfter: 30 * time.Second, Err: fmt.Errorf("uploads: temp file: %w", err),
		Message: "The server has no room for the upload right now (its upload directory is full or failing); try again later."}
}

// ctxReader stops a copy when the request ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func readHead(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, textenc.SniffSize)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return head[:n], nil
}

// unpack walks an archive's members into staged files: text members are
// kept, others skipped with a reason in the archive's metadata.skipped.
// An archive that breaks a limit (a bomb) or holds a path escaping its
// folder is refused whole.
func (u *Upload) unpack(ctx context.Context, st *staged, format archive.Format) error {
	st.kind = KindArchive
	f, err := os.Open(st.temp)
	if err != nil {
		return err
	}
	defer f.Close()
	seen := map[string]string{}
	lim := u.s.cfg.Archive
	lim.TempDir = u.s.tmp
	// What the archives before this one in the request left of the
	// limits (zero would mean the defaults to archive.Unpack).
	shared := u.unpacked > 0 || u.entries > 0
	lim.MaxTotalBytes -= u.unpacked
	lim.MaxMembers -= u.entries
	if lim.MaxTotalBytes <= 0 || lim.MaxMembers <= 0 {
		return refuse(st.display, "the archive was refused: the archives of this request unpack to more than the limits per request "+
			"(%s, %d members) together; send it in another request", human(u.s.cfg.Archive.MaxTotalBytes), u.s.cfg.Archive.MaxMembers)
	}
	entries := 0
	defer func() { u.entries += entries }()
	res, err := archive.Unpack(ctx, st.name, f, st.size, lim, func(m archive.Member, r io.Reader) error {
		entries++
		ms, err := u.stage(ctx, r, lim.MaxMemberBytes)
		if err != nil {
			return err
		}
		skip := func(reason string) error {
			st.skipped = append(st.skipped, Skipped{m.Path, reason})
			_ = os.Remove(ms.temp)
			return nil
		}
		if ms.size == 0 {
			return skip("empty")
		}
		if first, dup := seen[ms.sum]; dup {
			return skip(fmt.Sprintf("same content as %s", first))
		}
		head, err := readHead(ms.temp)
		if err != nil {
			return err
		}
		if why := textRefusal(head, ms); why != "" {
			return skip(why)
		}
		seen[ms.sum] = m.Path
		ms.archivePath = m.Path
		ms.name = SanitizeName(path.Base(m.Path))
		ms.display = DisplayName(m.Path)
		ms.contentType = contentTypeOf(ms)
		st.members = append(st.members, ms)
		return nil
	})
	if res != nil {
		for _, sk := range res.Skipped {
			st.skipped = append(st.skipped, Skipped{sk.Path, sk.Reason})
		}
		u.unpacked += res.Bytes
		entries += len(res.Skipped)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var refused *archive.Refusal
		if errors.As(err, &refused) && shared && (refused.Reason == archive.TooLarge || refused.Reason == archive.TooManyMembers) {
			return refuse(st.display, "the archive was refused: with the archives before it, this request unpacks to more than "+
				"the limits per request (%s, %d members); send it in another request",
				human(u.s.cfg.Archive.MaxTotalBytes), u.s.cfg.Archive.MaxMembers)
		}
		if errors.As(err, &refused) {
			return refuse(st.display, "the archive was refused: %s", strings.TrimPrefix(refused.Error(), "archive refused: "))
		}
		var over *overLimit
		if errors.As(err, &over) {
			return refuse(st.display, "the archive was refused: a member is larger than the %s allowed per member", mib(lim.MaxMemberBytes))
		}
		return err // our disk, or the client's connection: not the archive's fault
	}
	return nil
}

// metadata is a file row's metadata.
func (st *staged) metadata(uploader string) json.RawMessage {
	m := map[string]any{"uploader": uploader}
	if st.kind == KindArchive {
		skipped := st.skipped
		if skipped == nil {
			skipped = []Skipped{}
		}
		m["members"] = len(st.members)
		m["skipped"] = skipped
	}
	if st.kind == KindLog {
		m["lines"] = st.lines
	}
	b, _ := json.Marshal(m)
	return b
}

// human is n bytes in the largest binary unit that divides it.
func human(n int64) string {
	for _, u := range []struct {
		shift uint
		name  string
	}{{30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d %s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}
