-- +goose Up
-- job_events is the outbox: every change of a job writes its event here in
-- the same transaction, and the id becomes the SSE event id. Writers take
-- an advisory lock before inserting (see jobs.insertEvent), so ids are
-- assigned in commit order and a reader that has seen id N never later
-- finds a committed event with a smaller id.
CREATE TABLE job_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id     uuid        NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    event_type varchar(50) NOT NULL CHECK (event_type <> ''),
    data       jsonb       NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_events_job_id_id_idx ON job_events (job_id, id);
CREATE INDEX job_events_job_created_idx ON job_events (job_id, created_at);
CREATE INDEX job_events_event_type_idx ON job_events (event_type);

CREATE TABLE tickets (
    id           uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id       uuid         NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    platform     varchar(20)  NOT NULL CHECK (platform IN ('servicenow', 'jira')),
    ticket_id    varchar(128) NOT NULL,
    url          varchar(512),
    status       varchar(50)  NOT NULL DEFAULT 'pending',
    profile_name varchar(100),
    dry_run      boolean      NOT NULL DEFAULT true,
    payload      jsonb        NOT NULL DEFAULT '{}',
    metadata     jsonb        NOT NULL DEFAULT '{}',
    created_at   timestamptz  NOT NULL DEFAULT now(),
    updated_at   timestamptz  NOT NULL DEFAULT now()
);
CREATE INDEX tickets_job_platform_idx ON tickets (job_id, platform, created_at);
CREATE INDEX tickets_ticket_id_idx ON tickets (ticket_id);
CREATE INDEX tickets_created_idx ON tickets (created_at DESC, id DESC);
CREATE INDEX tickets_status_created_idx ON tickets (status, created_at DESC);
CREATE INDEX tickets_platform_created_idx ON tickets (platform, created_at DESC);
CREATE TRIGGER tickets_set_updated_at BEFORE UPDATE ON tickets
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- One row (id = 1). It is read on every ticket decision, never cached, so a
-- change made through any replica takes effect at once on all of them.
CREATE TABLE ticket_integration_settings (
    id                 smallint    PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    servicenow_enabled boolean     NOT NULL DEFAULT false,
    jira_enabled       boolean     NOT NULL DEFAULT false,
    dual_mode          boolean     NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER ticket_integration_settings_set_updated_at BEFORE UPDATE ON ticket_integration_settings
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- A row exists only for a request whose write committed: it is inserted in
-- the same transaction as the write, so a crash or a lost connection leaves
-- either both or neither, and a retry is always safe.
CREATE TABLE idempotency_keys (
    scope        text        NOT NULL,
    key          text        NOT NULL,
    fingerprint  bytea       NOT NULL,
    status       smallint    NOT NULL,
    body         bytea       NOT NULL,
    location     text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE ticket_integration_settings;
DROP TABLE tickets;
DROP TABLE job_events;
