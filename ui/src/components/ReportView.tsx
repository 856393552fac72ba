// The analysed job's report (issue #14), from the JSON of GET
// /api/summary/{id}: never the report's HTML. Every text that comes from the
// logs (templates, evidence, reasons) is rendered as React text, so a log
// line holding markup shows as that markup.

import { useEffect, useState, type MouseEvent } from 'react';
import { ApiError, appTokens } from '../lib/api/http';
import { fileLines } from '../lib/api/files';
import { downloadReport, fileFor, reportUrl, viewerHref, type Cause, type Evidence, type Report, type ReportFormat } from '../lib/api/report';
import type { FileLine, JobFile } from '../lib/api/types';
import { formatDateTime } from '../lib/format';
import { Link } from '../router';
import { Badge } from './Badge';
import { ErrorMessage } from './ErrorMessage';
import { SignatureTable } from './SignatureTable';
import { TimelineChart } from './TimelineChart';

/** Evidence lines shown per cause; the others are one click away. */
export const EVIDENCE_SHOWN = 2;

/** Lines shown before and after an evidence line. */
export const CONTEXT_LINES = 3;

const ROLE_TEXT: Record<string, string> = {
  first: 'first',
  example: 'example',
  highest_level: 'worst',
  context: 'context',
  preceded_by: 'before it',
  first_error: 'first error',
};

function EvidenceContext({ file, line }: { file: JobFile; line: number }) {
  const [lines, setLines] = useState<FileLine[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    const ctl = new AbortController();
    fileLines(file.id, Math.max(1, line - CONTEXT_LINES), line + CONTEXT_LINES, ctl.signal).then(
      (w) => setLines(w.lines),
      (err) => {
        if (!ctl.signal.aborted) setError(err instanceof ApiError ? err : new ApiError({ status: 0, detail: String(err) }));
      },
    );
    return () => ctl.abort();
  }, [file.id, line]);
  if (error) return <ErrorMessage error={error} />;
  if (!lines) return <p className="muted small">Loading the lines around it…</p>;
  return (
    <pre className="context" data-testid="evidence-context">
      {lines.map((l) => (
        <span key={l.number} className={l.number === line ? 'context-line context-hit' : 'context-line'}>
          <span className="context-no" aria-hidden="true">
            {l.number}
          </span>
          {l.text}
          {'\n'}
        </span>
      ))}
    </pre>
  );
}

function EvidenceItem({ ev, jobId, files, open }: { ev: Evidence; jobId: string; files: readonly JobFile[]; open: boolean }) {
  const f = fileFor(files, ev);
  const [shown, setShown] = useState(open);
  const where = `${ev.file}:${ev.line}`;
  return (
    <li className="evidence" data-testid="evidence">
      <div className="evidence-head">
        <span className="muted small">{ROLE_TEXT[ev.role] ?? ev.role}</span>
        {ev.level ? <Badge value={ev.level} /> : null}
        {ev.timestamp ? <time className="mono small" dateTime={ev.timestamp}>{formatDateTime(ev.timestamp)}</time> : null}
        {f ? (
          <Link to={viewerHref(jobId, f.id, ev.line)} className="mono small" data-testid="evidence-link" title="Open the file at this line">
            {where}
          </Link>
        ) : (
          <span className="mono small" title="This file is not among the job's files any more">
            {where}
          </span>
        )}
      </div>
      <code className="log-text evidence-text">{ev.text}</code>
      {f ? (
        <details open={shown} onToggle={(e) => setShown((e.currentTarget as HTMLDetailsElement).open)}>
          <summary className="small">Lines around it</summary>
          {shown ? <EvidenceContext file={f} line={ev.line} /> : null}
        </details>
      ) : null}
    </li>
  );
}

function CauseCard({ cause, jobId, files, first }: { cause: Cause; jobId: string; files: readonly JobFile[]; first: boolean }) {
  return (
    <li className="cause" data-testid="cause" data-rank={cause.rank}>
      <div className="cause-head">
        <span className="cause-rank" aria-label={`Rank ${cause.rank}`}>
          #{cause.rank}
        </span>
        <h3 className="cause-title log-text">{cause.title}</h3>
        <Badge value={cause.level} />
        <span className="muted small" title="The engine's score: higher is more likely the cause">
          score {cause.score.toFixed(2)}
        </span>
        <span className="muted small">{cause.count.toLocaleString('en')}×</span>
        {cause.category ? <span className="tag">{cause.category}</span> : null}
      </div>
      {cause.template && cause.template !== cause.title ? <p className="mono small log-text">{cause.template}</p> : null}
      {cause.reasons.length ? (
        <ul className="reasons">
          {cause.reasons.map((r, i) => (
            <li key={i}>{r}</li>
          ))}
        </ul>
      ) : null}
      {cause.evidence.length ? (
        <ol className="evidence-list" aria-label={`Evidence of cause ${cause.rank}`}>
          {cause.evidence.slice(0, EVIDENCE_SHOWN).map((ev, i) => (
            <EvidenceItem key={`${ev.file}:${ev.line}:${i}`} ev={ev} jobId={jobId} files={files} open={first && i === 0} />
          ))}
        </ol>
      ) : null}
      {cause.evidence.length > EVIDENCE_SHOWN ? (
        <details className="more-evidence">
          <summary className="small">
            {cause.evidence.length - EVIDENCE_SHOWN} more evidence line{cause.evidence.length - EVIDENCE_SHOWN === 1 ? '' : 's'} (examples, context, what came before)
          </summary>
          <ol className="evidence-list" aria-label={`More evidence of cause ${cause.rank}`}>
            {cause.evidence.slice(EVIDENCE_SHOWN).map((ev, i) => (
              <EvidenceItem key={`${ev.file}:${ev.line}:${i}`} ev={ev} jobId={jobId} files={files} open={false} />
            ))}
          </ol>
        </details>
      ) : null}
    </li>
  );
}

const FORMATS: { f: ReportFormat; label: string }[] = [
  { f: 'md', label: 'Markdown' },
  { f: 'html', label: 'HTML' },
  { f: 'json', label: 'JSON' },
];

function Downloads({ jobId }: { jobId: string }) {
  const [error, setError] = useState<ApiError | null>(null);
  async function click(e: MouseEvent<HTMLAnchorElement>, f: ReportFormat) {
    const token = appTokens.token();
    if (!token) return; // a plain link: no credential needed
    e.preventDefault();
    setError(null);
    try {
      await downloadReport(jobId, f, token);
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError({ status: 0, detail: String(err) }));
    }
  }
  return (
    <div className="downloads">
      <span className="muted">Download the report:</span>
      {FORMATS.map(({ f, label }) => (
        <a key={f} className="button-like" href={reportUrl(jobId, f)} download={`rca-report-${jobId}.${f}`} onClick={(e) => void click(e, f)}>
          {label}
        </a>
      ))}
      <ErrorMessage error={error} />
    </div>
  );
}

/** The report: severity, summary, ranked causes with evidence, timeline, signatures, actions, downloads. */
export function ReportView({ report, jobId, files }: { report: Report; jobId: string; files: readonly JobFile[] }) {
  const m = report.metrics;
  const causes = [...(report.causes ?? [])].sort((a, b) => a.rank - b.rank);
  return (
    <section className="card report" aria-labelledby="report-title" data-testid="report">
      <div className="section-head">
        <h2 id="report-title">
          Report <span className={`severity severity-${report.severity.replace(/[^a-z]/g, "")}`} data-testid="severity">{report.severity}</span>
        </h2>
        <span className="muted small">generated {formatDateTime(report.generated_at)}</span>
      </div>
      <p className="summary" data-testid="summary">
        {report.summary}
      </p>
      {m ? (
        <p className="muted small">
          {m.files} file{m.files === 1 ? '' : 's'}, {m.lines.toLocaleString('en')} lines, {m.errors.toLocaleString('en')} errors,{' '}
          {m.warnings.toLocaleString('en')} warnings{m.critical ? `, ${m.critical.toLocaleString('en')} critical` : ''}
          {m.signatures ? `, ${m.signatures.toLocaleString('en')} signatures` : ''}
          {m.redacted_values ? `, ${m.redacted_values.toLocaleString('en')} values redacted` : ''}.
        </p>
      ) : null}
      <Downloads jobId={jobId} />

      <h3>Timeline</h3>
      <TimelineChart timeline={report.timeline} causes={causes} signatures={report.signatures ?? []} />

      <h3>Probable causes</h3>
      {causes.length === 0 ? (
        <p className="muted">No probable cause: nothing stands out in these logs.</p>
      ) : (
        <ol className="causes" data-testid="causes">
          {causes.map((c, i) => (
            <CauseCard key={c.signature_id || c.rank} cause={c} jobId={jobId} files={files} first={i === 0} />
          ))}
        </ol>
      )}

      {report.first_error ? (
        <>
          <h3>First error</h3>
          <ol className="evidence-list" aria-label="First error" data-testid="first-error">
            <EvidenceItem ev={report.first_error.evidence} jobId={jobId} files={files} open={false} />
          </ol>
        </>
      ) : null}

      {report.recommended_actions?.length ? (
        <>
          <h3>Recommended actions</h3>
          <ul className="actions-list" data-testid="actions">
            {report.recommended_actions.map((a, i) => (
              <li key={i}>{a}</li>
            ))}
          </ul>
        </>
      ) : null}

      <h3>Signatures</h3>
      <SignatureTable signatures={report.signatures ?? []} jobId={jobId} files={files} {...(m?.signatures ? { total: m.signatures } : {})} />
    </section>
  );
}
