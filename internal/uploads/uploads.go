// Package uploads attaches files to jobs: it streams what a client sends
// into a temporary file while hashing and counting it, refuses what cannot
// be analysed (empty, binary, a type not allowed, over a size limit),
// unpacks archives into their members, stores the content once in a
// content-addressed blob.Store, and records the rows, the job's
// last upload and the file-uploaded events in one transaction. It also
// serves the files back (metadata, content, a window of lines), to those
// allowed to see the job only (jobs.Policy.MaySee).
//
// Ordering, so that a failed upload leaves nothing behind and a concurrent
// one never loses content: the bytes are staged in UPLOAD_DIR/tmp (no
// lock, no transaction held); then the blobs rows are touched (a short
// transaction that marks the content as in use by this upload); then the
// content is put into the store; then one short transaction records the
// files. The sweep deletes content only for blob rows nothing references
// and nobody touched for its grace period, under a row lock, so content an
// upload touched is never deleted under it. A failed upload removes its
// temp files at once, and its blobs at once when nobody else touched them
// since (else, or if PostgreSQL is down, the sweep does).
package uploads

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rca-engine/api/internal/apperr"
	"github.com/rca-engine/api/internal/archive"
	"github.com/rca-engine/api/internal/blob"
	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/jobs"
)

// DefaultAllowedTypes are the original's ALLOWED_FILE_TYPES, plus the
// archive types (unpacked into their members) and evtx (Windows event
// logs exported as text, XML or CSV; a binary .evtx is refused, saying how
// to export it).
var DefaultAllowedTypes = []string{"log", "txt", "json", "xml", "csv", "yaml", "yml", "zip", "gz", "tgz", "tar", "evtx"}

// ArchiveTypes are the extensions of the archives that are unpacked.
var ArchiveTypes = []string{"zip", "gz", "tgz", "tar", "tar.gz"}

// Config is the uploads' settings.
type Config struct {
	// Dir is UPLOAD_DIR: temporary files go to Dir/tmp.
	Dir string
	// MaxFileBytes bounds one file (MAX_FILE_SIZE_MB), MaxRequestBytes one
	// request's files together (UPLOAD_MAX_REQUEST_MB).
	MaxFileBytes    int64
	MaxRequestBytes int64
	// MaxFiles bounds the file parts of one request (default 100).
	MaxFiles int
	// AllowedTypes are extensions without the dot (ALLOWED_FILE_TYPES);
	// a name without an extension is allowed, as in the original.
	AllowedTypes []string
	// Archive bounds what one archive may unpack to.
	Archive archive.Limits
	// SweepGrace: blobs nothing uses are deleted this long after they
	// were last touched (default 1h; it must exceed the longest upload's
	// time from touch to commit).
	SweepGrace time.Duration
	Logger     *slog.Logger

	// AfterStore, for tests of failures, runs after an upload's content is
	// stored and before the transaction that records it.
	AfterStore func()
}

func (c *Config) setDefaults() {
	if c.Dir == "" {
		c.Dir = "uploads"
	}
	if c.MaxFileBytes <= 0 {
		c.MaxFileBytes = 100 << 20
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = max(c.MaxFileBytes, 1<<30)
	}
	if c.MaxFiles <= 0 {
		c.MaxFiles = 100
	}
	if c.AllowedTypes == nil {
		c.AllowedTypes = DefaultAllowedTypes
	}
	if c.Archive == (archive.Limits{}) {
		// Members are not bound by MaxFileBytes: a 100 MB zip of logs
		// unpacks to several times that, which is what users send.
		c.Archive = archive.DefaultLimits()
	}
	if c.SweepGrace <= 0 {
		c.SweepGrace = time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// File is a file of a job, with the original's keys first.
type File struct {
	ID               uuid.UUID       `json:"id"`
	JobID            uuid.UUID       `json:"job_id"`
	Filename         string          `json:"filename"`
	OriginalFilename string          `json:"original_filename"`
	ContentType      string          `json:"content_type"`
	FileSize         int64           `json:"file_size"`
	Checksum         string          `json:"checksum"`
	Processed        bool            `json:"processed"`
	ProcessedAt      *time.Time      `json:"processed_at"`
	CreatedAt        time.Time       `json:"created_at"`
	Metadata         json.RawMessage `json:"metadata"`
	// Ours.
	Kind        string     `json:"kind"` // log or archive
	ArchivePath *string    `json:"archive_path"`
	ParentID    *uuid.UUID `json:"parent_id"`
	Encoding    *string    `json:"encoding"`

	key       string
	lineCount int64
	lineStep  int
	offsets   []int64
}

// Kinds of file.
const (
	KindLog     = "log"
	KindArchive = "archive"
)

// Service is the uploads' use cases.
type Service struct {
	db      *db.DB
	events  *eventlog.Log
	jobs    *jobs.Service
	store   blob.Store
	storage *Storage
	cfg     Config
	tmp     string

	// afterPut, in tests, runs between storing the content and the
	// transaction that records it.
	afterPut func()
	// beforeRecord, in tests, runs just before the upload's last
	// transaction; an error fails the upload there.
	beforeRecord func() error
}

// New returns the uploads on database d, storing content in storage.
func New(d *db.DB, events *eventlog.Log, js *jobs.Service, storage *Storage, cfg Config) (*Service, error) {
	cfg.setDefaults()
	tmp := filepath.Join(cfg.Dir, "tmp")
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		return nil, fmt.Errorf("uploads: temp dir: %w", err)
	}
	return &Service{db: d, events: events, jobs: js, store: storage.Store(), storage: storage, cfg: cfg, tmp: tmp,
		afterPut: cfg.AfterStore}, nil
}

// Config returns the effective settings (defaults filled in).
func (s *Service) Config() Config { return s.cfg }

// TempDir is where uploads stage their bytes.
func (s *Service) TempDir() string { return s.tmp }

// Allowed reports whether a file named name may be uploaded, and if not
// why, in words for the user.
func (s *Service) Allowed(name string) (bool, string) {
	ext := extension(name)
	if ext == "" || slices.Contains(s.cfg.AllowedTypes, ext) {
		return true, ""
	}
	return false, fmt.Sprintf("files of type .%s are not accepted; allowed types: %s (and names without an extension)",
		ext, strings.Join(s.cfg.AllowedTypes, ", "))
}

// Validation is the answer of POST /api/files/validate.
type Validation struct {
	IsAllowed bool     `json:"is_allowed"`
	Reasons   []string `json:"reasons"`
}

// Validate says, before an upload, whether a file of that name and size
// would be accepted by its name and size (its content is judged on
// upload).
func (s *Service) Validate(name string, size int64) Validation {
	v := Validation{Reasons: []string{}}
	if ok, why := s.Allowed(SanitizeName(name)); !ok {
		v.Reasons = append(v.Reasons, why)
	}
	if size > s.cfg.MaxFileBytes {
		v.Reasons = append(v.Reasons, fmt.Sprintf("the file is larger than the %s allowed per file", mib(s.cfg.MaxFileBytes)))
	}
	if size == 0 {
		v.Reasons = append(v.Reasons, "empty files are not accepted")
	}
	v.IsAllowed = len(v.Reasons) == 0
	return v
}

func mib(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Refusal is an upload refused because of one file: the edge names the
// file in its problem. Kind is BadRequest (empty, binary, type), TooLarge
// or Conflict (the same content is already in the job: Existing).
type Refusal struct {
	Kind     apperr.Kind
	TooLarge bool
	Filename string
	Detail   string
	Existing *File
}

func (r *Refusal) Error() string          { return r.Filename + ": " + r.Detail }
func (r *Refusal) ErrorKind() apperr.Kind { return r.Kind }

func refuse(name, format string, args ...any) *Refusal {
	return &Refusal{Kind: apperr.BadRequest, Filename: name, Detail: fmt.Sprintf(format, args...)}
}

// ErrFileNotFound is a file id that does not exist, or that the caller may
// not see (the same answer, so nothing tells them it exists).
var ErrFileNotFound = apperr.New(apperr.NotFound, "File not found.")

// StorageError is a failure of the content store: 503 with Retry-After.
type StorageError struct {
	State dependency.State
	Err   error
}

func (e *StorageError) Error() string {
	if e.Err == nil {
		return "storage is unavailable"
	}
	return "storage is unavailable: " + e.Err.Error()
}
func (e *StorageError) Unwrap() error                     { return e.Err }
func (e *StorageError) DependencyState() dependency.State { return e.State }
func (e *StorageError) ErrorKind() apperr.Kind            { return apperr.Unavailable }

// mayUpload checks, in a short read, that the job exists and that a may
// upload to it, before any byte is stored.
func (s *Service) mayUpload(ctx context.Context, a *jobs.Actor, id uuid.UUID) (jobs.Job, error) {
	if anonymous(a) {
		return jobs.Job{}, jobs.ErrSignInToSee
	}
	j, err := s.jobs.Get(ctx, id)
	if err != nil {
		return jobs.Job{}, err
	}
	if err := s.jobs.Policy().MaySee(a, j); err != nil {
		return jobs.Job{}, err
	}
	return j, nil
}
