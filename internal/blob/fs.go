package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// FS is a Store in a local directory (or a mounted share): content lives at
// dir/ab/cd/abcd…, written to a temporary file in dir/tmp first, synced, and
// renamed into place, so a reader never sees a partial object and a crash
// never leaves one under its key.
type FS struct {
	dir string
	tmp string
}

// TempMaxAge is how old a temporary file must be for NewFS to sweep it: one
// that old belongs to a Put that died with its process (a live Put writes
// continuously, so its file's time keeps moving).
const TempMaxAge = time.Hour

// NewFS returns a store in dir, creating it if needed, and removes temporary
// files older than TempMaxAge left by Puts that died with their process.
func NewFS(dir string) (*FS, error) {
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		return nil, unavailable("local directory", fmt.Errorf("blob: create %s: %w", dir, err))
	}
	s := &FS{dir: dir, tmp: tmp}
	s.sweep(time.Now().Add(-TempMaxAge))
	return s, nil
}

// sweep removes temporary files last written before cutoff.
func (s *FS) sweep(cutoff time.Time) {
	entries, err := os.ReadDir(s.tmp)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "put-") {
			continue
		}
		if info, err := e.Info(); err == nil && info.ModTime().Before(cutoff) {
			_ = os.Remove(filepath.Join(s.tmp, e.Name()))
		}
	}
}

// Close does nothing: an FS store holds nothing open between calls. It is
// there so that every Store can be closed the same way.
func (s *FS) Close() error { return nil }

// Dir is the store's root directory.
func (s *FS) Dir() string { return s.dir }

func (s *FS) path(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	return filepath.Join(s.dir, key[:2], key[2:4], key), nil
}

func (s *FS) fail(err error) error {
	return unavailable("local directory", fmt.Errorf("blob: %w", err))
}

// ctxReader stops a copy as soon as ctx ends, between reads.
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

// Put writes r to a temporary file, syncs it, renames it to its key and
// syncs the directory, so that once Put returns nil the content survives a
// power cut. Concurrent Puts of one key each write their own temporary file;
// the renames are atomic and the content is the same, so any of them may win.
func (s *FS) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	tmp, err := os.CreateTemp(s.tmp, "put-*")
	if err != nil {
		return s.fail(err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	src := r
	var exact *exactReader
	if size >= 0 {
		exact = &exactReader{r: r, left: size}
		src = exact
	}
	// The reader's own errors are the caller's (a client that hung up), not
	// the store's: tell them apart.
	rr := &trackReader{r: ctxReader{ctx, src}}
	if _, err := io.Copy(tmp, rr); err != nil {
		if rr.err != nil {
			return fmt.Errorf("blob: read content: %w", rr.err)
		}
		return s.fail(err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return s.fail(err)
	}
	if err := tmp.Close(); err != nil {
		return s.fail(err)
	}
	leaf := filepath.Dir(p)
	created, err := mkdirs(leaf)
	if err != nil {
		return s.fail(err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		// On Windows a rename over a file that a reader holds open fails;
		// the key is there with the same content, which is all Put promises.
		if _, serr := os.Stat(p); serr != nil {
			return s.fail(err)
		}
		os.Remove(tmp.Name())
	}
	committed = true
	// The rename is durable once the directory holding it is synced, and a
	// directory just created is durable once its parent is.
	dirs := []string{leaf}
	if created {
		dirs = append(dirs, filepath.Dir(leaf), s.dir)
	}
	for _, d := range dirs {
		if err := syncDir(d); err != nil {
			return s.fail(err)
		}
	}
	return nil
}

type trackReader struct {
	r   io.Reader
	err error
}

func (t *trackReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

// mkdirs creates leaf and reports whether it had to.
func mkdirs(leaf string) (bool, error) {
	if _, err := os.Stat(leaf); err == nil {
		return false, nil
	}
	return true, os.MkdirAll(leaf, 0o750)
}

func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for sync there; NTFS journals renames
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

type fsObject struct {
	*os.File
	size int64
}

func (o fsObject) Size() int64 { return o.size }

func (s *FS) Open(ctx context.Context, key string) (Object, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, s.fail(err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, s.fail(err)
	}
	return fsObject{f, st.Size()}, nil
}

func (s *FS) Exists(ctx context.Context, key string) (bool, error) {
	p, err := s.path(key)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, s.fail(err)
	}
	return true, nil
}

func (s *FS) Delete(ctx context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s.fail(err)
	}
	return nil
}

// Ping checks that the directory is there and writable: a share that came
// unmounted or went read-only fails here before an upload does.
func (s *FS) Ping(ctx context.Context) error {
	st, err := os.Stat(s.dir)
	if err != nil {
		return s.fail(err)
	}
	if !st.IsDir() {
		return s.fail(fmt.Errorf("%s is not a directory", s.dir))
	}
	f, err := os.CreateTemp(s.tmp, "ping-*")
	if err != nil {
		return s.fail(err)
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	return nil
}
