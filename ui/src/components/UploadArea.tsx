import { useCallback, useEffect, useId, useRef, useState, type DragEvent, type KeyboardEvent } from 'react';
import { ApiError } from '../lib/api/http';
import {
  existingFileOf,
  isAbort,
  refusalDetail,
  startJob,
  supportedTypes,
  uploadFile,
  type UploadDeps,
  type UploadHandle,
} from '../lib/api/files';
import { isTerminal, type Job, type JobFile, type SupportedTypes } from '../lib/api/types';
import { acceptAttribute, acceptedText, displayName, isArchiveName, precheck } from '../lib/fileRules';
import { formatBytes, formatDateTime } from '../lib/format';
import { useAsync } from '../lib/useAsync';
import { useIdempotencyKey } from '../lib/useIdempotencyKey';
import { useWriteBlock } from '../lib/useDegraded';
import { Link } from '../router';
import { ErrorMessage } from './ErrorMessage';
import { WriteBlockNote } from './WriteBlockNote';

/** How many files go up at the same time; the others wait their turn. */
const PARALLEL = 2;

type ItemStatus = 'refused' | 'queued' | 'uploading' | 'retrying' | 'done' | 'failed' | 'cancelled';

interface Item {
  key: string;
  file: File;
  status: ItemStatus;
  loaded: number;
  total: number;
  /** Why it was refused or failed, or what it is doing (resuming...). */
  detail: string;
  /** Refused before sending (the pre-check), not by the server. */
  local: boolean;
  /** 409: the file already in this job. */
  existing: JobFile | null;
  fileId: string | null;
  /** Archive members the server listed (multipart). */
  members: number;
  /** A dropped connection: "Try again" resumes (tus) or restarts. */
  retryable: boolean;
  /** Stored as an archive (no viewer: its members are listed). */
  archive: boolean;
}

let seq = 0;

export function filesViewerHref(jobId: string, fileId: string, line?: number): string {
  const base = `/jobs/${encodeURIComponent(jobId)}/files/${encodeURIComponent(fileId)}`;
  return line ? `${base}?line=${line}` : base;
}

function percent(it: Item): number {
  if (it.total <= 0) return it.status === 'done' ? 100 : 0;
  return Math.min(100, Math.floor((it.loaded / it.total) * 100));
}

function statusText(it: Item): string {
  switch (it.status) {
    case 'queued':
      return 'Waiting…';
    case 'uploading':
      return it.detail || `${percent(it)} % · ${formatBytes(it.loaded)} of ${formatBytes(it.total)}`;
    case 'retrying':
      return it.detail;
    case 'done':
      return it.archive ? `Uploaded; ${it.members} member${it.members === 1 ? '' : 's'} unpacked.` : 'Uploaded.';
    case 'cancelled':
      return 'Cancelled.';
    case 'refused':
      return it.local ? 'Not uploaded.' : 'Refused by the server.';
    case 'failed':
      return 'Failed.';
  }
}

function UploadRow({
  it,
  jobId,
  onCancel,
  onRetry,
  onDismiss,
}: {
  it: Item;
  jobId: string;
  onCancel: () => void;
  onRetry: () => void;
  onDismiss: () => void;
}) {
  const name = it.file.name;
  const active = it.status === 'queued' || it.status === 'uploading' || it.status === 'retrying';
  const pct = percent(it);
  const detailId = useId();
  return (
    <li className={`upload upload-${it.status}`} aria-label={name}>
      <div className="upload-head">
        <span className="upload-name break">{name}</span>
        <span className="muted">{formatBytes(it.file.size)}</span>
        {/* The percentage changes many times a second: only the changes of
            state are announced (the progress bar carries the numbers). */}
        {it.status === 'uploading' ? (
          <span className="upload-status" aria-hidden="true">
            {statusText(it)}
          </span>
        ) : null}
        <span className={it.status === 'uploading' ? 'visually-hidden' : 'upload-status'} aria-live="polite">
          {it.status === 'uploading' ? 'Uploading…' : statusText(it)}
        </span>
        <span className="upload-actions">
          {active ? (
            <button type="button" className="button-secondary button-small" onClick={onCancel} aria-label={`Cancel upload of ${name}`}>
              Cancel
            </button>
          ) : null}
          {it.status === 'failed' && it.retryable ? (
            <button type="button" className="button-secondary button-small" onClick={onRetry} aria-label={`Try uploading ${name} again`}>
              Try again
            </button>
          ) : null}
          {!active ? (
            <button type="button" className="button-secondary button-small" onClick={onDismiss} aria-label={`Dismiss ${name}`}>
              Dismiss
            </button>
          ) : null}
        </span>
      </div>
      {it.status !== 'refused' ? (
        <div
          className="progress"
          role="progressbar"
          aria-label={`Upload of ${name}`}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={pct}
          aria-valuetext={`${pct} % (${formatBytes(it.loaded)} of ${formatBytes(it.total || it.file.size)})`}
          {...(it.detail && (it.status === 'failed' || it.status === 'retrying') ? { 'aria-describedby': detailId } : {})}
        >
          <div className="progress-bar" style={{ width: `${pct}%` }} />
        </div>
      ) : null}
      {it.status === 'refused' || it.status === 'failed' ? (
        <p className="upload-reason" id={detailId} role="alert">
          {it.existing ? (
            <>
              Already in this job:{' '}
              <Link to={filesViewerHref(jobId, it.existing.id)}>{displayName(it.existing)}</Link>
              {it.existing.created_at ? ` (uploaded ${formatDateTime(it.existing.created_at)})` : ''}.
            </>
          ) : (
            it.detail
          )}
        </p>
      ) : null}
      {it.status === 'done' && it.fileId && !it.archive ? (
        <p className="upload-reason">
          <Link to={filesViewerHref(jobId, it.fileId)}>View {name}</Link>
        </p>
      ) : null}
    </li>
  );
}

/**
 * "Start analysis": POST /jobs/{id}/start. Disabled, with the reason beside
 * it, while the job has no file, files are still going up, the job is
 * already started or finished, or the user may not change it.
 */
export function StartAnalysis({
  job,
  fileCount,
  uploading,
  onStarted,
}: {
  job: Job;
  fileCount: number;
  uploading: boolean;
  onStarted: (j: Job) => void;
}) {
  const block = useWriteBlock('start the analysis', { job });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const idem = useIdempotencyKey();
  const reasonId = useId();
  let reason = '';
  if (isTerminal(job.status)) reason = `The job is ${job.status}.`;
  else if (job.ready) reason = `The analysis was requested${job.ready_at ? ` at ${formatDateTime(job.ready_at)}` : ''}.`;
  else if (job.status === 'running') reason = 'The analysis is running.';
  else if (uploading) reason = 'Wait for the uploads to finish.';
  else if (fileCount === 0) reason = 'Upload at least one file first.';
  const disabled = busy || block.blocked || reason !== '';
  const describedBy = [block.buttonProps['aria-describedby'], reason ? reasonId : ''].filter(Boolean).join(' ');

  async function start() {
    if (disabled) return;
    setBusy(true);
    setError(null);
    try {
      const j = await startJob(job.id, idem.keyFor({ start: job.id }));
      idem.done();
      onStarted(j);
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError({ status: 0, detail: String(err) }));
    } finally {
      setBusy(false);
    }
  }
  return (
    <div className="start-analysis">
      <div className="actions">
        <button
          type="button"
          onClick={() => void start()}
          disabled={disabled}
          title={block.buttonProps.title ?? (reason || undefined)}
          aria-describedby={describedBy || undefined}
        >
          {busy ? 'Starting…' : 'Start analysis'}
        </button>
        {reason ? (
          <p id={reasonId} className="write-note">
            {reason}
          </p>
        ) : null}
        <WriteBlockNote block={block} />
      </div>
      <ErrorMessage error={error} />
    </div>
  );
}

/**
 * The job page's upload area: drop files (or pick them; several at once,
 * archives included), checked against the server's rules first, each with
 * its own progress bar, cancel button and, when refused, the reason.
 */
export function UploadArea({
  job,
  jobId,
  fileCount,
  onUploaded,
  onStarted,
  deps,
}: {
  job: Job | undefined;
  jobId: string;
  fileCount: number;
  /** A file was stored: reload the list. */
  onUploaded: () => void;
  onStarted: (j: Job) => void;
  /** Tests: a fake XHR or tus server. */
  deps?: UploadDeps;
}) {
  const types = useAsync('supported-types', (signal) => supportedTypes(signal));
  const block = useWriteBlock('upload files', job ? { job } : {});
  const [items, setItems] = useState<Item[]>([]);
  const [dragging, setDragging] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const handles = useRef(new Map<string, UploadHandle>());
  const inputId = useId();
  const hintId = useId();
  const st: SupportedTypes | undefined = types.data;
  const stRef = useRef(st);
  stRef.current = st;
  const closed = job ? isTerminal(job.status) : false;
  const disabled = block.blocked || !st || closed;

  const patch = useCallback((key: string, p: Partial<Item> | ((it: Item) => Partial<Item>)) => {
    setItems((cur) => cur.map((it) => (it.key === key ? { ...it, ...(typeof p === 'function' ? p(it) : p) } : it)));
  }, []);

  const onUploadedRef = useRef(onUploaded);
  onUploadedRef.current = onUploaded;
  const depsRef = useRef(deps);
  depsRef.current = deps;

  const begin = useCallback(
    (it: Item, tus: string | null | undefined) => {
      const key = it.key;
      const h = uploadFile(
        it.file,
        jobId,
        tus,
        {
          onProgress: (loaded, total) =>
            patch(key, (cur) => (cur.status === 'uploading' || cur.status === 'retrying' ? { status: 'uploading', detail: '', loaded, total } : {})),
          onRetrying: (attempt, detail) => patch(key, { status: 'retrying', detail: `${detail} (attempt ${attempt})` }),
          onResuming: () => patch(key, { detail: 'Resuming an earlier upload of this file…' }),
        },
        depsRef.current,
      );
      handles.current.set(key, h);
      h.done.then(
        (res) => {
          handles.current.delete(key);
          const listed = res.files.filter((f) => f.parent_id).length;
          const meta = res.file?.kind === 'archive' ? res.file.metadata?.members : undefined;
          const members = listed || (typeof meta === 'number' ? meta : 0);
          const archive = res.file ? res.file.kind === 'archive' : isArchiveName(it.file.name, stRef.current ?? { allowed_types: [], max_file_size_mb: 0 });
          patch(key, (cur) => ({ status: 'done', detail: '', loaded: cur.file.size, total: cur.file.size, fileId: res.fileId, members, archive }));
          onUploadedRef.current();
        },
        (err: unknown) => {
          handles.current.delete(key);
          if (isAbort(err)) {
            patch(key, { status: 'cancelled', detail: '' });
            return;
          }
          const e = err instanceof ApiError ? err : new ApiError({ status: 0, detail: String(err) });
          const existing = existingFileOf(e);
          const serverRefused = e.status >= 400 && e.status < 500;
          let detail = refusalDetail(e, it.file.name);
          if (e.status === 503 && e.retryAfter !== null) detail += ` Try again in about ${e.retryAfter} s.`;
          patch(key, {
            status: serverRefused ? 'refused' : 'failed',
            detail,
            existing,
            retryable: !serverRefused,
          });
          // A 409 means the file is in the job: the list may not show it yet.
          if (existing) onUploadedRef.current();
        },
      );
    },
    [jobId, patch],
  );

  // Start waiting uploads, PARALLEL at a time.
  useEffect(() => {
    if (!st) return;
    let running = items.filter((i) => i.status === 'uploading' || i.status === 'retrying').length;
    const next: Item[] = [];
    for (const it of items) {
      if (running >= PARALLEL) break;
      if (it.status === 'queued' && !handles.current.has(it.key)) {
        next.push(it);
        running++;
      }
    }
    if (next.length === 0) return;
    setItems((cur) => cur.map((i) => (next.some((n) => n.key === i.key) ? { ...i, status: 'uploading', total: i.file.size } : i)));
    for (const it of next) begin(it, st.tus_endpoint);
  }, [items, st, begin]);

  // Leaving the page cancels what is still going up (tus keeps what the
  // server has, to resume when the same file is picked again).
  useEffect(() => {
    const map = handles.current;
    return () => {
      for (const h of map.values()) h.abort(false);
      map.clear();
    };
  }, []);

  function add(list: FileList | File[] | null) {
    if (!list || !st || disabled) return;
    const fresh: Item[] = [...list].map((file) => {
      const reason = precheck(file, st);
      return {
        key: `u${++seq}`,
        file,
        status: reason ? 'refused' : 'queued',
        loaded: 0,
        total: file.size,
        detail: reason ?? '',
        local: reason !== null,
        existing: null,
        fileId: null,
        members: 0,
        retryable: false,
        archive: false,
      };
    });
    setItems((cur) => [...cur, ...fresh]);
  }

  function cancel(key: string) {
    const h = handles.current.get(key);
    if (h) h.abort();
    else patch(key, { status: 'cancelled' });
  }

  function retry(key: string) {
    patch(key, { status: 'queued', detail: '', loaded: 0, existing: null, retryable: false });
  }

  function dismiss(key: string) {
    setItems((cur) => cur.filter((i) => i.key !== key));
  }

  function onDrop(e: DragEvent) {
    e.preventDefault();
    setDragging(false);
    if (disabled) return;
    add(e.dataTransfer?.files ?? null);
  }

  function onKey(e: KeyboardEvent) {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      if (!disabled) input.current?.click();
    }
  }

  const uploading = items.some((i) => i.status === 'queued' || i.status === 'uploading' || i.status === 'retrying');

  // Closing the tab while files go up: the browser asks first.
  useEffect(() => {
    if (!uploading) return;
    const warn = (e: BeforeUnloadEvent) => {
      e.preventDefault();
      e.returnValue = '';
    };
    window.addEventListener('beforeunload', warn);
    return () => window.removeEventListener('beforeunload', warn);
  }, [uploading]);
  const finished = items.filter((i) => i.status === 'done' || i.status === 'cancelled');
  const describedBy = [hintId, block.buttonProps['aria-describedby']].filter(Boolean).join(' ');

  return (
    <section className="card" aria-labelledby="upload-title">
      <h2 id="upload-title">Upload logs</h2>
      <ErrorMessage error={types.error} onRetry={types.reload} />
      <div
        className={`dropzone${dragging ? ' dropzone-over' : ''}${disabled ? ' dropzone-disabled' : ''}`}
        role="button"
        tabIndex={disabled ? -1 : 0}
        aria-disabled={disabled || undefined}
        aria-describedby={describedBy}
        aria-label="Drop files here, or press Enter to pick files to upload"
        onClick={() => !disabled && input.current?.click()}
        onKeyDown={onKey}
        onDragOver={(e) => {
          e.preventDefault();
          if (!disabled) {
            e.dataTransfer.dropEffect = 'copy';
            setDragging(true);
          } else e.dataTransfer.dropEffect = 'none';
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
        data-testid="dropzone"
      >
        <p className="dropzone-title">
          <strong>Drop files here</strong> or <span className="dropzone-link">choose files</span>
        </p>
        <p className="muted" id={hintId}>
          {st
            ? `${acceptedText(st)} Up to ${st.max_file_size_mb} MB per file. Archives are unpacked on the server.${st.tus_endpoint ? ' Uploads resume after a dropped connection.' : ''}`
            : types.loading
              ? 'Loading the accepted types…'
              : ''}
          {closed && job ? ` This job is ${job.status}: no more files can be added.` : ''}
        </p>
      </div>
      <label htmlFor={inputId} className="visually-hidden">
        Choose files to upload
      </label>
      <input
        ref={input}
        id={inputId}
        type="file"
        multiple
        className="visually-hidden"
        tabIndex={-1}
        disabled={disabled}
        {...(st ? { accept: acceptAttribute(st) } : {})}
        onChange={(e) => {
          add(e.target.files);
          e.target.value = '';
        }}
      />
      <WriteBlockNote block={block} />
      {items.length > 0 ? (
        <>
          <ul className="uploads" aria-label="Uploads">
            {items.map((it) => (
              <UploadRow
                key={it.key}
                it={it}
                jobId={jobId}
                onCancel={() => cancel(it.key)}
                onRetry={() => retry(it.key)}
                onDismiss={() => dismiss(it.key)}
              />
            ))}
          </ul>
          {finished.length > 1 ? (
            <button
              type="button"
              className="button-secondary button-small"
              onClick={() => setItems((cur) => cur.filter((i) => i.status !== 'done' && i.status !== 'cancelled'))}
            >
              Clear finished
            </button>
          ) : null}
        </>
      ) : null}
      {job ? <StartAnalysis job={job} fileCount={fileCount} uploading={uploading} onStarted={onStarted} /> : null}
    </section>
  );
}
