// Shapes for the files tests: a File of the API, supported types, a fake XHR.

import type { JobFile, SupportedTypes } from '../lib/api/types';

export const JOB_ID = '6f0c0000-0000-4000-8000-000000000001';

let n = 0;
export function jobFile(over: Partial<JobFile> = {}): JobFile {
  n++;
  const id = over.id ?? `f${String(n).padStart(7, '0')}-0000-4000-8000-000000000000`;
  return {
    id,
    job_id: JOB_ID,
    filename: `file${n}.log`,
    original_filename: `file${n}.log`,
    content_type: 'text/plain; charset=utf-8',
    file_size: 2048,
    checksum: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    processed: false,
    processed_at: null,
    created_at: '2025-01-31T12:00:00Z',
    metadata: {},
    kind: 'log',
    archive_path: null,
    parent_id: null,
    encoding: 'utf-8',
    ...over,
  };
}

export const TYPES: SupportedTypes = {
  allowed_types: ['log', 'txt', 'json', 'xml', 'csv', 'yaml', 'yml'],
  max_file_size_mb: 100,
  max_request_mb: 500,
  archive_types: ['zip', 'gz', 'tar', 'tar.gz', 'tgz'],
  tus_endpoint: null,
};

/** An XMLHttpRequest the test answers by hand. */
export class FakeXHR {
  static all: FakeXHR[] = [];
  method = '';
  url = '';
  headers: Record<string, string> = {};
  body: FormData | null = null;
  status = 0;
  responseText = '';
  responseHeaders: Record<string, string> = {};
  aborted = false;
  upload: { onprogress: ((e: ProgressEvent) => void) | null } = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  ontimeout: (() => void) | null = null;
  onabort: (() => void) | null = null;

  constructor() {
    FakeXHR.all.push(this);
  }
  open(method: string, url: string) {
    this.method = method;
    this.url = url;
  }
  setRequestHeader(k: string, v: string) {
    this.headers[k] = v;
  }
  send(body: FormData) {
    this.body = body;
  }
  abort() {
    this.aborted = true;
    this.onabort?.();
  }
  getResponseHeader(name: string): string | null {
    const k = Object.keys(this.responseHeaders).find((h) => h.toLowerCase() === name.toLowerCase());
    return k ? this.responseHeaders[k]! : null;
  }
  /** The browser sent `loaded` of `total` bytes. */
  progress(loaded: number, total: number) {
    this.upload.onprogress?.({ loaded, total, lengthComputable: true } as ProgressEvent);
  }
  respond(status: number, body: unknown, headers: Record<string, string> = {}) {
    this.status = status;
    this.responseText = typeof body === 'string' ? body : JSON.stringify(body);
    this.responseHeaders = {
      'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json',
      ...headers,
    };
    this.onload?.();
  }
  fail() {
    this.onerror?.();
  }
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json', ...headers },
  });
}
