-- +goose Up
-- Jobs as the original served them (reference: original-api.md, section 4),
-- with the defaults the original left to its ORM moved into SQL, so that every
-- writer, including a psql session, gets the same rows.
CREATE TABLE jobs (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    job_type       varchar(50)  NOT NULL CHECK (job_type <> ''),
    status         varchar(20)  NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    user_id        varchar(100) NOT NULL DEFAULT 'anonymous',
    input_manifest jsonb        NOT NULL DEFAULT '{}',
    provider       varchar(50)  NOT NULL DEFAULT 'ollama',
    model          varchar(100) NOT NULL DEFAULT 'llama2',
    model_config   jsonb,
    priority       integer      NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 10),
    retry_count    integer      NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
    max_retries    integer      NOT NULL DEFAULT 3 CHECK (max_retries >= 0),
    created_at     timestamptz  NOT NULL DEFAULT now(),
    updated_at     timestamptz  NOT NULL DEFAULT now(),
    started_at     timestamptz,
    completed_at   timestamptz,
    result_data    jsonb,
    outputs        jsonb,
    ticketing      jsonb,
    source         jsonb,
    error_message  text
);

-- List queries: newest first, optionally by status or by user.
CREATE INDEX jobs_created_at_idx ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_status_created_at_idx ON jobs (status, created_at DESC);
CREATE INDEX jobs_user_status_idx ON jobs (user_id, status, created_at DESC);

-- updated_at is the database's job, not every writer's.
-- +goose StatementBegin
CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER jobs_set_updated_at BEFORE UPDATE ON jobs
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- +goose Down
DROP TABLE jobs;
DROP FUNCTION set_updated_at();
