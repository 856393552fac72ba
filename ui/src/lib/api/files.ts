// The /api/files routes and POST /api/jobs/{id}/start (issue #12), and the
// two ways a file is uploaded: tus (resumable, through tus-js-client, the
// protocol's reference client) when the server offers an endpoint, else one
// multipart POST /api/files/upload per file through XMLHttpRequest, the only
// browser API that reports upload progress.

import { Upload, type HttpRequest, type HttpStack, type UrlStorage } from 'tus-js-client';
import { session } from '../session';
import { degradedStore } from './degraded';
import { API_BASE, ApiError, apiUrl, appTokens, errorFromResponse, http, newIdempotencyKey, type TokenSource } from './http';
import type { Job, JobFile, LinesWindow, SupportedTypes } from './types';

export function supportedTypes(signal?: AbortSignal): Promise<SupportedTypes> {
  return http.request<SupportedTypes>('GET', '/files/supported-types', signal ? { signal } : {});
}

/** The job's files, archives and their members, oldest first. */
export function listJobFiles(jobId: string, signal?: AbortSignal): Promise<JobFile[]> {
  return http.request<JobFile[]>('GET', `/files/jobs/${encodeURIComponent(jobId)}`, signal ? { signal } : {});
}

export function getFile(id: string, signal?: AbortSignal): Promise<JobFile> {
  return http.request<JobFile>('GET', `/files/${encodeURIComponent(id)}`, signal ? { signal } : {});
}

/** Lines from..to (1-based, both included; the server sends at most 2,000). */
export function fileLines(id: string, from: number, to: number, signal?: AbortSignal): Promise<LinesWindow> {
  return http.request<LinesWindow>('GET', `/files/${encodeURIComponent(id)}/lines`, {
    query: { from, to },
    ...(signal ? { signal } : {}),
  });
}

/** The download address of a file's bytes. */
export function fileContentUrl(id: string): string {
  return apiUrl(`/files/${encodeURIComponent(id)}/content`);
}

/** The job becomes ready for analysis (202); 409 while it has no file. */
export function startJob(id: string, idempotencyKey: string = newIdempotencyKey()): Promise<Job> {
  return http.request<Job>('POST', `/jobs/${encodeURIComponent(id)}/start`, { idempotencyKey });
}

// ---------------------------------------------------------------------------
// Refusals

/** The existing file of a 409 "already in this job" refusal, if the problem carries it. */
export function existingFileOf(err: unknown): JobFile | null {
  if (!(err instanceof ApiError) || err.status !== 409) return null;
  const f = (err.problem as { file?: unknown } | null)?.file;
  return f && typeof f === 'object' && typeof (f as JobFile).id === 'string' ? (f as JobFile) : null;
}

/**
 * The sentence that explains a refused upload of `filename`: the detail of
 * the problem's entry for that file (`errors: [{field: "file", filename,
 * detail}]`) when there is one, else the problem's detail.
 */
export function refusalDetail(err: unknown, filename: string): string {
  if (!(err instanceof ApiError)) return err instanceof Error ? err.message : String(err);
  const entries = (err.problem as { errors?: unknown } | null)?.errors;
  if (Array.isArray(entries)) {
    for (const e of entries) {
      if (!e || typeof e !== 'object') continue;
      const { filename: f, detail, message } = e as { filename?: unknown; detail?: unknown; message?: unknown };
      const text = typeof detail === 'string' ? detail : typeof message === 'string' ? message : '';
      if (text && (f === undefined || f === filename)) return text;
    }
  }
  return err.detail;
}

/** An ApiError from a status, headers and body that did not come through fetch (XHR, tus). */
export async function errorFromParts(status: number, body: string, header: (name: string) => string | null | undefined): Promise<ApiError> {
  if (status < 200 || status > 599) {
    return new ApiError({
      status: 0,
      detail: 'The connection to the server was lost. Nothing was kept of this upload unless it says so.',
    });
  }
  const headers = new Headers();
  for (const name of ['Content-Type', 'Retry-After', 'X-Degraded']) {
    const v = header(name);
    if (v) headers.set(name, v);
  }
  // Response refuses a body for a few statuses (204, 304...): never errors.
  const res = new Response(status >= 400 ? body : null, { status, headers });
  degradedStore.reportHeader(headers.get('X-Degraded'));
  const err = await errorFromResponse(res);
  const dep = err.problem?.dependency;
  if (dep && typeof dep === 'object') degradedStore.reportDependency(dep, 'problem');
  return err;
}

// ---------------------------------------------------------------------------
// Uploads

export interface UploadEvents {
  /** Bytes the server has (tus) or the browser has sent (multipart), of `total`. */
  onProgress(loaded: number, total: number): void;
  /** The connection dropped; the upload resumes by itself (attempt counts from 1). */
  onRetrying?(attempt: number, detail: string): void;
  /** A previous, unfinished upload of the same file to this job is being resumed. */
  onResuming?(): void;
}

export interface UploadResult {
  /** The new file's id (null when a tus server did not say). */
  fileId: string | null;
  /** The new file, when the server sent it (multipart). */
  file: JobFile | null;
  /** Its archive members, when a multipart upload of an archive listed them. */
  files: JobFile[];
}

export interface UploadHandle {
  /** Settles with the result, or an ApiError (a refusal, or no connection), or an AbortError. */
  readonly done: Promise<UploadResult>;
  /**
   * Cancels the upload. tus: `forget` (the default) also asks the server to
   * drop what it has; false keeps it there, to be resumed when the same
   * file is picked again (leaving the page).
   */
  abort(forget?: boolean): void;
  /** Which protocol it uses. */
  readonly protocol: 'tus' | 'multipart';
}

export interface UploadDeps {
  tokens?: TokenSource;
  /** tus only: the HTTP stack (tests pass a fake server) and where unfinished uploads are remembered. */
  httpStack?: HttpStack;
  urlStorage?: UrlStorage;
  /** multipart only. */
  xhr?: () => XMLHttpRequest;
  /** tus: waits between retries after a dropped connection, in ms. */
  retryDelays?: number[];
  /** tus: bytes per PATCH request. */
  chunkSize?: number;
  /** tus: who uploads (part of the resume fingerprint); the session's user by default. */
  userId?: string;
}

function abortError(): DOMException {
  return new DOMException('The upload was cancelled.', 'AbortError');
}

/** Whether err is the cancellation of an upload. */
export function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === 'AbortError';
}

/** Uploads one file to a job: tus when `tusEndpoint` is set, else multipart. */
export function uploadFile(
  file: File,
  jobId: string,
  tusEndpoint: string | null | undefined,
  events: UploadEvents,
  deps: UploadDeps = {},
): UploadHandle {
  return tusEndpoint
    ? uploadTus(file, jobId, tusEndpoint, events, deps)
    : uploadMultipart(file, jobId, events, deps);
}

/**
 * POST /api/files/upload with one file part, through XMLHttpRequest for its
 * upload progress; the access token as for every call, renewed and sent
 * again once after a 401.
 */
export function uploadMultipart(file: File, jobId: string, events: UploadEvents, deps: UploadDeps = {}): UploadHandle {
  const tokens = deps.tokens ?? appTokens;
  const makeXhr = deps.xhr ?? (() => new XMLHttpRequest());
  let current: XMLHttpRequest | null = null;
  let aborted = false;
  const key = newIdempotencyKey();

  function send(token: string | null): Promise<XMLHttpRequest> {
    return new Promise((resolve, reject) => {
      const xhr = makeXhr();
      current = xhr;
      xhr.open('POST', apiUrl('/files/upload'));
      xhr.setRequestHeader('Accept', 'application/json, application/problem+json');
      xhr.setRequestHeader('Idempotency-Key', key);
      if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
      xhr.upload.onprogress = (e: ProgressEvent) => {
        events.onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
      };
      xhr.onload = () => resolve(xhr);
      xhr.onerror = () => reject(new ApiError({ status: 0, detail: 'The connection to the server was lost during the upload; nothing was kept. Try again.' }));
      xhr.ontimeout = xhr.onerror;
      xhr.onabort = () => reject(abortError());
      const form = new FormData();
      form.append('job_id', jobId);
      form.append('file', file, file.name);
      xhr.send(form);
    });
  }

  const done = (async (): Promise<UploadResult> => {
    const token = tokens.token();
    let xhr = await send(token);
    if (xhr.status === 401 && token && !aborted) {
      const fresh = await tokens.renew(token);
      if (fresh) {
        events.onProgress(0, file.size);
        xhr = await send(fresh);
      }
    }
    const header = (n: string) => xhr.getResponseHeader(n);
    if (xhr.status < 200 || xhr.status >= 300) throw await errorFromParts(xhr.status, xhr.responseText, header);
    degradedStore.reportHeader(header('X-Degraded'));
    let body: unknown = null;
    try {
      body = JSON.parse(xhr.responseText);
    } catch {
      // 201 without a body: the list shows the file anyway.
    }
    const many = body && typeof body === 'object' && Array.isArray((body as { files?: unknown }).files);
    const files: JobFile[] = many ? (body as { files: JobFile[] }).files : body ? [body as JobFile] : [];
    const first = files[0] ?? null;
    events.onProgress(file.size, file.size);
    return { fileId: first?.id ?? null, file: first, files };
  })();

  return {
    done,
    protocol: 'multipart',
    abort() {
      aborted = true;
      current?.abort();
    },
  };
}

/**
 * A tus 1.0 upload (tus-js-client): sent in chunks; after a dropped
 * connection it asks the server how much it has (HEAD) and goes on from
 * there, waiting longer each time; an unfinished upload of the same file to
 * the same job (a closed tab) is found again in localStorage and resumed.
 */
export function uploadTus(
  file: File,
  jobId: string,
  endpoint: string,
  events: UploadEvents,
  deps: UploadDeps = {},
): UploadHandle {
  const tokens = deps.tokens ?? appTokens;
  // tus-js-client resolves the Location of a new upload against the
  // endpoint, which must then be absolute.
  const base = typeof window !== 'undefined' ? window.location.href : 'http://localhost/';
  const absEndpoint = new URL(endpoint.startsWith('/') || /^https?:/.test(endpoint) ? endpoint : `${API_BASE}/${endpoint}`, base).href;
  let renewing: Promise<string | null> | null = null;
  let rejectedToken: string | null = null;
  let fileId: string | null = null;
  let cancelled = false;
  let attempts = 0;

  let upload!: Upload;
  let rejectDone: (err: unknown) => void = () => {};
  const done = new Promise<UploadResult>((resolve, reject) => {
    rejectDone = reject;
    upload = new Upload(file, {
      endpoint: absEndpoint,
      metadata: { job_id: jobId, filename: file.name, filetype: file.type || 'application/octet-stream' },
      // The same file to another job (or by another user) is another upload.
      fingerprint: async (f: File) =>
        ['rca-tus', jobId, f.name, f.type, f.size, f.lastModified, deps.userId ?? session.getSnapshot().user?.id ?? 'anon', absEndpoint].join('|'),
      chunkSize: deps.chunkSize ?? 32 * 1024 * 1024,
      retryDelays: deps.retryDelays ?? [0, 1000, 3000, 5000, 10_000, 20_000, 30_000, 30_000, 60_000, 60_000],
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      ...(deps.httpStack ? { httpStack: deps.httpStack } : {}),
      ...(deps.urlStorage ? { urlStorage: deps.urlStorage } : {}),
      async onBeforeRequest(req: HttpRequest) {
        if (renewing) await renewing;
        const t = tokens.token();
        if (t) req.setHeader('Authorization', `Bearer ${t}`);
        req.setHeader('Accept', 'application/json, application/problem+json');
      },
      onAfterResponse(_req, res) {
        degradedStore.reportHeader(res.getHeader('X-Degraded') ?? null);
        const id = res.getHeader('Upload-File-Id');
        if (id) fileId = id;
      },
      onProgress(sent, total) {
        events.onProgress(sent, total);
      },
      onShouldRetry(err, attempt) {
        if (cancelled) return false;
        const res = err.originalResponse;
        const status = res ? res.getStatus() : 0;
        if (status === 401) {
          // Renew the token once, then try again with it.
          const t = tokens.token();
          if (!t || t === rejectedToken) return false;
          rejectedToken = t;
          renewing = tokens.renew(t).finally(() => {
            renewing = null;
          });
          return true;
        }
        // 409 is tus's "offset mismatch" (ask again); ours, a duplicate,
        // comes with the existing file, and is final.
        if (status === 409) {
          if (/"file"\s*:/.test(res?.getBody() ?? '')) return false;
          events.onRetrying?.(attempt + 1, 'The server has a different part of this file; resuming from there…');
          return true;
        }
        const retry = status === 0 || status >= 500 || status === 423 || status === 429;
        if (retry) {
          attempts = attempt + 1;
          events.onRetrying?.(
            attempts,
            status === 0 ? 'Connection lost; resuming…' : status === 503 ? 'The server is unavailable; resuming…' : `The server answered ${status}; resuming…`,
          );
        }
        return retry;
      },
      onSuccess() {
        events.onProgress(file.size, file.size);
        // The final PATCH names the file; its record says whether it was
        // an archive and how many members it had.
        const id = fileId;
        if (!id) {
          resolve({ fileId: null, file: null, files: [] });
          return;
        }
        getFile(id).then(
          (f) => resolve({ fileId: id, file: f, files: [f] }),
          () => resolve({ fileId: id, file: null, files: [] }),
        );
      },
      onError(err) {
        if (cancelled) {
          reject(abortError());
          return;
        }
        const res = 'originalResponse' in err ? err.originalResponse : null;
        if (!res) {
          reject(new ApiError({ status: 0, detail: 'The connection to the server was lost. Pick the file again to resume where it stopped.' }));
          return;
        }
        void errorFromParts(res.getStatus(), res.getBody() ?? '', (n) => res.getHeader(n)).then(reject, reject);
      },
    });
    upload
      .findPreviousUploads()
      .then((previous) => {
        const prev = previous.find((p) => p.uploadUrl && p.size === file.size);
        if (prev) {
          upload.resumeFromPreviousUpload(prev);
          events.onResuming?.();
        }
      })
      .catch(() => {
        // No storage (private mode): a fresh upload.
      })
      .finally(() => {
        if (!cancelled) upload.start();
      });
  });

  return {
    done,
    protocol: 'tus',
    abort(forget = true) {
      if (cancelled) return;
      cancelled = true;
      // true: DELETE the upload on the server (tus termination) and forget it here.
      upload.abort(forget).catch(() => {});
      // abort() calls no callback: settle here.
      rejectDone(abortError());
    },
  };
}
