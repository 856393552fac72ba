package uploads

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rca-engine/api/internal/apperr"
	"github.com/rca-engine/api/internal/blob"
	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/jobs"
	"github.com/rca-engine/api/internal/textenc"
)

// List returns a job's files, archives and their members, oldest first,
// to a caller allowed to see the job (else jobs.ErrMayNotSee, a 403: the
// job itself is not secret, its content is).
func (s *Service) List(ctx context.Context, a *jobs.Actor, job uuid.UUID) ([]File, error) {
	if anonymous(a) {
		return nil, jobs.ErrSignInToSee
	}
	j, err := s.jobs.Get(ctx, job)
	if err != nil {
		return nil, err
	}
	if err := s.jobs.Policy().MaySee(a, j); err != nil {
		return nil, err
	}
	var out []File
	err = s.db.Read(ctx, func(ctx context.Context, q db.Querier) error {
		rows, err := q.Query(ctx, `SELECT `+fileColumns+` FROM files WHERE job_id = $1 AND `+visible("")+`
			ORDER BY created_at, id`, job)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanFile)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list files: %w", err)
	}
	if out == nil {
		out = []File{}
	}
	return out, nil
}

// Get returns one file to a caller allowed to see its job. A file they may
// not see is ErrFileNotFound, as a missing one.
func (s *Service) Get(ctx context.Context, a *jobs.Actor, id uuid.UUID) (File, error) {
	if anonymous(a) {
		// Before any lookup: the same answer for every id.
		return File{}, jobs.ErrSignInToSee
	}
	var f File
	var owner *uuid.UUID
	err := s.db.Read(ctx, func(ctx context.Context, q db.Querier) error {
		rows, err := q.Query(ctx, `SELECT `+fileColumnsOf("f.")+`, j.owner_id FROM files f JOIN jobs j ON j.id = f.job_id
			WHERE f.id = $1 AND `+visible("f.")+``, id)
		if err != nil {
			return err
		}
		f, err = pgx.CollectExactlyOneRow(rows, func(row pgx.CollectableRow) (File, error) {
			var f File
			err := row.Scan(&f.ID, &f.JobID, &f.Filename, &f.OriginalFilename, &f.ContentType, &f.FileSize, &f.Checksum,
				&f.Processed, &f.ProcessedAt, &f.CreatedAt, &f.Metadata, &f.Kind, &f.ArchivePath, &f.ParentID, &f.Encoding,
				&f.key, &f.lineCount, &f.lineStep, &owner)
			return f, err
		})
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return File{}, ErrFileNotFound
	}
	if err != nil {
		return File{}, fmt.Errorf("get file: %w", err)
	}
	switch err := s.jobs.Policy().MaySee(a, jobs.Job{ID: f.JobID, OwnerID: owner}); {
	case errors.Is(err, jobs.ErrSignInToSee):
		return File{}, err
	case err != nil:
		return File{}, ErrFileNotFound
	}
	return f, nil
}

// anonymous reports whether a is a caller who is not signed in (nil is
// nobody checked: AUTH_MODE=off).
func anonymous(a *jobs.Actor) bool { return a != nil && a.UserID == uuid.Nil }

// Open returns a file and its content, for a download.
func (s *Service) Open(ctx context.Context, a *jobs.Actor, id uuid.UUID) (File, blob.Object, error) {
	f, err := s.Get(ctx, a, id)
	if err != nil {
		return File{}, nil, err
	}
	if err := s.storage.gate(); err != nil {
		return File{}, nil, err
	}
	o, err := s.store.Open(ctx, f.key)
	if errors.Is(err, blob.ErrNotFound) {
		// A row without content is a fault of ours, not the client's.
		return File{}, nil, fmt.Errorf("file %s: content %s missing from storage", f.ID, f.key)
	}
	if err != nil {
		return File{}, nil, s.storage.failed(ctx, err)
	}
	return f, o, nil
}

// Lines returns lines from..to (1-based, inclusive; at most
// MaxWindowLines) of a log, decoded to UTF-8. The sparse line index lets
// it start reading near from, whatever the file's size.
func (s *Service) Lines(ctx context.Context, a *jobs.Actor, id uuid.UUID, from, to int64) (Lines, error) {
	if from < 1 {
		from = 1
	}
	if to < from {
		return Lines{}, apperr.Invalidf("to", "must not be less than from (%d)", from)
	}
	f, err := s.Get(ctx, a, id)
	if err != nil {
		return Lines{}, err
	}
	if f.Kind != KindLog {
		return Lines{}, apperr.New(apperr.BadRequest, "The file is an archive: read the lines of its members.")
	}
	out := Lines{FileID: f.ID.String(), From: from, TotalLines: f.lineCount, Lines: []Line{}}
	if to-from+1 > MaxWindowLines {
		to, out.Truncated = from+MaxWindowLines-1, true
	}
	if to > f.lineCount {
		to, out.Truncated = f.lineCount, out.Truncated || to > f.lineCount
	}
	out.To = to
	if from > f.lineCount {
		out.To = from - 1
		return out, nil
	}
	// Where to start: the nearest indexed line at or before from.
	first, offset := int64(1), int64(0)
	enc := textenc.UTF8
	if f.Encoding != nil {
		enc = textenc.Encoding(*f.Encoding)
	}
	if slot := (from - 1) / LineStep; slot > 0 && f.lineStep == LineStep {
		var off *int64
		err := s.db.Read(ctx, func(ctx context.Context, q db.Querier) error {
			return q.QueryRow(ctx, `SELECT line_offsets[$2] FROM files WHERE id = $1`, f.ID, slot).Scan(&off)
		})
		if err != nil {
			return Lines{}, fmt.Errorf("line index: %w", err)
		}
		if off != nil {
			first, offset = slot*LineStep+1, *off
		}
	}
	if offset == 0 {
		if enc == textenc.UTF16LE || enc == textenc.UTF16BE || enc == textenc.UTF8 {
			offset = int64(bomLen(f, enc))
		}
	}
	_, o, err := s.Open(ctx, a, id)
	if err != nil {
		return Lines{}, err
	}
	defer o.Close()
	lines, cut, err := readWindow(ctx, io.NewSectionReader(o, offset, o.Size()-offset), enc, first, from, to)
	if err != nil {
		return Lines{}, err
	}
	out.Lines = lines
	out.Truncated = out.Truncated || cut
	return out, nil
}

// bomLen is the byte-order mark the file starts with (its head is read
// again: the row does not keep it).
func bomLen(f File, enc textenc.Encoding) int {
	// UTF-16 files are recorded only with a BOM (Sniff needs one);
	// UTF-8 ones may or may not have one: readWindow drops it below.
	switch enc {
	case textenc.UTF16LE, textenc.UTF16BE:
		return 2
	}
	return 0
}

// Sweep deletes, in batches, the blobs that no file uses and nobody
// touched for the grace period (see the package doc for why that is safe
// against an upload of the same content), and the temp files older than a
// day that a crash left behind. It returns how many blobs it deleted.
func (s *Service) Sweep(ctx context.Context, grace time.Duration) (int, error) {
	// The rows of archives whose upload never finished (the process died
	// between its transactions) go first, so their blobs are swept below.
	err := s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
		rows, err := tx.Query(ctx, `DELETE FROM pending_uploads WHERE created_at < now() - make_interval(secs => $1)
			RETURNING id`, max(grace, time.Hour).Seconds())
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil || len(ids) == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM files WHERE pending_upload = ANY($1)`, ids)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sweep unfinished uploads: %w", err)
	}
	total := 0
	for {
		n := 0
		err := s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
			n = 0
			rows, err := tx.Query(ctx, `SELECT key FROM blobs b WHERE touched_at < now() - make_interval(secs => $1)
				AND NOT EXISTS (SELECT 1 FROM files WHERE file_path = b.key)
				ORDER BY touched_at LIMIT 100 FOR UPDATE SKIP LOCKED`, grace.Seconds())
			if err != nil {
				return err
			}
			keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			for _, k := range keys {
				// Under the row lock: an upload that touches this blob
				// now waits, then inserts a new row and stores it again.
				if err := s.store.Delete(ctx, k); err != nil {
					return s.storage.failed(ctx, err)
				}
			}
			if _, err := tx.Exec(ctx, `DELETE FROM blobs WHERE key = ANY($1)`, keys); err != nil {
				return err
			}
			n = len(keys)
			return nil
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("sweep blobs: %w", err)
		}
		if n < 100 {
			break
		}
	}
	s.sweepTemp(24 * time.Hour)
	return total, nil
}

// sweepTemp removes temp files older than age (a crash's leftovers; a
// live upload's are younger than any upload takes).
func (s *Service) sweepTemp(age time.Duration) {
	entries, err := os.ReadDir(s.tmp)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && !e.IsDir() && time.Since(info.ModTime()) > age {
			_ = os.Remove(filepath.Join(s.tmp, e.Name()))
		}
	}
}

// RunSweep sweeps every interval until ctx ends.
func (s *Service) RunSweep(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		switch _, err := s.Sweep(ctx, s.cfg.SweepGrace); {
		case err == nil, ctx.Err() != nil:
		case errors.Is(err, db.ErrUnavailable), errors.As(err, new(*StorageError)):
			// The dependency's own state change is logged once, by its
			// supervisor (with the error); the next round retries.
			s.cfg.Logger.Debug("upload sweep put off until its dependencies are back")
		default:
			s.cfg.Logger.Warn("upload sweep failed; will retry", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// visible is the condition for a file row to be seen: not part of an
// upload still being recorded (see pending_uploads in the migration).
func visible(alias string) string {
	return "(" + alias + "pending_upload IS NULL OR NOT EXISTS (SELECT 1 FROM pending_uploads p WHERE p.id = " +
		alias + "pending_upload))"
}
