import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Grant } from './api/auth';
import { ApiError } from './api/http';
import type { AuthConfig, User } from './api/types';
import { createSession, SESSION_ENDED_TEXT, type AuthApi, type LockLike } from './session';

const USER: User = {
  id: 'u1',
  email: 'ana@example.com',
  username: 'ana',
  full_name: 'Ana',
  is_active: true,
  is_superuser: false,
  role: 'user',
  created_at: '2025-01-31T12:00:00Z',
};

function grant(token: string, expiresIn = 900): Grant {
  return { accessToken: token, expiresIn, user: USER };
}

const err = (status: number, retryAfter: number | null = null) =>
  new ApiError({ status, detail: `status ${status}`, retryAfter });

function fakeApi(over: Partial<AuthApi> = {}) {
  const api = {
    getAuthConfig: vi.fn(async (): Promise<AuthConfig> => ({ mode: 'writes', registration: 'closed', access_token_ttl_seconds: 900 })),
    login: vi.fn(async () => grant('login-token')),
    refresh: vi.fn(async (): Promise<Grant> => {
      throw err(401);
    }),
    logout: vi.fn(async () => ({ message: 'Successfully logged out' })),
    ...over,
  };
  return api;
}

async function flush() {
  await vi.advanceTimersByTimeAsync(0);
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  vi.setSystemTime(Date.parse('2025-01-31T12:00:00Z'));
});

afterEach(() => {
  vi.useRealTimers();
});

describe('session', () => {
  it('is ready at once without a refresh when the mode is off, or the server has no auth routes (404)', async () => {
    const off = fakeApi({ getAuthConfig: vi.fn(async () => ({ mode: 'off' as const, registration: 'closed' as const, access_token_ttl_seconds: 900 })) });
    const s1 = createSession({ api: off, locks: null });
    s1.start();
    await flush();
    expect(s1.getSnapshot()).toMatchObject({ ready: true, user: null, config: { mode: 'off' } });
    expect(off.refresh).not.toHaveBeenCalled();

    const old = fakeApi({ getAuthConfig: vi.fn(async () => Promise.reject(err(404))) });
    const s2 = createSession({ api: old, locks: null });
    s2.start();
    await flush();
    expect(s2.getSnapshot()).toMatchObject({ ready: true, config: { mode: 'off' } });
    expect(old.refresh).not.toHaveBeenCalled();
  });

  it('restores a session from the refresh cookie, and is a visitor silently without one', async () => {
    const api = fakeApi({ refresh: vi.fn(async () => grant('restored')) });
    const s = createSession({ api, locks: null });
    s.start();
    s.start(); // StrictMode mounts twice: still one config load, one refresh
    await flush();
    expect(api.getAuthConfig).toHaveBeenCalledTimes(1);
    expect(api.refresh).toHaveBeenCalledTimes(1);
    expect(s.getSnapshot()).toMatchObject({ ready: true, accessToken: 'restored', user: USER, notice: null });

    const visitor = createSession({ api: fakeApi(), locks: null });
    visitor.start();
    await flush();
    expect(visitor.getSnapshot()).toMatchObject({ ready: true, accessToken: null, user: null, notice: null });
  });

  it('refreshes at 80 % of the lifetime, and again after each new token', async () => {
    let n = 0;
    const api = fakeApi({ refresh: vi.fn(async () => grant(`t${++n}`, 100)) });
    const s = createSession({ api, locks: null });
    s.start();
    await flush();
    expect(s.token()).toBe('t1');
    expect(s.getSnapshot().expiresAt).toBe(Date.now() + 100_000);

    await vi.advanceTimersByTimeAsync(79_000);
    expect(api.refresh).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(api.refresh).toHaveBeenCalledTimes(2);
    expect(s.token()).toBe('t2');
    await vi.advanceTimersByTimeAsync(80_000);
    expect(s.token()).toBe('t3');

    s.stop(); // unmounted: no more timers
    await vi.advanceTimersByTimeAsync(500_000);
    expect(api.refresh).toHaveBeenCalledTimes(3);
  });

  it('keeps the token and tries again when a refresh gets no answer, and ends the session on a 401', async () => {
    const refresh = vi
      .fn<() => Promise<Grant>>()
      .mockResolvedValueOnce(grant('t1', 100))
      .mockRejectedValueOnce(err(503, 5))
      .mockRejectedValueOnce(err(401));
    const s = createSession({ api: fakeApi({ refresh }), locks: null });
    s.start();
    await flush();
    await vi.advanceTimersByTimeAsync(80_000);
    expect(refresh).toHaveBeenCalledTimes(2);
    expect(s.token()).toBe('t1');
    expect(s.getSnapshot().notice).toBeNull();

    await vi.advanceTimersByTimeAsync(5_000); // Retry-After
    expect(refresh).toHaveBeenCalledTimes(3);
    expect(s.getSnapshot()).toMatchObject({ user: null, accessToken: null, notice: SESSION_ENDED_TEXT });
  });

  it('tries the restore again when the database was down', async () => {
    const refresh = vi.fn<() => Promise<Grant>>().mockRejectedValueOnce(err(503, 3)).mockResolvedValueOnce(grant('late'));
    const s = createSession({ api: fakeApi({ refresh }), locks: null });
    s.start();
    await flush();
    expect(s.getSnapshot()).toMatchObject({ ready: true, user: null });
    await vi.advanceTimersByTimeAsync(3_000);
    expect(s.getSnapshot()).toMatchObject({ user: USER, accessToken: 'late' });
  });

  it('renew() answers a newer token without a refresh when one came meanwhile', async () => {
    const api = fakeApi({ refresh: vi.fn(async () => grant('fresh')) });
    const s = createSession({ api, locks: null });
    s.start();
    await flush();
    expect(await s.renew('an-older-token')).toBe('fresh');
    expect(api.refresh).toHaveBeenCalledTimes(1);
  });

  it('refreshes inside a Web Lock, so that tabs never present the cookie at the same time', async () => {
    const names: string[] = [];
    const locks: LockLike = {
      request: async (name, cb) => {
        names.push(name);
        return cb();
      },
    };
    const s = createSession({ api: fakeApi({ refresh: vi.fn(async () => grant('t')) }), locks });
    s.start();
    await flush();
    expect(names).toEqual(['rca-auth-refresh']);
  });

  it('signs in, and signs out for real', async () => {
    const api = fakeApi();
    const s = createSession({ api, locks: null });
    s.start();
    await flush();
    await s.signIn('ana', 'a long enough password');
    expect(api.login).toHaveBeenCalledWith('ana', 'a long enough password');
    expect(s.getSnapshot()).toMatchObject({ user: USER, accessToken: 'login-token' });
    await s.signOut();
    expect(api.logout).toHaveBeenCalledTimes(1);
    expect(s.getSnapshot()).toMatchObject({ user: null, accessToken: null, expiresAt: null, notice: null });
    // No refresh timer left behind.
    await vi.advanceTimersByTimeAsync(2_000_000);
    expect(api.refresh).toHaveBeenCalledTimes(1);
  });

  it('forgets the session even when the server cannot be told, and says so', async () => {
    const api = fakeApi({ logout: vi.fn(async () => Promise.reject(new ApiError({ status: 0, detail: 'The server could not be reached.' }))) });
    const s = createSession({ api, locks: null });
    s.start();
    await flush();
    await s.signIn('ana', 'pw');
    await s.signOut();
    const st = s.getSnapshot();
    expect(st.user).toBeNull();
    expect(st.accessToken).toBeNull();
    expect(st.notice).toMatch(/could not end the session: The server could not be reached\./);
    s.dismissNotice();
    expect(s.getSnapshot().notice).toBeNull();

    // A 401 to the logout means the session had ended already: no message.
    const s2 = createSession({ api: fakeApi({ logout: vi.fn(async () => Promise.reject(err(401))) }), locks: null });
    s2.start();
    await flush();
    await s2.signIn('ana', 'pw');
    await s2.signOut();
    expect(s2.getSnapshot()).toMatchObject({ user: null, notice: null });
  });

  it('puts the token in stream URLs in mode all only', async () => {
    const all = createSession({
      api: fakeApi({
        getAuthConfig: vi.fn(async () => ({ mode: 'all' as const, registration: 'closed' as const, access_token_ttl_seconds: 900 })),
        refresh: vi.fn(async () => grant('t')),
      }),
      locks: null,
    });
    all.start();
    await flush();
    expect(all.streamToken()).toBe('t');
    const writes = createSession({ api: fakeApi({ refresh: vi.fn(async () => grant('t')) }), locks: null });
    writes.start();
    await flush();
    expect(writes.streamToken()).toBeNull();
  });
});
