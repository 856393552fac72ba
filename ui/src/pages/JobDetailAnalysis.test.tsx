// @vitest-environment jsdom
import { act, cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { degradedStore } from '../lib/api/degraded';
import { session } from '../lib/session';
import { JOB_ID, jobFile, json, TYPES } from '../test/files';
import { report } from '../test/report';
import { JobDetailPage } from './JobDetail';

const BASE = {
  id: JOB_ID,
  job_type: 'log-analysis',
  status: 'running',
  user_id: 'ana',
  owner_id: null,
  provider: 'p',
  model: 'm',
  priority: 3,
  retry_count: 0,
  max_retries: 3,
  attempt: 1,
  input_manifest: {},
  created_at: '2025-01-31T12:00:00Z',
  updated_at: '2025-01-31T12:00:00Z',
  files_count: 2,
  ready: true,
  error_message: null as string | null,
};

class FakeEventSource {
  static last: FakeEventSource | null = null;
  readyState = 1;
  onopen: ((e: Event) => void) | null = null;
  onerror: ((e: Event) => void) | null = null;
  listeners = new Map<string, ((e: MessageEvent) => void)[]>();
  constructor(public url: string) {
    FakeEventSource.last = this;
  }
  addEventListener(type: string, l: (e: MessageEvent) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), l]);
  }
  close() {}
  emit(type: string, data: unknown, id: string) {
    const ev = new MessageEvent(type, { data: JSON.stringify(data), lastEventId: id });
    for (const l of this.listeners.get(type) ?? []) l(ev);
  }
}

let job: typeof BASE & { status: string };
let fetchMock: ReturnType<typeof vi.fn>;
let n = 100;
const files = [jobFile({ id: 'file-db', filename: 'db.log' }), jobFile({ id: 'file-app', filename: 'app.log', archive_path: 'logs/app.log' })];

function send(type: string, data: Record<string, unknown>) {
  n++;
  FakeEventSource.last!.emit(type, { id: n, job_id: JOB_ID, event_type: type, data, created_at: '2025-01-31T12:00:00Z' }, String(n));
}

beforeEach(() => {
  degradedStore.reset();
  session.reset();
  job = { ...BASE };
  window.history.replaceState(null, '', `/jobs/${JOB_ID}`);
  fetchMock = vi.fn(async (url: string) => {
    const path = url.split('?')[0]!;
    if (path === `/api/jobs/${JOB_ID}`) return json(200, job);
    if (path === `/api/jobs/${JOB_ID}/events`) return json(200, []);
    if (path === `/api/tickets/${JOB_ID}`) return json(200, { job_id: JOB_ID, tickets: [] });
    if (path === '/api/tickets/settings/state') return json(200, { servicenow_enabled: false, jira_enabled: false, dual_mode: false });
    if (path === '/api/files/supported-types') return json(200, TYPES);
    if (path === `/api/files/jobs/${JOB_ID}`) return json(200, files);
    if (path === `/api/summary/${JOB_ID}/report.json`) {
      if (job.status !== 'completed') return json(404, { title: 'Not Found', status: 404, detail: 'Summary outputs not available for this job' });
      return json(200, report({ summary: 'The database refused connections. <script>bad()</script>' }));
    }
    if (/\/api\/files\/[^/]+\/lines/.test(path)) return json(200, { file_id: 'file-db', from: 39, to: 45, total_lines: 100, lines: [{ number: 42, text: 'FATAL: connection refused' }], truncated: false });
    return json(404, { title: 'Not Found', status: 404, detail: 'Not found.' });
  });
  vi.stubGlobal('fetch', fetchMock);
  vi.stubGlobal('EventSource', FakeEventSource);
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe('job page analysis', () => {
  it('moves through the phases as events arrive, then shows the report', async () => {
    const { container } = render(<JobDetailPage id={JOB_ID} />);
    const panel = await screen.findByTestId('progress');
    const bar = () => within(panel).getByTestId('progress-bar') as HTMLProgressElement;
    const phase = (name: string) => panel.querySelector(`[data-phase="${name}"]`)!.getAttribute('data-status');
    expect(within(panel).getByTestId('stage').textContent).toBe('Waiting for a worker…');

    act(() => {
      FakeEventSource.last!.onopen?.(new Event('open'));
      send('started', { worker_id: 'w-1' });
      send('analysis-phase', { phase: 'ingestion', status: 'started', files: 2, bytes_total: 2048 });
      send('file-processing-started', { file_id: 'file-db', filename: 'db.log', size: 1024 });
      send('analysis-progress', { phase: 'ingestion', bytes_read: 512, bytes_total: 2048, percent: 25, file_id: 'file-db', filename: 'db.log' });
    });
    await waitFor(() => expect(bar().value).toBe(25));
    expect(within(panel).getByTestId('stage').textContent).toBe('Reading the logs: db.log');
    expect(phase('Ingestion')).toBe('started');
    expect(phase('Ranking')).toBe('pending');
    expect(within(panel).getByTestId('progress-text').textContent).toContain('25 %');

    act(() => {
      send('file-processing-completed', { file_id: 'file-db', filename: 'db.log', errors: 12, warnings: 1, critical: 0, redaction_hits: 3, lines: 120, records: 118 });
      send('analysis-phase', { phase: 'ingestion', status: 'completed' });
      send('analysis-phase', { phase: 'ranking', status: 'started' });
    });
    await waitFor(() => expect(phase('Ranking')).toBe('started'));
    expect(phase('Ingestion')).toBe('completed');
    expect(bar().value).toBe(100);
    const row = within(within(panel).getByTestId('progress-files')).getByRole('row', { name: /db\.log/ });
    expect(Array.from(row.querySelectorAll('td')).map((td) => td.textContent)).toEqual(['done', '120', '12', '1', '3']);

    job = { ...job, status: 'completed' };
    act(() => {
      send('analysis-phase', { phase: 'ranking', status: 'completed' });
      send('completed', { result: { severity: 'high' } });
    });
    const rep = await screen.findByTestId('report', {}, { timeout: 3000 });
    expect(within(rep).getByTestId('severity').textContent).toBe('high');
    expect(within(rep).getAllByTestId('cause')[0]!.textContent).toContain('connection refused');
    expect(within(panel).getByTestId('stage').textContent).toBe('Analysis completed');
    // Markup in the report is text, never HTML.
    expect(container.querySelector('script')).toBeNull();
    expect(within(rep).getByTestId('summary').textContent).toBe('The database refused connections. <script>bad()</script>');
  });

  it('shows a failed job’s message clearly', async () => {
    job = { ...job, status: 'failed', error_message: 'None of the job’s files is a text log that can be analysed (x.bin: binary).' };
    render(<JobDetailPage id={JOB_ID} />);
    const alert = await screen.findByTestId('job-error');
    expect(alert.getAttribute('role')).toBe('alert');
    expect(alert.textContent).toContain('x.bin: binary');
    expect(screen.getByTestId('stage').textContent).toBe('Analysis failed');
    expect(screen.queryByTestId('report')).toBeNull();
  });

  it('shows the attempt of a retried job and why the last one failed', async () => {
    job = { ...job, status: 'pending', attempt: 2, retry_count: 1 };
    render(<JobDetailPage id={JOB_ID} />);
    const panel = await screen.findByTestId('progress');
    act(() => {
      send('started', { worker_id: 'w-1' });
      send('retrying', { attempt: 1, error: 'The storage is unavailable.', run_after: '2025-01-31T12:00:10Z' });
    });
    await within(panel).findByTestId('retrying');
    expect(within(panel).getByTestId('retrying').textContent).toContain('Attempt 1 failed: The storage is unavailable.');
    expect(within(panel).getByTestId('attempt').textContent).toBe('Attempt 2 of 4');
  });
});
