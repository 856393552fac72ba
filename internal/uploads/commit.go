package uploads

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rca-engine/api/internal/apperr"
	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/eventlog"
	"github.com/rca-engine/api/internal/jobs"
)

// Target is where an upload's files go: an existing job (JobID), or a job
// created with them in the same transaction (NewJob, for Owner).
type Target struct {
	JobID  uuid.UUID
	NewJob *jobs.NewJob
	Owner  *jobs.Owner
	// Start makes the job ready for analysis once the files are in.
	Start bool
}

// Result is a committed upload: the job as it is now and the files
// received, in order (an archive's members are listed with the job's
// files).
type Result struct {
	Job   jobs.Job
	Files []File
}

// ErrNoFile is an upload request without a file part.
var ErrNoFile = apperr.Invalidf("file", "is required: send the file in a multipart part named \"file\"")

// CheckJob checks, before the files are read, that the job exists and that
// the caller may upload to it: 404 or 403 without reading a byte.
//
// From then on, until the upload is committed or aborted, the job's settle
// window is held open (Service.Arriving): its files are still arriving.
func (u *Upload) CheckJob(ctx context.Context, id uuid.UUID) error {
	if _, err := u.s.mayUpload(ctx, u.actor, id); err != nil {
		return err
	}
	if u.stopArriving == nil {
		u.stopArriving = u.s.Arriving(ctx, id)
	}
	return nil
}

// Arriving holds job's settle window open while an upload to it lasts
// (until stop is called or ctx ends), so that a job nobody starts is not
// claimed while a file is still coming: it restarts the window now and
// every third of it. Best effort: with PostgreSQL down nothing is claimed
// anyway.
func (s *Service) Arriving(ctx context.Context, job uuid.UUID) (stop func()) {
	settle := s.jobs.Policy().Settle
	if settle < 100*time.Millisecond {
		return func() {} // ANALYSIS_SETTLE_SECONDS=0: ready at once, by choice
	}
	ctx, cancel := context.WithCancel(ctx)
	every := settle / 3
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if err := s.jobs.Arriving(ctx, job); err != nil && ctx.Err() == nil {
				s.cfg.Logger.Debug("upload heartbeat failed", "job_id", job, "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// Commit stores the content received and records the files, the job's
// last upload and a file-uploaded event per file in one transaction. On
// any error nothing is recorded, and the content it stored is removed (at
// once when nobody else uses it, else by the sweep). Abort must still be
// called (deferred) for the temp files.
func (u *Upload) Commit(ctx context.Context, to Target) (res Result, err error) {
	defer u.Abort()
	s := u.s
	phase := "check"
	defer func() {
		if err != nil {
			s.cfg.Logger.Debug("upload failed", "phase", phase, "files", len(u.files), "error", err)
		}
	}()
	if len(u.files) == 0 && to.NewJob == nil {
		return Result{}, ErrNoFile
	}
	if to.NewJob != nil {
		if err := to.NewJob.Validate(); err != nil {
			return Result{}, err
		}
	}
	var existing map[string]File
	if to.NewJob == nil {
		if _, err := s.mayUpload(ctx, u.actor, to.JobID); err != nil {
			return Result{}, err
		}
		// Refuse a duplicate before storing anything (the transaction
		// checks again).
		var err error
		if existing, err = s.existingNow(ctx, to.JobID, u.sums()); err != nil {
			return Result{}, err
		}
		if err := u.duplicates(existing); err != nil {
			return Result{}, err
		}
	}

	blobs := u.blobs()
	began := time.Now()
	var touched, stored time.Time
	if len(blobs) > 0 {
		if err := s.storage.gate(); err != nil {
			return Result{}, err
		}
		phase = "touch"
		if err := s.touch(ctx, blobs, u.id); err != nil {
			return Result{}, err
		}
		touched = time.Now()
		phase = "store"
		if err := u.put(ctx, blobs); err != nil {
			u.release(blobs)
			return Result{}, err
		}
		stored = time.Now()
		if s.afterPut != nil {
			s.afterPut()
		}
	}
	phase = "record ahead"
	if to.NewJob == nil {
		err := u.prerecord(ctx, to.JobID, existing)
		if err == nil && s.beforeRecord != nil {
			err = s.beforeRecord()
		}
		if err != nil {
			u.dropPending()
			u.release(blobs)
			return Result{}, err
		}
	}
	phase = "record"
	recorded := time.Now()
	err = s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
		var err error
		res, err = u.record(ctx, tx, to, blobs)
		return err
	})
	if err != nil {
		u.dropPending()
		u.release(blobs)
		return Result{}, err
	}
	s.cfg.Logger.Debug("upload committed", "job_id", res.Job.ID, "files", len(res.Files), "blobs", len(blobs),
		"touch", touched.Sub(began), "store", stored.Sub(touched), "record ahead", recorded.Sub(stored),
		"record", time.Since(recorded))
	return res, nil
}

// blobSpec is one content to store.
type blobSpec struct {
	key  string
	size int64
	temp string
}

// blobs lists the distinct contents of the upload (files, archives,
// members), sorted by key so concurrent uploads lock rows in one order.
func (u *Upload) blobs() []blobSpec {
	seen := map[string]bool{}
	var out []blobSpec
	add := func(st *staged) {
		if !seen[st.sum] {
			seen[st.sum] = true
			out = append(out, blobSpec{st.sum, st.size, st.temp})
		}
	}
	for _, f := range u.files {
		add(f)
		for _, m := range f.members {
			add(m)
		}
	}
	slices.SortFunc(out, func(a, b blobSpec) int {
		if a.key < b.key {
			return -1
		}
		if a.key > b.key {
			return 1
		}
		return 0
	})
	return out
}

func (u *Upload) sums() []string {
	var out []string
	for _, f := range u.files {
		out = append(out, f.sum)
		for _, m := range f.members {
			out = append(out, m.sum)
		}
	}
	return out
}

// duplicates refuses a direct file whose content the job already has.
func (u *Upload) duplicates(existing map[string]File) error {
	for _, f := range u.files {
		if e, ok := existing[f.sum]; ok {
			return &Refusal{Kind: apperr.Conflict, Filename: f.display, Existing: &e,
				Detail: fmt.Sprintf("the same content is already in this job, as %q", e.Filename)}
		}
	}
	return nil
}

// touch marks the blobs as in use by this upload (see the package doc),
// in short transactions of their own (touching is idempotent), before
// their content is stored.
func (s *Service) touch(ctx context.Context, blobs []blobSpec, by uuid.UUID) error {
	for chunk := range slices.Chunk(blobs, batchRows) {
		keys, sizes := make([]string, len(chunk)), make([]int64, len(chunk))
		for i, b := range chunk {
			keys[i], sizes[i] = b.key, b.size
		}
		err := s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO blobs (key, size, touched_by)
				SELECT k, n, $3 FROM unnest($1::text[], $2::bigint[]) AS t(k, n)
				ON CONFLICT (key) DO UPDATE SET touched_at = now(), touched_by = EXCLUDED.touched_by`, keys, sizes, by)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// batchRows bounds the rows of one statement over an upload's blobs, so
// that an archive of 100,000 members stays within DB_QUERY_TIMEOUT.
const batchRows = 10_000

// putParallelism is how many blobs are stored at once: an archive of
// many small members is bound by the store's per-object cost (an fsync, a
// round trip), not by bandwidth.
const putParallelism = 8

// put stores each blob's content from its temp file.
func (u *Upload) put(ctx context.Context, blobs []blobSpec) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan blobSpec)
	var wg sync.WaitGroup
	for range min(putParallelism, len(blobs)) {
		wg.Go(func() {
			for b := range work {
				if err := u.putOne(ctx, b); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for _, b := range blobs {
		select {
		case work <- b:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

func (u *Upload) putOne(ctx context.Context, b blobSpec) error {
	f, err := os.Open(b.temp)
	if err != nil {
		return fmt.Errorf("uploads: reopen temp file: %w", err)
	}
	defer f.Close()
	if err := u.s.store.Put(ctx, b.key, f, b.size); err != nil {
		if ctx.Err() != nil {
			if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
				return cause
			}
			return ctx.Err()
		}
		return u.s.storage.failed(ctx, err)
	}
	return nil
}

// release removes, at once, the blobs this failed upload stored that
// nobody else touched since and no file uses; the others are the sweep's.
// It is best effort: with PostgreSQL down the sweep does it later.
func (u *Upload) release(blobs []blobSpec) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for chunk := range slices.Chunk(blobs, 200) { // each deletes its content within DB_QUERY_TIMEOUT
		keys := make([]string, len(chunk))
		for i, b := range chunk {
			keys[i] = b.key
		}
		err := u.s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
			rows, err := tx.Query(ctx, `SELECT key FROM blobs b WHERE key = ANY($1) AND touched_by = $2
				AND NOT EXISTS (SELECT 1 FROM files WHERE file_path = b.key)
				FOR UPDATE SKIP LOCKED`, keys, u.id)
			if err != nil {
				return err
			}
			mine, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			// Deleted under the row locks: an upload touching one now
			// waits, then finds no row, inserts one and stores it again.
			for _, key := range mine {
				if err := u.s.store.Delete(ctx, key); err != nil {
					return err
				}
			}
			_, err = tx.Exec(ctx, `DELETE FROM blobs WHERE key = ANY($1)`, mine)
			return err
		})
		if err != nil {
			u.s.cfg.Logger.Debug("a failed upload's blobs are left to the sweep", "blobs", len(chunk), "error", err)
			return
		}
	}
}

// keepNew drops from f's members those whose content the job already has
// (have, which it extends), with the reason in f's skipped list.
func (u *Upload) keepNew(f *staged, have map[string]bool) {
	var kept []*staged
	for _, m := range f.members {
		if have[m.sum] {
			f.skipped = append(f.skipped, Skipped{m.archivePath, "same content as a file already in this job"})
			continue
		}
		have[m.sum] = true
		kept = append(kept, m)
	}
	f.members = kept
}

// bigArchive is how many members an archive may have and still be
// recorded in the upload's one transaction; a larger one is recorded
// ahead, in batches, invisible until that transaction publishes it.
var bigArchive = 2000 // a variable for tests

// prerecord records the big archives of the upload (and their members),
// in transactions of batchRows/2 rows, as rows of a pending upload.
func (u *Upload) prerecord(ctx context.Context, job uuid.UUID, existing map[string]File) error {
	s := u.s
	have := map[string]bool{}
	for k := range existing {
		have[k] = true
	}
	for _, f := range u.files {
		have[f.sum] = true
	}
	for _, f := range u.files {
		if len(f.members) <= bigArchive {
			continue
		}
		u.keepNew(f, have)
		err := s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO pending_uploads (id) VALUES ($1) ON CONFLICT DO NOTHING`, u.id); err != nil {
				return err
			}
			row, err := s.insert(ctx, tx, job, f, nil, u.user, &u.id)
			if err == nil {
				f.row = &row
			}
			return err
		})
		if err != nil {
			f.row = nil
			return err
		}
		u.pending = true
		for chunk := range slices.Chunk(f.members, batchRows/2) {
			err := s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
				return s.insertMembers(ctx, tx, job, f.row.ID, chunk, u.user, &u.id)
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// dropPending deletes the rows a failed upload recorded ahead (best
// effort: the sweep deletes them too, after a while).
func (u *Upload) dropPending() {
	if !u.pending {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := u.s.db.Tx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM files WHERE pending_upload = $1`, u.id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM pending_uploads WHERE id = $1`, u.id)
		return err
	})
	if err != nil {
		u.s.cfg.Logger.Debug("a failed upload's rows are left to the sweep", "error", err)
	}
}

// record is the upload's transaction.
func (u *Upload) record(ctx context.Context, tx *db.Tx, to Target, blobs []blobSpec) (Result, error) {
	s := u.s
	var j jobs.Job
	var err error
	if to.NewJob != nil {
		j, err = s.jobs.CreateTx(ctx, tx, to.Owner, *to.NewJob)
	} else {
		j, err = jobs.GetTx(ctx, tx, to.JobID, true)
		if err == nil {
			err = s.jobs.Policy().MaySee(u.actor, j)
		}
	}
	if err != nil {
		return Result{}, err
	}
	if len(u.files) == 0 {
		return Result{Job: s.jobs.Ready(j), Files: []File{}}, nil
	}
	// The content is still there: each file row's foreign key to its blob
	// row takes a KEY SHARE lock on it, which the sweep's FOR UPDATE
	// cannot take (it skips the row), and a row the sweep already deleted
	// (an upload slower than the grace period) fails the insert, as a
	// conflict to retry, rather than recording content that may be gone.
	// Checked again under the job's row lock: the direct files, and the
	// members of archives recorded here (those recorded ahead were checked
	// before; a concurrent upload of the same member may slip through,
	// which costs a duplicate member, never a lost file).
	var sums []string
	for _, f := range u.files {
		sums = append(sums, f.sum)
		if f.row == nil {
			for _, m := range f.members {
				sums = append(sums, m.sum)
			}
		}
	}
	existing, err := s.existing(ctx, tx, j.ID, sums)
	if err != nil {
		return Result{}, err
	}
	if err := u.duplicates(existing); err != nil {
		return Result{}, err
	}
	have := map[string]bool{}
	for k := range existing {
		have[k] = true
	}
	var out []File
	var nFiles, nLogs int
	pending := false
	for _, f := range u.files {
		have[f.sum] = true
		if f.row != nil {
			// Recorded by prerecord; published below.
			pending = true
			nFiles += 1 + len(f.members)
			nLogs += len(f.members)
			out = append(out, *f.row)
			continue
		}
		u.keepNew(f, have)
		row, err := s.insert(ctx, tx, j.ID, f, nil, u.user, nil)
		if err != nil {
			return Result{}, err
		}
		nFiles++
		if f.kind == KindLog {
			nLogs++
		}
		if err := s.insertMembers(ctx, tx, j.ID, row.ID, f.members, u.user, nil); err != nil {
			return Result{}, err
		}
		nFiles += len(f.members)
		nLogs += len(f.members)
		out = append(out, row)
	}
	if pending {
		tag, err := tx.Exec(ctx, `DELETE FROM pending_uploads WHERE id = $1`, u.id)
		if err != nil {
			return Result{}, err
		}
		if tag.RowsAffected() != 1 {
			return Result{}, apperr.New(apperr.Unavailable, "The upload took so long that its unfinished rows were swept; send it again.")
		}
	}
	j, err = jobs.RecordUploadTx(ctx, tx, j.ID, nFiles, nLogs, to.Start)
	if err != nil {
		return Result{}, err
	}
	for _, f := range out {
		// The original's keys (and kind), nothing derived from the
		// content: a job's events are readable by whoever AUTH_MODE lets
		// read, its files only by those who may see the job, and a
		// checksum or a member count would tell the others about content.
		data := map[string]any{"file_id": f.ID, "filename": f.Filename, "size": f.FileSize,
			"content_type": f.ContentType, "kind": f.Kind}
		if err := s.events.Append(tx, j.ID, eventlog.FileUploaded, data); err != nil {
			return Result{}, err
		}
	}
	return Result{Job: s.jobs.Ready(j), Files: out}, nil
}

var fileColumns = fileColumnsOf("")

// fileColumnsOf is the columns scanFile reads, each qualified by p.
func fileColumnsOf(p string) string {
	return strings.NewReplacer("$.", p).Replace(`$.id, $.job_id, $.filename, $.original_filename, $.content_type,
	$.file_size, $.checksum, $.processed, $.processed_at, $.created_at, $.metadata, $.kind, $.archive_path,
	$.parent_id, $.encoding, $.file_path, COALESCE($.line_count, 0), COALESCE($.line_step, 0)`)
}

func scanFile(row pgx.CollectableRow) (File, error) {
	var f File
	err := row.Scan(&f.ID, &f.JobID, &f.Filename, &f.OriginalFilename, &f.ContentType, &f.FileSize, &f.Checksum,
		&f.Processed, &f.ProcessedAt, &f.CreatedAt, &f.Metadata, &f.Kind, &f.ArchivePath, &f.ParentID, &f.Encoding,
		&f.key, &f.lineCount, &f.lineStep)
	return f, err
}

func (s *Service) insert(ctx context.Context, tx *db.Tx, job uuid.UUID, st *staged, parent *uuid.UUID, uploader string,
	pending *uuid.UUID) (File, error) {
	var enc *string
	var lines, step any
	if st.kind == KindLog {
		e := string(st.encoding)
		enc, lines, step = &e, st.lines, LineStep
	}
	var archivePath *string
	if parent != nil {
		archivePath = &st.archivePath
	}
	rows, err := tx.Query(ctx, `INSERT INTO files (job_id, filename, original_filename, file_path, content_type,
			file_size, checksum, metadata, kind, archive_path, parent_id, encoding, line_count, line_step, line_offsets,
			pending_upload)
		VALUES ($1, $2, $3, $4, $5, $6, $4, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		RETURNING `+fileColumns,
		job, st.name, st.display, st.sum, st.contentType, st.size, st.metadata(uploader), st.kind, archivePath, parent,
		enc, lines, step, offsetsOrNil(st), pending)
	if err != nil {
		return File{}, fmt.Errorf("insert file: %w", err)
	}
	f, err := pgx.CollectExactlyOneRow(rows, scanFile)
	if err != nil {
		return File{}, fmt.Errorf("insert file: %w", err)
	}
	return f, nil
}

func offsetsOrNil(st *staged) any {
	if st.kind != KindLog {
		return nil
	}
	if st.offsets == nil {
		return []int64{}
	}
	return st.offsets
}

// insertMembers copies an archive's members in (100,000 rows in one
// COPY rather than as many INSERTs).
func (s *Service) insertMembers(ctx context.Context, tx *db.Tx, job, parent uuid.UUID, members []*staged, uploader string,
	pending *uuid.UUID) error {
	if len(members) == 0 {
		return nil
	}
	now := time.Now()
	rows := make([][]any, len(members))
	for i, m := range members {
		rows[i] = []any{uuid.New(), job, m.name, m.display, m.sum, m.contentType, m.size, m.sum,
			string(m.metadata(uploader)), KindLog, m.archivePath, parent, string(m.encoding), m.lines, LineStep,
			offsetsOrNil(m), now, pending}
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"files"}, []string{"id", "job_id", "filename", "original_filename",
		"file_path", "content_type", "file_size", "checksum", "metadata", "kind", "archive_path", "parent_id", "encoding",
		"line_count", "line_step", "line_offsets", "created_at", "pending_upload"}, pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("insert archive members: %w", err)
	}
	return nil
}

// existing returns the job's files with any of the checksums, by checksum
// (a direct file before a member).
func (s *Service) existing(ctx context.Context, q db.Querier, job uuid.UUID, sums []string) (map[string]File, error) {
	out := map[string]File{}
	if len(sums) == 0 {
		return out, nil
	}
	var list []File
	for chunk := range slices.Chunk(sums, batchRows) {
		rows, err := q.Query(ctx, `SELECT `+fileColumns+` FROM files WHERE job_id = $1 AND checksum = ANY($2)
			AND `+visible("")+` ORDER BY parent_id NULLS FIRST, created_at`, job, chunk)
		if err != nil {
			return nil, fmt.Errorf("find duplicates: %w", err)
		}
		some, err := pgx.CollectRows(rows, scanFile)
		if err != nil {
			return nil, fmt.Errorf("find duplicates: %w", err)
		}
		list = append(list, some...)
	}
	slices.SortStableFunc(list, func(a, b File) int { // a direct file first
		if (a.ParentID == nil) != (b.ParentID == nil) {
			if a.ParentID == nil {
				return -1
			}
			return 1
		}
		return 0
	})
	for _, f := range list {
		if _, ok := out[f.Checksum]; !ok {
			out[f.Checksum] = f
		}
	}
	return out, nil
}

// existingNow is existing in a read of its own.
func (s *Service) existingNow(ctx context.Context, job uuid.UUID, sums []string) (map[string]File, error) {
	var out map[string]File
	err := s.db.Read(ctx, func(ctx context.Context, q db.Querier) error {
		var err error
		out, err = s.existing(ctx, q, job, sums)
		return err
	})
	return out, err
}
