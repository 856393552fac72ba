// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from './App';
import { degradedStore } from './lib/api/degraded';
import type { Ticket } from './lib/api/types';
import { countByStatus, TicketDetail } from './pages/Tickets';
import { matchRoute, navigate, withQuery } from './router';

function ok(body: unknown): Response {
  return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
}

const JOB_ID = '6f0c0000-0000-4000-8000-000000000001';

function ticket(over: Partial<Ticket> = {}): Ticket {
  return {
    id: 'a1b2c3d4-0000-4000-8000-000000000002',
    job_id: JOB_ID,
    platform: 'jira',
    ticket_id: 'JIRA-12',
    url: 'https://jira.example.com/browse/JIRA-12',
    status: 'created',
    profile_name: null,
    dry_run: false,
    payload: { summary: 'Disk full on db-1' },
    metadata: {},
    created_at: '2025-01-31T12:00:00Z',
    updated_at: '2025-01-31T12:00:00Z',
    ...over,
  };
}

let fetchMock: ReturnType<typeof vi.fn>;

beforeEach(() => {
  degradedStore.reset();
  window.history.replaceState(null, '', '/');
  fetchMock = vi.fn(async (url: string) => {
    if (url.startsWith('/api/health')) return ok({ status: 'pass', checks: {} });
    if (url.startsWith('/api/jobs')) {
      return ok([
        {
          id: JOB_ID,
          job_type: 'log-analysis',
          status: 'running',
          user_id: 'ana',
          priority: 3,
          created_at: '2025-01-31T12:00:00Z',
        },
      ]);
    }
    if (url.startsWith('/api/tickets')) return ok({ tickets: [ticket(), ticket({ id: 'x2', ticket_id: 'servicenow-1', platform: 'servicenow', status: 'dry-run', dry_run: true, url: null })], total: 2, limit: 20, offset: 0 });
    return new Response('{}', { status: 404 });
  });
  vi.stubGlobal('fetch', fetchMock);
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe('routing', () => {
  it('matches the pages', () => {
    expect(matchRoute('/')).toEqual({ name: 'jobs' });
    expect(matchRoute('/jobs/')).toEqual({ name: 'jobs' });
    expect(matchRoute('/jobs/abc')).toEqual({ name: 'job', id: 'abc' });
    expect(matchRoute('/tickets')).toEqual({ name: 'tickets' });
    expect(matchRoute('/nope')).toEqual({ name: 'not-found' });
    expect(withQuery('/jobs', { status: 'running', offset: 0, q: '' })).toBe('/jobs?status=running');
  });
});

describe('App', () => {
  it('renders the jobs page with landmarks and navigates to tickets', async () => {
    render(<App live={false} />);
    expect(screen.getByRole('banner')).toBeTruthy();
    expect(screen.getByRole('main')).toBeTruthy();
    const nav = screen.getByRole('navigation', { name: 'Main' });
    expect(within(nav).getByRole('link', { name: 'Jobs' }).getAttribute('aria-current')).toBe('page');

    const table = await screen.findByRole('table');
    expect(within(table).getAllByRole('columnheader').map((th) => th.getAttribute('scope'))).toEqual(
      Array(7).fill('col'),
    );
    expect(await within(table).findByText('log-analysis')).toBeTruthy();
    expect(fetchMock.mock.calls.some((c) => c[0] === '/api/jobs?limit=20&offset=0')).toBe(true);

    fireEvent.click(within(nav).getByRole('link', { name: 'Tickets' }));
    expect(window.location.pathname).toBe('/tickets');
    expect(await screen.findByRole('heading', { level: 1, name: 'Tickets' })).toBeTruthy();
    expect(await screen.findByText('JIRA-12')).toBeTruthy();
    expect(document.activeElement?.tagName).toBe('H1');
  });

  it('filters jobs by status through the URL', async () => {
    render(<App live={false} />);
    fireEvent.change(await screen.findByLabelText('Status'), { target: { value: 'failed' } });
    expect(window.location.search).toBe('?status=failed');
    await screen.findByRole('table');
    expect(fetchMock.mock.calls.some((c) => c[0] === '/api/jobs?status=failed&limit=20&offset=0')).toBe(true);
  });

  it('opens a ticket’s detail view from its row', async () => {
    act(() => navigate('/tickets'));
    render(<App live={false} />);
    fireEvent.click(await screen.findByRole('link', { name: 'JIRA-12' }));
    const detail = await screen.findByRole('region', { name: /Ticket JIRA-12/ });
    expect(within(detail).getByRole('link', { name: /Open in Jira/ }).getAttribute('href')).toBe(
      'https://jira.example.com/browse/JIRA-12',
    );
    // Dashboard counts from the page.
    expect(screen.getByText('matching tickets').previousSibling?.textContent).toBe('2');
  });
});

describe('tickets', () => {
  it('counts by status', () => {
    expect(countByStatus([ticket(), ticket({ status: 'dry-run' }), ticket({ status: 'dry-run' })])).toEqual([
      ['dry-run', 2],
      ['created', 1],
    ]);
  });

  it('links to the remote ticket only when it was filed for real with an http(s) url', () => {
    const { rerender } = render(<TicketDetail ticket={ticket()} onClose={() => {}} />);
    expect(screen.getByRole('link', { name: /Open in Jira/ })).toBeTruthy();
    rerender(<TicketDetail ticket={ticket({ dry_run: true })} onClose={() => {}} />);
    expect(screen.queryByRole('link', { name: /Open in/ })).toBeNull();
    rerender(<TicketDetail ticket={ticket({ url: 'javascript:alert(1)' })} onClose={() => {}} />);
    expect(screen.queryByRole('link', { name: /Open in/ })).toBeNull();
    rerender(<TicketDetail ticket={ticket({ url: null })} onClose={() => {}} />);
    expect(screen.queryByRole('link', { name: /Open in/ })).toBeNull();
  });
});
