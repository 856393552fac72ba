// @vitest-environment jsdom
import { act, cleanup, configure, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { degradedStore } from '../lib/api/degraded';
import { session } from '../lib/session';
import { JOB_ID, jobFile, json } from '../test/files';
import { FileViewerPage, MAX_KEPT, PAGE } from './FileViewer';

// Windows of 500 rows are heavy for jsdom on a busy machine: generous waits.
configure({ asyncUtilTimeout: 10_000 });

const FILE_ID = 'f1000000-0000-4000-8000-000000000001';
const EVIL = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> & <b>bold</b>';

let total: number;
let fetchMock: ReturnType<typeof vi.fn>;
let scrolled: string[];

const LONG = 'é'.repeat(8191) + 'x'; // 16,383 bytes of UTF-8: what the server keeps of a longer line

function lineText(n: number): string {
  if (n === 5000) return EVIL;
  if (n === 5001) return LONG;
  return `2025-01-31T12:00:00Z INFO line ${n}`;
}

beforeEach(() => {
  degradedStore.reset();
  session.reset();
  total = 1_000_000;
  scrolled = [];
  // jsdom lays nothing out: rows are 20 px high, line n at n × 20 px in
  // the lines box, which is 400 px high; scrolling the box is recorded.
  HTMLElement.prototype.getBoundingClientRect = function (this: HTMLElement) {
    const m = /^L(\d+)$/.exec(this.id);
    const top = m ? Number(m[1]) * 20 : 0;
    return { top, bottom: top + 20, height: m ? 20 : 400, left: 0, right: 0, width: 0, x: 0, y: top, toJSON() {} } as DOMRect;
  };
  Object.defineProperty(HTMLElement.prototype, 'clientHeight', { configurable: true, get: () => 400 });
  HTMLElement.prototype.scrollTo = function (this: HTMLElement, opts?: ScrollToOptions | number) {
    const top = typeof opts === 'object' ? opts.top : undefined;
    scrolled.push(`${this.className}@${top}`);
  } as typeof HTMLElement.prototype.scrollTo;
  fetchMock = vi.fn(async (url: string) => {
    const u = new URL(url, 'http://x');
    if (u.pathname === `/api/files/${FILE_ID}`) {
      return json(200, jobFile({ id: FILE_ID, filename: 'huge.log', original_filename: 'huge.log', file_size: 2 * 1024 ** 3 }));
    }
    if (u.pathname === `/api/files/${FILE_ID}/lines`) {
      const from = Number(u.searchParams.get('from'));
      const to = Math.min(Number(u.searchParams.get('to')), total, from + 1999);
      const lines = [];
      for (let n = from; n <= to; n++) lines.push({ number: n, text: lineText(n) });
      return json(200, { file_id: FILE_ID, from, to, total_lines: total, lines, truncated: false });
    }
    return json(404, { title: 'Not Found', status: 404, detail: 'There is no such file.' });
  });
  vi.stubGlobal('fetch', fetchMock);
});

const realRect = HTMLElement.prototype.getBoundingClientRect;
const realClientHeight = Object.getOwnPropertyDescriptor(Element.prototype, 'clientHeight');

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  HTMLElement.prototype.getBoundingClientRect = realRect;
  delete (HTMLElement.prototype as { clientHeight?: number }).clientHeight;
  void realClientHeight;
});

function open(query = '') {
  window.history.replaceState(null, '', `/jobs/${JOB_ID}/files/${FILE_ID}${query}`);
  return render(<FileViewerPage jobId={JOB_ID} fileId={FILE_ID} />);
}

function lineRequests(): string[] {
  return fetchMock.mock.calls.map((c) => String(c[0])).filter((u) => u.includes('/lines'));
}

// Role queries over thousands of rows are slow in jsdom: plain selectors here.
function rows(): HTMLElement[] {
  return [...document.querySelectorAll<HTMLElement>('.viewer tbody tr')];
}

function num(row: HTMLElement | undefined): string {
  return row?.querySelector('th')?.textContent ?? '';
}

/** The highlighted row, once there is one. */
async function current(id?: string): Promise<HTMLElement> {
  let el: HTMLElement | null = null;
  await waitFor(() => {
    el = document.querySelector<HTMLElement>('.viewer tr[aria-current="location"]');
    expect(el).not.toBeNull();
    if (id) expect(el!.id).toBe(id);
  });
  return el!;
}

describe('FileViewerPage', { timeout: 60_000 }, () => {
  it('opens at ?line=N: loads a window around it, scrolls to it and highlights it', async () => {
    open('?line=5000');
    const target = await current('L5000');
    expect(target.className).toBe('line-target');
    expect(lineRequests()).toEqual([`/api/files/${FILE_ID}/lines?from=4900&to=${4900 + PAGE - 1}`]);
    expect(screen.getByTestId('viewer-status').textContent).toBe('Lines 4,900–5,399 of 1,000,000');
    // The box (not the page) scrolled so that line 5000 is in its middle.
    expect(scrolled).toContain(`viewer viewer-wrap@${5000 * 20 - (400 - 20) / 2}`);
    // Only the window is in the page, not the file.
    expect(rows()).toHaveLength(PAGE);
    expect(num(rows()[0])).toBe('4900');
    expect(document.querySelector('[role="region"][aria-label="Lines of huge.log"]')).not.toBeNull();
    expect(document.querySelector('h1')?.textContent).toBe('huge.log');
    expect(screen.getByText('Download (2.0 GB)').getAttribute('href')).toBe(`/api/files/${FILE_ID}/content`);
  });

  it('shows a line holding HTML as text, never as markup', async () => {
    open('?line=5000');
    const target = await current('L5000');
    const cell = target.querySelector('td')!;
    expect(cell.textContent).toBe(EVIL);
    expect(cell.children).toHaveLength(0);
    expect(document.querySelector('main script, .viewer script, .viewer img, .viewer b')).toBeNull();
    expect((window as { __pwned?: number }).__pwned).toBeUndefined();
  });

  it('marks a line the server cut at 16 KB, and only that one', async () => {
    open('?line=5000');
    await current('L5000');
    expect(document.querySelectorAll('.line-cut')).toHaveLength(1);
    expect(document.querySelector('#L5001 .line-cut')).not.toBeNull();
    expect(screen.getByText(/Lines longer than 16 KB are cut here/)).toBeTruthy();
  });

  it('loads more lines down and up, and keeps at most MAX_KEPT in the page', async () => {
    open('?line=5000');
    await current('L5000');
    fireEvent.click(screen.getByText(`Show ${PAGE} more lines`));
    await waitFor(() => expect(rows()).toHaveLength(2 * PAGE));
    expect(lineRequests()[1]).toBe(`/api/files/${FILE_ID}/lines?from=5400&to=5899`);
    fireEvent.click(screen.getByText(`Show ${PAGE} earlier lines`));
    await waitFor(() => expect(rows()).toHaveLength(3 * PAGE));
    expect(lineRequests()[2]).toBe(`/api/files/${FILE_ID}/lines?from=4400&to=4899`);
    expect(num(rows()[0])).toBe('4400');

    for (let i = 0; i < 5; i++) {
      const more = await screen.findByText(`Show ${PAGE} more lines`);
      await waitFor(() => expect((more as HTMLButtonElement).disabled).toBe(false));
      fireEvent.click(more);
      await waitFor(() => expect(lineRequests()).toHaveLength(4 + i));
    }
    await waitFor(() => expect(num(rows().at(-1))).toBe('8399'));
    expect(rows()).toHaveLength(MAX_KEPT);
    expect(num(rows()[0])).toBe(String(8399 - MAX_KEPT + 1));
  });

  it('jumps to a line from the "Go to line" box, through the address', async () => {
    open();
    await screen.findByText('Lines 1–500 of 1,000,000');
    expect(screen.queryByRole('button', { name: /earlier lines/ })).toBeNull();
    fireEvent.change(screen.getByLabelText('Go to line'), { target: { value: '123456' } });
    fireEvent.click(screen.getByRole('button', { name: 'Go' }));
    expect(window.location.search).toBe('?line=123456');
    await current('L123456');
    expect(lineRequests().at(-1)).toBe(`/api/files/${FILE_ID}/lines?from=123356&to=123855`);

    // A line already shown: no new request, just the highlight.
    const before = lineRequests().length;
    fireEvent.change(screen.getByLabelText('Go to line'), { target: { value: '123400' } });
    fireEvent.click(screen.getByRole('button', { name: 'Go' }));
    await current('L123400');
    expect(lineRequests()).toHaveLength(before);
    expect(scrolled.at(-1)).toBe(`viewer viewer-wrap@${123400 * 20 - 190}`);
  });

  it('marks a line clicked by its number, in the address', async () => {
    open('?line=10');
    await current('L10');
    await act(async () => {
      fireEvent.click(document.querySelector<HTMLAnchorElement>('#L12 a[aria-label="Line 12"]')!);
    });
    expect(window.location.search).toBe('?line=12');
    await current('L12');
  });

  it('shows the end of the file for a line past it, and says so', async () => {
    total = 1200;
    open('?line=999999');
    await screen.findByText(/Lines 701–1,200 of 1,200 · the file has 1,200 lines: line 999,999 is past its end/);
  });

  it('says when the file does not exist (or may not be seen)', async () => {
    window.history.replaceState(null, '', `/jobs/${JOB_ID}/files/nope`);
    render(<FileViewerPage jobId={JOB_ID} fileId="nope" />);
    expect(await screen.findByRole('heading', { level: 1, name: 'File not found' })).toBeTruthy();
  });
});

describe('FileViewerPage for an archive', () => {
  it('points to its members instead of showing lines', async () => {
    fetchMock.mockImplementation(async (url: string) => {
      if (url === `/api/files/${FILE_ID}`) {
        return json(200, jobFile({ id: FILE_ID, filename: 'logs.zip', original_filename: 'logs.zip', kind: 'archive', metadata: { members: 3 } }));
      }
      return json(404, { title: 'Not Found', status: 404, detail: 'no lines' });
    });
    open();
    expect(await screen.findByText(/This is an archive: it is not shown line by line\. Its 3 members are listed on/)).toBeTruthy();
    expect(screen.getByRole('link', { name: 'the job page' }).getAttribute('href')).toBe(`/jobs/${JOB_ID}`);
    expect(screen.queryByRole('alert')).toBeNull();
  });
});
