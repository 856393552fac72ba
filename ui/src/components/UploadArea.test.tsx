// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import type { HttpRequest, HttpResponse, HttpStack, PreviousUpload, UrlStorage } from 'tus-js-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { degradedStore } from '../lib/api/degraded';
import type { UploadDeps } from '../lib/api/files';
import type { Job, SupportedTypes } from '../lib/api/types';
import { session } from '../lib/session';
import { FakeXHR, JOB_ID, jobFile, json, TYPES } from '../test/files';
import { UploadArea } from './UploadArea';

const JOB: Job = {
  id: JOB_ID,
  job_type: 'log-analysis',
  status: 'pending',
  user_id: 'ana',
  owner_id: null,
  provider: 'p',
  model: 'm',
  model_config: null,
  input_manifest: {},
  priority: 3,
  retry_count: 0,
  max_retries: 3,
  attempt: 0,
  created_at: '2025-01-31T12:00:00Z',
  updated_at: '2025-01-31T12:00:00Z',
  started_at: null,
  completed_at: null,
  duration_seconds: null,
  result_data: null,
  outputs: null,
  ticketing: null,
  source: null,
  error_message: null,
  files_count: 0,
  ready: false,
  ready_at: null,
};

let types: SupportedTypes;
let fetchMock: ReturnType<typeof vi.fn>;
let startAnswer: () => Response;

beforeEach(() => {
  degradedStore.reset();
  session.reset();
  FakeXHR.all = [];
  types = { ...TYPES };
  startAnswer = () => json(202, { ...JOB, ready: true, ready_at: '2025-01-31T12:05:00Z' });
  fetchMock = vi.fn(async (url: string, init: RequestInit = {}) => {
    const path = url.split('?')[0]!;
    if (path === '/api/files/supported-types') return json(200, types);
    if (path === `/api/jobs/${JOB_ID}/start` && init.method === 'POST') return startAnswer();
    return json(404, { title: 'Not Found', status: 404, detail: 'no such route in this test' });
  });
  vi.stubGlobal('fetch', fetchMock);
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

function file(name: string, size: number, type = 'text/plain'): File {
  return new File([new Uint8Array(size)], name, { type });
}

function setup(opts: { job?: Job; fileCount?: number; deps?: UploadDeps } = {}) {
  const onUploaded = vi.fn();
  const onStarted = vi.fn();
  const deps: UploadDeps = opts.deps ?? { xhr: () => new FakeXHR() as unknown as XMLHttpRequest };
  const utils = render(
    <UploadArea
      job={opts.job ?? JOB}
      jobId={JOB_ID}
      fileCount={opts.fileCount ?? 0}
      onUploaded={onUploaded}
      onStarted={onStarted}
      deps={deps}
    />,
  );
  return { ...utils, onUploaded, onStarted };
}

async function pick(...files: File[]) {
  const input = await screen.findByLabelText('Choose files to upload');
  await waitFor(() => expect((input as HTMLInputElement).disabled).toBe(false));
  fireEvent.change(input, { target: { files } });
}

function row(name: string) {
  return within(screen.getByRole('list', { name: 'Uploads' })).getByRole('listitem', { name });
}

describe('UploadArea (multipart, no tus endpoint)', () => {
  it('shows the accepted types and limit before anything is picked', async () => {
    setup();
    expect(await screen.findByText(/Accepted: \.log, \.txt.*archives: \.zip.*Up to 100 MB per file/)).toBeTruthy();
    const input = screen.getByLabelText('Choose files to upload');
    expect(input.getAttribute('accept')).toContain('.tar.gz');
    expect(input.hasAttribute('multiple')).toBe(true);
  });

  it('uploads each file with its own progress bar driven by upload progress', async () => {
    const { onUploaded } = setup();
    await pick(file('app.log', 1000), file('logs.zip', 4000, 'application/zip'));
    await waitFor(() => expect(FakeXHR.all).toHaveLength(2));
    const [a, z] = FakeXHR.all as [FakeXHR, FakeXHR];
    expect(a.method).toBe('POST');
    expect(a.url).toBe('/api/files/upload');
    expect(a.body?.get('job_id')).toBe(JOB_ID);
    expect((a.body?.get('file') as File).name).toBe('app.log');
    expect(a.headers['Idempotency-Key']).toBeTruthy();

    const barA = within(row('app.log')).getByRole('progressbar', { name: 'Upload of app.log' });
    expect(barA.getAttribute('aria-valuenow')).toBe('0');
    act(() => a.progress(250, 1000));
    expect(barA.getAttribute('aria-valuenow')).toBe('25');
    expect(barA.getAttribute('aria-valuetext')).toBe('25 % (250 B of 1000 B)');
    // Screen readers hear the change of state, not every percent.
    const live = row('app.log').querySelector('[aria-live]')!;
    expect(live.textContent).toBe('Uploading…');
    expect(within(row('app.log')).getByText('25 % · 250 B of 1000 B').getAttribute('aria-hidden')).toBe('true');
    act(() => z.progress(2000, 4000));
    expect(within(row('logs.zip')).getByRole('progressbar').getAttribute('aria-valuenow')).toBe('50');
    expect(barA.getAttribute('aria-valuenow')).toBe('25');

    act(() => a.respond(201, jobFile({ id: 'new-1', filename: 'app.log' })));
    await within(row('app.log')).findByText('Uploaded.');
    expect(live.textContent).toBe('Uploaded.');
    expect(barA.getAttribute('aria-valuenow')).toBe('100');
    expect(within(row('app.log')).getByRole('link', { name: 'View app.log' }).getAttribute('href')).toBe(
      `/jobs/${JOB_ID}/files/new-1`,
    );
    expect(onUploaded).toHaveBeenCalledTimes(1);

    act(() =>
      z.respond(201, {
        files: [
          jobFile({ id: 'zip', kind: 'archive' }),
          jobFile({ parent_id: 'zip', archive_path: 'a.log' }),
          jobFile({ parent_id: 'zip', archive_path: 'b.log' }),
        ],
      }),
    );
    await within(row('logs.zip')).findByText('Uploaded; 2 members unpacked.');
    expect(onUploaded).toHaveBeenCalledTimes(2);
  });

  it("sends the session's access token, and renews it once after a 401", async () => {
    let token = 'old';
    const renew = vi.fn(async () => (token = 'new'));
    setup({ deps: { xhr: () => new FakeXHR() as unknown as XMLHttpRequest, tokens: { token: () => token, renew } } });
    await pick(file('a.log', 10));
    await waitFor(() => expect(FakeXHR.all).toHaveLength(1));
    expect(FakeXHR.all[0]!.headers['Authorization']).toBe('Bearer old');
    act(() => FakeXHR.all[0]!.respond(401, { title: 'Unauthorized', status: 401, detail: 'Token expired.' }));
    await waitFor(() => expect(FakeXHR.all).toHaveLength(2));
    expect(renew).toHaveBeenCalledWith('old');
    expect(FakeXHR.all[1]!.headers['Authorization']).toBe('Bearer new');
    // The same Idempotency-Key: it is the same upload.
    expect(FakeXHR.all[1]!.headers['Idempotency-Key']).toBe(FakeXHR.all[0]!.headers['Idempotency-Key']);
    act(() => FakeXHR.all[1]!.respond(201, jobFile()));
    await within(row('a.log')).findByText('Uploaded.');
  });

  it('sends two files at a time and starts the next when one finishes', async () => {
    setup();
    await pick(file('a.log', 10), file('b.log', 10), file('c.log', 10));
    await waitFor(() => expect(FakeXHR.all).toHaveLength(2));
    expect(within(row('c.log')).getByText('Waiting…')).toBeTruthy();
    act(() => FakeXHR.all[0]!.respond(201, jobFile()));
    await waitFor(() => expect(FakeXHR.all).toHaveLength(3));
    expect((FakeXHR.all[2]!.body?.get('file') as File).name).toBe('c.log');
  });

  it('refuses before uploading what the server would refuse, with the reason', async () => {
    setup();
    await pick(file('setup.exe', 10), file('empty.log', 0), file('huge.log', 100 * 1024 * 1024 + 1), file('ok.log', 5));
    await waitFor(() => expect(FakeXHR.all).toHaveLength(1));
    expect((FakeXHR.all[0]!.body?.get('file') as File).name).toBe('ok.log');
    expect(within(row('setup.exe')).getByRole('alert').textContent).toMatch(/^\.exe files are not accepted\. Accepted: \.log/);
    expect(within(row('setup.exe')).getByText('Not uploaded.')).toBeTruthy();
    expect(within(row('empty.log')).getByRole('alert').textContent).toMatch(/empty/);
    expect(within(row('huge.log')).getByRole('alert').textContent).toMatch(/the limit is 100 MB per file/);
    expect(within(row('huge.log')).queryByRole('progressbar')).toBeNull();
  });

  it("shows the server's refusal for that file from its problem+json", async () => {
    setup();
    await pick(file('binary.log', 10));
    await waitFor(() => expect(FakeXHR.all).toHaveLength(1));
    act(() =>
      FakeXHR.all[0]!.respond(400, {
        type: 'about:blank',
        title: 'Bad Request',
        status: 400,
        detail: 'The upload was refused.',
        errors: [{ field: 'file', filename: 'binary.log', detail: 'binary.log is not text: it holds NUL bytes (a binary file).' }],
      }),
    );
    const r = row('binary.log');
    expect((await within(r).findByRole('alert')).textContent).toBe('binary.log is not text: it holds NUL bytes (a binary file).');
    expect(within(r).getByText('Refused by the server.')).toBeTruthy();
    expect(within(r).queryByRole('button', { name: /Try uploading/ })).toBeNull();
  });

  it('says "already in this job" on 409 and links the existing file', async () => {
    const { onUploaded } = setup();
    await pick(file('again.log', 10));
    await waitFor(() => expect(FakeXHR.all).toHaveLength(1));
    const existing = jobFile({ id: 'old-1', original_filename: 'first-time.log', filename: 'first-time.log' });
    act(() =>
      FakeXHR.all[0]!.respond(409, {
        title: 'Conflict',
        status: 409,
        detail: 'The same content is already in this job.',
        file: existing,
      }),
    );
    const alert = await within(row('again.log')).findByRole('alert');
    expect(alert.textContent).toMatch(/^Already in this job: first-time\.log \(uploaded .+\)\.$/);
    expect(within(alert).getByRole('link', { name: 'first-time.log' }).getAttribute('href')).toBe(`/jobs/${JOB_ID}/files/old-1`);
    expect(onUploaded).toHaveBeenCalled();
  });

  it('shows 503 with its Retry-After and offers to try again after a dropped connection', async () => {
    setup();
    await pick(file('a.log', 10));
    await waitFor(() => expect(FakeXHR.all).toHaveLength(1));
    act(() =>
      FakeXHR.all[0]!.respond(503, { title: 'Service Unavailable', status: 503, detail: 'Storage is unavailable.' }, { 'Retry-After': '7' }),
    );
    expect((await within(row('a.log')).findByRole('alert')).textContent).toBe('Storage is unavailable. Try again in about 7 s.');
    fireEvent.click(within(row('a.log')).getByRole('button', { name: 'Try uploading a.log again' }));
    await waitFor(() => expect(FakeXHR.all).toHaveLength(2));
    act(() => FakeXHR.all[1]!.fail());
    expect((await within(row('a.log')).findByRole('alert')).textContent).toMatch(/connection to the server was lost/);
  });

  it('cancels one upload and leaves the other going', async () => {
    setup();
    await pick(file('a.log', 100), file('b.log', 100));
    await waitFor(() => expect(FakeXHR.all).toHaveLength(2));
    act(() => FakeXHR.all[0]!.progress(40, 100));
    fireEvent.click(screen.getByRole('button', { name: 'Cancel upload of a.log' }));
    expect(FakeXHR.all[0]!.aborted).toBe(true);
    await within(row('a.log')).findByText('Cancelled.');
    expect(FakeXHR.all[1]!.aborted).toBe(false);
    expect(within(row('b.log')).getByRole('button', { name: 'Cancel upload of b.log' })).toBeTruthy();
  });

  it('takes dropped files and opens the picker from the keyboard', async () => {
    setup();
    const zone = await screen.findByRole('button', { name: /Drop files here/ });
    await waitFor(() => expect(zone.getAttribute('aria-disabled')).toBeNull());
    expect(zone.tabIndex).toBe(0);
    const input = screen.getByLabelText('Choose files to upload') as HTMLInputElement;
    const click = vi.spyOn(input, 'click').mockImplementation(() => {});
    fireEvent.keyDown(zone, { key: 'Enter' });
    fireEvent.keyDown(zone, { key: ' ' });
    expect(click).toHaveBeenCalledTimes(2);
    fireEvent.drop(zone, { dataTransfer: { files: [file('dropped.log', 10)] } });
    await waitFor(() => expect(FakeXHR.all).toHaveLength(1));
    expect((FakeXHR.all[0]!.body?.get('file') as File).name).toBe('dropped.log');
  });

  it('takes no files for a finished job', async () => {
    setup({ job: { ...JOB, status: 'completed' } });
    expect(await screen.findByText(/This job is completed: no more files can be added/)).toBeTruthy();
    const zone = screen.getByRole('button', { name: /Drop files here/ });
    expect(zone.getAttribute('aria-disabled')).toBe('true');
    fireEvent.drop(zone, { dataTransfer: { files: [file('late.log', 10)] } });
    expect(screen.queryByRole('list', { name: 'Uploads' })).toBeNull();
  });
});

describe('Start analysis', () => {
  it('is disabled with the reason while the job has no file', async () => {
    setup({ fileCount: 0 });
    const btn = screen.getByRole('button', { name: 'Start analysis' }) as HTMLButtonElement;
    expect(btn.disabled).toBe(true);
    const reason = screen.getByText('Upload at least one file first.');
    expect(btn.getAttribute('aria-describedby')).toContain(reason.id);
  });

  it('is disabled while files are still going up, then starts the job', async () => {
    const { onStarted } = setup({ fileCount: 1 });
    await pick(file('a.log', 10));
    await waitFor(() => expect(FakeXHR.all).toHaveLength(1));
    const btn = screen.getByRole('button', { name: 'Start analysis' }) as HTMLButtonElement;
    expect(btn.disabled).toBe(true);
    expect(screen.getByText('Wait for the uploads to finish.')).toBeTruthy();
    act(() => FakeXHR.all[0]!.respond(201, jobFile()));
    await waitFor(() => expect(btn.disabled).toBe(false));

    fireEvent.click(btn);
    await waitFor(() => expect(onStarted).toHaveBeenCalled());
    const call = fetchMock.mock.calls.find((c) => String(c[0]).endsWith('/start'))!;
    expect(call[0]).toBe(`/api/jobs/${JOB_ID}/start`);
    expect((call[1] as RequestInit).method).toBe('POST');
    expect(((call[1] as RequestInit).headers as Record<string, string>)['Idempotency-Key']).toBeTruthy();
    expect(onStarted.mock.calls[0]![0].ready).toBe(true);
  });

  it('says when the analysis was already requested', () => {
    setup({ fileCount: 2, job: { ...JOB, ready: true, ready_at: '2025-01-31T12:05:00Z' } });
    expect((screen.getByRole('button', { name: 'Start analysis' }) as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByText(/^The analysis was requested at /)).toBeTruthy();
  });

  it("shows the server's refusal", async () => {
    startAnswer = () => json(409, { title: 'Conflict', status: 409, detail: 'The job has no file yet: upload one first.' });
    setup({ fileCount: 1 });
    fireEvent.click(screen.getByRole('button', { name: 'Start analysis' }));
    expect((await screen.findByRole('alert')).textContent).toBe('The job has no file yet: upload one first.');
  });
});

// ---------------------------------------------------------------------------
// tus: a fake server that speaks the protocol's core (creation, HEAD, PATCH)

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string>;
  bytes: number;
}

class FakeTusServer implements HttpStack {
  size = 0;
  offset = 0;
  /** Drop the connection once this many bytes have arrived. */
  dropAt: number | null = null;
  /** The final PATCH answers this instead of 204. */
  refusal: { status: number; body: unknown } | null = null;
  /** PATCH takes half the bytes, then waits until the request is aborted. */
  hang = false;
  seen: Seen[] = [];
  getName() {
    return 'fake-tus';
  }
  createRequest(method: string, url: string): HttpRequest {
    const server = this; // eslint-disable-line @typescript-eslint/no-this-alias
    const headers: Record<string, string> = {};
    let onProgress: (n: number) => void = () => {};
    let aborted: () => void = () => {};
    const abortedP = new Promise<void>((r) => (aborted = r));
    const res = (status: number, h: Record<string, string> = {}, body = ''): HttpResponse => ({
      getStatus: () => status,
      getHeader: (n: string) => ({ 'Tus-Resumable': '1.0.0', ...h })[n],
      getBody: () => body,
      getUnderlyingObject: () => null,
    });
    return {
      getMethod: () => method,
      getURL: () => url,
      setHeader: (k, v) => {
        headers[k] = v;
      },
      getHeader: (k) => headers[k],
      setProgressHandler: (h) => {
        onProgress = h;
      },
      abort: async () => aborted(),
      getUnderlyingObject: () => null,
      async send(body?: Blob | null) {
        const bytes = body ? body.size : 0;
        server.seen.push({ method, url, headers: { ...headers }, bytes });
        await Promise.resolve();
        if (method === 'POST') {
          server.size = Number(headers['Upload-Length']);
          server.offset = 0;
          return res(201, { Location: 'http://localhost/api/files/tus/up-1' });
        }
        if (method === 'HEAD') {
          return res(200, { 'Upload-Offset': String(server.offset), 'Upload-Length': String(server.size), 'Cache-Control': 'no-store' });
        }
        if (method === 'DELETE') {
          server.offset = 0;
          return res(204);
        }
        if (method === 'PATCH' && server.hang) {
          onProgress(Math.floor(bytes / 2));
          server.offset += Math.floor(bytes / 2);
          await abortedP;
          throw new Error('aborted');
        }
        if (method === 'PATCH') {
          const start = Number(headers['Upload-Offset']);
          if (start !== server.offset) return res(409, {}, 'offset mismatch');
          if (server.dropAt !== null && start + bytes > server.dropAt) {
            const got = server.dropAt - start;
            onProgress(got);
            server.offset = server.dropAt;
            server.dropAt = null;
            throw new Error('network connection lost');
          }
          onProgress(bytes);
          server.offset += bytes;
          if (server.offset === server.size && server.refusal) {
            return res(server.refusal.status, { 'Content-Type': 'application/problem+json' }, JSON.stringify(server.refusal.body));
          }
          const done: Record<string, string> = server.offset === server.size ? { 'Upload-File-Id': 'tus-file-1' } : {};
          return res(204, { 'Upload-Offset': String(server.offset), ...done });
        }
        return res(405);
      },
    };
  }
}

class MemoryUrlStorage implements UrlStorage {
  items = new Map<string, { fp: string; up: PreviousUpload }>();
  n = 0;
  async findAllUploads() {
    return [...this.items.values()].map((i) => i.up);
  }
  async findUploadsByFingerprint(fp: string) {
    return [...this.items.values()].filter((i) => i.fp === fp).map((i) => i.up);
  }
  async removeUpload(key: string) {
    this.items.delete(key);
  }
  async addUpload(fp: string, up: PreviousUpload) {
    const key = `k${++this.n}`;
    this.items.set(key, { fp, up: { ...up, urlStorageKey: key } });
    return key;
  }
}

describe('UploadArea (tus)', () => {
  it('resumes from what the server has after the connection drops mid-upload', async () => {
    types = { ...TYPES, tus_endpoint: '/api/files/tus/' };
    const server = new FakeTusServer();
    server.dropAt = 600;
    const storage = new MemoryUrlStorage();
    const { onUploaded } = setup({ deps: { httpStack: server, urlStorage: storage, retryDelays: [0, 0], chunkSize: 1000 } });
    await pick(file('big.log', 1000));
    await within(row('big.log')).findByText('Uploaded.');
    expect(within(row('big.log')).getByRole('link', { name: 'View big.log' }).getAttribute('href')).toBe(
      `/jobs/${JOB_ID}/files/tus-file-1`,
    );
    expect(onUploaded).toHaveBeenCalledTimes(1);

    const seen = server.seen.map((s) => `${s.method} ${s.headers['Upload-Offset'] ?? ''}`.trim());
    // Created, sent until the drop, asked where it stopped, sent the rest only.
    expect(seen).toEqual(['POST', 'PATCH 0', 'HEAD', 'PATCH 600']);
    expect(server.seen[3]!.bytes).toBe(400);
    const meta = server.seen[0]!.headers['Upload-Metadata']!;
    const decoded = Object.fromEntries(meta.split(',').map((kv) => kv.split(' ')).map(([k, v]) => [k, atob(v!)]));
    expect(decoded).toMatchObject({ job_id: JOB_ID, filename: 'big.log' });
    // Finished uploads are forgotten.
    expect(storage.items.size).toBe(0);
  });

  it('resumes an unfinished upload of the same file to the same job (another tab, a reload)', async () => {
    types = { ...TYPES, tus_endpoint: '/api/files/tus/' };
    const server = new FakeTusServer();
    server.size = 1000;
    server.offset = 700;
    const storage = new MemoryUrlStorage();
    const f = file('again.log', 1000);
    const fp = ['rca-tus', JOB_ID, f.name, f.type, f.size, f.lastModified, 'anon', 'http://localhost:3000/api/files/tus/'].join('|');
    await storage.addUpload(fp, {
      size: 1000,
      metadata: {},
      creationTime: new Date().toString(),
      urlStorageKey: '',
      uploadUrl: 'http://localhost/api/files/tus/up-1',
      parallelUploadUrls: null,
    });
    setup({ deps: { httpStack: server, urlStorage: storage, retryDelays: [0] } });
    await pick(f);
    await within(row('again.log')).findByText('Uploaded.');
    expect(server.seen.map((s) => s.method)).toEqual(['HEAD', 'PATCH']);
    expect(server.seen[1]!.bytes).toBe(300);
  });

  it('says how many members an archive had, from the record the final PATCH names', async () => {
    types = { ...TYPES, tus_endpoint: '/api/files/tus/' };
    const inner = fetchMock.getMockImplementation() as (url: string, init?: RequestInit) => Promise<Response>;
    fetchMock.mockImplementation(async (url: string, init?: RequestInit) =>
      url === '/api/files/tus-file-1'
        ? json(200, jobFile({ id: 'tus-file-1', kind: 'archive', filename: 'logs.zip', metadata: { members: 2, skipped: [] } }))
        : inner(url, init),
    );
    setup({ deps: { httpStack: new FakeTusServer(), urlStorage: new MemoryUrlStorage(), retryDelays: [0] } });
    await pick(file('logs.zip', 300, 'application/zip'));
    await within(row('logs.zip')).findByText('Uploaded; 2 members unpacked.');
    // An archive has no viewer of its own.
    expect(within(row('logs.zip')).queryByRole('link')).toBeNull();
  });

  it('cancels a tus upload mid-way and asks the server to drop what it has', async () => {
    types = { ...TYPES, tus_endpoint: '/api/files/tus/' };
    const server = new FakeTusServer();
    server.hang = true;
    const storage = new MemoryUrlStorage();
    const { onUploaded } = setup({ deps: { httpStack: server, urlStorage: storage, retryDelays: [0] } });
    await pick(file('slow.log', 1000));
    const bar = await within(row('slow.log')).findByRole('progressbar');
    await waitFor(() => expect(bar.getAttribute('aria-valuenow')).toBe('50'));
    fireEvent.click(screen.getByRole('button', { name: 'Cancel upload of slow.log' }));
    await within(row('slow.log')).findByText('Cancelled.');
    await waitFor(() => expect(server.seen.map((x) => x.method)).toEqual(['POST', 'PATCH', 'DELETE']));
    await waitFor(() => expect(storage.items.size).toBe(0));
    expect(onUploaded).not.toHaveBeenCalled();
  });

  it('shows the refusal at completion (409 with the existing file) without retrying it', async () => {
    types = { ...TYPES, tus_endpoint: '/api/files/tus/' };
    const server = new FakeTusServer();
    server.refusal = { status: 409, body: { title: 'Conflict', status: 409, detail: 'Already there.', file: jobFile({ id: 'old-9', filename: 'x.log', original_filename: 'x.log' }) } };
    setup({ deps: { httpStack: server, urlStorage: new MemoryUrlStorage(), retryDelays: [0, 0, 0] } });
    await pick(file('dup.log', 50));
    const alert = await within(row('dup.log')).findByRole('alert');
    expect(within(alert).getByRole('link', { name: 'x.log' }).getAttribute('href')).toBe(`/jobs/${JOB_ID}/files/old-9`);
    expect(server.seen.filter((s) => s.method === 'PATCH')).toHaveLength(1);
  });
});
