// @vitest-environment jsdom
import { act, cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { degradedStore } from '../lib/api/degraded';
import type { JobFile } from '../lib/api/types';
import { session } from '../lib/session';
import { JOB_ID, jobFile, json, TYPES } from '../test/files';
import { JobDetailPage } from './JobDetail';

const JOB = {
  id: JOB_ID,
  job_type: 'log-analysis',
  status: 'pending',
  user_id: 'ana',
  owner_id: null,
  provider: 'p',
  model: 'm',
  priority: 3,
  retry_count: 0,
  max_retries: 3,
  input_manifest: {},
  created_at: '2025-01-31T12:00:00Z',
  updated_at: '2025-01-31T12:00:00Z',
  files_count: 0,
  ready: false,
};

/** The job page's EventSource, driven by the test. */
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

let listed: JobFile[];
let fetchMock: ReturnType<typeof vi.fn>;

beforeEach(() => {
  degradedStore.reset();
  session.reset();
  listed = [];
  window.history.replaceState(null, '', `/jobs/${JOB_ID}`);
  fetchMock = vi.fn(async (url: string) => {
    const path = url.split('?')[0]!;
    if (path === `/api/jobs/${JOB_ID}`) return json(200, { ...JOB, files_count: listed.length });
    if (path === `/api/jobs/${JOB_ID}/events`) return json(200, []);
    if (path === `/api/tickets/${JOB_ID}`) return json(200, { job_id: JOB_ID, tickets: [] });
    if (path === '/api/tickets/settings/state') return json(200, { servicenow_enabled: false, jira_enabled: false, dual_mode: false });
    if (path === '/api/files/supported-types') return json(200, TYPES);
    if (path === `/api/files/jobs/${JOB_ID}`) return json(200, listed);
    return json(404, { title: 'Not Found', status: 404, detail: 'Not found.' });
  });
  vi.stubGlobal('fetch', fetchMock);
  vi.stubGlobal('EventSource', FakeEventSource);
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe('job page files', () => {
  it('refreshes the file list and the start button on a file-uploaded event of the live stream', async () => {
    render(<JobDetailPage id={JOB_ID} />);
    const files = await screen.findByRole('region', { name: 'Files' });
    await within(files).findByText('No files yet: upload logs above.');
    const start = screen.getByRole('button', { name: 'Start analysis' }) as HTMLButtonElement;
    expect(start.disabled).toBe(true);

    // Someone (another tab, the original UI) uploads a zip: its members arrive.
    listed = [
      jobFile({ id: 'z', filename: 'logs.zip', original_filename: 'logs.zip', kind: 'archive', metadata: { members: 2 } }),
      jobFile({ id: 'a', parent_id: 'z', archive_path: 'a.log' }),
      jobFile({ id: 'b', parent_id: 'z', archive_path: 'b.log' }),
    ];
    const es = FakeEventSource.last!;
    act(() => {
      es.onopen?.(new Event('open'));
      for (const [i, f] of listed.entries()) {
        es.emit('file-uploaded', { id: 10 + i, job_id: JOB_ID, event_type: 'file-uploaded', data: { file_id: f.id, filename: f.filename, size: f.file_size }, created_at: f.created_at }, String(10 + i));
      }
    });
    await within(files).findByRole('link', { name: 'a.log' });
    expect(within(files).getByRole('link', { name: 'b.log' })).toBeTruthy();
    expect(within(files).getByText('3 files')).toBeTruthy();
    // One reload for the burst, not one per event.
    const listCalls = fetchMock.mock.calls.filter((c) => c[0] === `/api/files/jobs/${JOB_ID}`);
    expect(listCalls).toHaveLength(2);
    await waitFor(() => expect(start.disabled).toBe(false));
  });
});
