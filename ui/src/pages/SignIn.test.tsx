// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from '../App';
import { degradedStore } from '../lib/api/degraded';
import { session } from '../lib/session';
import { safeReturnPath, signInHref } from '../router';

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json', ...headers },
  });
}

const ADMIN = {
  id: 'u1',
  email: 'admin@example.com',
  username: 'admin',
  full_name: null,
  is_active: true,
  is_superuser: true,
  role: 'admin',
  created_at: '2025-01-31T12:00:00Z',
};

let login: () => Response | Promise<Response>;
let fetchMock: ReturnType<typeof vi.fn>;

beforeEach(() => {
  degradedStore.reset();
  session.reset();
  window.history.replaceState(null, '', '/signin?from=%2Ftickets%3Fplatform%3Djira');
  login = () => json(200, { access_token: 'acc', refresh_token: 'r', token_type: 'bearer', expires_in: 900, user: ADMIN });
  fetchMock = vi.fn(async (url: string) => {
    if (url === '/api/auth/config') return json(200, { mode: 'writes', registration: 'closed', access_token_ttl_seconds: 900 });
    if (url === '/api/auth/refresh') return json(401, { title: 'Unauthorized', status: 401, detail: 'No session.' });
    if (url === '/api/auth/login') return login();
    if (url.startsWith('/api/health')) return json(200, { status: 'pass', checks: {} });
    if (url.startsWith('/api/tickets')) return json(200, { tickets: [], total: 0, limit: 20, offset: 0 });
    return json(404, { title: 'Not Found', status: 404, detail: 'Not found.' });
  });
  vi.stubGlobal('fetch', fetchMock);
});

afterEach(() => {
  cleanup();
  session.reset();
  vi.unstubAllGlobals();
});

async function fill(username: string, password: string) {
  fireEvent.change(await screen.findByLabelText('Username or email'), { target: { value: username } });
  fireEvent.change(screen.getByLabelText('Password'), { target: { value: password } });
}

describe('sign-in page', () => {
  it('has labelled fields, disables the button while signing in, and goes back where the user came from', async () => {
    let answer!: (r: Response) => void;
    login = () => new Promise<Response>((r) => (answer = r));
    render(<App live={false} />);
    expect(await screen.findByRole('heading', { level: 1, name: 'Sign in' })).toBeTruthy();
    const user = screen.getByLabelText('Username or email') as HTMLInputElement;
    const password = screen.getByLabelText('Password') as HTMLInputElement;
    expect(user.autocomplete).toBe('username');
    expect(password.type).toBe('password');
    expect(password.autocomplete).toBe('current-password');
    // No "Sign in" link in the header on the sign-in page itself.
    expect(screen.queryByRole('link', { name: 'Sign in' })).toBeNull();

    await fill('admin', 'correct horse battery staple');
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    const busy = (await screen.findByRole('button', { name: 'Signing in…' })) as HTMLButtonElement;
    expect(busy.disabled).toBe(true);

    await act(async () => answer(json(200, { access_token: 'acc', refresh_token: 'r', token_type: 'bearer', expires_in: 900, user: ADMIN })));
    await waitFor(() => expect(window.location.pathname + window.location.search).toBe('/tickets?platform=jira'));
    expect(await screen.findByRole('heading', { level: 1, name: 'Tickets' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Sign out' })).toBeTruthy();
    expect(screen.getByText('admin', { selector: 'strong' })).toBeTruthy();

    const sent = fetchMock.mock.calls.find((c) => c[0] === '/api/auth/login')!;
    const init = sent[1] as RequestInit;
    expect((init.headers as Record<string, string>)['Content-Type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(init.body as string))).toEqual({
      username: 'admin',
      password: 'correct horse battery staple',
    });
  });

  it('shows the problem detail of a refused sign-in', async () => {
    login = () => json(401, { title: 'Unauthorized', status: 401, detail: 'Incorrect username or password.' });
    render(<App live={false} />);
    await fill('admin', 'wrong');
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect((await screen.findByRole('alert')).textContent).toContain('Incorrect username or password.');
    expect(window.location.pathname).toBe('/signin');
    expect(session.getSnapshot().user).toBeNull();
  });

  it('shows field errors at their fields, from the server and before asking it', async () => {
    render(<App live={false} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Sign in' }));
    const user = screen.getByLabelText('Username or email');
    const userError = screen.getByText('Enter your username or email.');
    expect(user.getAttribute('aria-invalid')).toBe('true');
    expect(user.getAttribute('aria-describedby')).toContain(userError.id);
    expect(document.activeElement).toBe(user);
    expect(fetchMock.mock.calls.some((c) => c[0] === '/api/auth/login')).toBe(false);

    login = () =>
      json(422, {
        title: 'Unprocessable Entity',
        status: 422,
        detail: 'The request has 1 invalid field.',
        errors: [{ field: 'password', message: 'must be at most 128 characters' }],
      });
    await fill('admin', 'x'.repeat(200));
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    const pwError = await screen.findByText('must be at most 128 characters');
    const password = screen.getByLabelText('Password');
    expect(password.getAttribute('aria-invalid')).toBe('true');
    expect(password.getAttribute('aria-describedby')).toContain(pwError.id);
    expect(screen.getByRole('alert').textContent).toBe('The request has 1 invalid field.');
  });

  it('says how long to wait after too many attempts (429, Retry-After)', async () => {
    login = () => json(429, { title: 'Too Many Requests', status: 429, detail: 'Too many sign-in attempts.' }, { 'Retry-After': '30' });
    render(<App live={false} />);
    await fill('admin', 'wrong');
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toMatch(/^Too many attempts, try again in (30|29) s\.$/);
    const button = screen.getByRole('button', { name: 'Sign in' }) as HTMLButtonElement;
    expect(button.disabled).toBe(true);
    expect(button.getAttribute('aria-describedby')).toBe(alert.id);
  });

  it('only ever returns to a page of this app', () => {
    expect(safeReturnPath('/jobs/abc?x=1')).toBe('/jobs/abc?x=1');
    expect(safeReturnPath('https://evil.example/')).toBe('/jobs');
    expect(safeReturnPath('//evil.example/')).toBe('/jobs');
    expect(safeReturnPath('/\\evil.example/')).toBe('/jobs');
    expect(safeReturnPath('/signin?from=/x')).toBe('/jobs');
    expect(safeReturnPath(null)).toBe('/jobs');
    expect(signInHref('/tickets?q=a')).toBe('/signin?from=%2Ftickets%3Fq%3Da');
    expect(signInHref('/jobs')).toBe('/signin');
  });
});
