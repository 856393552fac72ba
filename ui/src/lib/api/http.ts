// The one way this UI talks to the API: JSON in and out, RFC 9457 problems
// turned into ApiError, and the X-Degraded header of every response (errors
// included) reported to the degraded-state store.

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
  /** Seconds from the Retry-After header (503 while a dependency is down, 409). */
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
  /** Sent as the Idempotency-Key header (POSTs that must not repeat). */
  idempotencyKey?: string;
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

export interface HttpClient {
  request<T>(method: string, path: string, opts?: RequestOptions): Promise<T>;
}

/** Makes a client; tests pass their own fetch and store. */
export function createHttpClient(
  deps: { fetch?: typeof fetch; store?: DegradedStore } = {},
): HttpClient {
  const store = deps.store ?? degradedStore;
  return {
    async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
      const doFetch = deps.fetch ?? globalThis.fetch.bind(globalThis);
      const headers: Record<string, string> = { Accept: 'application/json, application/problem+json' };
      // Authentication: there is none yet. When there is, attach an access
      // token kept in memory only (a module variable set after login), here:
      //   if (accessToken) headers.Authorization = `Bearer ${accessToken}`;
      // Never put it in localStorage or sessionStorage, where any script
      // injected into the page could read it.
      let body: string | undefined;
      if (opts.body !== undefined) {
        headers['Content-Type'] = 'application/json';
        body = JSON.stringify(opts.body);
      }
      if (opts.idempotencyKey) headers['Idempotency-Key'] = opts.idempotencyKey;
      Object.assign(headers, opts.headers);

      let res: Response;
      try {
        const init: RequestInit = { method, headers, credentials: 'same-origin' };
        if (body !== undefined) init.body = body;
        if (opts.signal) init.signal = opts.signal;
        res = await doFetch(apiUrl(path, opts.query), init);
      } catch (err) {
        if (err instanceof DOMException && err.name === 'AbortError') throw err;
        throw new ApiError({ status: 0, detail: fallbackDetail(0, '') });
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

/** The application's client. */
export const http: HttpClient = createHttpClient();

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
