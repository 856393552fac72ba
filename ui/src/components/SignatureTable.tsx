import { useMemo, useState } from 'react';
import { fileFor, viewerHref, type Occurrence, type Signature } from '../lib/api/report';
import type { JobFile } from '../lib/api/types';
import { Link } from '../router';
import { Badge } from './Badge';

export type SortKey = 'count' | 'template' | 'level' | 'first' | 'last';
export const SIGNATURES_PAGE = 50;

const LEVEL_ORDER: Record<string, number> = { unknown: 0, trace: 1, debug: 2, info: 3, notice: 4, warn: 5, error: 6, critical: 7 };

function when(o: Occurrence): number {
  const t = o.timestamp ? Date.parse(o.timestamp) : NaN;
  return Number.isFinite(t) ? t : Number.POSITIVE_INFINITY;
}

/** Signatures whose template, level or files contain `q` (any case), sorted. */
export function filterSort(sigs: readonly Signature[], q: string, key: SortKey, desc: boolean): Signature[] {
  const needle = q.trim().toLowerCase();
  const out = needle
    ? sigs.filter((s) => s.template.toLowerCase().includes(needle) || s.level.toLowerCase() === needle || s.files.some((f) => f.file.toLowerCase().includes(needle)))
    : [...sigs];
  const cmp = (a: Signature, b: Signature): number => {
    switch (key) {
      case 'count':
        return a.count - b.count;
      case 'template':
        return a.template.localeCompare(b.template);
      case 'level':
        return (LEVEL_ORDER[a.level] ?? 0) - (LEVEL_ORDER[b.level] ?? 0) || a.count - b.count;
      case 'first':
        return when(a.first_seen) - when(b.first_seen) || a.first_seen.line - b.first_seen.line;
      case 'last':
        return when(a.last_seen) - when(b.last_seen) || a.last_seen.line - b.last_seen.line;
    }
  };
  out.sort((a, b) => (desc ? -cmp(a, b) : cmp(a, b)) || a.id.localeCompare(b.id));
  return out;
}

function fmtTime(t: string | null | undefined): string {
  if (!t) return '';
  return t.replace('T', ' ').replace(/(\.\d+)?Z$/, '');
}

function Seen({ o, jobId, files }: { o: Occurrence; jobId: string; files: readonly JobFile[] }) {
  const f = fileFor(files, o);
  const where = `${o.file}:${o.line}`;
  return (
    <>
      <span className="mono small">{fmtTime(o.timestamp)}</span>{' '}
      {f ? (
        <Link to={viewerHref(jobId, f.id, o.line)} className="mono small">
          {where}
        </Link>
      ) : (
        <span className="mono small">{where}</span>
      )}
    </>
  );
}

const COLUMNS: { key: SortKey; label: string; num?: boolean }[] = [
  { key: 'template', label: 'Template' },
  { key: 'count', label: 'Count', num: true },
  { key: 'level', label: 'Level' },
  { key: 'first', label: 'First seen' },
  { key: 'last', label: 'Last seen' },
];

/** The report's signatures: searchable, sortable by every column, 50 a page. */
export function SignatureTable({ signatures, jobId, files, total }: { signatures: readonly Signature[]; jobId: string; files: readonly JobFile[]; total?: number }) {
  const [q, setQ] = useState('');
  const [key, setKey] = useState<SortKey>('count');
  const [desc, setDesc] = useState(true);
  const [page, setPage] = useState(0);
  const rows = useMemo(() => filterSort(signatures, q, key, desc), [signatures, q, key, desc]);
  const pages = Math.max(1, Math.ceil(rows.length / SIGNATURES_PAGE));
  const cur = Math.min(page, pages - 1);
  const shown = rows.slice(cur * SIGNATURES_PAGE, (cur + 1) * SIGNATURES_PAGE);

  function sortBy(k: SortKey) {
    if (k === key) setDesc(!desc);
    else {
      setKey(k);
      setDesc(k === 'count' || k === 'level');
    }
    setPage(0);
  }

  return (
    <div className="signatures">
      <div className="section-head">
        <div className="field field-inline">
          <label htmlFor="sig-search">Search</label>
          <input id="sig-search" type="search" value={q} placeholder="template, level or file" onChange={(e) => { setQ(e.target.value); setPage(0); }} />
        </div>
        <span className="muted" role="status" data-testid="sig-count">
          {rows.length.toLocaleString('en')} of {signatures.length.toLocaleString('en')} signatures
          {total && total > signatures.length ? ` (the report lists the ${signatures.length.toLocaleString('en')} most telling of ${total.toLocaleString('en')})` : ''}
        </span>
      </div>
      <div className="table-wrap">
        <table className="compact" data-testid="signatures">
          <caption className="visually-hidden">Signatures, sorted by {COLUMNS.find((c) => c.key === key)?.label} {desc ? 'descending' : 'ascending'}</caption>
          <thead>
            <tr>
              {COLUMNS.map((c) => (
                <th key={c.key} scope="col" className={c.num ? 'num' : undefined} aria-sort={c.key === key ? (desc ? 'descending' : 'ascending') : 'none'}>
                  <button type="button" className="sort" onClick={() => sortBy(c.key)}>
                    {c.label}
                    <span aria-hidden="true">{c.key === key ? (desc ? ' ▼' : ' ▲') : ''}</span>
                  </button>
                </th>
              ))}
              <th scope="col">Files</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((s) => (
              <tr key={s.id}>
                <td className="mono log-text">{s.template}</td>
                <td className="num">{s.count.toLocaleString('en')}</td>
                <td>
                  <Badge value={s.level} />
                </td>
                <td>
                  <Seen o={s.first_seen} jobId={jobId} files={files} />
                </td>
                <td>
                  <Seen o={s.last_seen} jobId={jobId} files={files} />
                </td>
                <td className="small">
                  {s.files.slice(0, 3).map((f) => `${f.file} (${f.count.toLocaleString('en')})`).join(', ')}
                  {s.files.length > 3 ? `, +${s.files.length - 3} more` : ''}
                </td>
              </tr>
            ))}
            {shown.length === 0 ? (
              <tr>
                <td colSpan={6} className="empty">
                  No signature matches.
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
      {pages > 1 ? (
        <nav className="pager" aria-label="Signature pages">
          <button type="button" disabled={cur === 0} onClick={() => setPage(cur - 1)}>
            Previous
          </button>
          <span className="muted">
            Page {cur + 1} of {pages}
          </span>
          <button type="button" disabled={cur >= pages - 1} onClick={() => setPage(cur + 1)}>
            Next
          </button>
        </nav>
      ) : null}
    </div>
  );
}
