// What the UI knows of the server's file rules before uploading (from GET
// /api/files/supported-types), and how a job's files are shown. The server
// decides; this only says so before the bytes are sent.

import type { JobFile, SupportedTypes } from './api/types';
import { formatBytes } from './format';

export const MIB = 1024 * 1024;

function norm(types: readonly string[] | undefined): string[] {
  return (types ?? [])
    .map((t) => t.trim().toLowerCase().replace(/^\.+/, ''))
    .filter((t) => t !== '');
}

/** The accepted extension that `name` ends with (the longest: "tar.gz" before "gz"), or null. */
export function matchType(name: string, types: readonly string[]): string | null {
  const lower = name.toLowerCase();
  let best: string | null = null;
  for (const t of types) {
    if (lower.endsWith('.' + t) && lower.length > t.length + 1 && (!best || t.length > best.length)) best = t;
  }
  return best;
}

/** Whether `name` is an archive the server unpacks. */
export function isArchiveName(name: string, st: SupportedTypes): boolean {
  return matchType(name, norm(st.archive_types)) !== null;
}

/** "Accepted: .log, .txt; archives: .zip, .tar.gz." */
export function acceptedText(st: SupportedTypes): string {
  const archives = norm(st.archive_types);
  const plain = norm(st.allowed_types).filter((t) => !archives.includes(t));
  const list = (ts: string[]) => ts.map((t) => '.' + t).join(', ');
  return `Accepted: ${list(plain)}${archives.length ? `; archives: ${list(archives)}` : ''}.`;
}

/** The `accept` attribute of the file input. */
export function acceptAttribute(st: SupportedTypes): string {
  return [...new Set([...norm(st.allowed_types), ...norm(st.archive_types)])].map((t) => '.' + t).join(',');
}

/**
 * Why the server would refuse this file, or null if it may take it: empty,
 * a type it does not accept, or over its size limit. (Content checks, such
 * as a binary file named .log, happen on the server.)
 */
export function precheck(file: { name: string; size: number }, st: SupportedTypes): string | null {
  if (file.size === 0) return 'This file is empty: there is nothing to analyse.';
  const types = [...new Set([...norm(st.allowed_types), ...norm(st.archive_types)])];
  if (!matchType(file.name, types)) {
    const dot = file.name.lastIndexOf('.');
    const ext = dot > 0 ? file.name.slice(dot).toLowerCase() : '';
    return `${ext ? `${ext} files are` : 'Files without an extension are'} not accepted. ${acceptedText(st)}`;
  }
  const limit = st.max_file_size_mb * MIB;
  if (Number.isFinite(limit) && limit > 0 && file.size > limit) {
    return `This file is ${formatBytes(file.size)}; the limit is ${st.max_file_size_mb} MB per file.`;
  }
  return null;
}

/** An upload or archive and the members unpacked from it. */
export interface FileGroup {
  file: JobFile;
  members: JobFile[];
}

/**
 * The job's files as shown: each upload in the server's order (newest
 * last), an archive's members under it (the members of an archive inside
 * it too) sorted by their path inside it. A member whose archive is not in
 * the list stands on its own.
 */
export function groupFiles(files: readonly JobFile[]): FileGroup[] {
  const byId = new Map(files.map((f) => [f.id, f] as const));
  function root(f: JobFile): JobFile {
    let cur = f;
    const seen = new Set<string>([cur.id]);
    while (cur.parent_id) {
      const up = byId.get(cur.parent_id);
      if (!up) break;
      if (seen.has(up.id)) return f; // a cycle (bad data): show it on its own
      seen.add(up.id);
      cur = up;
    }
    return cur;
  }
  const groups: FileGroup[] = [];
  const groupOf = new Map<string, FileGroup>();
  for (const f of files) {
    if (root(f) !== f) continue;
    const g = { file: f, members: [] as JobFile[] };
    groups.push(g);
    groupOf.set(f.id, g);
  }
  for (const f of files) {
    const r = root(f);
    if (r !== f) groupOf.get(r.id)?.members.push(f);
  }
  for (const g of groups) {
    g.members.sort((a, b) => (a.archive_path ?? a.filename).localeCompare(b.archive_path ?? b.filename));
  }
  return groups;
}

/** The name a file is shown by: its path inside its archive for a member. */
export function displayName(f: JobFile): string {
  return f.archive_path || f.original_filename || f.filename;
}
