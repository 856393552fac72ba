import { describe, expect, it, vi } from 'vitest';
import { createDegradedStore } from './degraded';
import { ApiError, apiUrl, createHttpClient, errorFromResponse, parseRetryAfter } from './http';

function problemResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/problem+json', ...headers },
  });
}

function setup(res: Response | (() => Response | Promise<Response>)) {
  const store = createDegradedStore(() => 1_000_000);
  const fetch = vi.fn(async (_url: RequestInfo | URL, _init?: RequestInit) => (typeof res === 'function' ? res() : res));
  const client = createHttpClient({ fetch: fetch as unknown as typeof globalThis.fetch, store });
  return { store, fetch, client };
}

describe('apiUrl', () => {
  it('prefixes the base and leaves out empty query values', () => {
    expect(apiUrl('/jobs', { status: 'running', user_id: '', limit: 20, offset: 0, x: undefined })).toBe(
      '/api/jobs?status=running&limit=20&offset=0',
    );
    expect(apiUrl('jobs')).toBe('/api/jobs');
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates', () => {
    expect(parseRetryAfter('3')).toBe(3);
    expect(parseRetryAfter(' 0 ')).toBe(0);
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter('soon')).toBeNull();
    const now = Date.parse('2025-01-31T12:00:00Z');
    expect(parseRetryAfter('Fri, 31 Jan 2025 12:00:10 GMT', now)).toBe(10);
    expect(parseRetryAfter('Fri, 31 Jan 2025 11:00:00 GMT', now)).toBe(0);
  });
});

describe('http client', () => {
  it('returns parsed JSON and sends JSON with an Idempotency-Key', async () => {
    const { client, fetch } = setup(new Response(JSON.stringify({ id: 'j1' }), { status: 201 }));
    const job = await client.request<{ id: string }>('POST', '/jobs', { body: { job_type: 'x' }, idempotencyKey: 'k-1' });
    expect(job).toEqual({ id: 'j1' });
    const [url, init] = fetch.mock.calls[0]!;
    expect(url).toBe('/api/jobs');
    expect(init?.method).toBe('POST');
    expect(init?.body).toBe('{"job_type":"x"}');
    const h = init?.headers as Record<string, string>;
    expect(h['Content-Type']).toBe('application/json');
    expect(h['Idempotency-Key']).toBe('k-1');
  });

  it('turns a 422 problem into an ApiError with detail and field errors', async () => {
    const { client } = setup(
      problemResponse(422, {
        type: 'urn:rca:problem:validation',
        title: 'Unprocessable Entity',
        status: 422,
        detail: 'The request has invalid fields.',
        errors: [
          { field: 'job_type', message: 'is required' },
          { field: 'priority', message: 'must be at most 10' },
          { field: 'priority', message: 'second message loses' },
          { nonsense: true },
        ],
      }),
    );
    const err = await client.request('POST', '/jobs', { body: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    const e = err as ApiError;
    expect(e.status).toBe(422);
    expect(e.detail).toBe('The request has invalid fields.');
    expect(e.message).toBe('The request has invalid fields.');
    expect(e.errors).toHaveLength(3);
    expect(e.fieldErrors()).toEqual({ job_type: 'is required', priority: 'must be at most 10' });
    expect(e.retryAfter).toBeNull();
  });

  it('reads Retry-After and the dependency of a 503 problem', async () => {
    const { client, store } = setup(
      problemResponse(
        503,
        {
          type: 'urn:rca:problem:dependency-unavailable',
          title: 'Dependency unavailable',
          status: 503,
          detail: 'PostgreSQL is unavailable; the service is reconnecting. Try again shortly.',
          dependency: { name: 'postgres', status: 'down', cause: 'unreachable', since: '2025-01-01T00:00:00Z', retry_after_seconds: 4 },
        },
        { 'Retry-After': '4', 'X-Degraded': 'postgres' },
      ),
    );
    const e = (await client.request('GET', '/jobs').catch((x: unknown) => x)) as ApiError;
    expect(e.status).toBe(503);
    expect(e.unavailable).toBe(true);
    expect(e.retryAfter).toBe(4);
    expect(e.detail).toMatch(/PostgreSQL is unavailable/);
    const pg = store.getSnapshot().deps['postgres'];
    expect(pg?.status).toBe('down');
    expect(pg?.cause).toBe('unreachable');
    expect(pg?.nextRetryAt).toBe(1_000_000 + 4000);
  });

  it('falls back to a sentence when the error body is not a problem', async () => {
    const { client } = setup(new Response('<html>Bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }));
    const e = (await client.request('GET', '/jobs').catch((x: unknown) => x)) as ApiError;
    expect(e.status).toBe(502);
    expect(e.detail).toBe('The server answered 502 Bad Gateway.');
    expect(e.errors).toEqual([]);
  });

  it('reports a network failure as status 0', async () => {
    const { client } = setup(() => {
      throw new TypeError('Failed to fetch');
    });
    const e = (await client.request('GET', '/jobs').catch((x: unknown) => x)) as ApiError;
    expect(e).toBeInstanceOf(ApiError);
    expect(e.status).toBe(0);
    expect(e.detail).toMatch(/could not be reached/);
  });

  it('returns undefined for 204', async () => {
    const { client } = setup(new Response(null, { status: 204 }));
    await expect(client.request('POST', '/x')).resolves.toBeUndefined();
  });

  it('notifies the degraded store of X-Degraded on every response, and of its absence', async () => {
    let header: string | null = 'postgres,redis';
    const { client, store } = setup(() => {
      const headers: Record<string, string> = {};
      if (header) headers['X-Degraded'] = header;
      return new Response('[]', { status: 200, headers });
    });
    const seen: string[] = [];
    store.subscribe(() => {
      const d = store.getSnapshot().deps;
      seen.push(Object.values(d).map((v) => `${v.name}:${v.status}`).sort().join(','));
    });

    await client.request('GET', '/jobs');
    expect(store.getSnapshot().deps['postgres']?.status).toBe('down');
    expect(store.getSnapshot().deps['redis']?.status).toBe('down');

    await client.request('GET', '/jobs'); // same header: no new notification
    expect(seen).toHaveLength(1);

    header = 'redis';
    await client.request('GET', '/jobs');
    expect(store.getSnapshot().deps['postgres']?.status).toBe('up');
    expect(store.getSnapshot().deps['redis']?.status).toBe('down');

    header = null;
    await client.request('GET', '/jobs');
    expect(store.getSnapshot().deps['redis']?.status).toBe('up');
    expect(seen).toEqual(['postgres:down,redis:down', 'postgres:up,redis:down', 'postgres:up,redis:up']);
  });

  it('reads X-Degraded on error responses too', async () => {
    const { client, store } = setup(problemResponse(404, { title: 'Not Found', status: 404, detail: 'No job x.' }, { 'X-Degraded': 'redis' }));
    const e = (await client.request('GET', '/jobs/x').catch((x: unknown) => x)) as ApiError;
    expect(e.detail).toBe('No job x.');
    expect(store.getSnapshot().deps['redis']?.status).toBe('down');
  });

  it('errorFromResponse uses the title when detail is missing', async () => {
    const e = await errorFromResponse(problemResponse(409, { title: 'Conflict', status: 409 }, { 'Retry-After': '2' }));
    expect(e.detail).toBe('Conflict');
    expect(e.retryAfter).toBe(2);
  });
});

describe('http client with a token source', () => {
  function withTokens(answers: Response[], renewed: string | null) {
    const fetch = vi.fn(async (_url: RequestInfo | URL, _init?: RequestInit) => answers.shift()!);
    let current = 'old';
    const tokens = {
      token: () => current,
      renew: vi.fn(async (rejected: string) => {
        expect(rejected).toBe('old');
        if (renewed) current = renewed;
        return renewed;
      }),
    };
    const client = createHttpClient({ fetch: fetch as unknown as typeof globalThis.fetch, store: createDegradedStore(), tokens });
    const auth = () => fetch.mock.calls.map((c) => (c[1]?.headers as Record<string, string>)['Authorization'] ?? '-');
    return { client, fetch, tokens, auth };
  }

  it('sends the token, renews it once after a 401 and retries once', async () => {
    const { client, tokens, auth } = withTokens(
      [problemResponse(401, { title: 'Unauthorized', status: 401, detail: 'Expired.' }), new Response('{"ok":true}', { status: 200 })],
      'new',
    );
    await expect(client.request('POST', '/jobs', { body: { job_type: 'x' }, idempotencyKey: 'k' })).resolves.toEqual({ ok: true });
    expect(tokens.renew).toHaveBeenCalledTimes(1);
    expect(auth()).toEqual(['Bearer old', 'Bearer new']);
  });

  it('gives the 401 back when there is no new token', async () => {
    const { client, auth } = withTokens([problemResponse(401, { title: 'Unauthorized', status: 401, detail: 'Expired.' })], null);
    const e = (await client.request('GET', '/jobs').catch((x: unknown) => x)) as ApiError;
    expect(e.status).toBe(401);
    expect(auth()).toEqual(['Bearer old']);
  });

  it('sends no token and renews nothing with auth: false', async () => {
    const { client, tokens, auth } = withTokens([problemResponse(401, { title: 'Unauthorized', status: 401, detail: 'Wrong password.' })], 'new');
    const e = (await client.request('POST', '/auth/login', { form: { username: 'a', password: 'b' }, auth: false }).catch((x: unknown) => x)) as ApiError;
    expect(e.detail).toBe('Wrong password.');
    expect(tokens.renew).not.toHaveBeenCalled();
    expect(auth()).toEqual(['-']);
  });
});
