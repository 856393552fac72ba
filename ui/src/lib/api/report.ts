// GET /api/summary/{job_id} and the report downloads (issue #14). The report
// is the engine's JSON (internal/analysis/report.go); only what the UI shows
// is typed here. Every text in it comes from the logs: render it as text.

import { appTokens, ApiError, apiUrl, http } from './http';
import type { JobFile, JobStatus } from './types';

export interface Evidence {
  role: string;
  file: string;
  file_id?: string;
  line: number;
  lines?: number;
  timestamp?: string | null;
  level: string;
  text: string;
  truncated?: boolean;
  signature_id?: string;
}

export interface Cause {
  rank: number;
  signature_id: string;
  title: string;
  template: string;
  level: string;
  score: number;
  count: number;
  category?: string;
  reasons: string[];
  evidence: Evidence[];
  symptoms?: string[];
}

export interface Occurrence {
  file: string;
  line: number;
  timestamp?: string | null;
}

export interface Signature {
  id: string;
  template: string;
  count: number;
  level: string;
  levels?: Record<string, number>;
  first_seen: Occurrence;
  last_seen: Occurrence;
  files: { file: string; count: number }[];
  more_files?: number;
  rare?: boolean;
  new?: boolean;
  steady?: boolean;
  burst?: { onset?: string | null; onset_record?: number; rate_before: number; rate_after: number; rate_unit: string } | null;
}

export interface TimelineBucket {
  start?: string | null;
  first_record?: number;
  total: number;
  levels: Record<string, number>;
}

export interface Timeline {
  axis: 'time' | 'record' | '';
  bucket_seconds?: number;
  bucket_records?: number;
  buckets: TimelineBucket[];
}

export interface ReportMetrics {
  files: number;
  lines: number;
  errors: number;
  warnings: number;
  critical: number;
  records?: number;
  bytes?: number;
  signatures?: number;
  signatures_listed?: number;
  redacted_values?: number;
}

export interface FileSummary {
  file_id: string;
  filename: string;
  line_count: number;
  error_count: number;
  warning_count: number;
  format?: string;
}

export interface Report {
  job_id: string;
  analysis_type: string;
  generated_at: string;
  severity: string;
  categories?: string[];
  metrics: ReportMetrics;
  files: FileSummary[];
  summary: string;
  recommended_actions: string[];
  time_range?: { start: string; end: string };
  causes: Cause[];
  first_error: { signature_id: string; template: string; evidence: Evidence; preceding: Evidence[] } | null;
  signatures: Signature[];
  timeline: Timeline;
}

/** GET /api/summary/{job_id}. */
export interface Summary {
  job_id: string;
  analysis_type: string;
  generated_at: string | null;
  outputs: { markdown?: string; html?: string; json?: Report | null };
  metrics: Record<string, unknown>;
  status?: JobStatus;
  severity?: string;
}

/** The analysed job's summary; a 404 ApiError until its outputs exist. */
export function getSummary(jobId: string, signal?: AbortSignal): Promise<Summary> {
  return http.request<Summary>('GET', `/summary/${encodeURIComponent(jobId)}`, signal ? { signal } : {});
}

/**
 * The report's JSON alone (GET /api/summary/{id}/report.json): the summary
 * route carries the Markdown and the HTML as well, which the page does not
 * show, so this is a third of the bytes. A 404 ApiError until it exists.
 */
export function getReport(jobId: string, signal?: AbortSignal): Promise<Report> {
  return http.request<Report>('GET', `/summary/${encodeURIComponent(jobId)}/report.json`, signal ? { signal } : {});
}

export type ReportFormat = 'md' | 'html' | 'json';

export function reportUrl(jobId: string, format: ReportFormat): string {
  return apiUrl(`/summary/${encodeURIComponent(jobId)}/report.${format}`);
}

/**
 * Saves a report through a Blob with the access token (a plain link cannot
 * send it); renews the token once after a 401.
 */
export async function downloadReport(jobId: string, format: ReportFormat, token: string): Promise<void> {
  const url = reportUrl(jobId, format);
  let res = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
  if (res.status === 401) {
    const fresh = await appTokens.renew(token);
    if (fresh) res = await fetch(url, { headers: { Authorization: `Bearer ${fresh}` } });
  }
  if (!res.ok) throw new ApiError({ status: res.status, detail: `The download was refused (${res.status}).` });
  const blob = await res.blob();
  const href = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = href;
  a.download = `rca-report-${jobId}.${format}`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
}

/** How a file of the job is named in reports: its archive path for a member, else its name. */
function namesOf(f: JobFile): string[] {
  const out: string[] = [];
  if (f.archive_path) out.push(f.archive_path);
  out.push(f.filename, f.original_filename);
  return out.filter(Boolean);
}

/**
 * The job file an evidence line (or a signature's occurrence) is in: by its
 * file_id when the report gives one, else by name (archive path first, then
 * file name, then a path ending in the name). Null when nothing matches.
 */
export function fileFor(files: readonly JobFile[], ref: { file: string; file_id?: string }): JobFile | null {
  if (ref.file_id) {
    const byId = files.find((f) => f.id === ref.file_id);
    if (byId) return byId;
  }
  const logs = files.filter((f) => f.kind !== 'archive');
  const name = ref.file;
  if (!name) return null;
  for (const f of logs) if (f.archive_path === name) return f;
  for (const f of logs) if (namesOf(f).includes(name)) return f;
  // "app.zip/logs/app.log" or "logs/app.log" against a member "logs/app.log".
  for (const f of logs) if (namesOf(f).some((n) => name.endsWith(`/${n}`) || n.endsWith(`/${name}`))) return f;
  return null;
}

/** The file viewer's address for a line of a file. */
export function viewerHref(jobId: string, fileId: string, line: number): string {
  return `/jobs/${encodeURIComponent(jobId)}/files/${encodeURIComponent(fileId)}?line=${line}`;
}
