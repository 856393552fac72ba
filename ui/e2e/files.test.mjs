// End-to-end: uploading logs through the job page (a plain log by the file
// picker, a zip of two logs by drag and drop), the members listed under
// their archive, a duplicate refused, "Start analysis", and the viewer
// opened at a line. Real binary, PostgreSQL and a temp upload directory.
// Run with `npm run e2e` after `make build` (see harness.mjs).

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { crc32, deflateRawSync } from 'node:zlib';
import { Harness, SCREENSHOT_DIR, see, until } from './harness.mjs';

/** A zip archive of `entries` ({name: text}), deflated (what `zip` writes). */
export function makeZip(entries) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const [name, text] of Object.entries(entries)) {
    const data = Buffer.from(text, 'utf8');
    const packed = deflateRawSync(data);
    const nameBuf = Buffer.from(name, 'utf8');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt32LE(0, 10); // time, date
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, nameBuf, packed);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(0, 12);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBuf.length, 28);
    central.writeUInt32LE(0, 30); // extra, comment lengths
    central.writeUInt32LE(0, 34); // disk, internal attributes
    central.writeUInt32LE(0, 38); // external attributes
    central.writeUInt32LE(offset, 42);
    centrals.push(central, nameBuf);
    offset += local.length + nameBuf.length + packed.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(entries).length, 8);
  end.writeUInt16LE(Object.keys(entries).length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

const EVIL = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">';

function appLog() {
  const lines = [];
  for (let i = 1; i <= 300; i++) {
    if (i === 150) lines.push(`2025-01-31T12:02:30Z ERROR payment-api: ${EVIL} connection refused (db-1:5432)`);
    else lines.push(`2025-01-31T12:00:${String(i % 60).padStart(2, '0')}Z INFO payment-api: request ${i} ok`);
  }
  return lines.join('\n') + '\n';
}

/**
 * A TCP proxy in front of the server that passes the browser's bytes at
 * `rate` bytes per second (so an upload takes a while) and can cut every
 * connection at once (a dropped VPN), while still taking new ones.
 */
class SlowProxy {
  constructor(port, rate) {
    this.port = port;
    this.rate = rate;
    this.sockets = new Set();
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.port, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.on('data', (chunk) => {
        upstream.write(chunk);
        client.pause();
        setTimeout(() => client.resume(), Math.ceil((chunk.length / this.rate) * 1000));
      });
      upstream.pipe(client);
    });
  }
  listen() {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${this.server.address().port}`)));
  }
  cut() {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }
  close() {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * A page of the app; with `multipart`, the server's supported-types is
 * answered without its tus endpoint, so that the UI falls back to
 * multipart POST /api/files/upload (what it does against a server
 * without tus).
 */
async function openPage(h, mode) {
  const page = await h.newPage();
  if (mode === 'multipart') {
    await page.route('**/api/files/supported-types', async (route) => {
      const res = await route.fetch();
      const body = await res.json();
      delete body.tus_endpoint;
      await route.fulfill({ response: res, json: body });
    });
  }
  return page;
}

for (const mode of ['tus', 'multipart']) describe(`uploads (${mode}) and the file viewer end to end`, { concurrency: 1, timeout: 240_000 }, () => {
  const uploadDir = mkdtempSync(path.join(tmpdir(), 'rca-e2e-uploads-'));
  // Readiness only by the button: no settle window during the test.
  const h = new Harness({ env: { UPLOAD_DIR: uploadDir, ANALYSIS_SETTLE_SECONDS: '3600' } });
  let jobId = '';
  let logId = '';

  before(async () => {
    await h.start();
    const job = await h.api('POST', '/jobs', { job_type: 'log-analysis', user_id: 'e2e-files' });
    jobId = job.id;
  }, { timeout: 90_000 });

  after(async () => {
    await h.stop();
    rmSync(uploadDir, { recursive: true, force: true });
  }, { timeout: 60_000 });

  test('a) upload a log by the picker and a zip by drag and drop; the members are listed under the zip', { timeout: 90_000 }, async () => {
    const page = await openPage(h, mode);
    const protocols = [];
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.pathname.startsWith('/api/files/tus') || u.pathname === '/api/files/upload') protocols.push(`${r.method()} ${u.pathname}`);
    });
    try {
      await page.goto(`/jobs/${jobId}`);
      const upload = page.getByRole('region', { name: 'Upload logs' });
      await see(upload.getByText(/Accepted: .*\.log/));
      const start = page.getByRole('button', { name: 'Start analysis' });
      assert.equal(await start.isDisabled(), true);
      await see(page.getByText('Upload at least one file first.'));

      // The picker.
      await page.getByLabel('Choose files to upload').setInputFiles({ name: 'app.log', mimeType: 'text/plain', buffer: Buffer.from(appLog()) });
      const uploads = page.getByRole('list', { name: 'Uploads' });
      await see(uploads.getByRole('listitem', { name: 'app.log' }).getByText('Uploaded.'));
      const bar = uploads.getByRole('listitem', { name: 'app.log' }).getByRole('progressbar');
      assert.equal(await bar.getAttribute('aria-valuenow'), '100');

      // Drag and drop: a real drop event carrying the zip.
      const zip = makeZip({ 'logs/a.log': 'a line\nanother line\n', 'logs/b.log': 'b: ERROR disk full\n' });
      await page.getByTestId('dropzone').evaluate((zone, bytes) => {
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(bytes)], 'logs.zip', { type: 'application/zip' }));
        zone.dispatchEvent(new DragEvent('dragover', { bubbles: true, cancelable: true, dataTransfer: dt }));
        zone.dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: dt }));
      }, [...zip]);
      await see(uploads.getByRole('listitem', { name: 'logs.zip' }).getByText(/^Uploaded/));

      // The list: the zip, its two members under it, the log.
      const files = page.getByRole('region', { name: 'Files' });
      const archive = files.getByRole('rowgroup', { name: 'Archive logs.zip' });
      await see(archive.getByRole('link', { name: /a\.log$/ }));
      await see(archive.getByRole('link', { name: /b\.log$/ }));
      await see(files.getByRole('link', { name: 'app.log' }));
      const listed = await h.api('GET', `/files/jobs/${jobId}`);
      const members = listed.filter((f) => f.parent_id);
      assert.equal(members.length, 2, JSON.stringify(listed));
      assert.deepEqual(members.map((m) => m.archive_path).sort(), ['logs/a.log', 'logs/b.log']);
      logId = listed.find((f) => f.original_filename === 'app.log' || f.filename === 'app.log').id;
      // The checksum is shown short, whole in its title.
      const log = listed.find((f) => f.id === logId);
      await see(files.getByText(log.checksum.slice(0, 12)));

      // Through the protocol this run is about.
      if (mode === 'tus') {
        assert.ok(protocols.some((p) => p.startsWith('PATCH /api/files/tus/')), protocols.join(', '));
        assert.ok(!protocols.includes('POST /api/files/upload'), protocols.join(', '));
      } else {
        assert.deepEqual(protocols, ['POST /api/files/upload', 'POST /api/files/upload']);
      }
    } finally {
      await page.context().close();
    }
  });

  test('b) the same log again is refused as already in this job, with a link to it', { timeout: 60_000 }, async () => {
    assert.ok(logId, 'test a) uploaded the log');
    const page = await openPage(h, mode);
    try {
      await page.goto(`/jobs/${jobId}`);
      await see(page.getByRole('region', { name: 'Upload logs' }).getByText(/Accepted:/));
      await page.getByLabel('Choose files to upload').setInputFiles({ name: 'copy-of-app.log', mimeType: 'text/plain', buffer: Buffer.from(appLog()) });
      const item = page.getByRole('list', { name: 'Uploads' }).getByRole('listitem', { name: 'copy-of-app.log' });
      const alert = item.getByRole('alert');
      await see(alert.getByText(/Already in this job/));
      assert.equal(await alert.getByRole('link').getAttribute('href'), `/jobs/${jobId}/files/${logId}`);
      // And the pre-check, before any byte is sent.
      await page.getByLabel('Choose files to upload').setInputFiles({ name: 'tool.exe', mimeType: 'application/octet-stream', buffer: Buffer.from('MZ') });
      await see(page.getByRole('listitem', { name: 'tool.exe' }).getByText(/\.exe files are not accepted/));
      // The job page with its files, the refusals above them.
      if (mode === 'tus') {
        mkdirSync(SCREENSHOT_DIR, { recursive: true });
        await see(page.getByRole('region', { name: 'Files' }).getByRole('rowgroup', { name: 'Archive logs.zip' }));
        await page.evaluate(() => document.fonts.ready);
        await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'job-files.png'), fullPage: true });
      }
    } finally {
      await page.context().close();
    }
  });

  test('c) Start analysis makes the job ready', { timeout: 60_000 }, async () => {
    const page = await openPage(h, mode);
    try {
      await page.goto(`/jobs/${jobId}`);
      const start = page.getByRole('button', { name: 'Start analysis' });
      await until('Start analysis is enabled', () => start.isEnabled());
      await start.click();
      await see(page.getByText(/^The analysis was requested|^The job is |^The analysis is running/));
      const job = await h.api('GET', `/jobs/${jobId}`);
      assert.equal(job.ready, true, JSON.stringify(job));
      assert.ok(job.files_count >= 3, `files_count ${job.files_count}`);
    } finally {
      await page.context().close();
    }
  });

  test('e) a connection dropped mid-upload resumes from what the server has', { skip: mode !== 'tus', timeout: 90_000 }, async () => {
    const proxy = new SlowProxy(Number(new URL(h.baseURL).port), 1 << 20);
    const origin = await proxy.listen();
    const context = await h.browser.newContext({ viewport: { width: 1200, height: 800 }, baseURL: origin });
    context.setDefaultTimeout(15_000);
    const page = await context.newPage();
    // A job of its own: the first one was started in c), and the worker
    // has analysed it since (a completed job takes no more uploads).
    const vpnJobId = (await h.api('POST', '/jobs', { job_type: 'log-analysis', user_id: 'e2e-files' })).id;
    const seen = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname.startsWith('/api/files/tus')) seen.push(`${r.method()} ${r.headers()['upload-offset'] ?? ''}`.trim());
    });
    try {
      await page.goto(`/jobs/${vpnJobId}`);
      await see(page.getByRole('region', { name: 'Upload logs' }).getByText(/Accepted:/));
      // Every status the upload shows, however briefly.
      await page.evaluate(() => {
        window.__statuses = [];
        new MutationObserver(() => {
          for (const el of document.querySelectorAll('.upload-status')) window.__statuses.push(el.textContent);
        }).observe(document.body, { subtree: true, childList: true, characterData: true });
      });
      const line = '2025-01-31T12:00:00Z INFO payment-api: GET /orders 200 in 12 ms, nothing to see here\n';
      const text = line.repeat(Math.ceil((3 << 20) / line.length));
      await page.getByLabel('Choose files to upload').setInputFiles({ name: 'over-vpn.log', mimeType: 'text/plain', buffer: Buffer.from(text) });
      const item = page.getByRole('list', { name: 'Uploads' }).getByRole('listitem', { name: 'over-vpn.log' });
      const bar = item.getByRole('progressbar');
      await until('a third is sent', async () => Number(await bar.getAttribute('aria-valuenow')) >= 33, 30_000);
      proxy.cut();
      await see(item.getByText('Uploaded.'), 60_000);

      const statuses = await page.evaluate(() => window.__statuses);
      assert.ok(statuses.some((t) => /resuming/.test(t)), `${statuses.join(' | ')}; requests ${seen.join(', ')}`);
      // Created once; after the drop, asked the server where it stopped
      // and sent only the rest.
      assert.equal(seen.filter((x) => x === 'POST').length, 1, seen.join(', '));
      const head = seen.indexOf('HEAD');
      assert.ok(head > 0, seen.join(', '));
      const resumedAt = Number(seen.slice(head).find((x) => x.startsWith('PATCH'))?.split(' ')[1]);
      assert.ok(resumedAt > 0 && resumedAt < text.length, `resumed at ${resumedAt} of ${text.length}: ${seen.join(', ')}`);
      console.log(`e2e tus: dropped after ${await bar.getAttribute('aria-valuenow')} %, resumed at byte ${resumedAt} of ${text.length}; requests ${seen.join(', ')}`);

      // Whole and in order: the stored file is the one sent.
      const listed = await h.api('GET', `/files/jobs/${vpnJobId}`);
      const f = listed.find((x) => x.filename === 'over-vpn.log');
      assert.ok(f, JSON.stringify(listed.map((x) => x.filename)));
      assert.equal(f.file_size, text.length);
      const res = await fetch(`${h.baseURL}/api/files/${f.id}/content`);
      assert.equal(await res.text(), text);
    } finally {
      await context.close();
      await proxy.close();
    }
  });

  test('f) scrolling a long file loads more lines without moving what is on screen, and keeps the page bounded', { skip: mode !== 'tus', timeout: 120_000 }, async () => {
    const lines = [];
    for (let i = 1; i <= 20_000; i++) lines.push(`2025-01-31T12:00:00Z INFO worker-${i % 7}: line ${i} of a long log`);
    const form = new FormData();
    form.append('job_id', jobId);
    form.append('file', new Blob([lines.join('\n') + '\n'], { type: 'text/plain' }), 'long.log');
    const r = await fetch(`${h.baseURL}/api/files/upload`, { method: 'POST', body: form });
    assert.equal(r.status, 201, await r.clone().text());
    const long = await r.json();

    const page = await openPage(h, mode);
    try {
      await page.goto(`/jobs/${jobId}/files/${long.id}?line=10000`);
      await see(page.locator('.viewer tr[aria-current="location"]'));
      const status = page.getByTestId('viewer-status');
      await see(status.getByText('Lines 9,900–10,399 of 20,000'));
      // The first line in view of the box, from the layout.
      const firstInView = () =>
        page.evaluate(() => {
          const box = document.querySelector('.viewer');
          const top = box.getBoundingClientRect().top;
          for (const tr of box.querySelectorAll('tbody tr')) if (tr.getBoundingClientRect().bottom > top + 1) return Number(tr.id.slice(1));
          return 0;
        });
      for (const dir of ['down', 'down', 'down', 'down', 'down', 'down', 'down', 'up']) {
        const before = await status.textContent();
        await page.locator('.viewer').evaluate((box, d) => {
          box.scrollTop = d === 'down' ? box.scrollHeight - box.clientHeight : 0;
        }, dir);
        const shown = await firstInView();
        await until(`more lines ${dir}`, async () => (await status.textContent()) !== before);
        await until('the DOM settled', async () => (await page.locator('.viewer[aria-busy]').count()) === 0);
        const after = await firstInView();
        assert.ok(Math.abs(after - shown) <= 1, `${dir}: line ${shown} was at the top, then ${after} (${await status.textContent()})`);
      }
      const rows = await page.locator('.viewer tbody tr').count();
      assert.ok(rows <= 3000, `${rows} rows in the page`);
      console.log(`e2e viewer: after scrolling, ${await status.textContent()}, ${rows} rows in the page`);
    } finally {
      await page.context().close();
    }
  });

  test('d) the viewer opens at a line, highlighted, with HTML shown as text', { timeout: 60_000 }, async () => {
    assert.ok(logId, 'test a) uploaded the log');
    const page = await openPage(h, mode);
    try {
      await page.goto(`/jobs/${jobId}`);
      await page.getByRole('region', { name: 'Files' }).getByRole('link', { name: 'app.log' }).click();
      await see(page.getByRole('heading', { level: 1, name: 'app.log' }));
      await see(page.getByText('Lines 1–300 of 300'));

      await page.goto(`/jobs/${jobId}/files/${logId}?line=150`);
      const target = page.locator('.viewer tr[aria-current="location"]');
      await see(target);
      assert.equal(await target.getAttribute('id'), 'L150');
      assert.match(await target.locator('td').textContent(), /ERROR payment-api: <script>window.__pwned = 1<\/script><img/);
      assert.equal(await page.locator('.viewer script, .viewer img').count(), 0);
      assert.equal(await page.evaluate(() => window.__pwned), undefined);
      await until('line 150 is scrolled into view', async () => {
        const box = await target.boundingBox();
        const view = await page.locator('.viewer').boundingBox();
        return box && view && box.y >= view.y && box.y + box.height <= view.y + view.height;
      });

      // Go to line.
      await page.getByLabel('Go to line').fill('280');
      await page.getByRole('button', { name: 'Go' }).click();
      await until('line 280 is highlighted', async () => (await target.getAttribute('id')) === 'L280');
      assert.match(page.url(), /\?line=280$/);

      // The download link serves the bytes.
      const href = await page.getByRole('link', { name: /^Download/ }).getAttribute('href');
      const res = await fetch(`${h.baseURL}${href}`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), appLog());

      mkdirSync(SCREENSHOT_DIR, { recursive: true });
      await page.goto(`/jobs/${jobId}/files/${logId}?line=150`);
      await see(target);
      await page.evaluate(() => document.fonts.ready);
      if (mode === 'tus') await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'file-viewer.png') });

    } finally {
      await page.context().close();
    }
  });
});

describe('uploads signed in (AUTH_MODE=writes)', { concurrency: 1, timeout: 180_000 }, () => {
  const uploadDir = mkdtempSync(path.join(tmpdir(), 'rca-e2e-uploads-auth-'));
  const ADMIN = { username: 'admin', email: 'admin@example.com', password: `pw-${Date.now().toString(36)}-e2e-files` };
  const h = new Harness({
    env: {
      AUTH_MODE: 'writes',
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      JWT_SECRET_KEY: 'e2e-files-' + 'k'.repeat(40),
      UPLOAD_DIR: uploadDir,
      ANALYSIS_SETTLE_SECONDS: '3600',
    },
  });
  let jobId = '';

  before(async () => {
    await h.start();
    const r = await fetch(`${h.baseURL}/api/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: new URLSearchParams({ username: ADMIN.username, password: ADMIN.password }),
    });
    assert.equal(r.status, 200);
    const { access_token: token } = await r.json();
    jobId = (await h.api('POST', '/jobs', { job_type: 'log-analysis' }, { token })).id;
  }, { timeout: 90_000 });

  after(async () => {
    await h.stop();
    rmSync(uploadDir, { recursive: true, force: true });
  }, { timeout: 60_000 });

  test('a visitor may not upload nor see the files; signed in, uploads and the download carry the token', { timeout: 120_000 }, async () => {
    const page = await h.newPage();
    const tusAuth = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname.startsWith('/api/files/tus')) tusAuth.push(r.headers()['authorization'] ?? 'none');
    });
    try {
      await page.goto(`/jobs/${jobId}`);
      const upload = page.getByRole('region', { name: 'Upload logs' });
      await see(upload.getByText('to upload files.'));
      assert.equal(await page.getByTestId('dropzone').getAttribute('aria-disabled'), 'true');
      // The server's own words for the list (log content is private).
      await see(page.getByRole('region', { name: 'Files' }).getByRole('alert'));

      await upload.getByRole('link', { name: 'Sign in' }).first().click();
      await page.getByLabel('Username or email').fill(ADMIN.username);
      await page.getByLabel('Password').fill(ADMIN.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await until('back on the job page', () => new URL(page.url()).pathname === `/jobs/${jobId}`);
      await until('the drop zone is enabled', async () => (await page.getByTestId('dropzone').getAttribute('aria-disabled')) === null);

      const body = 'signed in\n2025-01-31T12:00:00Z ERROR disk full on /var\n';
      await page.getByLabel('Choose files to upload').setInputFiles({ name: 'private.log', mimeType: 'text/plain', buffer: Buffer.from(body) });
      await see(page.getByRole('list', { name: 'Uploads' }).getByRole('listitem', { name: 'private.log' }).getByText('Uploaded.'));
      assert.ok(tusAuth.length >= 2 && tusAuth.every((a) => a.startsWith('Bearer ')), tusAuth.join(', '));

      await page.getByRole('region', { name: 'Files' }).getByRole('link', { name: 'private.log' }).click();
      await see(page.getByText('Lines 1–2 of 2'));
      // A plain link cannot carry the token: the page fetches and hands the bytes over.
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: /^Download/ }).click()]);
      assert.equal(download.suggestedFilename(), 'private.log');
      const chunks = [];
      for await (const c of await download.createReadStream()) chunks.push(c);
      assert.equal(Buffer.concat(chunks).toString(), body);
    } finally {
      await page.context().close();
    }
  });
});
