// End-to-end test of signing in, against the real binary with AUTH_MODE=writes
// (reads open, writes need a token) and an admin account made at start.
// Run with `npm run e2e` after `make build` (see harness.mjs).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Harness, SCREENSHOT_DIR, T, see, until } from './harness.mjs';

const ADMIN = { username: 'admin', email: 'admin@example.com', password: `pw-${randomBytes(12).toString('hex')}` };

/** Everything the page keeps in Web Storage, and what its scripts can see of cookies. */
function storage(page) {
  return page.evaluate(() => ({
    local: Object.keys(localStorage).map((k) => `${k}=${localStorage.getItem(k)}`),
    session: Object.keys(sessionStorage).map((k) => `${k}=${sessionStorage.getItem(k)}`),
    cookie: document.cookie,
  }));
}

describe('signing in end to end (AUTH_MODE=writes)', { concurrency: 1, timeout: 180_000 }, () => {
  const h = new Harness({
    env: {
      AUTH_MODE: 'writes',
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      JWT_SECRET_KEY: randomBytes(32).toString('hex'),
    },
  });
  const seeded = `e2e-seeded-${Date.now().toString(36)}`;
  const created = `e2e-auth-${Date.now().toString(36)}`;
  let seededId = '';

  /** POST /api/auth/login from the test itself; the access token. */
  async function apiLogin() {
    const r = await fetch(`${h.baseURL}/api/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: new URLSearchParams({ username: ADMIN.username, password: ADMIN.password }),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await r.text();
    assert.equal(r.status, 200, `login: ${r.status} ${text}`);
    return JSON.parse(text).access_token;
  }

  before(async () => {
    await h.start();
    // A job to look at, made through the API as the admin.
    const job = await h.api('POST', '/jobs', { job_type: seeded, user_id: 'e2e-user' }, { token: await apiLogin() });
    seededId = job.id;
  }, { timeout: 90_000 });

  after(async () => {
    await h.stop();
  }, { timeout: 60_000 });

  test('a visitor reads, signs in, writes, stays signed in over a reload, and signs out for real', { timeout: 120_000 }, async () => {
    const page = await h.newPage();
    const bearer = [];
    page.on('request', (req) => {
      const a = req.headers()['authorization'];
      if (a) bearer.push(a);
    });
    try {
      // A visitor: the list and a job's live timeline, but no writes.
      await page.goto('/jobs');
      const list = page.getByRole('table', { name: /^Jobs/ });
      await see(list.getByRole('row').filter({ hasText: seeded }));
      const create = page.getByRole('button', { name: 'Create job' });
      await see(create);
      assert.equal(await create.isEnabled(), false, 'Create job is disabled for a visitor');
      const form = page.getByRole('form', { name: 'New job' });
      await see(form.getByText('to create jobs.'));
      assert.match((await create.getAttribute('title')) ?? '', /^Sign in to create jobs\./);
      const header = page.getByRole('banner');
      await see(header.getByRole('link', { name: 'Sign in' }));

      await page.goto(`/jobs/${seededId}`);
      await see(page.getByTestId('stream-state').filter({ hasText: 'Live' }));
      await see(page.getByRole('region', { name: 'Events' }).getByText('created', { exact: true }));
      assert.equal(await page.getByRole('button', { name: 'Cancel job' }).isEnabled(), false);
      const jira = page.getByRole('checkbox', { name: 'Jira enabled' });
      await see(jira);
      assert.equal(await jira.isEnabled(), false);
      await see(page.getByText('as an admin to change integrations.'));

      // The sign-in page, reached from the note; back to the job afterwards.
      await page.getByRole('form', { name: 'Cancel this job' }).getByRole('link', { name: 'Sign in' }).click();
      await see(page.getByRole('heading', { level: 1, name: 'Sign in' }));
      assert.equal(new URL(page.url()).searchParams.get('from'), `/jobs/${seededId}`);
      mkdirSync(SCREENSHOT_DIR, { recursive: true });
      await page.evaluate(() => document.fonts.ready);
      await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'signin.png') });

      // A wrong password: the server's words, and still a visitor.
      await page.getByLabel('Username or email').fill(ADMIN.username);
      await page.getByLabel('Password').fill('not the password');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await see(page.getByRole('alert').filter({ hasText: /incorrect/i }));

      await page.getByLabel('Password').fill(ADMIN.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await until('back on the job page', () => new URL(page.url()).pathname === `/jobs/${seededId}`);
      await see(header.getByRole('button', { name: 'Sign out' }));
      await see(header.getByText(ADMIN.username, { exact: true }));
      await see(header.getByText('admin', { exact: true }));
      await until('the Jira toggle is enabled for an admin', () => page.getByRole('checkbox', { name: 'Jira enabled' }).isEnabled());

      // A write, with the access token.
      await page.goto('/jobs');
      await until('the Create job button is enabled', () => create.isEnabled());
      await page.getByLabel('Job type').fill(created);
      await create.click();
      await see(page.getByRole('status').filter({ hasText: `(${created})` }));
      await see(list.getByRole('row').filter({ hasText: created }));
      assert.ok(bearer.length > 0, 'requests carried Authorization: Bearer');
      const token = bearer.at(-1).replace(/^Bearer /, '');

      // The tokens are nowhere a script could read them.
      const cookies = await page.context().cookies();
      const refresh = cookies.find((c) => c.name === 'rca_refresh');
      assert.ok(refresh, `the refresh cookie is set (cookies: ${cookies.map((c) => c.name).join(', ')})`);
      assert.equal(refresh.httpOnly, true);
      let st = await storage(page);
      assert.deepEqual([st.local, st.session], [[], []], 'nothing in Web Storage');
      assert.ok(!st.cookie.includes('rca_refresh') && !st.cookie.includes(token), 'no token in document.cookie');

      // A reload: the refresh cookie brings the session back.
      await page.reload();
      await see(header.getByRole('button', { name: 'Sign out' }));
      await until('the Create job button is enabled after the reload', () => create.isEnabled());
      st = await storage(page);
      assert.deepEqual([st.local, st.session], [[], []], 'nothing in Web Storage after the reload');
      const html = await page.content();
      assert.ok(!html.includes(token), 'no token in the page');

      // Sign out: writes disabled again, the session gone on the server.
      await header.getByRole('button', { name: 'Sign out' }).click();
      await see(header.getByRole('link', { name: 'Sign in' }));
      await until('the Create job button is disabled again', async () => !(await create.isEnabled()));
      assert.equal(await page.getByTestId('auth-notice').count(), 0, 'no message: the sign-out worked');
      const status = await page.evaluate(async () => {
        const r = await fetch('/api/auth/refresh', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: '{}',
        });
        return r.status;
      });
      assert.equal(status, 401, 'the refresh cookie no longer gives a session');
      await assert.rejects(
        h.api('POST', '/jobs', { job_type: `${created}-after` }, { token }),
        /: 401 /,
        'the last access token was revoked with its session',
      );
      await page.reload();
      await see(header.getByRole('link', { name: 'Sign in' }));
      assert.equal(await create.isEnabled(), false);
    } finally {
      await page.context().close();
    }
  });

  test('a phone-width sign-in page: no sideways scrolling, keyboard only', { timeout: 60_000 }, async () => {
    const context = await h.browser.newContext({ viewport: { width: 375, height: 740 }, baseURL: h.baseURL });
    context.setDefaultTimeout(T);
    const page = await context.newPage();
    try {
      await page.goto('/signin?from=%2Ftickets');
      await see(page.getByRole('heading', { level: 1, name: 'Sign in' }));
      const wide = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
      assert.equal(wide, false, 'the page fits 375 px');

      await page.getByLabel('Username or email').focus();
      await page.keyboard.type(ADMIN.email);
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'signin-password');
      await page.keyboard.type(ADMIN.password);
      await page.keyboard.press('Enter');
      await until('on the tickets page', () => new URL(page.url()).pathname === '/tickets');
      await see(page.getByRole('heading', { level: 1, name: 'Tickets' }));
      await see(page.getByRole('button', { name: 'Sign out' }));
      const wideAfter = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
      assert.equal(wideAfter, false, 'the header with the account fits 375 px');
    } finally {
      await context.close();
    }
  });
});

describe('signing in end to end (AUTH_MODE=all)', { concurrency: 1, timeout: 120_000 }, () => {
  const h = new Harness({
    env: {
      AUTH_MODE: 'all',
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      JWT_SECRET_KEY: randomBytes(32).toString('hex'),
    },
  });

  before(async () => {
    await h.start();
  }, { timeout: 90_000 });

  after(async () => {
    await h.stop();
  }, { timeout: 60_000 });

  test('a visitor is sent to the sign-in page; signed in, pages and event streams work', { timeout: 60_000 }, async () => {
    const page = await h.newPage();
    const streams = [];
    page.on('request', (req) => {
      if (req.url().includes('/api/sse/')) streams.push(req.url());
    });
    try {
      await page.goto('/jobs?status=pending');
      await see(page.getByRole('heading', { level: 1, name: 'Sign in' }));
      const url = new URL(page.url());
      assert.equal(url.pathname, '/signin');
      assert.equal(url.searchParams.get('from'), '/jobs?status=pending');
      assert.deepEqual(streams, [], 'no event stream without a token');

      await page.getByLabel('Username or email').fill(ADMIN.username);
      await page.getByLabel('Password').fill(ADMIN.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await see(page.getByRole('heading', { level: 1, name: 'Jobs' }));
      assert.equal(new URL(page.url()).search, '?status=pending');

      const jobType = `e2e-all-${Date.now().toString(36)}`;
      await page.getByLabel('Job type').fill(jobType);
      await page.getByRole('button', { name: 'Create job' }).click();
      const ok = page.getByRole('status').filter({ hasText: `(${jobType})` });
      await see(ok);
      await ok.getByRole('link').click();
      // The job's stream, authenticated through ?access_token= (EventSource sends no headers).
      await see(page.getByTestId('stream-state').filter({ hasText: 'Live' }));
      await see(page.getByRole('region', { name: 'Events' }).getByText('created', { exact: true }));
      assert.ok(streams.some((u) => u.includes('/api/sse/jobs/') && u.includes('access_token=')), streams.join('\n'));
      assert.ok(streams.some((u) => u.includes('/api/sse/events') && u.includes('access_token=')), streams.join('\n'));

      // Signed out: back to the sign-in page, which comes back here afterwards.
      await page.getByRole('banner').getByRole('button', { name: 'Sign out' }).click();
      await see(page.getByRole('heading', { level: 1, name: 'Sign in' }));
      assert.match(new URL(page.url()).searchParams.get('from') ?? '', /^\/jobs\/[0-9a-f-]{36}$/);
    } finally {
      await page.context().close();
    }
  });
});
