// End-to-end harness: the real Go binary (../bin/api, built by `make build`)
// against a fresh PostgreSQL database reached through a Node TCP proxy that
// the tests can take down and bring back, driven by Debian's Chromium via
// playwright-core. Everything started here is stopped by stop(), and, should
// the runner die first, by the exit and signal handlers below.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));

export const T = 15_000; // per expectation

/** Waits until `locator` matches (visible). */
export async function see(locator, timeout = T) {
  await locator.first().waitFor({ state: 'visible', timeout });
}

/** Waits until `fn()` returns true. */
export async function until(what, fn, timeout = T) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeout} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const UI_DIR = path.resolve(here, '..');
export const REPO_DIR = path.resolve(UI_DIR, '..');
export const BINARY = path.resolve(UI_DIR, '../bin/api');
export const SCREENSHOT_DIR = path.join(REPO_DIR, 'docs', 'screenshots');

const PG_HOST = process.env.E2E_PG_HOST ?? '127.0.0.1';
const PG_PORT = Number(process.env.E2E_PG_PORT ?? 5432);
const PG_USER = process.env.E2E_PG_USER ?? 'postgres';
const CHROMIUM = process.env.E2E_CHROMIUM ?? '/usr/bin/chromium';
const FORBIDDEN_PORTS = new Set([8001, 18001, 18002]);

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A free TCP port on 127.0.0.1 (never one of the ports reserved for other uses). */
export async function freePort() {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer();
      srv.unref();
      srv.on('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const { port } = srv.address();
        srv.close(() => resolve(port));
      });
    });
    if (!FORBIDDEN_PORTS.has(port)) return port;
  }
}

function psql(sql) {
  const r = spawnSync('psql', ['-h', PG_HOST, '-p', String(PG_PORT), '-U', PG_USER, '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-qc', sql], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.error) throw new Error(`psql failed to run: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`psql -c "${sql}" failed (${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

/**
 * A TCP proxy on 127.0.0.1:<port> in front of PostgreSQL. down() closes the
 * listener and destroys every client and upstream socket (the database
 * "vanishes"); up() listens again on the same port.
 */
export class TcpProxy {
  constructor(targetHost, targetPort) {
    this.targetHost = targetHost;
    this.targetPort = targetPort;
    this.port = 0;
    this.server = null;
    this.sockets = new Set();
  }

  async up() {
    if (this.server) return;
    const server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.port = server.address().port;
    this.server = server;
  }

  async down() {
    const server = this.server;
    this.server = null;
    const closed = server ? new Promise((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await closed;
  }
}

async function waitFor(what, timeoutMs, probe) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const r = await probe();
      if (r === true) return;
      last = String(r);
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
}

// Everything live, so that exit and signal handlers can clean up after a crash.
const live = new Set();
function syncCleanupAll() {
  for (const h of live) h.syncCleanup();
}
process.once('exit', syncCleanupAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    syncCleanupAll();
    process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
  });
}

/**
 * The server's environment besides its address and database. Authentication
 * is off and rate limiting disabled unless a test asks otherwise
 * (new Harness({ env: { AUTH_MODE: 'writes', ... } })).
 */
export const DEFAULT_SERVER_ENV = {
  DB_CHECK_INTERVAL: '500ms',
  DB_RECONNECT_MAX: '1s',
  SSE_HEARTBEAT_INTERVAL: '2s',
  LOG_LEVEL: 'warn',
  AUTH_MODE: 'off',
  RATE_LIMITING_ENABLED: 'false',
};

export class Harness {
  /** @param {{ env?: Record<string, string> }} [opts] env: overrides of DEFAULT_SERVER_ENV */
  constructor(opts = {}) {
    this.env = { ...DEFAULT_SERVER_ENV, ...(opts.env ?? {}) };
    this.dbName = `rca_e2e_${randomBytes(6).toString('hex')}`;
    this.dbCreated = false;
    this.proxy = new TcpProxy(PG_HOST, PG_PORT);
    this.child = null;
    this.baseURL = '';
    this.browser = null;
    this.logs = [];
  }

  /** Starts database, proxy, binary and browser; on any failure cleans up what it started and throws. */
  async start() {
    live.add(this);
    try {
      if (!existsSync(BINARY)) {
        throw new Error(`The API binary ${BINARY} is missing: run \`make build\` in the repository root first (it builds the UI and the binary).`);
      }
      if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (set E2E_CHROMIUM).`);

      psql(`CREATE DATABASE ${this.dbName}`);
      this.dbCreated = true;

      await this.proxy.up();

      const port = await freePort();
      this.baseURL = `http://127.0.0.1:${port}`;
      this.child = spawn(BINARY, [], {
        cwd: REPO_DIR,
        env: {
          ...process.env,
          PORT: String(port),
          HOST: '127.0.0.1',
          DATABASE_URL: `postgres://${PG_USER}@127.0.0.1:${this.proxy.port}/${this.dbName}?sslmode=disable`,
          ...this.env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const keep = (chunk) => {
        this.logs.push(chunk.toString());
        if (this.logs.length > 200) this.logs.shift();
      };
      this.child.stdout.on('data', keep);
      this.child.stderr.on('data', keep);
      let exited = null;
      this.child.once('exit', (code, signal) => (exited = { code, signal }));

      await waitFor('GET /api/jobs to answer 200', 30_000, async () => {
        if (exited) throw new Error(`the binary exited early (${JSON.stringify(exited)}): ${this.logs.join('').slice(-2000)}`);
        const r = await fetch(`${this.baseURL}/api/jobs`, { signal: AbortSignal.timeout(2000) });
        await r.arrayBuffer();
        if (r.status === 401 && this.env.AUTH_MODE === 'all') {
          // Reads need a token too: the readiness probe says whether the database is up.
          const ready = await fetch(`${this.baseURL}/api/health/ready`, { signal: AbortSignal.timeout(2000) });
          const body = await ready.json().catch(() => ({}));
          return body.database === true ? true : `ready: ${JSON.stringify(body)}`;
        }
        return r.status === 200 ? true : `status ${r.status}`;
      }).catch((err) => {
        if (exited) throw err;
        throw new Error(`${err.message}\nserver output:\n${this.logs.join('').slice(-2000)}`);
      });

      this.browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_ARGS,
        timeout: 30_000,
      });
    } catch (err) {
      await this.stop();
      throw err;
    }
    return this;
  }

  /** A new page (own context) with a 1200x800 viewport and 15 s default timeouts. */
  async newPage() {
    const context = await this.browser.newContext({ viewport: { width: 1200, height: 800 }, baseURL: this.baseURL });
    context.setDefaultTimeout(15_000);
    context.setDefaultNavigationTimeout(15_000);
    return context.newPage();
  }

  /** A JSON request to the API (an Idempotency-Key on writes; a bearer token when given). */
  async api(method, route, body, { token } = {}) {
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET') headers['Idempotency-Key'] = randomBytes(16).toString('hex');
    const r = await fetch(`${this.baseURL}/api${route}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} /api${route}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  async stop() {
    if (this.browser) {
      const b = this.browser;
      this.browser = null;
      let timer;
      await Promise.race([b.close().catch(() => {}), new Promise((r) => (timer = setTimeout(r, 10_000)))]);
      clearTimeout(timer);
    }
    if (this.child) {
      const child = this.child;
      this.child = null;
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await gone;
        clearTimeout(t);
      }
    }
    await this.proxy.down();
    this.dropDatabase();
    live.delete(this);
  }

  dropDatabase() {
    if (!this.dbCreated) return;
    this.dbCreated = false;
    try {
      psql(`DROP DATABASE IF EXISTS ${this.dbName} WITH (FORCE)`);
    } catch (err) {
      console.error(`e2e: could not drop database ${this.dbName}: ${err.message}`);
    }
  }

  /** Last resort (process exit): synchronous only. */
  syncCleanup() {
    if (this.child && this.child.exitCode === null) {
      try {
        this.child.kill('SIGKILL');
      } catch {}
    }
    if (this.browser) {
      try {
        const pid = this.browser.process?.()?.pid;
        if (pid) process.kill(pid, 'SIGKILL');
      } catch {}
    }
    this.dropDatabase();
  }
}
