// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from './App';
import { degradedStore } from './lib/api/degraded';
import type { AuthMode, Role } from './lib/api/types';
import { session } from './lib/session';
import { WRITES_BLOCKED_ID } from './lib/useDegraded';

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json', ...headers },
  });
}

const JOB_ID = '6f0c0000-0000-4000-8000-000000000001';
const JOB = {
  id: JOB_ID,
  job_type: 'log-analysis',
  status: 'running',
  user_id: 'ana',
  provider: 'p',
  model: 'm',
  priority: 3,
  retry_count: 0,
  max_retries: 3,
  input_manifest: {},
  created_at: '2025-01-31T12:00:00Z',
  updated_at: '2025-01-31T12:00:00Z',
};

function user(role: Role) {
  return {
    id: `id-${role}`,
    email: `${role}@example.com`,
    username: role === 'admin' ? 'admin' : 'ana',
    full_name: null,
    is_active: true,
    is_superuser: role === 'admin',
    role,
    created_at: '2025-01-31T12:00:00Z',
  };
}

/** The server: its mode, and who the refresh cookie belongs to (null: none). */
let mode: AuthMode;
let cookieUser: Role | null;
let logoutAnswer: () => Response;
let settingsPut: () => Response;
let fetchMock: ReturnType<typeof vi.fn>;
/** The job's owner_id and the server's JOB_VISIBILITY. */
let jobOwner: string | null;
let visibility: 'owner' | 'team';

beforeEach(() => {
  degradedStore.reset();
  session.reset();
  window.history.replaceState(null, '', '/jobs');
  mode = 'writes';
  cookieUser = null;
  logoutAnswer = () => json(200, { message: 'Successfully logged out' });
  jobOwner = null;
  visibility = 'owner';
  settingsPut = () => json(200, { servicenow_enabled: false, jira_enabled: true, dual_mode: false });
  fetchMock = vi.fn(async (url: string, init: RequestInit = {}) => {
    const method = init.method ?? 'GET';
    const auth = (init.headers as Record<string, string> | undefined)?.['Authorization'];
    const path = url.split('?')[0]!;
    if (path === '/api/auth/config')
      return json(200, { mode, registration: 'closed', access_token_ttl_seconds: 900, job_visibility: visibility });
    if (path === '/api/auth/refresh') {
      return cookieUser
        ? json(200, { access_token: `acc-${cookieUser}`, token_type: 'bearer', expires_in: 900, user: user(cookieUser) })
        : json(401, { title: 'Unauthorized', status: 401, detail: 'No session.' });
    }
    if (path === '/api/auth/login') {
      return json(200, { access_token: 'acc-user', refresh_token: 'r', token_type: 'bearer', expires_in: 900, user: user('user') });
    }
    if (path === '/api/auth/logout') {
      expect(auth).toMatch(/^Bearer acc-/);
      return logoutAnswer();
    }
    if (path.startsWith('/api/health')) return json(200, { status: 'pass', checks: {} });
    if (mode === 'all' && !auth) return json(401, { title: 'Unauthorized', status: 401, detail: 'Not authenticated.' });
    if (path === '/api/jobs') return json(200, [JOB]);
    if (path === `/api/jobs/${JOB_ID}`) return json(200, { ...JOB, owner_id: jobOwner });
    if (path === `/api/jobs/${JOB_ID}/events`) return json(200, []);
    if (path === `/api/tickets/${JOB_ID}`) return json(200, { job_id: JOB_ID, tickets: [] });
    if (path === '/api/tickets/settings/state') {
      if (method === 'PUT') return settingsPut();
      return json(200, { servicenow_enabled: false, jira_enabled: false, dual_mode: false });
    }
    if (path === '/api/tickets') return json(200, { tickets: [], total: 0, limit: 20, offset: 0 });
    if (path === '/api/files/supported-types') return json(200, { allowed_types: ['log'], max_file_size_mb: 100, archive_types: ['zip'] });
    if (path === `/api/files/jobs/${JOB_ID}`) return json(200, []);
    return json(404, { title: 'Not Found', status: 404, detail: 'Not found.' });
  });
  vi.stubGlobal('fetch', fetchMock);
  // The job page's stream; EventSource does not exist in jsdom.
  vi.stubGlobal(
    'EventSource',
    class {
      readyState = 0;
      onopen = null;
      onerror = null;
      addEventListener() {}
      close() {}
    },
  );
});

afterEach(() => {
  cleanup();
  session.reset();
  vi.unstubAllGlobals();
});

function describedBy(el: HTMLElement): string {
  return (el.getAttribute('aria-describedby') ?? '')
    .split(' ')
    .map((id) => document.getElementById(id)?.textContent ?? `#${id}?`)
    .join(' | ');
}

describe('a visitor in mode writes', () => {
  it('sees the jobs, with the create button disabled and a reason that links to the sign-in page', async () => {
    render(<App live={false} />);
    const table = await screen.findByRole('table');
    expect(await within(table).findByText('log-analysis')).toBeTruthy();

    const create = screen.getByRole('button', { name: 'Create job' }) as HTMLButtonElement;
    expect(create.disabled).toBe(true);
    expect(describedBy(create)).toBe('Sign in to create jobs.');
    expect(create.title).toBe('Sign in to create jobs.');
    const form = screen.getByRole('form', { name: 'New job' });
    expect(within(form).getByRole('link', { name: 'Sign in' }).getAttribute('href')).toBe('/signin');

    // And in the header.
    const header = screen.getByRole('banner');
    expect(within(header).getByRole('link', { name: 'Sign in' })).toBeTruthy();
    // No write was even tried.
    expect(fetchMock.mock.calls.some((c) => (c[1] as RequestInit | undefined)?.method === 'POST' && c[0] === '/api/jobs')).toBe(false);
  });

  it('combines the sign-in reason with a database outage', async () => {
    render(<App live={false} />);
    const create = (await screen.findByRole('button', { name: 'Create job' })) as HTMLButtonElement;
    act(() => degradedStore.reportHeader('postgres'));
    expect(create.disabled).toBe(true);
    expect(create.getAttribute('aria-describedby')?.split(' ')).toContain(WRITES_BLOCKED_ID);
    expect(create.title).toMatch(/^Sign in to create jobs\. Saving is paused while the database is unavailable/);
  });

  it('sees a job and its live timeline, but cannot cancel, dispatch or change integrations', async () => {
    window.history.replaceState(null, '', `/jobs/${JOB_ID}`);
    render(<App live={false} />);
    expect(await screen.findByRole('heading', { level: 1, name: /^Job 6f0c0000/ })).toBeTruthy();
    expect(screen.getByRole('region', { name: 'Events' })).toBeTruthy();

    const cancel = (await screen.findByRole('button', { name: 'Cancel job' })) as HTMLButtonElement;
    expect(cancel.disabled).toBe(true);
    expect(describedBy(cancel)).toBe('Sign in to cancel jobs.');
    const dispatchBtn = screen.getByRole('button', { name: 'Dispatch (dry run)' }) as HTMLButtonElement;
    expect(dispatchBtn.disabled).toBe(true);
    expect(describedBy(dispatchBtn)).toBe('Sign in to dispatch tickets.');
    const jira = (await screen.findByRole('checkbox', { name: 'Jira enabled' })) as HTMLInputElement;
    expect(jira.disabled).toBe(true);
    expect(describedBy(jira)).toContain('Sign in as an admin to change integrations.');
    expect(screen.getAllByRole('link', { name: 'Sign in' }).map((a) => a.getAttribute('href'))).toContain(
      `/signin?from=%2Fjobs%2F${JOB_ID}`,
    );
  });
});

describe('signed in', () => {
  it('a user who is not an admin sees the integration toggles read-only, with the reason', async () => {
    cookieUser = 'user';
    window.history.replaceState(null, '', `/jobs/${JOB_ID}`);
    render(<App live={false} />);
    const jira = (await screen.findByRole('checkbox', { name: 'Jira enabled' })) as HTMLInputElement;
    expect(jira.disabled).toBe(true);
    expect(describedBy(jira)).toContain('Only admins can change integrations.');
    expect((screen.getByRole('button', { name: 'Dispatch (dry run)' }) as HTMLButtonElement).disabled).toBe(false);
    expect((screen.getByRole('button', { name: 'Cancel job' }) as HTMLButtonElement).disabled).toBe(false);
    // The header: the user's name, no role badge for a plain user.
    const header = screen.getByRole('banner');
    expect(within(header).getByText('ana')).toBeTruthy();
    expect(within(header).queryByText('admin')).toBeNull();
  });

  it("a user sees someone else's job with cancel and dispatch disabled, with the reason; team visibility enables them", async () => {
    cookieUser = 'user';
    jobOwner = 'id-someone-else';
    window.history.replaceState(null, '', `/jobs/${JOB_ID}`);
    render(<App live={false} />);
    const cancel = (await screen.findByRole('button', { name: 'Cancel job' })) as HTMLButtonElement;
    await waitFor(() => expect(cancel.disabled).toBe(true));
    expect(describedBy(cancel)).toContain("This job is someone else's: only its owner or an admin can cancel jobs.");
    expect((screen.getByRole('button', { name: 'Dispatch (dry run)' }) as HTMLButtonElement).disabled).toBe(true);
    // Nor upload files to it, nor start its analysis.
    const zone = screen.getByRole('button', { name: /Drop files here/ });
    expect(zone.getAttribute('aria-disabled')).toBe('true');
    expect(describedBy(zone)).toContain("This job is someone else's: only its owner or an admin can upload files.");
    const start = screen.getByRole('button', { name: 'Start analysis' }) as HTMLButtonElement;
    expect(start.disabled).toBe(true);
    expect(describedBy(start)).toContain("This job is someone else's: only its owner or an admin can start the analysis.");
    cleanup();
    session.reset();
    visibility = 'team';
    render(<App live={false} />);
    const again = (await screen.findByRole('button', { name: 'Cancel job' })) as HTMLButtonElement;
    await waitFor(() => expect(again.disabled).toBe(false));
  });

  it('shows the detail of a 403', async () => {
    cookieUser = 'admin';
    settingsPut = () => json(403, { title: 'Forbidden', status: 403, detail: 'Only admins may change the integration settings.' });
    window.history.replaceState(null, '', `/jobs/${JOB_ID}`);
    render(<App live={false} />);
    const jira = (await screen.findByRole('checkbox', { name: 'Jira enabled' })) as HTMLInputElement;
    expect(jira.disabled).toBe(false);
    fireEvent.click(jira);
    expect((await screen.findByRole('alert')).textContent).toContain('Only admins may change the integration settings.');
    const put = fetchMock.mock.calls.find((c) => (c[1] as RequestInit | undefined)?.method === 'PUT')!;
    expect(((put[1] as RequestInit).headers as Record<string, string>)['Authorization']).toBe('Bearer acc-admin');
  });

  it('signs out: the server is told, the token is forgotten, writes are disabled again', async () => {
    cookieUser = 'admin';
    render(<App live={false} />);
    const header = screen.getByRole('banner');
    const signOut = await within(header).findByRole('button', { name: 'Sign out' });
    expect(within(header).getByText('admin', { selector: 'strong' })).toBeTruthy();
    expect(within(header).getByText('admin', { selector: '.badge' })).toBeTruthy();
    expect((screen.getByRole('button', { name: 'Create job' }) as HTMLButtonElement).disabled).toBe(false);

    cookieUser = null; // the server revokes the session and clears the cookie
    fireEvent.click(signOut);
    const signIn = await within(header).findByRole('link', { name: 'Sign in' });
    expect(fetchMock.mock.calls.filter((c) => c[0] === '/api/auth/logout')).toHaveLength(1);
    expect(session.getSnapshot()).toMatchObject({ user: null, accessToken: null, notice: null });
    expect(document.activeElement).toBe(signIn);
    expect((screen.getByRole('button', { name: 'Create job' }) as HTMLButtonElement).disabled).toBe(true);
    expect(screen.queryByTestId('auth-notice')).toBeNull();
  });

  it('signs out here even when the server cannot be told, and says so', async () => {
    cookieUser = 'admin';
    logoutAnswer = () => json(503, { title: 'Service Unavailable', status: 503, detail: 'PostgreSQL is unavailable.' });
    render(<App live={false} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Sign out' }));
    const notice = await screen.findByTestId('auth-notice');
    expect(notice.textContent).toContain('could not end the session: PostgreSQL is unavailable.');
    expect(session.getSnapshot().accessToken).toBeNull();
    expect(within(screen.getByRole('banner')).getAllByRole('link', { name: 'Sign in' }).length).toBeGreaterThan(0);
    fireEvent.click(within(notice).getByRole('button', { name: 'Dismiss' }));
    expect(screen.queryByTestId('auth-notice')).toBeNull();
  });
});

describe('mode all', () => {
  it('sends a visitor to the sign-in page, and back after signing in', async () => {
    mode = 'all';
    window.history.replaceState(null, '', '/tickets?platform=jira');
    render(<App live={false} />);
    expect(await screen.findByRole('heading', { level: 1, name: 'Sign in' })).toBeTruthy();
    expect(window.location.pathname + window.location.search).toBe('/signin?from=%2Ftickets%3Fplatform%3Djira');
    // Nothing but the auth routes (and health) was asked for.
    const asked = fetchMock.mock.calls.map((c) => String(c[0]).split('?')[0]!);
    expect(asked.filter((u) => !u.startsWith('/api/auth/') && u !== '/api/health')).toEqual([]);

    fireEvent.change(screen.getByLabelText('Username or email'), { target: { value: 'ana' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'a long enough password' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    await waitFor(() => expect(window.location.pathname + window.location.search).toBe('/tickets?platform=jira'));
    expect(await screen.findByRole('heading', { level: 1, name: 'Tickets' })).toBeTruthy();
    const list = fetchMock.mock.calls.find((c) => String(c[0]).startsWith('/api/tickets?'))!;
    expect(((list[1] as RequestInit).headers as Record<string, string>)['Authorization']).toBe('Bearer acc-user');
  });

  it('does not show sign-in controls at all in mode off', async () => {
    mode = 'off';
    render(<App live={false} />);
    const create = (await screen.findByRole('button', { name: 'Create job' })) as HTMLButtonElement;
    expect(create.disabled).toBe(false);
    expect(screen.queryByRole('link', { name: 'Sign in' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Sign out' })).toBeNull();
    expect(fetchMock.mock.calls.some((c) => c[0] === '/api/auth/refresh')).toBe(false);
  });
});
