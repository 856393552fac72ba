import { useEffect, useState, type FormEvent } from 'react';
import { liveFeed } from '../lib/live';
import { Badge } from '../components/Badge';
import { ErrorMessage } from '../components/ErrorMessage';
import { Field } from '../components/Field';
import { Pager } from '../components/Pager';
import { WriteBlockNote } from '../components/WriteBlockNote';
import { ApiError } from '../lib/api/http';
import { createJob, listJobs } from '../lib/api/jobs';
import { JOB_STATUSES, type Job, type JobStatus, type NewJob } from '../lib/api/types';
import { formatDateTime, shortId } from '../lib/format';
import { useLiveReload } from '../lib/useLiveReload';
import { useAsync } from '../lib/useAsync';
import { useIdempotencyKey } from '../lib/useIdempotencyKey';
import { useWriteBlock } from '../lib/useDegraded';
import { Link, navigate, useLocation, withQuery } from '../router';

export const JOBS_PAGE_SIZE = 20;

/** The report's severity of an analysed job (result_data.severity), or ''. */
export function jobSeverity(j: Job): string {
  const v = j.result_data?.['severity'];
  return typeof v === 'string' ? v : '';
}

// Events that change what the list shows (progress and per-file events do not).
const LIST_EVENTS = new Set(['created', 'started', 'completed', 'failed', 'cancelled', 'retrying']);
const acceptListEvent = (ev: { event_type: string }) => LIST_EVENTS.has(ev.event_type);

const FORM_FIELDS = ['job_type', 'user_id', 'priority'] as const;

/** The create-job form. Field errors of a 422 problem appear under their fields. */
export function CreateJobForm({ onCreated }: { onCreated?: (job: Job) => void }) {
  const [jobType, setJobType] = useState('');
  const [userId, setUserId] = useState('');
  const [priority, setPriority] = useState('0');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [created, setCreated] = useState<Job | null>(null);
  const idem = useIdempotencyKey();
  const block = useWriteBlock('create jobs');
  const { blocked, buttonProps } = block;

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (blocked || busy) return;
    const body: NewJob = { job_type: jobType.trim() };
    if (userId.trim()) body.user_id = userId.trim();
    if (priority.trim() !== '') body.priority = Number(priority);
    setBusy(true);
    setError(null);
    setCreated(null);
    try {
      const job = await createJob(body, idem.keyFor(body));
      idem.done();
      setCreated(job);
      setJobType('');
      onCreated?.(job);
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError({ status: 0, detail: String(err) }));
    } finally {
      setBusy(false);
    }
  }

  const fe = error?.fieldErrors() ?? {};
  return (
    <form className="card form" onSubmit={submit} aria-labelledby="new-job-title" noValidate>
      <h2 id="new-job-title">New job</h2>
      <div className="form-row">
        <Field id="job-type" label="Job type" error={fe['job_type']} hint="Required, at most 50 characters.">
          {(a) => (
            <input
              {...a}
              name="job_type"
              type="text"
              value={jobType}
              maxLength={50}
              required
              autoComplete="off"
              onChange={(e) => setJobType(e.target.value)}
            />
          )}
        </Field>
        <Field id="job-user" label="User" error={fe['user_id']} hint="Empty means anonymous.">
          {(a) => (
            <input
              {...a}
              name="user_id"
              type="text"
              value={userId}
              maxLength={100}
              autoComplete="off"
              placeholder="anonymous"
              onChange={(e) => setUserId(e.target.value)}
            />
          )}
        </Field>
        <Field id="job-priority" label="Priority" error={fe['priority']} hint="0 (lowest) to 10.">
          {(a) => (
            <input
              {...a}
              name="priority"
              type="number"
              inputMode="numeric"
              min={0}
              max={10}
              step={1}
              value={priority}
              onChange={(e) => setPriority(e.target.value)}
            />
          )}
        </Field>
      </div>
      <ErrorMessage error={error} shownFields={FORM_FIELDS} />
      {created ? (
        <p className="message message-ok" role="status">
          Job <Link to={`/jobs/${created.id}`}>{shortId(created.id)}</Link> created ({created.job_type}).
        </p>
      ) : null}
      <div className="actions">
        <button type="submit" disabled={busy || buttonProps.disabled} {...buttonProps}>
          {busy ? 'Creating…' : 'Create job'}
        </button>
        <WriteBlockNote block={block} />
      </div>
    </form>
  );
}

/**
 * The share of bytes read of each running job, from the app's live feed
 * (analysis-progress events): the list shows it without reloading.
 */
function useRunningPercent(): Record<string, number> {
  const [percent, setPercent] = useState<Record<string, number>>({});
  useEffect(
    () =>
      liveFeed.onEvent((ev) => {
        if (ev.event_type === 'analysis-progress') {
          const p = ev.data?.['percent'];
          if (typeof p === 'number') setPercent((cur) => (cur[ev.job_id] === p ? cur : { ...cur, [ev.job_id]: p }));
        } else if (ev.event_type === 'started' || ev.event_type === 'retrying') {
          setPercent((cur) => {
            if (!(ev.job_id in cur)) return cur;
            const { [ev.job_id]: _gone, ...rest } = cur;
            return rest;
          });
        }
      }),
    [],
  );
  return percent;
}

export function JobsPage() {
  const { search } = useLocation();
  const status = (JOB_STATUSES as readonly string[]).includes(search.get('status') ?? '')
    ? (search.get('status') as JobStatus)
    : '';
  const offset = Math.max(0, Number.parseInt(search.get('offset') ?? '0', 10) || 0);
  const jobs = useAsync(`jobs:${status}:${offset}`, (signal) =>
    listJobs({ status, limit: JOBS_PAGE_SIZE, offset }, signal),
  );

  // Live: refresh the page shown when a job event arrives (coalesced).
  useLiveReload(jobs.reload, acceptListEvent);
  const percent = useRunningPercent();

  function go(next: { status?: string; offset?: number }) {
    navigate(withQuery('/jobs', { status: next.status ?? status, offset: next.offset ?? offset }));
  }

  const list = jobs.data ?? [];
  return (
    <>
      <h1 tabIndex={-1}>Jobs</h1>
      <CreateJobForm onCreated={() => (offset === 0 && !status ? jobs.reload() : go({ status: '', offset: 0 }))} />

      <section className="card" aria-labelledby="jobs-list-title">
        <div className="section-head">
          <h2 id="jobs-list-title">All jobs</h2>
          <div className="field field-inline">
            <label htmlFor="jobs-status">Status</label>
            <select id="jobs-status" value={status} onChange={(e) => go({ status: e.target.value, offset: 0 })}>
              <option value="">All</option>
              {JOB_STATUSES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </div>
        </div>
        <ErrorMessage error={jobs.error} onRetry={jobs.reload} />
        <div className="table-wrap" role="region" aria-labelledby="jobs-list-title" tabIndex={0}>
          <table aria-busy={jobs.loading}>
            <caption className="visually-hidden">
              Jobs{status ? ` with status ${status}` : ''}, newest first
            </caption>
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">Type</th>
                <th scope="col">Status</th>
                <th scope="col">Severity</th>
                <th scope="col">User</th>
                <th scope="col" className="num">
                  Priority
                </th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {list.map((j) => (
                <tr key={j.id}>
                  <th scope="row">
                    <Link to={`/jobs/${j.id}`} title={j.id} className="mono">
                      {shortId(j.id)}
                    </Link>
                  </th>
                  <td>{j.job_type}</td>
                  <td>
                    <Badge value={j.status} />
                    {j.status === 'running' && percent[j.id] !== undefined ? (
                      <span className="muted small" data-testid="percent">
                        {' '}
                        {Math.round(percent[j.id]!)} %
                      </span>
                    ) : null}
                  </td>
                  <td data-testid="severity">
                    {jobSeverity(j) ? (
                      <span className={`severity severity-${jobSeverity(j).replace(/[^a-z]/g, '')}`}>{jobSeverity(j)}</span>
                    ) : (
                      <span className="muted" aria-label="no severity">—</span>
                    )}
                  </td>
                  <td>{j.user_id}</td>
                  <td className="num">{j.priority}</td>
                  <td>{formatDateTime(j.created_at)}</td>
                </tr>
              ))}
              {!jobs.loading && !jobs.error && list.length === 0 ? (
                <tr>
                  <td colSpan={7} className="empty">
                    No jobs{status ? ` with status ${status}` : ''} yet.
                  </td>
                </tr>
              ) : null}
            </tbody>
          </table>
        </div>
        {jobs.loading && !jobs.data ? <p className="muted">Loading…</p> : null}
        <Pager
          label="Jobs"
          offset={offset}
          limit={JOBS_PAGE_SIZE}
          count={list.length}
          hasMore={list.length === JOBS_PAGE_SIZE}
          onChange={(o) => go({ offset: o })}
        />
      </section>
    </>
  );
}
