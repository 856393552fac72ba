import { describe, expect, it } from 'vitest';
import { jobFile, TYPES } from '../test/files';
import { acceptAttribute, displayName, groupFiles, isArchiveName, matchType, MIB, precheck } from './fileRules';
import { formatBytes } from './format';

describe('precheck', () => {
  const cases: { name: string; size: number; want: RegExp | null }[] = [
    { name: 'app.log', size: 10, want: null },
    { name: 'APP.LOG', size: 10, want: null },
    { name: 'logs.tar.gz', size: 10, want: null },
    { name: 'logs.tgz', size: 10, want: null },
    { name: 'support.zip', size: 10, want: null },
    { name: 'exactly-the-limit.log', size: 100 * MIB, want: null },
    { name: 'one-byte-over.log', size: 100 * MIB + 1, want: /is 100 MB; the limit is 100 MB per file/ },
    { name: 'empty.log', size: 0, want: /empty/ },
    { name: 'setup.exe', size: 10, want: /^\.exe files are not accepted\. Accepted: \.log, .*archives: \.zip/ },
    { name: 'README', size: 10, want: /^Files without an extension are not accepted/ },
    { name: '.log', size: 10, want: /not accepted/ },
    { name: 'log', size: 10, want: /without an extension/ },
  ];
  for (const c of cases) {
    it(`${c.name} (${c.size} bytes)`, () => {
      const got = precheck(c.name === '' ? { name: '', size: c.size } : { name: c.name, size: c.size }, TYPES);
      if (c.want === null) expect(got).toBeNull();
      else expect(got).toMatch(c.want);
    });
  }

  it('accepts types given with a dot or in capitals', () => {
    expect(precheck({ name: 'a.evtx', size: 1 }, { ...TYPES, allowed_types: ['.EVTX'] })).toBeNull();
  });

  it('knows the longest archive type', () => {
    expect(matchType('x.tar.gz', ['gz', 'tar.gz'])).toBe('tar.gz');
    expect(isArchiveName('x.tar.gz', TYPES)).toBe(true);
    expect(isArchiveName('x.log', TYPES)).toBe(false);
    expect(acceptAttribute(TYPES)).toContain('.tar.gz');
  });
});

describe('groupFiles', () => {
  it('puts archive members under their archive, sorted by path, and keeps the upload order', () => {
    const first = jobFile({ id: 'a', filename: 'first.log' });
    const zip = jobFile({ id: 'z', filename: 'logs.zip', kind: 'archive', metadata: { members: 2, skipped: [] } });
    const m2 = jobFile({ id: 'm2', parent_id: 'z', archive_path: 'var/log/b.log', filename: 'b.log' });
    const m1 = jobFile({ id: 'm1', parent_id: 'z', archive_path: 'var/log/a.log', filename: 'a.log' });
    const last = jobFile({ id: 'l', filename: 'last.log' });
    const groups = groupFiles([first, zip, m2, m1, last]);
    expect(groups.map((g) => g.file.id)).toEqual(['a', 'z', 'l']);
    expect(groups[1]!.members.map(displayName)).toEqual(['var/log/a.log', 'var/log/b.log']);
  });

  it('puts the members of a nested archive under the outer one', () => {
    const outer = jobFile({ id: 'o', kind: 'archive' });
    const inner = jobFile({ id: 'i', kind: 'archive', parent_id: 'o', archive_path: 'inner.zip' });
    const deep = jobFile({ id: 'd', parent_id: 'i', archive_path: 'inner.zip/x.log' });
    const groups = groupFiles([outer, inner, deep]);
    expect(groups).toHaveLength(1);
    expect(groups[0]!.members.map((m) => m.id)).toEqual(['i', 'd']);
  });

  it('shows a member whose archive is not listed on its own, and survives a cycle', () => {
    const orphan = jobFile({ id: 'x', parent_id: 'gone', archive_path: 'a/x.log' });
    expect(groupFiles([orphan]).map((g) => g.file.id)).toEqual(['x']);
    const p = jobFile({ id: 'p', parent_id: 'q' });
    const q = jobFile({ id: 'q', parent_id: 'p' });
    expect(groupFiles([p, q]).map((g) => g.file.id)).toEqual(['p', 'q']);
  });
});

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 KB'],
    [1536, '1.5 KB'],
    [100 * MIB, '100 MB'],
    [2 * 1024 * MIB, '2.0 GB'],
    [-1, '—'],
  ])('%d → %s', (n, want) => expect(formatBytes(n)).toBe(want));
});
