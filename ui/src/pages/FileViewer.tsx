import { useCallback, useEffect, useLayoutEffect, useRef, useState, type FormEvent, type MouseEvent } from 'react';
import { ErrorMessage } from '../components/ErrorMessage';
import { ApiError, appTokens } from '../lib/api/http';
import { fileContentUrl, fileLines, getFile } from '../lib/api/files';
import type { FileLine } from '../lib/api/types';
import { displayName } from '../lib/fileRules';
import { formatBytes, shortId } from '../lib/format';
import { useAsync } from '../lib/useAsync';
import { Link, navigate, useLocation, withQuery } from '../router';

/** Lines per request (the server sends at most 2,000). */
export const PAGE = 500;
/** Lines kept in the page at most: scrolling on drops the far end, so a 2 GB file costs no more than a small one. */
export const MAX_KEPT = 3000;
/** Lines shown above the line asked for. */
const CONTEXT_ABOVE = 100;
/** How close to an edge (px) scrolling loads the next lines. */
const EDGE_PX = 300;

/** The server cuts a line at 16 KiB of UTF-8. */
export const MAX_LINE_BYTES = 16 * 1024;
const utf8 = new TextEncoder();

/**
 * Whether the server cut this line (its `truncated` flag also says a
 * window was cut short, so the line's own length tells): a line that fills
 * the limit to within one character.
 */
export function isCutLine(text: string): boolean {
  return text.length >= MAX_LINE_BYTES / 4 && utf8.encode(text).length > MAX_LINE_BYTES - 4;
}

interface LinesState {
  lines: FileLine[];
  total: number;
}

/**
 * Scrolls the lines box (only it: not the page, as scrollIntoView would)
 * so that `row` is in its middle.
 */
export function centerRow(box: HTMLElement, row: HTMLElement): void {
  const b = box.getBoundingClientRect();
  const r = row.getBoundingClientRect();
  const top = box.scrollTop + (r.top - b.top) - (box.clientHeight - r.height) / 2;
  box.scrollTo({ top: Math.max(0, top) });
}

/** The first line in view in the box, and how far below the box's top it is. */
export function topLine(box: HTMLElement): { line: number; offset: number } | null {
  const rows = box.querySelectorAll<HTMLElement>('tbody tr');
  const top = box.getBoundingClientRect().top;
  let lo = 0;
  let hi = rows.length - 1;
  let found = -1;
  // Rows are in order: the first whose bottom is below the box's top.
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (rows[mid]!.getBoundingClientRect().bottom > top) {
      found = mid;
      hi = mid - 1;
    } else lo = mid + 1;
  }
  if (found < 0) return null;
  const row = rows[found]!;
  const line = Number(row.id.slice(1));
  return Number.isFinite(line) ? { line, offset: row.getBoundingClientRect().top - top } : null;
}

function toApiError(err: unknown): ApiError {
  return err instanceof ApiError ? err : new ApiError({ status: 0, detail: err instanceof Error ? err.message : String(err) });
}

/** The line asked for in the address (?line=N), or null. */
export function parseLineParam(v: string | null): number | null {
  if (!v || !/^\d{1,12}$/.test(v)) return null;
  const n = Number(v);
  return n >= 1 ? n : null;
}

/**
 * A download that carries the access token: a plain link cannot send the
 * Authorization header, so when signed in the bytes are fetched and handed
 * to the browser as a blob.
 */
async function downloadWithToken(url: string, name: string, token: string): Promise<void> {
  let res = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
  if (res.status === 401) {
    const fresh = await appTokens.renew(token);
    if (fresh) res = await fetch(url, { headers: { Authorization: `Bearer ${fresh}` } });
  }
  if (!res.ok) throw new ApiError({ status: res.status, detail: `The download was refused (${res.status}).` });
  const blob = await res.blob();
  const href = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = href;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
}

export function FileViewerPage({ jobId, fileId }: { jobId: string; fileId: string }) {
  const { search, pathname } = useLocation();
  const target = parseLineParam(search.get('line'));
  const meta = useAsync(`file:${fileId}`, (signal) => getFile(fileId, signal));
  const [state, setState] = useState<LinesState | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState<'' | 'initial' | 'up' | 'down'>('initial');
  const [wrap, setWrap] = useState(true);
  const [goto, setGoto] = useState(target ? String(target) : '');
  const [downloadError, setDownloadError] = useState<ApiError | null>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const busyRef = useRef(busy);
  busyRef.current = busy;
  const stateRef = useRef(state);
  stateRef.current = state;
  /** Lines were added above or dropped from the top: keep this line where it was on screen. */
  const anchor = useRef<{ line: number; offset: number } | null>(null);
  /** Scroll to this line once it is rendered. */
  const scrollTo = useRef<number | null>(target);
  const generation = useRef(0);
  const clicked = useRef(false);

  const first = state?.lines[0]?.number ?? 0;
  const last = state?.lines[state.lines.length - 1]?.number ?? 0;
  const canUp = state !== null && first > 1;
  const canDown = state !== null && last < state.total;

  const loadAround = useCallback(
    async (line: number) => {
      const gen = ++generation.current;
      setBusy('initial');
      setError(null);
      const from = Math.max(1, line - CONTEXT_ABOVE);
      try {
        let w = await fileLines(fileId, from, from + PAGE - 1);
        // Past the end: show the end.
        if (w.lines.length === 0 && w.total_lines > 0 && from > w.total_lines) {
          const f = Math.max(1, w.total_lines - PAGE + 1);
          w = await fileLines(fileId, f, w.total_lines);
        }
        if (gen !== generation.current) return;
        setState({ lines: w.lines, total: w.total_lines });
      } catch (err) {
        if (gen !== generation.current) return;
        setError(toApiError(err));
      } finally {
        if (gen === generation.current) setBusy('');
      }
    },
    [fileId],
  );

  // A new target line: scroll to it when it is loaded, else load around it.
  useEffect(() => {
    const line = target ?? 1;
    scrollTo.current = target;
    const s = stateRef.current;
    const f = s?.lines[0]?.number ?? 0;
    const l = s?.lines[s.lines.length - 1]?.number ?? 0;
    if (s && line >= f && line <= l) {
      // A click on a line number marks it where it is; a jump centres it.
      if (clicked.current) scrollTo.current = null;
      else scrollToLine(line);
      clicked.current = false;
      return;
    }
    clicked.current = false;
    void loadAround(line);
  }, [target, loadAround]);

  useEffect(() => {
    setGoto(target ? String(target) : '');
  }, [target]);

  function scrollToLine(line: number) {
    const el = scroller.current;
    const row = el?.querySelector<HTMLElement>(`#L${line}`);
    if (!el || !row) return false;
    centerRow(el, row);
    scrollTo.current = null;
    return true;
  }

  useLayoutEffect(() => {
    const el = scroller.current;
    if (el && anchor.current) {
      const row = el.querySelector<HTMLElement>(`#L${anchor.current.line}`);
      if (row) el.scrollTop += row.getBoundingClientRect().top - el.getBoundingClientRect().top - anchor.current.offset;
      anchor.current = null;
    }
    if (scrollTo.current !== null) scrollToLine(scrollTo.current);
  }, [state]);

  const loadMore = useCallback(
    async (dir: 'up' | 'down') => {
      const s = stateRef.current;
      if (!s || busyRef.current) return;
      const f = s.lines[0]?.number ?? 1;
      const l = s.lines[s.lines.length - 1]?.number ?? 0;
      if (dir === 'up' && f <= 1) return;
      if (dir === 'down' && l >= s.total) return;
      const gen = generation.current;
      setBusy(dir);
      busyRef.current = dir;
      setError(null);
      const from = dir === 'up' ? Math.max(1, f - PAGE) : l + 1;
      const to = dir === 'up' ? f - 1 : l + PAGE;
      try {
        const w = await fileLines(fileId, from, to);
        if (gen !== generation.current) return;
        const el = scroller.current;
        if (el) anchor.current = topLine(el);
        setState((cur) => {
          if (!cur) return cur;
          let lines =
            dir === 'up'
              ? [...w.lines.filter((x) => x.number < f), ...cur.lines]
              : [...cur.lines, ...w.lines.filter((x) => x.number > l)];
          if (lines.length > MAX_KEPT) lines = dir === 'up' ? lines.slice(0, MAX_KEPT) : lines.slice(lines.length - MAX_KEPT);
          return { lines, total: w.total_lines };
        });
      } catch (err) {
        if (gen === generation.current) setError(toApiError(err));
      } finally {
        if (gen === generation.current) {
          setBusy('');
          busyRef.current = '';
        }
      }
    },
    [fileId],
  );

  function onScroll() {
    const el = scroller.current;
    if (!el || busyRef.current) return;
    if (el.scrollTop < EDGE_PX && canUp) void loadMore('up');
    else if (el.scrollHeight - el.scrollTop - el.clientHeight < EDGE_PX && canDown) void loadMore('down');
  }

  function submitGoto(e: FormEvent) {
    e.preventDefault();
    const n = parseLineParam(goto.trim());
    if (!n) return;
    const line = state && state.total > 0 ? Math.min(n, state.total) : n;
    navigate(withQuery(pathname, { line }));
  }

  function lineLink(e: MouseEvent<HTMLAnchorElement>, n: number) {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    clicked.current = true;
    navigate(withQuery(pathname, { line: n }), { replace: true });
  }

  const f = meta.data;
  const name = f ? displayName(f) : shortId(fileId);
  const contentUrl = fileContentUrl(fileId);

  async function download(e: MouseEvent<HTMLAnchorElement>) {
    const token = appTokens.token();
    if (!token) return; // a plain link: no credential needed
    e.preventDefault();
    setDownloadError(null);
    try {
      await downloadWithToken(contentUrl, f?.original_filename || f?.filename || 'file.log', token);
    } catch (err) {
      setDownloadError(toApiError(err));
    }
  }

  if (meta.error?.status === 404 && !f) {
    return (
      <>
        <h1 tabIndex={-1}>File not found</h1>
        <p>
          There is no file <code>{fileId}</code> that you may see. <Link to={`/jobs/${encodeURIComponent(jobId)}`}>Back to the job</Link>
        </p>
      </>
    );
  }

  const breadcrumb = (
    <p className="breadcrumb">
      <Link to="/jobs">Jobs</Link> <span aria-hidden="true">›</span>{' '}
      <Link to={`/jobs/${encodeURIComponent(jobId)}`} className="mono">
        {shortId(jobId)}
      </Link>{' '}
      <span aria-hidden="true">›</span> <span className="break">{name}</span>
    </p>
  );

  if (f?.kind === 'archive') {
    const members = typeof f.metadata?.members === 'number' ? f.metadata.members : null;
    return (
      <>
        {breadcrumb}
        <h1 tabIndex={-1} className="break">
          {name}
        </h1>
        <section className="card">
          <p>
            This is an archive: it is not shown line by line. Its {members !== null ? `${members} ` : ''}
            member{members === 1 ? ' is' : 's are'} listed on <Link to={`/jobs/${encodeURIComponent(jobId)}`}>the job page</Link>, each with its own viewer.
          </p>
          <a className="button-like" href={contentUrl} download={f.original_filename || f.filename} onClick={(e) => void download(e)}>
            Download ({formatBytes(f.file_size)})
          </a>
          <ErrorMessage error={downloadError} />
        </section>
      </>
    );
  }

  return (
    <>
      {breadcrumb}
      <h1 tabIndex={-1} className="break">
        {name}
      </h1>
      <ErrorMessage error={meta.error} onRetry={meta.reload} />
      <section className="card viewer-card" aria-labelledby="viewer-title">
        <h2 id="viewer-title" className="visually-hidden">
          Lines
        </h2>
        <div className="viewer-tools">
          <form className="goto" onSubmit={submitGoto} aria-label="Jump to a line">
            <label htmlFor="goto-line">Go to line</label>
            <input
              id="goto-line"
              type="number"
              inputMode="numeric"
              min={1}
              {...(state ? { max: Math.max(1, state.total) } : {})}
              value={goto}
              onChange={(e) => setGoto(e.target.value)}
            />
            <button type="submit" className="button-secondary">
              Go
            </button>
          </form>
          <label className="wrap-toggle">
            <input type="checkbox" checked={wrap} onChange={(e) => setWrap(e.target.checked)} /> Wrap long lines
          </label>
          <a className="button-like" href={contentUrl} download={f?.original_filename || f?.filename || true} onClick={(e) => void download(e)}>
            Download{f ? ` (${formatBytes(f.file_size)})` : ''}
          </a>
        </div>
        <p className="muted" role="status" data-testid="viewer-status">
          {state
            ? state.lines.length > 0
              ? `Lines ${first.toLocaleString()}–${last.toLocaleString()} of ${state.total.toLocaleString()}`
              : 'This file has no lines.'
            : busy === 'initial'
              ? 'Loading…'
              : ''}
          {f?.encoding && f.encoding !== 'utf-8' ? ` · decoded from ${f.encoding}` : ''}
          {target && state && target > state.total ? ` · the file has ${state.total.toLocaleString()} lines: line ${target.toLocaleString()} is past its end` : ''}
        </p>
        {state?.lines.some((l) => isCutLine(l.text)) ? (
          <p className="muted">Lines longer than 16 KB are cut here (marked “cut”); the download has them whole.</p>
        ) : null}
        <ErrorMessage error={downloadError} />
        <ErrorMessage error={error} onRetry={() => (state ? setError(null) : void loadAround(target ?? 1))} />
        {state && canUp ? (
          <button type="button" className="button-secondary button-small viewer-more" disabled={busy !== ''} onClick={() => void loadMore('up')}>
            {busy === 'up' ? 'Loading…' : `Show ${Math.min(PAGE, first - 1).toLocaleString()} earlier lines`}
          </button>
        ) : null}
        <div
          ref={scroller}
          className={`viewer${wrap ? ' viewer-wrap' : ''}`}
          tabIndex={0}
          role="region"
          aria-label={`Lines of ${name}`}
          aria-busy={busy !== '' || undefined}
          onScroll={onScroll}
        >
          {state && state.lines.length > 0 ? (
            <table className="lines">
              <tbody>
                {state.lines.map((l) => (
                  <tr
                    key={l.number}
                    id={`L${l.number}`}
                    className={l.number === target ? 'line-target' : undefined}
                    aria-current={l.number === target ? 'location' : undefined}
                  >
                    <th scope="row" className="line-no">
                      <a href={withQuery(pathname, { line: l.number })} onClick={(e) => lineLink(e, l.number)} aria-label={`Line ${l.number}`}>
                        {l.number}
                      </a>
                    </th>
                    {/* Text only: React escapes it (a log line may hold <script>). */}
                    <td className="line-text">
                      {l.text}
                      {isCutLine(l.text) ? <span className="line-cut"> … cut at 16 KB</span> : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
        </div>
        {state && canDown ? (
          <button type="button" className="button-secondary button-small viewer-more" disabled={busy !== ''} onClick={() => void loadMore('down')}>
            {busy === 'down' ? 'Loading…' : `Show ${Math.min(PAGE, state.total - last).toLocaleString()} more lines`}
          </button>
        ) : null}
      </section>
    </>
  );
}
