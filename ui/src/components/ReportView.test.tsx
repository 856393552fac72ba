// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { degradedStore } from '../lib/api/degraded';
import { session } from '../lib/session';
import { jobFile, JOB_ID, json } from '../test/files';
import { report, signature } from '../test/report';
import { downloadReport } from '../lib/api/report';
import { ReportView } from './ReportView';
import { filterSort, SIGNATURES_PAGE, SignatureTable } from './SignatureTable';
import { chartData } from './TimelineChart';

const files = [
  jobFile({ id: 'file-db', filename: 'db.log', original_filename: 'db.log' }),
  jobFile({ id: 'file-zip', filename: 'incident.zip', kind: 'archive' }),
  jobFile({ id: 'file-app', filename: 'app.log', original_filename: 'app.log', archive_path: 'logs/app.log', parent_id: 'file-zip' }),
];

let fetchMock: ReturnType<typeof vi.fn>;

beforeEach(() => {
  degradedStore.reset();
  session.reset();
  fetchMock = vi.fn(async (url: string) => {
    const u = new URL(url, 'http://x');
    const m = /^\/api\/files\/([^/]+)\/lines$/.exec(u.pathname);
    if (m) {
      const from = Number(u.searchParams.get('from'));
      const to = Number(u.searchParams.get('to'));
      const lines = [];
      for (let n = from; n <= to; n++) lines.push({ number: n, text: n === 44 ? '<b>not bold</b>' : `${m[1]} line ${n}` });
      return json(200, { file_id: m[1], from, to, total_lines: 100, lines, truncated: false });
    }
    return json(404, { title: 'Not Found', status: 404, detail: 'Not found.' });
  });
  vi.stubGlobal('fetch', fetchMock);
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe('ReportView', () => {
  it('shows the severity, the summary and the causes ranked, with their reasons', () => {
    render(<ReportView report={report()} jobId={JOB_ID} files={files} />);
    expect(screen.getByTestId('severity').textContent).toBe('high');
    expect(screen.getByTestId('summary').textContent).toContain('refused connections');
    const causes = screen.getAllByTestId('cause');
    expect(causes.map((c) => c.getAttribute('data-rank'))).toEqual(['1', '2']);
    expect(within(causes[0]!).getByRole('heading').textContent).toBe('connection refused on port <*>');
    expect(causes[0]!.textContent).toContain('score 0.93');
    expect(within(causes[0]!).getByText('first error in time')).toBeTruthy();
    expect(screen.getByTestId('actions').textContent).toContain('max_connections');
  });

  it('links each evidence line to the file viewer at its line (by file_id, else by archive path)', () => {
    render(<ReportView report={report()} jobId={JOB_ID} files={files} />);
    const [first, second] = screen.getAllByTestId('cause');
    const links1 = within(first!).getAllByTestId('evidence-link');
    expect(links1.map((a) => a.getAttribute('href'))).toEqual([
      `/jobs/${JOB_ID}/files/file-db?line=42`,
      `/jobs/${JOB_ID}/files/file-db?line=50`,
    ]);
    expect(links1[0]!.textContent).toBe('db.log:42');
    // No file_id: matched by the member's archive path.
    expect(within(second!).getByTestId('evidence-link').getAttribute('href')).toBe(`/jobs/${JOB_ID}/files/file-app?line=17`);
  });

  it('shows the lines around the top evidence, the hit marked, log text as text', async () => {
    render(<ReportView report={report()} jobId={JOB_ID} files={files} />);
    const ctx = await screen.findByTestId('evidence-context');
    const calls = fetchMock.mock.calls.map((c) => String(c[0]));
    expect(calls).toContain('/api/files/file-db/lines?from=39&to=45');
    expect(ctx.querySelector('.context-hit')?.textContent).toBe('42file-db line 42\n');
    expect(ctx.textContent).toContain('<b>not bold</b>');
    expect(ctx.querySelector('b')).toBeNull();
    // Only the top cause's first evidence loads by itself; the others on demand.
    expect(calls.filter((u) => u.includes('/lines')).length).toBe(1);
    const second = screen.getAllByTestId('cause')[1]!;
    const details = second.querySelector('details')!;
    details.open = true;
    fireEvent(details, new Event('toggle'));
    await waitFor(() => expect(fetchMock.mock.calls.map((c) => String(c[0]))).toContain('/api/files/file-app/lines?from=14&to=20'));
  });

  it('renders markup in log lines as text, never as HTML', () => {
    const { container } = render(<ReportView report={report()} jobId={JOB_ID} files={files} />);
    expect(container.querySelector('script')).toBeNull();
    expect(container.querySelector('img')).toBeNull();
    expect(screen.getByText('pool timeout <script>alert(1)</script>')).toBeTruthy();
    expect(screen.getByText('cache miss ratio high <img src=x onerror=alert(2)>')).toBeTruthy();
  });

  it('shows the first error with a link to it', () => {
    const r = report({
      first_error: { signature_id: 'sig-refused', template: 'connection refused on port <*>', preceding: [], evidence: { role: 'first_error', file: 'db.log', file_id: 'file-db', line: 42, level: 'error', text: 'FATAL: connection refused on port 5432' } },
    });
    render(<ReportView report={r} jobId={JOB_ID} files={files} />);
    const fe = screen.getByTestId('first-error');
    expect(within(fe).getByTestId('evidence-link').getAttribute('href')).toBe(`/jobs/${JOB_ID}/files/file-db?line=42`);
    expect(fe.textContent).toContain('FATAL: connection refused on port 5432');
  });

  it('offers the three downloads', () => {
    render(<ReportView report={report()} jobId={JOB_ID} files={files} />);
    for (const [name, ext] of [['Markdown', 'md'], ['HTML', 'html'], ['JSON', 'json']]) {
      expect(screen.getByRole('link', { name }).getAttribute('href')).toBe(`/api/summary/${JOB_ID}/report.${ext}`);
    }
  });
});

describe('downloadReport', () => {
  it('fetches the report with the token and saves it through a Blob', async () => {
    fetchMock.mockImplementationOnce(async () => new Response('# RCA report\n', { status: 200, headers: { 'Content-Type': 'text/markdown' } }));
    const created: Blob[] = [];
    vi.stubGlobal('URL', Object.assign(URL, { createObjectURL: (b: Blob) => (created.push(b), 'blob:x'), revokeObjectURL: () => {} }));
    let saved = '';
    const click = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      saved = this.download;
    });
    await downloadReport(JOB_ID, 'md', 'tok-1');
    const [url, init] = fetchMock.mock.calls[0] as [string, RequestInit];
    expect(url).toBe(`/api/summary/${JOB_ID}/report.md`);
    expect((init.headers as Record<string, string>)['Authorization']).toBe('Bearer tok-1');
    expect(await created[0]!.text()).toBe('# RCA report\n');
    expect(saved).toBe(`rca-report-${JOB_ID}.md`);
    click.mockRestore();
  });

  it('says why a download was refused', async () => {
    fetchMock.mockImplementationOnce(async () => json(403, { title: 'Forbidden', status: 403, detail: 'no' }));
    await expect(downloadReport(JOB_ID, 'json', 'tok-1')).rejects.toMatchObject({ status: 403 });
  });
});

describe('SignatureTable', () => {
  it('sorts by count (most first), then by any column on a click, and searches', () => {
    render(<SignatureTable signatures={report().signatures} jobId={JOB_ID} files={files} />);
    const table = screen.getByTestId('signatures');
    const templates = () => within(table).getAllByRole('row').slice(1).map((r) => r.querySelector('td')!.textContent);
    expect(templates()).toEqual(['cache miss ratio high <img src=x onerror=alert(2)>', 'HikariPool-1 - Connection is not available', 'connection refused on port <*>']);
    fireEvent.click(within(table).getByRole('button', { name: /Count/ }));
    expect(templates()[0]).toBe('connection refused on port <*>');
    expect(within(table).getByRole('columnheader', { name: /Count/ }).getAttribute('aria-sort')).toBe('ascending');
    fireEvent.click(within(table).getByRole('button', { name: /First seen/ }));
    expect(templates()).toEqual(['connection refused on port <*>', 'HikariPool-1 - Connection is not available', 'cache miss ratio high <img src=x onerror=alert(2)>']);
    fireEvent.click(within(table).getByRole('button', { name: /First seen/ }));
    expect(templates()[0]).toBe('cache miss ratio high <img src=x onerror=alert(2)>');
    fireEvent.change(screen.getByLabelText('Search'), { target: { value: 'REFUSED' } });
    expect(templates()).toEqual(['connection refused on port <*>']);
    expect(screen.getByTestId('sig-count').textContent).toContain('1 of 3 signatures');
    // Its first occurrence opens the viewer.
    expect(within(table).getByRole('link', { name: 'db.log:42' }).getAttribute('href')).toBe(`/jobs/${JOB_ID}/files/file-db?line=42`);
    fireEvent.change(screen.getByLabelText('Search'), { target: { value: 'nothing like it' } });
    expect(within(table).getByText('No signature matches.')).toBeTruthy();
  });

  it('pages thousands of signatures', () => {
    const many = Array.from({ length: 3000 }, (_, i) => signature(i + 1));
    render(<SignatureTable signatures={many} jobId={JOB_ID} files={files} />);
    const table = screen.getByTestId('signatures');
    expect(within(table).getAllByRole('row').length).toBe(SIGNATURES_PAGE + 1);
    expect(screen.getByText(`Page 1 of ${3000 / SIGNATURES_PAGE}`)).toBeTruthy();
    expect(within(table).getAllByRole('row')[1]!.textContent).toContain('template number 3000');
    fireEvent.click(screen.getByRole('button', { name: 'Next' }));
    expect(within(table).getAllByRole('row')[1]!.textContent).toContain(`template number ${3000 - SIGNATURES_PAGE}`);
  });

  it('filterSort orders by time of first occurrence and by level', () => {
    const sigs = report().signatures;
    expect(filterSort(sigs, '', 'first', false).map((s) => s.id)).toEqual(['sig-refused', 'sig-pool', 'sig-cache']);
    expect(filterSort(sigs, '', 'level', true).map((s) => s.id)).toEqual(['sig-pool', 'sig-refused', 'sig-cache']);
    expect(filterSort(sigs, 'warn', 'count', true).map((s) => s.id)).toEqual(['sig-cache']);
  });
});

describe('chartData', () => {
  it('has one series per level present and a marker where each top cause starts', () => {
    const r = report();
    // A burst's onset beats the first occurrence (12:02).
    r.signatures[1]!.burst = { onset: '2025-01-31T12:01:30Z', rate_before: 0, rate_after: 30, rate_unit: 'minute' };
    const d = chartData(r.timeline, [...r.causes].sort((a, b) => a.rank - b.rank), r.signatures)!;
    expect(d.axis).toBe('time');
    expect(d.xs).toEqual([Date.parse('2025-01-31T12:00:00Z') / 1000, Date.parse('2025-01-31T12:01:00Z') / 1000]);
    expect(d.series.map((s) => [s.key, s.values])).toEqual([
      ['info', [18, 10]],
      ['warn', [2, 0]],
      ['error', [0, 30]],
    ]);
    expect(d.markers.map((m) => [m.label, m.x])).toEqual([
      ['#1', Date.parse('2025-01-31T12:01:00Z') / 1000],
      ['#2', Date.parse('2025-01-31T12:01:30Z') / 1000],
    ]);
    expect(chartData({ axis: '', buckets: [] }, [], [])).toBeNull();
  });
});
