import { useEffect, useRef, useState } from 'react';
import type { JobFile } from '../lib/api/types';
import { displayName, groupFiles } from '../lib/fileRules';
import { formatBytes, formatDateTime } from '../lib/format';
import { Link } from '../router';
import { filesViewerHref } from './UploadArea';

async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard?.writeText) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // Refused (no permission, not a secure context): the old way below.
  }
  try {
    const ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.style.position = 'fixed';
    ta.style.opacity = '0';
    document.body.appendChild(ta);
    ta.select();
    const ok = document.execCommand?.('copy') ?? false;
    ta.remove();
    return ok;
  } catch {
    return false;
  }
}

/** The first 12 hex digits of a checksum, the whole one a click away. */
function Checksum({ value, name }: { value: string; name: string }) {
  const [state, setState] = useState<'' | 'copied' | 'failed'>('');
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => {
    if (timer.current) clearTimeout(timer.current);
  }, []);
  if (!value) return <span className="muted">—</span>;
  async function copy() {
    const ok = await copyText(value);
    setState(ok ? 'copied' : 'failed');
    if (timer.current) clearTimeout(timer.current);
    timer.current = setTimeout(() => setState(''), 2000);
  }
  return (
    <span className="checksum">
      <code title={`SHA-256 ${value}`}>{value.slice(0, 12)}</code>
      <button type="button" className="button-secondary button-small" onClick={() => void copy()} aria-label={`Copy the SHA-256 checksum of ${name}`}>
        Copy
      </button>
      <span role="status" className="muted">
        {state === 'copied' ? 'Copied' : state === 'failed' ? `Select it: ${value}` : ''}
      </span>
    </span>
  );
}

function typeText(f: JobFile): string {
  if (f.kind === 'archive') return 'archive';
  return f.content_type ? `log · ${f.content_type.replace(/;.*$/, '')}` : 'log';
}

function FileRow({ f, archive, jobId }: { f: JobFile; archive?: string; jobId: string }) {
  const member = archive !== undefined;
  const name = displayName(f);
  const meta = f.metadata ?? {};
  return (
    <tr className={member ? 'file-member' : undefined} data-file-id={f.id}>
      <th scope="row" className="file-name">
        {member ? (
          <span className="member-mark" aria-hidden="true">
            └
          </span>
        ) : null}
        {f.kind === 'archive' ? (
          <span className="break">{name}</span>
        ) : (
          <Link to={filesViewerHref(jobId, f.id)} className="break">
            {name}
          </Link>
        )}
        {member ? <span className="visually-hidden"> (in {archive})</span> : null}
        {f.kind === 'archive' && typeof meta.members === 'number' ? (
          <span className="muted"> · {meta.members} member{meta.members === 1 ? '' : 's'}</span>
        ) : null}
      </th>
      <td className="num">
        <span title={`${f.file_size.toLocaleString()} bytes`}>{formatBytes(f.file_size)}</span>
      </td>
      <td>{typeText(f)}</td>
      <td>{f.encoding ?? (f.kind === 'archive' ? '—' : 'unknown')}</td>
      <td>
        <Checksum value={f.checksum} name={name} />
      </td>
      <td>{formatDateTime(f.created_at)}</td>
    </tr>
  );
}

/**
 * The job's files: uploads in order, each archive followed by its members
 * (with their path inside it) and by the members it skipped, with why.
 */
export function FileList({ files, jobId }: { files: readonly JobFile[]; jobId: string }) {
  if (files.length === 0) return <p className="muted">No files yet: upload logs above.</p>;
  const groups = groupFiles(files);
  return (
    <div className="table-wrap">
      <table className="files">
        <caption className="visually-hidden">Files of this job, oldest first; archive members under their archive</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col" className="num">
              Size
            </th>
            <th scope="col">Type</th>
            <th scope="col">Encoding</th>
            <th scope="col">Checksum</th>
            <th scope="col">Uploaded</th>
          </tr>
        </thead>
        {groups.map((g) => {
          const skipped = Array.isArray(g.file.metadata?.skipped) ? g.file.metadata.skipped : [];
          return (
            <tbody key={g.file.id} className={g.members.length || skipped.length ? 'file-group' : undefined} aria-label={g.file.kind === 'archive' ? `Archive ${displayName(g.file)}` : undefined}>
              <FileRow f={g.file} jobId={jobId} />
              {g.members.map((m) => (
                <FileRow key={m.id} f={m} archive={displayName(g.file)} jobId={jobId} />
              ))}
              {skipped.length > 0 ? (
                <tr className="file-member file-skipped">
                  <td colSpan={6}>
                    <details>
                      <summary>
                        {skipped.length} member{skipped.length === 1 ? '' : 's'} skipped
                      </summary>
                      <ul>
                        {skipped.map((s, i) => (
                          <li key={i}>
                            <code className="break">{s.path}</code>: {s.reason}
                          </li>
                        ))}
                      </ul>
                    </details>
                  </td>
                </tr>
              ) : null}
            </tbody>
          );
        })}
      </table>
    </div>
  );
}
