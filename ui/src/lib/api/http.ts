// The one way this UI talks to the API: JSON in and out, RFC 9457 problems
// turned into ApiError, the X-Degraded header of every response (errors
// included) reported to the degraded-state store, and the signed-in user's
// access token on every request (a 401 renews it once, then retries).

import { degradedStore, type DegradedStore } from './degraded';
import type { FieldError, Problem } from './types';

/** Where the API lives: `/api` unless the build sets VITE_API_BASE. */
export const API_BASE: string = (import.meta.env.VITE_API_BASE || '/api').replace(/\/+$/, '');

export type QueryValue = string | number | boolean | null | undefined;

/** A URL under the API base; empty and undefined query values are left out. */
export function apiUrl(path: string, query?: Record<string, QueryValue>): string {
  let url = API_BASE + (path.startsWith('/') ? path : '/' + path);
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined || v === null || v === '') continue;
      params.set(k, String(v));
    }
    const qs = params.toString();
    if (qs) url += '?' + qs;
  }
  return url;
}

/** A failed call: an HTTP error status, or no answer at all (status 0). */
export class ApiError extends Error {
  readonly status: number;
  /** A readable sentence: the problem's detail, or a generic one. */
  readonly detail: string;
  /** Field errors of a 422 problem, by JSON field name. */
  readonly errors: FieldError[];
  /** Seconds from the Retry-After header (503 while a dependency is down, 409, 429). */
  readonly retryAfter: number | null;
  readonly problem: Problem | null;

  constructor(init: {
    status: number;
    detail: string;
    errors?: FieldError[];
    retryAfter?: number | null;
    problem?: Problem | null;
  }) {
    super(init.detail);
    this.name = 'ApiError';
    this.status = init.status;
    this.detail = init.detail;
    this.errors = init.errors ?? [];
    this.retryAfter = init.retryAfter ?? null;
    this.problem = init.problem ?? null;
  }

  /** The message of each field error, by field (the first one wins). */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of this.errors) {
      if (!(e.field in out)) out[e.field] = e.message;
    }
    return out;
  }

  /** True when the service refused the call because a dependency is down. */
  get unavailable(): boolean {
    return this.status === 503;
  }
}

/**
 * Retry-After in seconds: delta-seconds or an HTTP date (RFC 9110), or null
 * when absent or unreadable.
 */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | null {
  if (value === null) return null;
  const v = value.trim();
  if (v === '') return null;
  if (/^\d+$/.test(v)) return Number(v);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return null;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

function isFieldError(v: unknown): v is FieldError {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as FieldError).field === 'string' &&
    typeof (v as FieldError).message === 'string'
  );
}

function fallbackDetail(status: number, statusText: string): string {
  switch (status) {
    case 0:
      return 'The server could not be reached. Check your connection; nothing was changed on the server unless it says so.';
    case 404:
      return 'Not found.';
    case 503:
      return 'The service is temporarily unavailable. Try again shortly.';
    default:
      return `The server answered ${status}${statusText ? ' ' + statusText : ''}.`;
  }
}

/** Builds the ApiError for a failed response, reading its problem body if any. */
export async function errorFromResponse(res: Response): Promise<ApiError> {
  let problem: Problem | null = null;
  let text = '';
  try {
    text = await res.text();
  } catch {
    // The body could not be read; the status still tells enough.
  }
  if (text) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
        problem = parsed as Problem;
      }
    } catch {
      // Not JSON (a proxy's HTML error page, say).
    }
  }
  const detail =
    problem && typeof problem.detail === 'string' && problem.detail.trim() !== ''
      ? problem.detail
      : problem && typeof problem.title === 'string' && problem.title.trim() !== ''
        ? problem.title
        : fallbackDetail(res.status, res.statusText);
  const errors = Array.isArray(problem?.errors) ? problem.errors.filter(isFieldError) : [];
  return new ApiError({
    status: res.status,
    detail,
    errors,
    retryAfter: parseRetryAfter(res.headers.get('Retry-After')),
    problem,
  });
}

export interface RequestOptions {
  query?: Record<string, QueryValue>;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as application/x-www-form-urlencoded instead (the OAuth2 password form of /auth/login). */
  form?: Record<string, string>;
  /**
   * false: no access token, and no renewal after a 401. For the sign-in
   * routes themselves, whose 401 means a wrong password or no session.
   */
  auth?: boolean;
  /** Sent as the Idempotency-Key header (POSTs that must not repeat). */
  idempotencyKey?: string;
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

export interface HttpClient {
  request<T>(method: string, path: string, opts?: RequestOptions): Promise<T>;
}

/**
 * Where the client gets the access token from: the session (lib/session.ts),
 * which keeps it in memory only. Never in localStorage or sessionStorage,
 * where any script injected into the page could read it; the refresh token
 * is an HttpOnly cookie that scripts cannot read at all.
 */
export interface TokenSource {
  /** The access token to send, or null for a visitor. */
  token(): string | null;
  /**
   * A request that carried `rejected` was answered 401: the token to retry
   * it with (once), or null when there is none (the session has ended, or
   * could not be renewed right now).
   */
  renew(rejected: string): Promise<string | null>;
}

let appTokenSource: TokenSource | null = null;

/** Makes `source` the token source of the application's client (`http`). */
export function setTokenSource(source: TokenSource | null): void {
  appTokenSource = source;
}

/** The application's tokens (the session's), for requests made outside `http` (uploads). */
export const appTokens: TokenSource = {
  token: () => appTokenSource?.token() ?? null,
  renew: (rejected) => (appTokenSource ? appTokenSource.renew(rejected) : Promise.resolve(null)),
};

/** Makes a client; tests pass their own fetch, store and tokens. */
export function createHttpClient(
  deps: { fetch?: typeof fetch; store?: DegradedStore; tokens?: TokenSource } = {},
): HttpClient {
  const store = deps.store ?? degradedStore;
  const tokens = deps.tokens;
  return {
    async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
      const doFetch = deps.fetch ?? globalThis.fetch.bind(globalThis);
      const headers: Record<string, string> = { Accept: 'application/json, application/problem+json' };
      let body: string | undefined;
      if (opts.form !== undefined) {
        headers['Content-Type'] = 'application/x-www-form-urlencoded';
        body = new URLSearchParams(opts.form).toString();
      } else if (opts.body !== undefined) {
        headers['Content-Type'] = 'application/json';
        body = JSON.stringify(opts.body);
      }
      if (opts.idempotencyKey) headers['Idempotency-Key'] = opts.idempotencyKey;
      Object.assign(headers, opts.headers);
      const url = apiUrl(path, opts.query);

      async function send(token: string | null): Promise<Response> {
        const h = token ? { ...headers, Authorization: `Bearer ${token}` } : headers;
        try {
          const init: RequestInit = { method, headers: h, credentials: 'same-origin' };
          if (body !== undefined) init.body = body;
          if (opts.signal) init.signal = opts.signal;
          return await doFetch(url, init);
        } catch (err) {
          if (err instanceof DOMException && err.name === 'AbortError') throw err;
          throw new ApiError({ status: 0, detail: fallbackDetail(0, '') });
        }
      }

      const useAuth = opts.auth !== false && tokens !== undefined && !('Authorization' in headers);
      const token = useAuth ? tokens.token() : null;
      let res = await send(token);

      // The access token expired (or its session was revoked): renew it
      // once and send the same request again, with the same
      // Idempotency-Key; a 401 is answered before anything is done.
      if (res.status === 401 && token && useAuth) {
        const fresh = await tokens.renew(token);
        if (fresh) res = await send(fresh);
      }

      // Every response says which dependencies are impaired (no header: none).
      store.reportHeader(res.headers.get('X-Degraded'));

      if (!res.ok) {
        const err = await errorFromResponse(res);
        const dep = err.problem?.dependency;
        if (dep && typeof dep === 'object') store.reportDependency(dep, 'problem');
        throw err;
      }
      if (res.status === 204 || res.status === 205) return undefined as T;
      const text = await res.text();
      if (!text) return undefined as T;
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new ApiError({ status: res.status, detail: 'The server sent a response that is not valid JSON.' });
      }
    },
  };
}

/** The application's client: the access token comes from the session (see setTokenSource). */
export const http: HttpClient = createHttpClient({ tokens: appTokens });

/** A fresh Idempotency-Key. */
export function newIdempotencyKey(): string {
  if (typeof crypto !== 'undefined' && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  // crypto.randomUUID needs a secure context (https or localhost).
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
