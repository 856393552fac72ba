// Package blob stores file content by key: a local directory by default, an
// S3-compatible object store when several replicas share the files. Keys are
// content addresses (the SHA-256 of the content in hex), so storing the same
// content twice stores it once; which rows refer to it is the database's
// business, not the store's.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/rca-engine/api/internal/apperr"
)

// ErrNotFound is returned for a key the store does not hold.
var ErrNotFound = errors.New("blob: not found")

// ErrInvalidKey is returned for a key that is not 16 to 128 lower-case hex
// digits. Keys become file names and object names, so nothing else is let
// through: no separator, no "..", nothing that could leave the store.
var ErrInvalidKey = errors.New("blob: invalid key")

// Object is stored content opened for reading, with random access so that a
// download can answer a Range request and a zip can be read from its end.
type Object interface {
	io.ReadSeekCloser
	io.ReaderAt
	Size() int64
}

// Store is a place for content. Implementations are safe for concurrent use.
//
// Errors: ErrNotFound for a missing key, ErrInvalidKey for a malformed one,
// the caller's own context error or reader error as is, and an error for
// which IsUnavailable is true when the store itself failed (unreachable, too
// slow, out of space, a 5xx): the caller answers 503 and health names the
// storage.
type Store interface {
	// Put stores size bytes of r under key. Putting a key that exists is not
	// an error and leaves the stored content as it was (same key, same
	// content); r may then be left unread. A Put that fails (r fails, r holds
	// more or fewer than size bytes, ctx ends, the store fails) leaves nothing
	// under key.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Open opens key for reading; the Object must be closed.
	Open(ctx context.Context, key string) (Object, error)
	// Exists reports whether key is stored.
	Exists(ctx context.Context, key string) (bool, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Ping checks that the store answers, for health.
	Ping(ctx context.Context) error
}

var validKey = regexp.MustCompile(`^[0-9a-f]{16,128}$`)

// ValidKey reports whether key is acceptable to every Store.
func ValidKey(key string) bool { return validKey.MatchString(key) }

func checkKey(key string) error {
	if !ValidKey(key) {
		// The key is not echoed: it may be whatever a client sent.
		return fmt.Errorf("%w: want 16 to 128 lower-case hex digits, got %d characters", ErrInvalidKey, len(key))
	}
	return nil
}

// unavailable wraps err, a failure of the store itself, in the Unavailable
// kind, so the HTTP edge answers 503 and health can name the storage.
func unavailable(backend string, err error) error {
	if err == nil {
		return nil
	}
	return apperr.Wrap(apperr.Unavailable, err, "The file storage ("+backend+") is unavailable; try again later.")
}

// IsUnavailable reports whether err says the store itself failed (down,
// unreachable, too slow, full, answering 5xx), as opposed to a missing key,
// a bad key, or the caller's own reader or context.
func IsUnavailable(err error) bool {
	return errors.Is(err, &apperr.Error{Kind: apperr.Unavailable})
}

// Config chooses and configures a Store. The uploads service fills it from
// the environment (UPLOAD_DIR, STORAGE_URL, S3_ENDPOINT, AWS_*); nothing here
// reads the environment.
type Config struct {
	// URL is STORAGE_URL: empty or file:///path for a local directory,
	// s3://bucket/prefix for an S3-compatible store.
	URL string
	// Dir is UPLOAD_DIR: with an empty URL the content lives in Dir/blobs.
	Dir string
	// S3 configures the S3 store; Bucket and Prefix come from URL.
	S3 S3Config
}

// S3Config is what an S3 store needs besides its bucket and prefix.
type S3Config struct {
	// Endpoint is S3_ENDPOINT, e.g. http://127.0.0.1:7070; empty means AWS
	// (https://s3.<region>.amazonaws.com).
	Endpoint string
	// AccessKeyID and SecretAccessKey are AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY; both empty means anonymous. Never logged.
	AccessKeyID     string
	SecretAccessKey string
	// Region is AWS_REGION (default us-east-1).
	Region string
	// ForcePathStyle is S3_FORCE_PATH_STYLE (http://host/bucket/key rather
	// than http://bucket.host/key); nil means true when Endpoint is set.
	ForcePathStyle *bool

	Bucket string // from URL
	Prefix string // from URL, without leading or trailing slash

	// Timeout bounds each metadata call (HEAD, DELETE, bucket check) and the
	// wait for the first byte of any response (default 10 s).
	Timeout time.Duration
	// IdleTimeout ends a transfer on which no byte moved either way for that
	// long (default 60 s): a 2 GB Put may take as long as it needs while it
	// makes progress, and a dead connection is noticed.
	IdleTimeout time.Duration
	// DialTimeout bounds opening a connection (default 5 s).
	DialTimeout time.Duration
	// PartSize is the multipart part size and threshold (default 16 MiB,
	// at least 5 MiB, S3's minimum). A Put of a plain reader buffers one part.
	PartSize int64
	// MaxRetries bounds retries of a failed request by minio-go (default 2;
	// a dead store must fail fast, not after ten backoffs).
	MaxRetries int
}

// Open returns the Store that cfg names: a local directory or an S3 store.
// An S3 store is checked once (the bucket must exist); an unreachable store
// is an error for which IsUnavailable is true, so a caller may start anyway
// and report storage down in health.
func Open(ctx context.Context, cfg Config) (Store, error) {
	kind, dir, bucket, prefix, err := parseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "file":
		if dir == "" {
			d := cfg.Dir
			if d == "" {
				d = "uploads"
			}
			dir = filepath.Join(d, "blobs")
		}
		return NewFS(dir)
	default:
		s3 := cfg.S3
		s3.Bucket, s3.Prefix = bucket, prefix
		return NewS3(ctx, s3)
	}
}

// parseURL reads STORAGE_URL. Its errors name the variable and never echo
// the value: a URL may carry credentials (s3://key:secret@bucket).
func parseURL(raw string) (kind, dir, bucket, prefix string, err error) {
	if strings.TrimSpace(raw) == "" {
		return "file", "", "", "", nil
	}
	u, perr := url.Parse(raw)
	if perr != nil {
		return "", "", "", "", errors.New("STORAGE_URL is not a URL: want file:///path or s3://bucket/prefix")
	}
	if u.User != nil {
		return "", "", "", "", errors.New("STORAGE_URL must not carry credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", "", "", "", errors.New("STORAGE_URL takes no query or fragment: want file:///path or s3://bucket/prefix")
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return "", "", "", "", errors.New("STORAGE_URL: a file URL names a local path (file:///path), not a host")
		}
		p := u.Path
		if p == "" {
			return "", "", "", "", errors.New("STORAGE_URL: a file URL needs a path (file:///path)")
		}
		// file:///C:/data on Windows parses to the path /C:/data.
		if len(p) >= 3 && p[0] == '/' && p[2] == ':' {
			p = p[1:]
		}
		return "file", filepath.FromSlash(p), "", "", nil
	case "s3":
		if !validBucket.MatchString(u.Host) {
			return "", "", "", "", errors.New("STORAGE_URL: s3://bucket/prefix needs a bucket name of 3 to 63 lower-case letters, digits, dots and hyphens")
		}
		prefix := strings.Trim(u.Path, "/")
		for _, seg := range strings.Split(prefix, "/") {
			if prefix != "" && (seg == "" || seg == "." || seg == "..") {
				return "", "", "", "", errors.New("STORAGE_URL: the prefix of s3://bucket/prefix has an empty, . or .. segment")
			}
		}
		return "s3", "", u.Host, prefix, nil
	default:
		return "", "", "", "", errors.New("STORAGE_URL: unsupported scheme: want file:///path or s3://bucket/prefix")
	}
}

var validBucket = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// exactReader passes r through and fails when r holds fewer or more than
// size bytes, so a short or long body never lands under a content address.
type exactReader struct {
	r    io.Reader
	left int64
	err  error // the first error of r itself (not EOF)
}

var errTooLong = errors.New("blob: the reader holds more bytes than the size given")

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left <= 0 {
		// Everything expected was read: r must be at its end.
		var one [1]byte
		n, err := io.ReadFull(e.r, one[:])
		if n > 0 {
			e.err = errTooLong
			return 0, errTooLong
		}
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			e.err = err
			return 0, err
		}
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		err = fmt.Errorf("blob: the reader ended %d bytes short of the size given: %w", e.left, io.ErrUnexpectedEOF)
	}
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// finish checks r's end after a consumer that stopped at size bytes.
func (e *exactReader) finish() error {
	if e.err != nil {
		return e.err
	}
	if e.left > 0 {
		return fmt.Errorf("blob: the reader ended %d bytes short of the size given: %w", e.left, io.ErrUnexpectedEOF)
	}
	if _, err := e.Read(nil); err != io.EOF {
		return err
	}
	return nil
}
