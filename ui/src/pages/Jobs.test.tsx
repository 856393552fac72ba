// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StatusBanner } from '../components/StatusBanner';
import { degradedStore } from '../lib/api/degraded';
import { CreateJobForm } from './Jobs';

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json', ...headers },
  });
}

const healthPass = {
  status: 'pass',
  version: 'test',
  serviceId: 'rca-engine-api',
  description: 'RCA',
  checks: { postgres: [{ componentType: 'datastore', status: 'pass', state: 'up' }] },
};

let fetchMock: ReturnType<typeof vi.fn>;

beforeEach(() => {
  degradedStore.reset();
  fetchMock = vi.fn();
  vi.stubGlobal('fetch', fetchMock);
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe('CreateJobForm', () => {
  it('shows the field errors of a 422 problem under their fields', async () => {
    fetchMock.mockResolvedValueOnce(
      json(422, {
        type: 'urn:rca:problem:validation',
        title: 'Unprocessable Entity',
        status: 422,
        detail: 'The request has 2 invalid fields.',
        errors: [
          { field: 'job_type', message: 'must be at most 50 characters' },
          { field: 'priority', message: 'must be at most 10' },
          { field: 'model', message: 'is not a known field' },
        ],
      }),
    );
    render(<CreateJobForm />);
    fireEvent.change(screen.getByLabelText('Job type'), { target: { value: 'log-analysis' } });
    fireEvent.change(screen.getByLabelText('Priority'), { target: { value: '11' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create job' }));

    const jobTypeError = await screen.findByText('must be at most 50 characters');
    const jobType = screen.getByLabelText('Job type');
    expect(jobType.getAttribute('aria-invalid')).toBe('true');
    expect(jobType.getAttribute('aria-describedby')?.split(' ')).toContain(jobTypeError.id);

    const priorityError = screen.getByText('must be at most 10');
    expect(screen.getByLabelText('Priority').getAttribute('aria-describedby')?.split(' ')).toContain(priorityError.id);

    // The problem's detail, and a field without a control of its own.
    const alert = screen.getByRole('alert');
    expect(alert.textContent).toContain('The request has 2 invalid fields.');
    expect(alert.textContent).toContain('model');
    expect(alert.textContent).not.toContain('must be at most 10');

    // What was sent.
    expect(fetchMock).toHaveBeenCalledTimes(1);
    const [url, init] = fetchMock.mock.calls[0] as [string, RequestInit];
    expect(url).toBe('/api/jobs');
    expect(init.method).toBe('POST');
    expect(JSON.parse(init.body as string)).toEqual({ job_type: 'log-analysis', priority: 11 });
    const headers = init.headers as Record<string, string>;
    expect(headers['Content-Type']).toBe('application/json');
    expect(headers['Idempotency-Key']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('reuses the Idempotency-Key when the same body is sent again, and clears errors on success', async () => {
    fetchMock
      .mockResolvedValueOnce(json(503, { title: 'Dependency unavailable', status: 503, detail: 'PostgreSQL is unavailable.' }, { 'Retry-After': '1' }))
      .mockResolvedValueOnce(json(201, { id: '6f0c0000-0000-4000-8000-000000000001', job_type: 'x', status: 'pending' }));
    const onCreated = vi.fn();
    render(<CreateJobForm onCreated={onCreated} />);
    fireEvent.change(screen.getByLabelText('Job type'), { target: { value: 'x' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create job' }));
    expect(await screen.findByText(/PostgreSQL is unavailable/)).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Create job' }));
    await waitFor(() => expect(onCreated).toHaveBeenCalledTimes(1));
    const keys = fetchMock.mock.calls.map((c) => ((c[1] as RequestInit).headers as Record<string, string>)['Idempotency-Key']);
    expect(keys[0]).toBe(keys[1]);
    expect(screen.queryByRole('alert')).toBeNull();
    expect(screen.getByRole('status').textContent).toContain('created');
  });
});

describe('StatusBanner', () => {
  it('counts down while PostgreSQL is down, disables write buttons, and clears itself', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    vi.setSystemTime(Date.parse('2025-01-31T12:00:00Z'));
    fetchMock.mockImplementation(async () => json(200, healthPass));

    render(
      <>
        <StatusBanner pollMs={60_000} />
        <CreateJobForm />
      </>,
    );
    await act(async () => {
      await vi.advanceTimersByTimeAsync(0);
    });
    expect(screen.queryByText(/Database unavailable/)).toBeNull();

    // A dependency event from /api/sse/events.
    act(() => {
      degradedStore.reportDependency({
        name: 'postgres',
        status: 'down',
        cause: 'unreachable',
        since: '2025-01-31T11:59:58Z',
        retry_after_seconds: 5,
        next_retry: '2025-01-31T12:00:05Z',
      });
    });
    const banner = screen.getByTestId('status-banner');
    expect(banner.textContent).toContain('Database unavailable, retrying in 5 s');
    const button = screen.getByRole('button', { name: 'Create job' }) as HTMLButtonElement;
    expect(button.disabled).toBe(true);
    const reasonId = button.getAttribute('aria-describedby');
    expect(reasonId).toBeTruthy();
    expect(document.getElementById(reasonId!)?.textContent).toMatch(/database is unavailable/);
    expect(button.title).toMatch(/database is unavailable/);

    await act(async () => {
      await vi.advanceTimersByTimeAsync(2000);
    });
    expect(banner.textContent).toContain('retrying in 3 s');

    // Any response without X-Degraded: PostgreSQL is back.
    act(() => degradedStore.reportHeader(null));
    expect(screen.queryByText(/Database unavailable/)).toBeNull();
    expect((screen.getByRole('button', { name: 'Create job' }) as HTMLButtonElement).disabled).toBe(false);
  });

  it('shows a quieter note when only Redis is degraded', () => {
    fetchMock.mockImplementation(async () => json(200, healthPass));
    render(<StatusBanner pollMs={60_000} />);
    act(() => degradedStore.reportHeader('redis'));
    const banner = screen.getByTestId('status-banner');
    expect(banner.textContent).toMatch(/Live updates degraded/);
    expect(banner.getAttribute('role')).toBe('status');
    expect(screen.queryByText(/Database unavailable/)).toBeNull();
  });

  it('falls back to polling /api/health', async () => {
    fetchMock.mockImplementation(async () =>
      json(503, {
        status: 'fail',
        version: 'test',
        serviceId: 'rca-engine-api',
        description: 'RCA',
        checks: { postgres: [{ componentType: 'datastore', status: 'fail', state: 'down', cause: 'database_missing' }] },
      }, { 'X-Degraded': 'postgres' }),
    );
    render(<StatusBanner pollMs={60_000} />);
    expect(await screen.findByText(/Database unavailable/)).toBeTruthy();
    expect(screen.getByTestId('status-banner').textContent).toContain('the database does not exist yet');
    expect(fetchMock.mock.calls[0]![0]).toBe('/api/health');
  });

  it('says so when the server cannot be reached at all', async () => {
    fetchMock.mockRejectedValue(new TypeError('Failed to fetch'));
    render(<StatusBanner pollMs={60_000} />);
    expect(await screen.findByText(/server cannot be reached/)).toBeTruthy();
  });
});
