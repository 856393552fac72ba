import type { Job } from '../lib/api/types';
import { formatBytes, formatDateTime } from '../lib/format';
import type { PhaseStatus, Progress } from '../lib/progress';

const STAGE_TEXT: Record<Progress['stage'], string> = {
  waiting: 'Waiting for a worker…',
  ingestion: 'Reading the logs',
  ranking: 'Ranking the causes',
  completed: 'Analysis completed',
  failed: 'Analysis failed',
  cancelled: 'Cancelled',
  retrying: 'Retrying',
};

const PHASE_TEXT: Record<PhaseStatus, string> = { pending: 'waiting', started: 'in progress', completed: 'done' };

function Phase({ name, status }: { name: string; status: PhaseStatus }) {
  return (
    <li className={`phase phase-${status}`} data-phase={name} data-status={status}>
      <span className="phase-dot" aria-hidden="true" />
      <span className="phase-name">{name}</span> <span className="muted">{PHASE_TEXT[status]}</span>
    </li>
  );
}

function n(v: number | null): string {
  return v === null ? '—' : v.toLocaleString('en');
}

/**
 * Where the job's analysis is: the phase, the files read and being read,
 * the share of bytes read; a failed job's message; a retry's attempt.
 */
export function ProgressPanel({ job, progress }: { job: Job | null; progress: Progress }) {
  const p = progress;
  const failed = job?.status === 'failed' || p.stage === 'failed';
  const error = job?.error_message || p.error;
  const stage: Progress['stage'] = job?.status === 'completed' ? 'completed' : failed ? 'failed' : job?.status === 'cancelled' ? 'cancelled' : p.stage;
  const pct = stage === 'completed' ? 100 : p.percent;
  const attempt = job?.attempt || p.attempt;
  return (
    <section className="card" aria-labelledby="progress-title" data-testid="progress">
      <div className="section-head">
        <h2 id="progress-title">Analysis</h2>
        <span className="muted" data-testid="attempt">
          {attempt > 1 || (job && job.retry_count > 0) ? `Attempt ${attempt}${job ? ` of ${job.max_retries + 1}` : ''}` : null}
        </span>
      </div>
      <p className={`stage stage-${stage}`} role="status" data-testid="stage">
        {STAGE_TEXT[stage]}
        {stage === 'ingestion' && p.currentFile ? <span className="muted">: {p.currentFile}</span> : null}
      </p>
      {failed && error ? (
        <div className="message message-error" role="alert" data-testid="job-error">
          <strong>The analysis failed.</strong> {error}
        </div>
      ) : null}
      {stage === 'retrying' && p.retry ? (
        <p className="message message-warn" data-testid="retrying">
          {p.retry.handedBack
            ? 'The worker stopped and handed the job back; another takes it up now.'
            : `Attempt ${p.retry.attempt ?? attempt} failed${p.retry.error ? `: ${p.retry.error}` : ''}.`}
          {p.retry.runAfter && !p.retry.handedBack ? ` Next try ${formatDateTime(p.retry.runAfter)}.` : ''}
        </p>
      ) : null}
      <ol className="phases" aria-label="Phases">
        <Phase name="Ingestion" status={p.phases.ingestion} />
        <Phase name="Ranking" status={p.phases.ranking} />
      </ol>
      <div className="progress-row">
        <progress
          max={100}
          value={pct ?? undefined}
          aria-label="Share of the logs read"
          aria-valuetext={pct === null ? 'not started' : `${Math.round(pct)} %`}
          data-testid="progress-bar"
        />
        <span className="muted num" data-testid="progress-text">
          {pct === null ? '' : `${Math.round(pct)} %`}
          {p.bytesTotal ? ` · ${formatBytes(p.bytesRead ?? 0)} of ${formatBytes(p.bytesTotal)}` : ''}
        </span>
      </div>
      {p.files.length > 0 ? (
        <div className="table-wrap">
          <table className="compact" data-testid="progress-files">
            <caption className="visually-hidden">Files of the analysis</caption>
            <thead>
              <tr>
                <th scope="col">File</th>
                <th scope="col">State</th>
                <th scope="col" className="num">Lines</th>
                <th scope="col" className="num">Errors</th>
                <th scope="col" className="num">Warnings</th>
                <th scope="col" className="num">Redacted</th>
              </tr>
            </thead>
            <tbody>
              {p.files.map((f) => (
                <tr key={f.fileId}>
                  <th scope="row" className="break">{f.filename}</th>
                  <td>{f.done ? 'done' : 'reading…'}</td>
                  <td className="num">{n(f.lines)}</td>
                  <td className="num">{n(f.errors)}{f.critical ? ` (+${n(f.critical)} critical)` : ''}</td>
                  <td className="num">{n(f.warnings)}</td>
                  <td className="num">{n(f.redactions)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
