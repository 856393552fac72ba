import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { Badge } from '../components/Badge';
import { ErrorMessage } from '../components/ErrorMessage';
import { CheckboxField, Field } from '../components/Field';
import { FileList } from '../components/FileList';
import { JsonBlock } from '../components/JsonBlock';
import { ProgressPanel } from '../components/ProgressPanel';
import { ReportView } from '../components/ReportView';
import { TicketTable } from '../components/TicketTable';
import { UploadArea } from '../components/UploadArea';
import { WriteBlockNote } from '../components/WriteBlockNote';
import { degradedStore, isPostgresDown } from '../lib/api/degraded';
import { mergeEvents, subscribeJob, type ConnectionState, type Subscription } from '../lib/api/events';
import { listJobFiles, type UploadDeps } from '../lib/api/files';
import { ApiError } from '../lib/api/http';
import { cancelJob, getJob, jobEvents } from '../lib/api/jobs';
import { getReport } from '../lib/api/report';
import { deriveProgress } from '../lib/progress';
import { dispatch, getSettings, jobTickets, putSettings } from '../lib/api/tickets';
import { isTerminal, type Job, type JobEvent, type Settings, type Ticket } from '../lib/api/types';
import { formatDateTime, formatDuration, shortId } from '../lib/format';
import { useAsync } from '../lib/useAsync';
import { useIdempotencyKey } from '../lib/useIdempotencyKey';
import { useWriteBlock } from '../lib/useDegraded';
import { Link } from '../router';

function asApiError(err: unknown): ApiError {
  return err instanceof ApiError ? err : new ApiError({ status: 0, detail: String(err) });
}

/** result_data without its outputs (the Markdown, HTML and JSON reports). */
function withoutOutputs(rd: Job['result_data']): Job['result_data'] {
  if (!rd || !('outputs' in rd)) return rd;
  const { outputs: _outputs, ...rest } = rd;
  return rest;
}

const STATUS_EVENTS = new Set(['started', 'retrying', 'completed', 'failed', 'cancelled']);

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function EventData({ data }: { data: JobEvent['data'] }) {
  const entries = Object.entries(data ?? {});
  if (entries.length === 0) return null;
  return (
    <dl className="event-data">
      {entries.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{describeValue(v)}</dd>
        </div>
      ))}
    </dl>
  );
}

const CONNECTION_TEXT: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  open: 'Live',
  reconnecting: 'Reconnecting…',
  closed: 'Stream ended',
};

function Timeline({ events, connection, notice }: { events: readonly JobEvent[]; connection: ConnectionState; notice: string }) {
  return (
    <section className="card" aria-labelledby="timeline-title">
      <div className="section-head">
        <h2 id="timeline-title">Events</h2>
        <span className={`live live-${connection}`} role="status" data-testid="stream-state">
          <span className="live-dot" aria-hidden="true" />
          {CONNECTION_TEXT[connection]}
        </span>
      </div>
      {notice ? <p className="muted">{notice}</p> : null}
      {events.length === 0 ? (
        <p className="muted">No events yet.</p>
      ) : (
        <ol className="timeline" aria-live="polite" aria-relevant="additions">
          {events.map((ev) => (
            <li key={ev.id}>
              <div className="timeline-head">
                <Badge value={ev.event_type} />
                <time dateTime={ev.created_at}>{formatDateTime(ev.created_at)}</time>
                <span className="muted mono">#{ev.id}</span>
              </div>
              <EventData data={ev.data} />
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

function CancelForm({ job, onDone }: { job: Job; onDone: (j: Job) => void }) {
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const idem = useIdempotencyKey();
  const block = useWriteBlock('cancel jobs', { job });
  const { blocked, buttonProps } = block;
  if (isTerminal(job.status)) return null;

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (blocked || busy) return;
    setBusy(true);
    setError(null);
    const r = reason.trim();
    try {
      const j = await cancelJob(job.id, r || undefined, idem.keyFor({ id: job.id, reason: r }));
      idem.done();
      onDone(j);
    } catch (err) {
      setError(asApiError(err));
    } finally {
      setBusy(false);
    }
  }
  const fe = error?.fieldErrors() ?? {};
  return (
    <form className="inline-form" onSubmit={submit} aria-label="Cancel this job">
      <Field id="cancel-reason" label="Reason (optional)" error={fe['reason']}>
        {(a) => (
          <input {...a} type="text" maxLength={500} value={reason} placeholder="cancelled by request" onChange={(e) => setReason(e.target.value)} />
        )}
      </Field>
      <button type="submit" className="button-danger" disabled={busy || buttonProps.disabled} {...buttonProps}>
        {busy ? 'Cancelling…' : 'Cancel job'}
      </button>
      <WriteBlockNote block={block} />
      <ErrorMessage error={error} shownFields={['reason']} />
    </form>
  );
}

function DispatchForm({ jobId, job, onDispatched }: { jobId: string; job?: Job; onDispatched: (t: Ticket[]) => void }) {
  const [dryRun, setDryRun] = useState(true);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [result, setResult] = useState<Ticket[] | null>(null);
  const idem = useIdempotencyKey();
  const block = useWriteBlock('dispatch tickets', job ? { job } : {});
  const { blocked, buttonProps } = block;

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (blocked || busy) return;
    setBusy(true);
    setError(null);
    setResult(null);
    const body = { job_id: jobId, dry_run: dryRun };
    try {
      const res = await dispatch(body, idem.keyFor(body));
      idem.done();
      setResult(res.tickets);
      onDispatched(res.tickets);
    } catch (err) {
      setError(asApiError(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <form className="card form" onSubmit={submit} aria-labelledby="dispatch-title">
      <h2 id="dispatch-title">Dispatch tickets</h2>
      <p className="muted">One ticket on every enabled platform, ServiceNow first.</p>
      <CheckboxField
        id="dispatch-dry-run"
        label="Dry run (preview only, files nothing)"
        checked={dryRun}
        onChange={setDryRun}
        hint={dryRun ? undefined : 'Live: tickets are filed for real on every enabled platform.'}
      />
      <ErrorMessage error={error} />
      {result ? (
        <p className="message message-ok" role="status">
          {result.length === 0
            ? 'No ticket was created.'
            : `Created ${result.length} ticket${result.length === 1 ? '' : 's'}: ${result
                .map((t) => `${t.ticket_id} (${t.status})`)
                .join(', ')}.`}
        </p>
      ) : null}
      <div className="actions">
        <button type="submit" disabled={busy || buttonProps.disabled} {...buttonProps}>
          {busy ? 'Dispatching…' : dryRun ? 'Dispatch (dry run)' : 'Dispatch for real'}
        </button>
        <WriteBlockNote block={block} />
      </div>
    </form>
  );
}

const TOGGLES: { key: keyof Settings; label: string; hint: string }[] = [
  { key: 'servicenow_enabled', label: 'ServiceNow enabled', hint: 'Off: ServiceNow tickets are stored as dry runs.' },
  { key: 'jira_enabled', label: 'Jira enabled', hint: 'Off: Jira issues are stored as dry runs.' },
  { key: 'dual_mode', label: 'Dual mode', hint: 'Jira issues link to the ServiceNow incident filed with them.' },
];

export function SettingsPanel() {
  const settings = useAsync('settings', (signal) => getSettings(signal));
  const [saving, setSaving] = useState<keyof Settings | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [saved, setSaved] = useState('');
  // Only admins may change the toggles (403 otherwise): read-only for the others.
  const block = useWriteBlock('change integrations', { admin: true });
  const { blocked, buttonProps } = block;

  async function toggle(key: keyof Settings, value: boolean) {
    if (blocked || saving) return;
    setSaving(key);
    setError(null);
    setSaved('');
    try {
      const next = await putSettings({ [key]: value });
      settings.setData(next);
      setSaved(`${TOGGLES.find((t) => t.key === key)?.label ?? key}: ${value ? 'on' : 'off'}. Saved.`);
    } catch (err) {
      setError(asApiError(err));
    } finally {
      setSaving(null);
    }
  }

  const s = settings.data;
  return (
    <section className="card" aria-labelledby="settings-title">
      <h2 id="settings-title">Integrations</h2>
      <p className="muted">These toggles apply to every job, at once, on every server.</p>
      <WriteBlockNote block={block} />
      <ErrorMessage error={settings.error ?? error} onRetry={settings.error ? settings.reload : undefined} />
      {s ? (
        <fieldset className="toggles">
          <legend className="visually-hidden">Integration toggles</legend>
          {TOGGLES.map((t) => (
            <CheckboxField
              key={t.key}
              id={`setting-${t.key}`}
              label={t.label}
              hint={t.hint}
              checked={s[t.key]}
              disabled={saving !== null || buttonProps.disabled}
              title={buttonProps.title}
              describedBy={buttonProps['aria-describedby']}
              onChange={(v) => void toggle(t.key, v)}
            />
          ))}
        </fieldset>
      ) : settings.loading ? (
        <p className="muted">Loading…</p>
      ) : null}
      <p role="status" className="muted">
        {saving ? 'Saving…' : saved}
      </p>
    </section>
  );
}

export function JobDetailPage({ id, uploadDeps }: { id: string; uploadDeps?: UploadDeps }) {
  const job = useAsync(`job:${id}`, (signal) => getJob(id, signal));
  const files = useAsync(`job-files:${id}`, (signal) => listJobFiles(id, signal));
  const tickets = useAsync(`job-tickets:${id}`, (signal) => jobTickets(id, signal));
  const [events, setEvents] = useState<readonly JobEvent[]>([]);
  const [connection, setConnection] = useState<ConnectionState>('connecting');
  const [notice, setNotice] = useState('');
  const sub = useRef<Subscription | null>(null);
  const progress = useMemo(() => deriveProgress(events), [events]);
  const completed = job.data?.status === 'completed';
  // The report, once the job is completed (404 until its outputs exist).
  const summary = useAsync(`summary:${id}:${completed ? 'done' : 'not-yet'}`, (signal) =>
    completed ? getReport(id, signal) : Promise.resolve(null),
  );

  const reloadJob = job.reload;
  const reloadTickets = tickets.reload;
  const reloadFiles = files.reload;
  const setJob = job.setData;

  // Coalesce list reloads after bursts of file-uploaded events (an archive
  // with many members sends one per member).
  const pendingFiles = useRef<ReturnType<typeof setTimeout> | null>(null);
  const scheduleFilesReload = useCallback(() => {
    if (pendingFiles.current) return;
    pendingFiles.current = setTimeout(() => {
      pendingFiles.current = null;
      reloadFiles();
      reloadJob();
    }, 300);
  }, [reloadFiles, reloadJob]);

  const loadEvents = useCallback(
    async (replace: boolean) => {
      try {
        const list = await jobEvents(id, { limit: 500 });
        setEvents((cur) => (replace ? mergeEvents([], list) : mergeEvents(cur, list)));
      } catch {
        // The stream fills the timeline when it can; the job load shows errors.
      }
    },
    [id],
  );

  // Coalesce reloads triggered by bursts of events.
  const pending = useRef<ReturnType<typeof setTimeout> | null>(null);
  const scheduleReload = useCallback(() => {
    if (pending.current) return;
    pending.current = setTimeout(() => {
      pending.current = null;
      reloadJob();
    }, 300);
  }, [reloadJob]);

  useEffect(() => {
    setEvents([]);
    setNotice('');
    void loadEvents(true);
    const s = subscribeJob(id, {
      onEvent(ev) {
        setEvents((cur) => mergeEvents(cur, ev));
        if (STATUS_EVENTS.has(ev.event_type)) scheduleReload();
        if (ev.event_type === 'ticket-created') reloadTickets();
        if (ev.event_type === 'file-uploaded') scheduleFilesReload();
      },
      onHeartbeat(hb) {
        setJob((prev) => (prev && prev.status !== hb.status ? { ...prev, status: hb.status } : prev));
      },
      onComplete(c) {
        setJob((prev) => (prev ? { ...prev, status: c.status } : prev));
        setNotice(`The job is ${c.status}; no more events will come.`);
        scheduleReload();
      },
      onReset() {
        // The stream cannot say exactly what was missed: reload everything.
        void loadEvents(true);
        reloadJob();
        reloadTickets();
        reloadFiles();
      },
      onServerError(detail) {
        setNotice(detail);
      },
      onState(st) {
        setConnection(st);
        if (st === 'open') setNotice('');
      },
      onStopped(reason) {
        if (reason === 'finished') {
          setNotice('The job is finished; no more events will come.');
          void loadEvents(false);
        } else {
          setNotice('This job does not exist (any more).');
        }
      },
    });
    sub.current = s;
    // The database is back: reconnect at once rather than wait out the delay.
    let wasDown = isPostgresDown(degradedStore.getSnapshot());
    const off = degradedStore.subscribe(() => {
      const down = isPostgresDown(degradedStore.getSnapshot());
      if (wasDown && !down) s.reconnectNow();
      wasDown = down;
    });
    return () => {
      off();
      s.close();
      sub.current = null;
      if (pending.current) clearTimeout(pending.current);
      pending.current = null;
      if (pendingFiles.current) clearTimeout(pendingFiles.current);
      pendingFiles.current = null;
    };
  }, [id, loadEvents, reloadJob, reloadTickets, reloadFiles, scheduleReload, scheduleFilesReload, setJob]);

  const j = job.data;
  if (!j && job.error?.status === 404) {
    return (
      <>
        <h1 tabIndex={-1}>Job not found</h1>
        <p>
          There is no job <code>{id}</code>. <Link to="/jobs">Back to jobs</Link>
        </p>
      </>
    );
  }

  return (
    <>
      <p className="breadcrumb">
        <Link to="/jobs">Jobs</Link> <span aria-hidden="true">›</span> <span className="mono">{shortId(id)}</span>
      </p>
      <h1 tabIndex={-1}>
        Job <span className="mono">{shortId(id)}</span> {j ? <Badge value={j.status} /> : null}
      </h1>
      <ErrorMessage error={job.error} onRetry={job.reload} />
      {j ? (
        <section className="card" aria-labelledby="job-fields-title">
          <h2 id="job-fields-title" className="visually-hidden">
            Details
          </h2>
          <dl className="fields">
            <div>
              <dt>Id</dt>
              <dd className="mono break">{j.id}</dd>
            </div>
            <div>
              <dt>Type</dt>
              <dd>{j.job_type}</dd>
            </div>
            <div>
              <dt>Status</dt>
              <dd>
                <Badge value={j.status} />
              </dd>
            </div>
            <div>
              <dt>User</dt>
              <dd>{j.user_id}</dd>
            </div>
            <div>
              <dt>Provider / model</dt>
              <dd>
                {j.provider} / {j.model}
              </dd>
            </div>
            <div>
              <dt>Analysis</dt>
              <dd>
                {j.ready ? `requested ${formatDateTime(j.ready_at)}` : isTerminal(j.status) || j.status === 'running' ? '—' : 'not started'}
              </dd>
            </div>
            <div>
              <dt>Priority</dt>
              <dd>{j.priority}</dd>
            </div>
            <div>
              <dt>Retries</dt>
              <dd>
                {j.retry_count} of {j.max_retries}
              </dd>
            </div>
            <div>
              <dt>Created</dt>
              <dd>{formatDateTime(j.created_at)}</dd>
            </div>
            <div>
              <dt>Started</dt>
              <dd>{formatDateTime(j.started_at)}</dd>
            </div>
            <div>
              <dt>Finished</dt>
              <dd>{formatDateTime(j.completed_at)}</dd>
            </div>
            <div>
              <dt>Duration</dt>
              <dd>{formatDuration(j.duration_seconds)}</dd>
            </div>
            {j.error_message ? (
              <div>
                <dt>Message</dt>
                <dd>{j.error_message}</dd>
              </div>
            ) : null}
          </dl>
          <JsonBlock label="Input manifest" value={j.input_manifest} />
          {/* The rendered reports (outputs) are the report below and its downloads. */}
          <JsonBlock label="Result data" value={withoutOutputs(j.result_data)} />
          <CancelForm job={j} onDone={(updated) => job.setData(updated)} />
        </section>
      ) : job.loading ? (
        <p className="muted">Loading…</p>
      ) : null}

      {j && (j.ready || progress.active || j.status !== 'pending') && j.status !== 'cancelled' ? (
        <ProgressPanel job={j} progress={progress} />
      ) : null}

      {completed ? (
        summary.data ? (
          <ReportView report={summary.data} jobId={id} files={files.data ?? []} />
        ) : summary.error ? (
          <section className="card">
            <h2>Report</h2>
            <ErrorMessage error={summary.error} onRetry={summary.reload} />
          </section>
        ) : summary.loading ? (
          <p className="muted">Loading the report…</p>
        ) : null
      ) : null}

      <UploadArea
        job={j}
        jobId={id}
        fileCount={files.data?.length ?? j?.files_count ?? 0}
        onUploaded={scheduleFilesReload}
        onStarted={(updated) => job.setData(updated)}
        {...(uploadDeps ? { deps: uploadDeps } : {})}
      />

      <section className="card" aria-labelledby="job-files-title">
        <div className="section-head">
          <h2 id="job-files-title">Files</h2>
          {files.data ? (
            <span className="muted">
              {files.data.length} file{files.data.length === 1 ? '' : 's'}
            </span>
          ) : null}
        </div>
        <ErrorMessage error={files.error} onRetry={files.reload} />
        {files.data ? <FileList files={files.data} jobId={id} /> : files.loading ? <p className="muted">Loading…</p> : null}
      </section>

      <Timeline events={events} connection={connection} notice={notice} />

      <section className="card" aria-labelledby="job-tickets-title">
        <h2 id="job-tickets-title">Tickets</h2>
        <ErrorMessage error={tickets.error} onRetry={tickets.reload} />
        {tickets.data ? (
          <TicketTable tickets={tickets.data.tickets} caption="Tickets of this job, oldest first" showJob={false} />
        ) : tickets.loading ? (
          <p className="muted">Loading…</p>
        ) : null}
      </section>

      <div className="two-col">
        <DispatchForm jobId={id} {...(job.data ? { job: job.data } : {})} onDispatched={() => tickets.reload()} />
        <SettingsPanel />
      </div>
    </>
  );
}
