-- +goose Up
-- Files attached to jobs (the original's files table, original-api.md
-- section 4), with their content in a content-addressed store: file_path
-- is the blob key, the SHA-256 of the content in hex.
--
-- blobs is what the store holds, as the database knows it. A blob row is
-- written in the transaction that records its first file, so a blob with
-- no row is one whose transaction failed (or has not committed yet); a blob
-- row with no file is content nothing uses any more (its jobs were
-- deleted). Both are removed by the sweep after a grace period (package
-- uploads, Sweep), never by the request that failed: a concurrent upload of
-- the same content may be about to use it.
CREATE TABLE blobs (
    key         varchar(128) PRIMARY KEY CHECK (key ~ '^[0-9a-f]{64}$'),
    size        bigint       NOT NULL CHECK (size > 0),
    created_at  timestamptz  NOT NULL DEFAULT now(),
    -- Bumped by every upload that stores or finds this content: the sweep
    -- spares a blob touched within its grace period.
    touched_at  timestamptz  NOT NULL DEFAULT now(),
    -- The upload that touched it last: a failed upload removes the blob
    -- at once only if nobody touched it since (else the sweep decides).
    touched_by  uuid
);
CREATE INDEX blobs_touched_idx ON blobs (touched_at);

CREATE TABLE files (
    id                uuid          PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id            uuid          NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    filename          varchar(255)  NOT NULL CHECK (filename <> ''),
    original_filename varchar(1024) NOT NULL,
    file_path         varchar(1024) NOT NULL REFERENCES blobs(key),
    content_type      varchar(200)  NOT NULL,
    file_size         bigint        NOT NULL CHECK (file_size > 0),
    checksum          varchar(128)  NOT NULL,
    metadata          jsonb         NOT NULL DEFAULT '{}',
    processed         boolean       NOT NULL DEFAULT false,
    processed_at      timestamptz,
    processing_error  text,
    created_at        timestamptz   NOT NULL DEFAULT now(),
    -- Ours: a log to analyse, or an archive (whose members are the logs).
    kind              varchar(10)   NOT NULL DEFAULT 'log' CHECK (kind IN ('log', 'archive')),
    -- For a member: its path inside the archive, and the archive's row.
    archive_path      varchar(4096),
    parent_id         uuid          REFERENCES files(id) ON DELETE CASCADE,
    -- utf-8, utf-16le, utf-16be or latin-1 for a log; NULL for an archive.
    encoding          varchar(20),
    -- Lines in the file, and its sparse line index: line_offsets[i] is
    -- the byte offset where line i*line_step+1 starts, so that line
    -- 1,900,000 of a 2 GB file is read from near it, not from the start.
    line_count        bigint,
    line_step         integer,
    line_offsets      bigint[],
    -- An archive of many members is recorded in several transactions (one
    -- would outlast DB_QUERY_TIMEOUT): its rows carry the upload's id and
    -- are invisible to every read while pending_uploads holds that id; the
    -- upload's last transaction deletes that one row, which publishes them
    -- all at once (no update of 100,000 rows). The sweep deletes the rows
    -- of an upload that never finished.
    pending_upload    uuid,
    CHECK ((parent_id IS NULL) = (archive_path IS NULL))
);
CREATE INDEX files_pending_idx ON files (pending_upload) WHERE pending_upload IS NOT NULL;

CREATE TABLE pending_uploads (
    id         uuid        PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The same content twice in one job is refused (409) for a direct upload;
-- members of archives may repeat content (two archives of one host share
-- files), so the rule covers files that came on their own only.
CREATE UNIQUE INDEX files_job_checksum_direct_idx ON files (job_id, checksum) WHERE parent_id IS NULL;
CREATE INDEX files_job_created_idx ON files (job_id, created_at, id);
CREATE INDEX files_blob_idx ON files (file_path);
CREATE INDEX files_parent_idx ON files (parent_id) WHERE parent_id IS NOT NULL;

-- Readiness: a job whose files are still arriving is not analysed. It is
-- ready once a client says so (ready_at) or, for the original UI that never
-- does, once it has an analysable file and no upload came for the settle
-- window after last_upload_at (jobs.Claim decides).
ALTER TABLE jobs
    ADD COLUMN ready_at       timestamptz,
    ADD COLUMN last_upload_at timestamptz,
    ADD COLUMN files_count    integer NOT NULL DEFAULT 0 CHECK (files_count >= 0),
    ADD COLUMN logs_count     integer NOT NULL DEFAULT 0 CHECK (logs_count >= 0);

-- +goose Down
ALTER TABLE jobs DROP COLUMN logs_count, DROP COLUMN files_count, DROP COLUMN last_upload_at, DROP COLUMN ready_at;
DROP TABLE pending_uploads;
DROP TABLE files;
DROP TABLE blobs;
