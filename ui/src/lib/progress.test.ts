import { describe, expect, it } from 'vitest';
import type { JobEvent } from './api/types';
import { deriveProgress } from './progress';

let id = 0;
function ev(event_type: string, data: Record<string, unknown> = {}): JobEvent {
  id++;
  return { id, job_id: 'j', event_type, data, created_at: '2025-01-31T12:00:00Z' };
}

// The worker's events, with its keys (internal/worker/run.go).
const started = [
  ev('created'),
  ev('file-uploaded', { file_id: 'a', filename: 'db.log' }),
  ev('started', { worker_id: 'w-1' }),
  ev('worker-assigned', { worker_id: 'w-1' }),
  ev('analysis-phase', { phase: 'ingestion', status: 'started', files: 2, bytes_total: 1000 }),
  ev('file-processing-started', { file_id: 'a', filename: 'db.log', size: 400 }),
  ev('analysis-progress', { phase: 'ingestion', bytes_read: 200, bytes_total: 1000, percent: 20, file_id: 'a', filename: 'db.log' }),
];

describe('deriveProgress', () => {
  it('says nothing happened before a worker started', () => {
    const p = deriveProgress([ev('created'), ev('file-uploaded', { file_id: 'a' })]);
    expect(p.active).toBe(false);
    expect(p.stage).toBe('waiting');
    expect(p.percent).toBeNull();
  });

  it('follows phases, files and the share of bytes read', () => {
    let p = deriveProgress(started);
    expect(p).toMatchObject({ active: true, stage: 'ingestion', attempt: 1, workerId: 'w-1', percent: 20, bytesRead: 200, bytesTotal: 1000, currentFile: 'db.log' });
    expect(p.phases).toEqual({ ingestion: 'started', ranking: 'pending' });
    expect(p.files).toEqual([expect.objectContaining({ fileId: 'a', filename: 'db.log', size: 400, done: false, lines: null })]);

    const more = [
      ...started,
      ev('file-processing-completed', { file_id: 'a', filename: 'db.log', errors: 3, warnings: 1, critical: 0, redaction_hits: 2, lines: 40, records: 40 }),
      ev('file-processing-started', { file_id: 'b', filename: 'app.log', size: 600 }),
      // A late, coalesced report never moves the bar back.
      ev('analysis-progress', { phase: 'ingestion', bytes_read: 700, bytes_total: 1000, percent: 70 }),
      ev('analysis-progress', { phase: 'ingestion', bytes_read: 650, bytes_total: 1000, percent: 65 }),
    ];
    p = deriveProgress(more);
    expect(p.percent).toBe(70);
    expect(p.files.map((f) => [f.filename, f.done, f.lines, f.errors, f.warnings, f.redactions])).toEqual([
      ['db.log', true, 40, 3, 1, 2],
      ['app.log', false, null, null, null, null],
    ]);

    p = deriveProgress([...more, ev('analysis-phase', { phase: 'ingestion', status: 'completed' }), ev('analysis-phase', { phase: 'ranking', status: 'started' })]);
    expect(p.stage).toBe('ranking');
    expect(p.phases).toEqual({ ingestion: 'completed', ranking: 'started' });
    expect(p.percent).toBe(100);

    p = deriveProgress([...more, ev('analysis-phase', { phase: 'ranking', status: 'started' }), ev('analysis-phase', { phase: 'ranking', status: 'completed' }), ev('completed', { severity: 'high' })]);
    expect(p.stage).toBe('completed');
    expect(p.phases).toEqual({ ingestion: 'completed', ranking: 'completed' });
  });

  it('computes the share from bytes when percent is missing', () => {
    const p = deriveProgress([ev('started'), ev('analysis-progress', { bytes_read: 1, bytes_total: 4 })]);
    expect(p.percent).toBe(25);
  });

  it('starts a retried attempt afresh and counts it', () => {
    const p = deriveProgress([
      ...started,
      ev('retrying', { attempt: 1, error: 'storage unavailable', run_after: '2025-01-31T12:00:10Z' }),
    ]);
    expect(p.stage).toBe('retrying');
    expect(p.retry).toEqual({ attempt: 1, error: 'storage unavailable', runAfter: '2025-01-31T12:00:10Z', handedBack: false });
    const again = deriveProgress([...started, ev('retrying', { attempt: 1 }), ev('started', { worker_id: 'w-2' })]);
    expect(again).toMatchObject({ attempt: 2, workerId: 'w-2', stage: 'ingestion', percent: null, files: [] });
  });

  it('keeps the failure reason', () => {
    const p = deriveProgress([...started, ev('failed', { error: 'None of the job files is a text log' })]);
    expect(p.stage).toBe('failed');
    expect(p.error).toBe('None of the job files is a text log');
  });
});
