// End-to-end: a job analysed through the UI. Create a job, upload a small
// incident (db.log shuts down; app.log's connections are then refused, its
// pool times out, its requests answer 500; a benign warning repeats), press
// Start analysis, watch the progress reach "completed", read the top cause
// (the refused connections), open its evidence in the file viewer at its
// line. Real binary (API and worker in one process), PostgreSQL and a temp
// upload directory. Run with `npm run e2e` after `npm run build` and
// `go build -o bin/api ./cmd/api` (see harness.mjs).

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Harness, SCREENSHOT_DIR, see, until } from './harness.mjs';
import { appLog, dbLog } from './incident.mjs';

describe('an analysis end to end in the browser', { concurrency: 1, timeout: 240_000 }, () => {
  const uploadDir = mkdtempSync(path.join(tmpdir(), 'rca-e2e-analysis-'));
  // Readiness only by the button: no settle window during the test.
  const h = new Harness({ env: { UPLOAD_DIR: uploadDir, ANALYSIS_SETTLE_SECONDS: '3600' } });
  const app = appLog();

  before(async () => {
    await h.start();
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
  }, { timeout: 90_000 });

  after(async () => {
    await h.stop();
    rmSync(uploadDir, { recursive: true, force: true });
  }, { timeout: 60_000 });

  test('upload, start, watch the progress, read the top cause, open its evidence', { timeout: 180_000 }, async () => {
    const page = await h.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    try {
      // Create the job in the UI.
      await page.goto('/jobs');
      await page.getByLabel('Job type').fill('incident-e2e');
      await page.getByRole('button', { name: 'Create job' }).click();
      const created = page.getByRole('status').filter({ hasText: 'created' }).getByRole('link');
      await see(created);
      await created.click();
      await see(page.getByRole('heading', { level: 1, name: /^Job / }));
      const jobId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());

      // Record every stage the progress panel shows, as it shows it.
      await page.evaluate(() => {
        window.__stages = [];
        const seen = () => {
          const el = document.querySelector('[data-testid="stage"]');
          const t = el?.textContent ?? '';
          if (t && window.__stages[window.__stages.length - 1] !== t) window.__stages.push(t);
        };
        new MutationObserver(seen).observe(document.body, { subtree: true, childList: true, characterData: true });
      });

      // Upload the two logs by the picker.
      await see(page.getByRole('region', { name: 'Upload logs' }).getByText(/Accepted: .*\.log/));
      await page.getByLabel('Choose files to upload').setInputFiles([
        { name: 'db.log', mimeType: 'text/plain', buffer: Buffer.from(dbLog()) },
        { name: 'app.log', mimeType: 'text/plain', buffer: Buffer.from(app.text) },
      ]);
      const uploads = page.getByRole('list', { name: 'Uploads' });
      await see(uploads.getByRole('listitem', { name: 'db.log' }).getByText('Uploaded.'));
      await see(uploads.getByRole('listitem', { name: 'app.log' }).getByText('Uploaded.'));
      const files = await h.api('GET', `/files/jobs/${jobId}`);
      const appFile = files.find((f) => f.filename === 'app.log' || f.original_filename === 'app.log');
      assert.ok(appFile, JSON.stringify(files));

      // Start, and watch.
      const start = page.getByRole('button', { name: 'Start analysis' });
      await until('Start analysis is enabled', () => start.isEnabled());
      await start.click();
      const panel = page.getByTestId('progress');
      await see(panel);
      await see(panel.getByTestId('stage').getByText('Analysis completed'), 60_000);
      for (const phase of ['Ingestion', 'Ranking']) {
        assert.equal(await panel.locator(`[data-phase="${phase}"]`).getAttribute('data-status'), 'completed', phase);
      }
      assert.equal(await panel.getByTestId('progress-bar').getAttribute('value'), '100');
      const stages = await page.evaluate(() => window.__stages);
      console.log(`stages seen: ${stages.join(' → ')}`);
      assert.equal(stages[stages.length - 1], 'Analysis completed', stages.join(' → '));
      const order = ['Waiting for a worker…', 'Reading the logs', 'Ranking the causes', 'Analysis completed'];
      const idx = stages.map((s) => order.findIndex((o) => s.startsWith(o)));
      assert.ok(idx.every((v, i) => v >= 0 && (i === 0 || v >= idx[i - 1])), `stages out of order: ${stages.join(' → ')}`);
      // Both files read, with their figures.
      const table = panel.getByTestId('progress-files');
      const appRow = table.getByRole('row', { name: /app\.log/ });
      await see(appRow);
      const cells = await appRow.locator('td').allTextContents();
      assert.equal(cells[0], 'done');
      assert.equal(cells[1], (app.text.split('\n').length - 1).toLocaleString('en'), `lines of app.log: ${cells}`);
      assert.ok(Number(cells[2].replace(/\D.*$/, '').replace(/,/g, '')) > 100, `errors of app.log: ${cells}`);
      await see(table.getByRole('row', { name: /db\.log/ }).getByText('done'));

      // The report.
      const report = page.getByTestId('report');
      await see(report, 30_000);
      const severity = await report.getByTestId('severity').textContent();
      assert.match(severity, /^(critical|high)$/);
      const top = report.getByTestId('cause').first();
      assert.equal(await top.getAttribute('data-rank'), '1');
      assert.match(await top.getByRole('heading').textContent(), /refused/i);
      assert.ok((await top.locator('.reasons li').count()) > 0, 'the top cause gives its reasons');
      // The benign warning is not the top cause.
      assert.doesNotMatch(await top.getByRole('heading').textContent(), /feature flag/);

      // Its first evidence: the first refusal, in app.log, with the lines around it.
      const link = top.getByTestId('evidence-link').first();
      assert.equal(await link.getAttribute('href'), `/jobs/${jobId}/files/${appFile.id}?line=${app.firstRefused}`);
      const ctx = top.getByTestId('evidence-context').first();
      await see(ctx);
      assert.match(await ctx.locator('.context-hit').textContent(), /ECONNREFUSED/);
      assert.ok((await ctx.locator('.context-line').count()) >= 5);

      // The chart was drawn (uPlot's canvas), with the signatures table below.
      await see(report.locator('.chart-canvas[data-drawn="yes"] canvas'));
      assert.ok((await report.getByTestId('signatures').locator('tbody tr').count()) >= 4);
      await report.getByLabel('Search').fill('pool timeout');
      await until('the table is filtered', async () => (await report.getByTestId('signatures').locator('tbody tr').count()) === 1);
      await report.getByLabel('Search').fill('');

      // Markup in a log line is text, never HTML.
      assert.equal(await page.locator('#root script, #root img').count(), 0);
      assert.equal(await page.evaluate(() => window.__pwned), undefined);

      // The Markdown download (authentication off: a plain link).
      const [download] = await Promise.all([page.waitForEvent('download'), report.getByRole('link', { name: 'Markdown' }).click()]);
      assert.equal(download.suggestedFilename(), `rca-report-${jobId}.md`);

      await page.evaluate(() => document.fonts.ready);
      await panel.screenshot({ path: path.join(SCREENSHOT_DIR, 'job-progress.png') });
      // The report's first screenful or two (the whole page is very long).
      await page.setViewportSize({ width: 1200, height: 1800 });
      await report.evaluate((el) => el.scrollIntoView({ block: 'start' }));
      await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'job-report.png') });
      await report.getByTestId('signatures').evaluate((el) => el.scrollIntoView({ block: 'start' }));
      await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'job-report-signatures.png') });
      await page.setViewportSize({ width: 1200, height: 800 });

      // Open the evidence in the viewer, at its line.
      await link.click();
      await see(page.getByRole('heading', { level: 1, name: 'app.log' }));
      const target = page.locator('.viewer tr[aria-current="location"]');
      await see(target);
      assert.equal(await target.getAttribute('id'), `L${app.firstRefused}`);
      assert.match(await target.locator('td').textContent(), /connect ECONNREFUSED 10\.0\.3\.7:5432/);
      await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'evidence-in-viewer.png') });

      // The jobs list: completed, with its severity.
      await page.goto('/jobs');
      const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: jobId.slice(0, 8) }) });
      await see(row.getByText('completed'));
      assert.equal(await row.getByTestId('severity').textContent(), severity);
      await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'jobs-severity.png') });
      assert.deepEqual(pageErrors, []);
    } finally {
      await page.context().close();
    }
  });

  test('a bigger job: the bar moves while the logs are read', { timeout: 180_000 }, async () => {
    // ~60 MB: the same incident after a long quiet morning, so reading takes a moment.
    const quiet = [];
    for (let i = 0; i < 2000; i++) quiet.push(JSON.stringify({ client: `10.0.0.${i % 250}`, level: 'info', logger: 'http', msg: `GET /api/orders/${1000 + i} 200 ${10 + (i % 30)}ms`, ts: '2026-03-14T09:00:00.000Z' }));
    const block = quiet.join('\n') + '\n';
    const big = block.repeat(Math.ceil((60 << 20) / block.length)) + app.text;
    // Playwright passes files over 50 MB by path.
    const dir = mkdtempSync(path.join(tmpdir(), 'rca-e2e-big-'));
    const bigPath = path.join(dir, 'app-big.log');
    writeFileSync(bigPath, big);
    const dbPath = path.join(dir, 'db.log');
    writeFileSync(dbPath, dbLog());
    const job = await h.api('POST', '/jobs', { job_type: 'incident-e2e-big' });
    const page = await h.newPage();
    try {
      await page.goto(`/jobs/${job.id}`);
      await see(page.getByRole('region', { name: 'Upload logs' }).getByText(/Accepted: .*\.log/));
      await page.getByLabel('Choose files to upload').setInputFiles([dbPath, bigPath]);
      const uploads = page.getByRole('list', { name: 'Uploads' });
      await see(uploads.getByRole('listitem', { name: 'app-big.log' }).getByText('Uploaded.'), 60_000);
      await page.evaluate(() => {
        window.__bar = [];
        new MutationObserver(() => {
          const v = document.querySelector('[data-testid="progress-bar"]')?.getAttribute('value');
          if (v !== null && v !== undefined && window.__bar[window.__bar.length - 1] !== v) window.__bar.push(v);
        }).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
      });
      const start = page.getByRole('button', { name: 'Start analysis' });
      await until('Start analysis is enabled', () => start.isEnabled());
      await start.click();
      const panel = page.getByTestId('progress');
      // A picture of the bar part way, when the run is slow enough to catch one.
      let caught = false;
      await until('the analysis completes', async () => {
        const v = Number(await panel.getByTestId('progress-bar').getAttribute('value').catch(() => null));
        if (!caught && v > 0 && v < 100) {
          caught = true;
          await panel.screenshot({ path: path.join(SCREENSHOT_DIR, 'job-progress-running.png') });
        }
        return (await panel.getByTestId('stage').textContent()) === 'Analysis completed';
      }, 120_000);
      const values = (await page.evaluate(() => window.__bar)).map(Number);
      console.log(`bar values seen: ${values.join(', ')}${caught ? ' (screenshot part way)' : ''}`);
      assert.equal(values[values.length - 1], 100, values.join(', '));
      assert.ok(values.every((v, i) => i === 0 || v >= values[i - 1]), `the bar went back: ${values.join(', ')}`);
      // Whenever the worker reported a share part way (at most twice a
      // second, so a very fast machine may not), the bar showed it.
      const events = await h.api('GET', `/jobs/${job.id}/events?limit=500`);
      const partway = events.filter((e) => e.event_type === 'analysis-progress' && e.data.percent > 0 && e.data.percent < 100);
      if (partway.length > 0) assert.ok(values.some((v) => v > 0 && v < 100), `no value part way: ${values.join(', ')}`);
      const top = page.getByTestId('report').getByTestId('cause').first();
      await see(top);
      assert.match(await top.getByRole('heading').textContent(), /refused/i);
      // The report in dark mode (the chart takes the page's colours).
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.reload();
      const report = page.getByTestId('report');
      await see(report.locator('.chart-canvas[data-drawn="yes"] canvas'), 30_000);
      // 500,000 quiet records beside a few hundred errors: the log scale shows both.
      await report.getByLabel('Logarithmic scale').check();
      await see(report.locator('.chart-canvas[data-drawn="yes"] canvas'));
      await page.setViewportSize({ width: 1200, height: 1100 });
      await report.evaluate((el) => el.scrollIntoView({ block: 'start' }));
      await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'job-report-dark.png') });
    } finally {
      await page.context().close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
