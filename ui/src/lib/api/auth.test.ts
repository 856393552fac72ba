// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { session, SESSION_ENDED_TEXT } from '../session';
import { login, logout, refresh } from './auth';
import { openStream, type EventSourceLike } from './events';
import { ApiError, createHttpClient, http } from './http';
import { createJob, listJobs } from './jobs';
import type { AuthMode, User } from './types';

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json', ...headers },
  });
}

const ADMIN: User = {
  id: '0c6f0000-0000-4000-8000-000000000001',
  email: 'admin@example.com',
  username: 'admin',
  full_name: null,
  is_active: true,
  is_superuser: true,
  role: 'admin',
  created_at: '2025-01-31T12:00:00Z',
};

function tokens(access: string, user: User = ADMIN) {
  return {
    access_token: access,
    refresh_token: `refresh-for-${access}`,
    token_type: 'bearer',
    expires_in: 900,
    refresh_expires_in: 604800,
    user,
  };
}

const unauthorized = () =>
  json(401, { type: 'about:blank', title: 'Unauthorized', status: 401, detail: 'Not authenticated.' }, {
    'WWW-Authenticate': 'Bearer',
  });

type Call = { url: string; method: string; headers: Record<string, string>; body: string | undefined; credentials: RequestCredentials | undefined };

let fetchMock: ReturnType<typeof vi.fn>;
let calls: Call[];

/** fetch answering by "METHOD /path" (query left out); each route a list of answers, the last one repeated. */
function serve(routes: Record<string, Array<() => Response>>) {
  const used: Record<string, number> = {};
  fetchMock = vi.fn(async (url: string, init: RequestInit = {}) => {
    const method = init.method ?? 'GET';
    calls.push({
      url,
      method,
      headers: (init.headers ?? {}) as Record<string, string>,
      body: init.body as string | undefined,
      credentials: init.credentials,
    });
    const key = `${method} ${url.split('?')[0]}`;
    const answers = routes[key];
    if (!answers) return json(404, { title: 'Not Found', status: 404, detail: `no route ${key}` });
    const i = Math.min(used[key] ?? 0, answers.length - 1);
    used[key] = i + 1;
    return answers[i]!();
  });
  vi.stubGlobal('fetch', fetchMock);
}

function config(mode: AuthMode) {
  return () => json(200, { mode, registration: 'closed', access_token_ttl_seconds: 900 });
}

/** Starts the app session and waits until it is ready. */
async function started() {
  session.start();
  await vi.waitFor(() => expect(session.getSnapshot().ready).toBe(true));
}

beforeEach(() => {
  calls = [];
  session.reset();
  localStorage.clear();
  sessionStorage.clear();
});

afterEach(() => {
  session.reset();
  vi.unstubAllGlobals();
});

describe('auth routes', () => {
  it('signs in with the OAuth2 password form and keeps no refresh token', async () => {
    serve({ 'POST /api/auth/login': [() => json(200, tokens('acc-1'))] });
    const g = await login('admin@example.com', 'p&ss=word äö');
    expect(g).toEqual({ accessToken: 'acc-1', expiresIn: 900, user: ADMIN });
    expect(JSON.stringify(g)).not.toContain('refresh-for');

    const c = calls[0]!;
    expect(c.url).toBe('/api/auth/login');
    expect(c.method).toBe('POST');
    expect(c.headers['Content-Type']).toBe('application/x-www-form-urlencoded');
    expect(c.body).toBe('username=admin%40example.com&password=p%26ss%3Dword+%C3%A4%C3%B6');
    expect(new URLSearchParams(c.body).get('password')).toBe('p&ss=word äö');
    expect(c.headers['Authorization']).toBeUndefined();
    expect(c.credentials).toBe('same-origin');
  });

  it('refreshes with an empty JSON body, the cookie supplying the token', async () => {
    serve({ 'POST /api/auth/refresh': [() => json(200, tokens('acc-2'))] });
    const g = await refresh();
    expect(g.accessToken).toBe('acc-2');
    const c = calls[0]!;
    expect(c.headers['Content-Type']).toBe('application/json');
    expect(c.body).toBe('{}');
    expect(c.credentials).toBe('same-origin');
    expect(c.headers['Authorization']).toBeUndefined();
  });

  it('reads 401, 422 and 429 answers of a sign-in', async () => {
    serve({
      'POST /api/auth/login': [
        () => json(401, { title: 'Unauthorized', status: 401, detail: 'Incorrect username or password.' }),
        () => json(422, { title: 'Unprocessable', status: 422, detail: 'Invalid.', errors: [{ field: 'password', message: 'is required' }] }),
        () => json(429, { title: 'Too Many Requests', status: 429, detail: 'Too many sign-in attempts.' }, { 'Retry-After': '42' }),
      ],
    });
    const e1 = (await login('a', 'b').catch((e: unknown) => e)) as ApiError;
    expect(e1.status).toBe(401);
    expect(e1.detail).toBe('Incorrect username or password.');
    const e2 = (await login('a', '').catch((e: unknown) => e)) as ApiError;
    expect(e2.fieldErrors()).toEqual({ password: 'is required' });
    const e3 = (await login('a', 'b').catch((e: unknown) => e)) as ApiError;
    expect(e3.status).toBe(429);
    expect(e3.retryAfter).toBe(42);
  });
});

describe('the API client with a session', () => {
  it('sends the access token on every call once signed in, and none before', async () => {
    serve({
      'GET /api/auth/config': [config('writes')],
      'POST /api/auth/refresh': [unauthorized],
      'POST /api/auth/login': [() => json(200, tokens('acc-1'))],
      'GET /api/jobs': [() => json(200, [])],
      'POST /api/auth/logout': [() => json(200, { message: 'Successfully logged out' })],
    });
    await started();
    expect(session.getSnapshot().user).toBeNull(); // a visitor: the restore answered 401
    await listJobs();
    expect(calls.at(-1)!.headers['Authorization']).toBeUndefined();

    await session.signIn('admin', 'correct horse battery staple');
    await listJobs();
    expect(calls.at(-1)!.headers['Authorization']).toBe('Bearer acc-1');

    await logout();
    expect(calls.at(-1)!.url).toBe('/api/auth/logout');
    expect(calls.at(-1)!.headers['Authorization']).toBe('Bearer acc-1');
  });

  it('keeps the tokens out of localStorage, sessionStorage and script cookies', async () => {
    serve({
      'GET /api/auth/config': [config('writes')],
      'POST /api/auth/refresh': [unauthorized],
      'POST /api/auth/login': [() => json(200, tokens('acc-secret'))],
    });
    const setItem = vi.spyOn(Storage.prototype, 'setItem');
    await started();
    await session.signIn('admin', 'correct horse battery staple');
    expect(session.token()).toBe('acc-secret');
    expect(setItem).not.toHaveBeenCalled();
    expect(localStorage.length).toBe(0);
    expect(sessionStorage.length).toBe(0);
    expect(document.cookie).not.toContain('acc-secret');
    expect(document.cookie).not.toContain('refresh-for');
    expect(JSON.stringify(session.getSnapshot())).not.toContain('refresh-for');
  });

  it('after a 401 refreshes once and retries the call once, with the same Idempotency-Key', async () => {
    serve({
      'GET /api/auth/config': [config('writes')],
      'POST /api/auth/refresh': [() => json(200, tokens('acc-1')), () => json(200, tokens('acc-2'))],
      'POST /api/jobs': [unauthorized, () => json(201, { id: 'j1', job_type: 'x', status: 'pending' })],
    });
    await started();
    expect(session.token()).toBe('acc-1'); // restored from the cookie

    const job = await createJob({ job_type: 'x' }, 'key-1');
    expect(job.id).toBe('j1');
    const seen = calls.map((c) => `${c.method} ${c.url} ${c.headers['Authorization'] ?? '-'}`);
    expect(seen).toEqual([
      'GET /api/auth/config -',
      'POST /api/auth/refresh -',
      'POST /api/jobs Bearer acc-1',
      'POST /api/auth/refresh -',
      'POST /api/jobs Bearer acc-2',
    ]);
    const posts = calls.filter((c) => c.url === '/api/jobs');
    expect(posts.map((c) => c.headers['Idempotency-Key'])).toEqual(['key-1', 'key-1']);
    expect(posts.map((c) => c.body)).toEqual([posts[0]!.body, posts[0]!.body]);
    expect(session.token()).toBe('acc-2');
  });

  it('does not loop: a second 401 after the retry is the answer', async () => {
    serve({
      'GET /api/auth/config': [config('writes')],
      'POST /api/auth/refresh': [() => json(200, tokens('acc-1')), () => json(200, tokens('acc-2'))],
      'GET /api/jobs': [unauthorized],
    });
    await started();
    const e = (await listJobs().catch((x: unknown) => x)) as ApiError;
    expect(e.status).toBe(401);
    expect(calls.filter((c) => c.url === '/api/jobs')).toHaveLength(2);
    expect(calls.filter((c) => c.url === '/api/auth/refresh')).toHaveLength(2); // restore + one renewal
  });

  it('shares one refresh between calls refused at the same time', async () => {
    let answered = 0;
    serve({
      'GET /api/auth/config': [config('writes')],
      'POST /api/auth/refresh': [() => json(200, tokens('acc-1')), () => json(200, tokens('acc-2'))],
      'GET /api/jobs': [unauthorized, unauthorized, unauthorized, () => json(200, [{ n: ++answered }])],
    });
    await started();
    await Promise.all([listJobs(), listJobs(), listJobs()]);
    expect(calls.filter((c) => c.url === '/api/auth/refresh')).toHaveLength(2); // restore + one renewal
    expect(calls.filter((c) => c.url === '/api/jobs' && c.headers['Authorization'] === 'Bearer acc-2')).toHaveLength(3);
  });

  it('becomes a visitor, saying so, when the refresh is refused', async () => {
    serve({
      'GET /api/auth/config': [config('writes')],
      'POST /api/auth/refresh': [() => json(200, tokens('acc-1')), unauthorized],
      'POST /api/jobs': [unauthorized],
    });
    await started();
    expect(session.getSnapshot().user?.username).toBe('admin');
    const e = (await createJob({ job_type: 'x' }).catch((x: unknown) => x)) as ApiError;
    expect(e.status).toBe(401);
    const s = session.getSnapshot();
    expect(s.user).toBeNull();
    expect(s.accessToken).toBeNull();
    expect(s.notice).toBe(SESSION_ENDED_TEXT);
    expect(calls.filter((c) => c.url === '/api/jobs')).toHaveLength(1);
  });

  it('leaves the sign-in routes alone: a wrong password is not a session that ended', async () => {
    serve({
      'GET /api/auth/config': [config('writes')],
      'POST /api/auth/refresh': [() => json(200, tokens('acc-1'))],
      'POST /api/auth/login': [() => json(401, { title: 'Unauthorized', status: 401, detail: 'Incorrect username or password.' })],
    });
    await started();
    await expect(session.signIn('admin', 'wrong')).rejects.toMatchObject({ status: 401 });
    expect(calls.filter((c) => c.url === '/api/auth/refresh')).toHaveLength(1);
    expect(session.getSnapshot().user?.username).toBe('admin');
  });

  it('a client without a token source sends no Authorization header', async () => {
    const f = vi.fn(async () => json(200, []));
    const client = createHttpClient({ fetch: f as unknown as typeof fetch });
    await client.request('GET', '/jobs');
    expect((f.mock.calls[0] as unknown as [string, RequestInit])[1].headers).not.toHaveProperty('Authorization');
    expect(http).toBeDefined();
  });
});

describe('event stream URLs', () => {
  function capture() {
    const urls: string[] = [];
    const factory = (url: string): EventSourceLike => {
      urls.push(url);
      return { readyState: 0, onopen: null, onerror: null, addEventListener() {}, close() {} };
    };
    return { urls, factory };
  }

  it('carry the access token in mode all only', async () => {
    for (const mode of ['writes', 'all'] as const) {
      session.reset();
      serve({
        'GET /api/auth/config': [config(mode)],
        'POST /api/auth/refresh': [() => json(200, tokens('acc-1'))],
      });
      await started();
      const { urls, factory } = capture();
      const sub = openStream('/sse/events', {}, { factory, lastEventId: '7' });
      sub.close();
      expect(urls[0]).toBe(mode === 'all' ? '/api/sse/events?last_event_id=7&access_token=acc-1' : '/api/sse/events?last_event_id=7');
    }
  });
});
