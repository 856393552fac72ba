import { http, newIdempotencyKey } from './http';
import type { Job, JobEvent, JobListQuery, NewJob } from './types';

export function listJobs(q: JobListQuery = {}, signal?: AbortSignal): Promise<Job[]> {
  return http.request<Job[]>('GET', '/jobs', {
    query: { user_id: q.user_id, status: q.status, limit: q.limit, offset: q.offset },
    ...(signal ? { signal } : {}),
  });
}

export function getJob(id: string, signal?: AbortSignal): Promise<Job> {
  return http.request<Job>('GET', `/jobs/${encodeURIComponent(id)}`, signal ? { signal } : {});
}

/**
 * Creates a job. The Idempotency-Key makes a retry of the same body safe:
 * pass the same key to retry, or leave it out for a fresh one.
 */
export function createJob(job: NewJob, idempotencyKey: string = newIdempotencyKey()): Promise<Job> {
  return http.request<Job>('POST', '/jobs', { body: job, idempotencyKey });
}

/** Pending or running → cancelled; 409 for a finished job. */
export function cancelJob(
  id: string,
  reason?: string,
  idempotencyKey: string = newIdempotencyKey(),
): Promise<Job> {
  return http.request<Job>('POST', `/jobs/${encodeURIComponent(id)}/cancel`, {
    ...(reason ? { body: { reason } } : {}),
    idempotencyKey,
  });
}

/** The most recent events after `since` (ISO 8601), oldest first. */
export function jobEvents(
  id: string,
  opts: { since?: string; limit?: number } = {},
  signal?: AbortSignal,
): Promise<JobEvent[]> {
  return http.request<JobEvent[]>('GET', `/jobs/${encodeURIComponent(id)}/events`, {
    query: { since: opts.since, limit: opts.limit },
    ...(signal ? { signal } : {}),
  });
}
