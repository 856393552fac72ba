// @vitest-environment jsdom
import { act, cleanup, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { degradedStore } from '../lib/api/degraded';
import { liveFeed } from '../lib/live';
import { json } from '../test/files';
import { JobsPage } from './Jobs';

function job(id: string, status: string, severity?: string) {
  return {
    id,
    job_type: 'rca',
    status,
    user_id: 'ana',
    owner_id: null,
    provider: 'p',
    model: 'm',
    priority: 0,
    retry_count: 0,
    max_retries: 3,
    attempt: 1,
    input_manifest: {},
    created_at: '2025-01-31T12:00:00Z',
    updated_at: '2025-01-31T12:00:00Z',
    result_data: severity ? { severity, metrics: { errors: 3 } } : null,
    outputs: null,
  };
}

const A = 'aaaaaaaa-0000-4000-8000-000000000001';
const B = 'bbbbbbbb-0000-4000-8000-000000000002';
let list: unknown[];
let fetchMock: ReturnType<typeof vi.fn>;

beforeEach(() => {
  degradedStore.reset();
  window.history.replaceState(null, '', '/jobs');
  list = [job(A, 'completed', 'critical'), job(B, 'running')];
  fetchMock = vi.fn(async (url: string) => {
    if (url.split('?')[0] === '/api/jobs') return json(200, list);
    return json(404, { title: 'Not Found', status: 404, detail: 'Not found.' });
  });
  vi.stubGlobal('fetch', fetchMock);
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe('jobs list', () => {
  it('shows status and severity at a glance and updates them live', async () => {
    render(<JobsPage />);
    const rowOf = async (id: string) => (await screen.findByRole('link', { name: id.slice(0, 8) })).closest('tr')!;
    const a = await rowOf(A);
    expect(within(a).getByText('completed')).toBeTruthy();
    expect(within(a).getByTestId('severity').textContent).toBe('critical');
    const b = await rowOf(B);
    expect(within(b).getByText('running')).toBeTruthy();
    expect(within(b).getByTestId('severity').textContent).toBe('—');

    // B completes: its completed event on the app's feed reloads the page.
    list = [job(A, 'completed', 'critical'), job(B, 'completed', 'moderate')];
    const calls = fetchMock.mock.calls.length;
    act(() => {
      // Progress alone does not reload the list.
      liveFeed.publish({ id: 1, job_id: B, event_type: 'analysis-progress', data: { percent: 50 }, created_at: '2025-01-31T12:00:00Z' });
    });
    // ...but shows beside the running job at once.
    expect(within(await rowOf(B)).getByTestId('percent').textContent).toBe(' 50 %');
    await new Promise((r) => setTimeout(r, 900));
    expect(fetchMock.mock.calls.length).toBe(calls);
    act(() => {
      liveFeed.publish({ id: 2, job_id: B, event_type: 'completed', data: { severity: 'moderate' }, created_at: '2025-01-31T12:00:00Z' });
    });
    await waitFor(async () => expect(within(await rowOf(B)).getByTestId('severity').textContent).toBe('moderate'), { timeout: 3000 });
    expect(within(await rowOf(B)).getByText('completed')).toBeTruthy();
    expect(within(await rowOf(B)).queryByTestId('percent')).toBeNull();
  });
});
