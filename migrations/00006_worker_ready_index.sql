-- +goose Up
-- Claiming and the worker's "when is the next job ready" look only at
-- pending jobs that have a log to analyse. The original UI creates a job
-- before its files, and abandoned drafts pile up as pending jobs without
-- any: with only jobs_claimable_idx, every claim and every idle wake-up
-- walked all of them.
CREATE INDEX jobs_ready_idx ON jobs (priority DESC, run_after, created_at)
    WHERE status = 'pending' AND logs_count > 0;

-- +goose Down
DROP INDEX jobs_ready_idx;
