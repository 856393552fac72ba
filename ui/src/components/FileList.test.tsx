// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { JOB_ID, jobFile } from '../test/files';
import { FileList } from './FileList';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const SUM = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08';

function files() {
  return [
    jobFile({ id: 'plain', filename: 'app.log', original_filename: 'app.log', file_size: 1536, checksum: SUM, encoding: 'utf-16le' }),
    jobFile({
      id: 'zip',
      filename: 'logs.zip',
      original_filename: 'logs.zip',
      kind: 'archive',
      content_type: 'application/zip',
      file_size: 3 * 1024 * 1024,
      encoding: null,
      metadata: { members: 2, skipped: [{ path: 'bin/tool.exe', reason: 'binary content' }, { path: '../../etc/passwd', reason: 'path escapes the archive' }] },
    }),
    jobFile({ id: 'm-b', filename: 'b.log', original_filename: 'b.log', parent_id: 'zip', archive_path: 'var/log/b.log' }),
    jobFile({ id: 'm-a', filename: 'a.log', original_filename: 'a.log', parent_id: 'zip', archive_path: 'var/log/a.log', encoding: 'latin-1' }),
  ];
}

describe('FileList', () => {
  it('lists each file with size, type, encoding and short checksum; members under their archive', () => {
    render(<FileList files={files()} jobId={JOB_ID} />);
    const table = screen.getByRole('table', { name: /Files of this job/ });
    const rows = within(table).getAllByRole('row').slice(1);
    const names = rows.map((r) => within(r).queryByRole('rowheader')?.textContent ?? r.textContent);
    expect(names).toEqual([
      'app.log',
      'logs.zip · 2 members',
      '└var/log/a.log (in logs.zip)',
      '└var/log/b.log (in logs.zip)',
      '2 members skippedbin/tool.exe: binary content../../etc/passwd: path escapes the archive',
    ]);
    const plain = rows[0]!;
    expect(within(plain).getByText('1.5 KB')).toBeTruthy();
    expect(within(plain).getByText('log · text/plain')).toBeTruthy();
    expect(within(plain).getByText('utf-16le')).toBeTruthy();
    expect(within(plain).getByText(SUM.slice(0, 12)).getAttribute('title')).toBe(`SHA-256 ${SUM}`);
    expect(within(plain).getByRole('link', { name: 'app.log' }).getAttribute('href')).toBe(`/jobs/${JOB_ID}/files/plain`);

    const archive = rows[1]!;
    expect(within(archive).getByText('archive')).toBeTruthy();
    expect(within(archive).getByText('3.0 MB')).toBeTruthy();
    // An archive is not text: no viewer link.
    expect(within(archive).queryByRole('link')).toBeNull();
    expect(within(rows[2]!).getByRole('link', { name: 'var/log/a.log' }).getAttribute('href')).toBe(`/jobs/${JOB_ID}/files/m-a`);
    expect(within(rows[2]!).getByText('latin-1')).toBeTruthy();

    const skipped = rows[4]!;
    expect(within(skipped).getAllByRole('listitem').map((li) => li.textContent)).toEqual([
      'bin/tool.exe: binary content',
      '../../etc/passwd: path escapes the archive',
    ]);
    // The group is labelled for screen readers.
    expect(screen.getByRole('rowgroup', { name: 'Archive logs.zip' })).toBeTruthy();
  });

  it('copies the whole checksum', async () => {
    const writeText = vi.fn(async () => {});
    vi.stubGlobal('navigator', { ...navigator, clipboard: { writeText } });
    render(<FileList files={files().slice(0, 1)} jobId={JOB_ID} />);
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Copy the SHA-256 checksum of app.log' }));
    });
    expect(writeText).toHaveBeenCalledWith(SUM);
    expect(screen.getByRole('status').textContent).toBe('Copied');
  });

  it('says so when there is no file', () => {
    render(<FileList files={[]} jobId={JOB_ID} />);
    expect(screen.getByText('No files yet: upload logs above.')).toBeTruthy();
  });
});
