-- +goose Up
-- A job's real owner (the original trusted a free-text user_id, which
-- could name anyone; user_id stays, for the original UI), and what a worker
-- needs to claim a job safely: attempts made, when it may run again, and
-- a lease that a worker renews while it runs and that a rescuer reclaims
-- when the worker died.
ALTER TABLE jobs
    ADD COLUMN owner_id    uuid REFERENCES users(id) ON DELETE SET NULL,
    ADD COLUMN attempt     integer     NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    ADD COLUMN run_after   timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN lease_until timestamptz,
    ADD COLUMN claimed_by  varchar(200);

CREATE INDEX jobs_owner_created_idx ON jobs (owner_id, created_at DESC) WHERE owner_id IS NOT NULL;
-- Claiming: the most urgent pending job that may run now.
CREATE INDEX jobs_claimable_idx ON jobs (priority DESC, run_after, created_at) WHERE status = 'pending';
-- Rescuing: running jobs whose lease ran out.
CREATE INDEX jobs_lease_idx ON jobs (lease_until) WHERE status = 'running';

-- +goose Down
DROP INDEX jobs_lease_idx;
DROP INDEX jobs_claimable_idx;
DROP INDEX jobs_owner_created_idx;
ALTER TABLE jobs DROP COLUMN claimed_by, DROP COLUMN lease_until, DROP COLUMN run_after,
    DROP COLUMN attempt, DROP COLUMN owner_id;
