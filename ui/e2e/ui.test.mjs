// End-to-end tests of the web UI against the real binary and PostgreSQL.
// Run with `npm run e2e` after `make build` (see harness.mjs).

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Harness, SCREENSHOT_DIR, see, until } from './harness.mjs';

const OUTAGE_T = 20_000; // per outage transition

describe('web UI end to end', { concurrency: 1, timeout: 180_000 }, () => {
  const h = new Harness();
  const jobType = `e2e-job-${Date.now().toString(36)}`;
  const ticketSummary = `E2E ticket ${Date.now().toString(36)}`;
  let jobId = '';
  let ticketId = '';

  before(async () => {
    await h.start();
  }, { timeout: 90_000 });

  after(async () => {
    await h.stop();
  }, { timeout: 60_000 });

  test('a) create a job through the Jobs page form and see it listed', { timeout: 60_000 }, async () => {
    const page = await h.newPage();
    try {
      await page.goto('/jobs');
      await see(page.getByRole('heading', { name: 'Jobs', level: 1 }));
      const create = page.getByRole('button', { name: 'Create job' });
      await see(create);
      await until('the Create job button is enabled', () => create.isEnabled());

      await page.getByLabel('Job type').fill(jobType);
      await page.getByLabel('User').fill('e2e-user');
      await page.getByLabel('Priority').fill('3');
      await create.click();

      const ok = page.getByRole('status').filter({ hasText: `(${jobType})` });
      await see(ok);
      jobId = (await ok.getByRole('link').getAttribute('href')).replace(/^\/jobs\//, '');
      assert.match(jobId, /^[0-9a-f-]{36}$/);

      const list = page.getByRole('table', { name: /^Jobs/ });
      const row = list.getByRole('row').filter({ hasText: jobType });
      await see(row);
      await see(row.getByRole('cell', { name: 'e2e-user' }));

      // The API agrees.
      const job = await h.api('GET', `/jobs/${jobId}`);
      assert.equal(job.job_type, jobType);
      assert.equal(job.priority, 3);
    } finally {
      await page.context().close();
    }
  });

  test('b) a ticket created elsewhere appears live in another page of the job', { timeout: 60_000 }, async () => {
    assert.ok(jobId, 'test a) created the job');
    const first = await h.newPage();
    const second = await h.newPage();
    try {
      for (const p of [first, second]) {
        await p.goto(`/jobs/${jobId}`);
        await see(p.getByRole('heading', { level: 1, name: /^Job / }));
        await see(p.getByTestId('stream-state').filter({ hasText: 'Live' }));
      }
      const timeline2 = second.getByRole('region', { name: 'Events' });
      await see(timeline2.getByText('created', { exact: true }));
      assert.equal(await timeline2.getByText('ticket-created', { exact: true }).count(), 0);

      // In the first page: turn Jira on (a fresh database has every platform
      // off, and dispatch files one ticket per enabled platform)...
      const jira = first.getByRole('checkbox', { name: 'Jira enabled' });
      await see(jira);
      await until('the Jira toggle is enabled', () => jira.isEnabled());
      if (!(await jira.isChecked())) {
        // A controlled checkbox that changes once the server has saved it:
        // click, then wait for the saved state (check() would race it).
        await jira.click();
        await see(first.getByText('Jira enabled: on. Saved.'));
        await until('the Jira toggle shows on', () => jira.isChecked());
      }
      // ...then a dry-run dispatch through the form.
      const dryRun = first.getByLabel('Dry run (preview only, files nothing)');
      assert.equal(await dryRun.isChecked(), true);
      const dispatchBtn = first.getByRole('button', { name: 'Dispatch (dry run)' });
      await until('the dispatch button is enabled', () => dispatchBtn.isEnabled());
      await dispatchBtn.click();
      const result = first.getByRole('status').filter({ hasText: /ticket was created|Created \d+ ticket/ });
      await see(result);
      assert.match(await result.textContent(), /^Created \d+ tickets?: .*jira-/);
      const dispatched = await h.api('GET', `/tickets/${jobId}`);
      assert.ok(dispatched.tickets.length >= 1, 'the dispatch filed at least one ticket');

      // And one more through the API, with a summary we can look for.
      const t = await h.api('POST', '/tickets', {
        job_id: jobId,
        platform: 'jira',
        dry_run: true,
        payload: { summary: ticketSummary },
      });
      ticketId = t.ticket_id;
      assert.ok(ticketId);

      // The second page sees the events live (no reload) and the tickets refresh.
      const expected = dispatched.tickets.length + 1;
      await until(
        `${expected} ticket-created events in the second page's timeline`,
        async () => (await timeline2.getByText('ticket-created', { exact: true }).count()) === expected,
      );
      const tickets2 = second.getByRole('region', { name: 'Tickets of this job, oldest first' });
      await see(tickets2.getByRole('link', { name: ticketId }));
      await see(tickets2.getByText(ticketSummary));

      // Never twice: the stream and the initial load are merged by id.
      const ids = await timeline2.locator('li .mono').allTextContents();
      assert.equal(new Set(ids).size, ids.length, `duplicate events: ${ids.join(', ')}`);

      // After a reload the ticket is still there.
      await second.reload();
      await see(second.getByRole('region', { name: 'Tickets of this job, oldest first' }).getByRole('link', { name: ticketId }));
    } finally {
      await first.context().close();
      await second.context().close();
    }
  });

  test('d) screenshots of the Jobs, Job detail and Tickets pages', { timeout: 60_000 }, async () => {
    assert.ok(jobId && ticketId, 'tests a) and b) created a job and a ticket');
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    const page = await h.newPage();
    try {
      await page.goto('/jobs');
      await see(page.getByRole('table', { name: /^Jobs/ }).getByRole('row').filter({ hasText: jobType }));
      await until('the jobs table is not busy', async () => (await page.locator('table[aria-busy="true"]').count()) === 0);
      await page.evaluate(() => document.fonts.ready);
      await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'jobs.png') });

      await page.goto(`/jobs/${jobId}`);
      await see(page.getByTestId('stream-state').filter({ hasText: 'Live' }));
      await see(page.getByRole('region', { name: 'Events' }).getByText('ticket-created', { exact: true }));
      await see(page.getByRole('region', { name: 'Tickets of this job, oldest first' }).getByRole('link', { name: ticketId }));
      await see(page.getByRole('checkbox', { name: 'Jira enabled' }));
      await page.evaluate(() => document.fonts.ready);
      // The whole page (1200 px wide), so that the timeline and the tickets are both in it.
      await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'job-detail.png'), fullPage: true });

      await page.goto('/tickets');
      await see(page.getByRole('heading', { name: 'Tickets', level: 1 }));
      await see(page.getByRole('link', { name: ticketId }));
      await until('nothing is loading', async () => (await page.getByText(/^Loading/).count()) === 0);
      await page.evaluate(() => document.fonts.ready);
      await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'tickets.png') });
    } finally {
      await page.context().close();
    }
  });

  test('c) database outage: banner and disabled writes, then recovery', { timeout: 90_000 }, async () => {
    const page = await h.newPage();
    try {
      await page.goto('/jobs');
      const create = page.getByRole('button', { name: 'Create job' });
      await see(create);
      await until('the Create job button is enabled', () => create.isEnabled());
      const banner = page.getByTestId('status-banner');
      const unavailable = banner.getByText('Database unavailable');
      assert.equal(await unavailable.count(), 0);

      await h.proxy.down();
      try {
        await see(unavailable, OUTAGE_T);
        await see(page.getByRole('alert').filter({ hasText: 'Database unavailable' }), OUTAGE_T);
        await see(banner.getByText(/Saving is paused while the database is unavailable/), OUTAGE_T);
        await until('the Create job button is disabled', async () => !(await create.isEnabled()), OUTAGE_T);
        assert.match((await create.getAttribute('title')) ?? '', /database is unavailable/);
      } finally {
        await h.proxy.up();
      }

      await unavailable.waitFor({ state: 'detached', timeout: OUTAGE_T });
      await until('the Create job button is enabled again', () => create.isEnabled(), OUTAGE_T);

      // Writes work again.
      const again = `${jobType}-after`;
      await page.getByLabel('Job type').fill(again);
      await create.click();
      await see(page.getByRole('table', { name: /^Jobs/ }).getByRole('row').filter({ hasText: again }));
    } finally {
      await page.context().close();
    }
  });
});
