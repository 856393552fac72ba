// What the job's events say about a running analysis (issue #14): the phase,
// the files read and being read, the share of bytes read, the attempt, the
// outcome. A pure fold over the job's events (in id order), so the page
// derives it from the timeline it already keeps.

import type { JobEvent } from './api/types';

export type PhaseStatus = 'pending' | 'started' | 'completed';

export interface FileProgress {
  fileId: string;
  filename: string;
  size: number | null;
  done: boolean;
  lines: number | null;
  records: number | null;
  errors: number | null;
  warnings: number | null;
  critical: number | null;
  redactions: number | null;
}

export interface Progress {
  /** Whether any analysis event was seen (the panel has something to show). */
  active: boolean;
  /** Where the analysis is, in words. */
  stage: 'waiting' | 'ingestion' | 'ranking' | 'completed' | 'failed' | 'cancelled' | 'retrying';
  phases: { ingestion: PhaseStatus; ranking: PhaseStatus };
  files: FileProgress[];
  /** 0–100, from analysis-progress (bytes read of bytes total); null before any. */
  percent: number | null;
  bytesRead: number | null;
  bytesTotal: number | null;
  /** The file being read, as the last progress event named it. */
  currentFile: string | null;
  /** Attempts started (started events since the last terminal one). */
  attempt: number;
  workerId: string | null;
  error: string | null;
  retry: { attempt: number | null; error: string | null; runAfter: string | null; handedBack: boolean } | null;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

export function initialProgress(): Progress {
  return {
    active: false,
    stage: 'waiting',
    phases: { ingestion: 'pending', ranking: 'pending' },
    files: [],
    percent: null,
    bytesRead: null,
    bytesTotal: null,
    currentFile: null,
    attempt: 0,
    workerId: null,
    error: null,
    retry: null,
  };
}

/** Folds the job's events (oldest first) into where its analysis is. */
export function deriveProgress(events: readonly JobEvent[]): Progress {
  let p = initialProgress();
  for (const ev of events) {
    const d = ev.data ?? {};
    switch (ev.event_type) {
      case 'started': {
        // A new attempt starts from nothing but keeps the count.
        const attempt = p.attempt + 1;
        p = { ...initialProgress(), active: true, attempt, stage: 'ingestion', workerId: str(d['worker_id']), retry: p.retry };
        break;
      }
      case 'worker-assigned':
        p.active = true;
        p.workerId = str(d['worker_id']) ?? p.workerId;
        break;
      case 'analysis-phase': {
        p.active = true;
        const phase = d['phase'];
        const status = d['status'] === 'completed' ? 'completed' : 'started';
        if (phase === 'ingestion' || phase === 'ranking') {
          p.phases = { ...p.phases, [phase]: status };
          if (phase === 'ranking' && status === 'started') p.phases.ingestion = 'completed';
          if (p.stage !== 'completed' && p.stage !== 'failed') p.stage = phase;
        }
        const total = num(d['bytes_total']);
        if (total !== null) p.bytesTotal = total;
        if (phase === 'ingestion' && status === 'completed') {
          p.percent = 100;
          if (p.bytesTotal !== null) p.bytesRead = p.bytesTotal;
          p.currentFile = null;
        }
        break;
      }
      case 'file-processing-started': {
        p.active = true;
        const id = str(d['file_id']) ?? str(d['filename']) ?? String(ev.id);
        if (!p.files.some((f) => f.fileId === id)) {
          p.files = [
            ...p.files,
            {
              fileId: id,
              filename: str(d['filename']) ?? id,
              size: num(d['size']),
              done: false,
              lines: null,
              records: null,
              errors: null,
              warnings: null,
              critical: null,
              redactions: null,
            },
          ];
        }
        p.currentFile = str(d['filename']) ?? p.currentFile;
        break;
      }
      case 'file-processing-completed': {
        p.active = true;
        const id = str(d['file_id']) ?? str(d['filename']) ?? String(ev.id);
        const done: Partial<FileProgress> = {
          done: true,
          lines: num(d['lines']),
          records: num(d['records']),
          errors: num(d['errors']),
          warnings: num(d['warnings']),
          critical: num(d['critical']),
          redactions: num(d['redaction_hits']),
        };
        const i = p.files.findIndex((f) => f.fileId === id);
        if (i >= 0) {
          p.files = p.files.map((f, j) => (j === i ? { ...f, ...done } : f));
        } else {
          p.files = [
            ...p.files,
            { fileId: id, filename: str(d['filename']) ?? id, size: num(d['bytes']), lines: null, records: null, errors: null, warnings: null, critical: null, redactions: null, ...done, done: true },
          ];
        }
        break;
      }
      case 'analysis-progress': {
        p.active = true;
        const read = num(d['bytes_read']);
        const total = num(d['bytes_total']);
        if (read !== null) p.bytesRead = read;
        if (total !== null) p.bytesTotal = total;
        const pct = num(d['percent']) ?? (read !== null && total ? (read / total) * 100 : null);
        // Never backwards within an attempt (events can be coalesced).
        if (pct !== null) p.percent = Math.max(p.percent ?? 0, Math.min(100, Math.max(0, pct)));
        p.currentFile = str(d['filename']) ?? p.currentFile;
        break;
      }
      case 'retrying':
        p.stage = 'retrying';
        p.retry = {
          attempt: num(d['attempt']),
          error: str(d['error']),
          runAfter: str(d['run_after']),
          handedBack: d['handed_back'] === true,
        };
        break;
      case 'completed':
        p.active = true;
        p.stage = 'completed';
        p.phases = { ingestion: 'completed', ranking: 'completed' };
        p.percent = 100;
        p.currentFile = null;
        break;
      case 'failed':
        p.active = true;
        p.stage = 'failed';
        p.error = str(d['error']) ?? str(d['error_message']) ?? p.error;
        break;
      case 'cancelled':
        p.stage = 'cancelled';
        break;
    }
  }
  return p;
}
