// A small, realistic incident for the analysis e2e test, generated (never
// read from /work/shared): PostgreSQL shuts down at 10:20; from then on
// the app's connections are refused (ECONNREFUSED), its pool times out
// and its requests answer 500. A benign warning (feature flags served from
// cache) repeats all along. One 500 line carries markup, which the UI must
// show as text.

export const EVIL = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">';

function pad(n, w = 2) {
  return String(n).padStart(w, '0');
}

/** 10:00:00 + s seconds (and ms), as ISO 8601. */
function iso(s, ms = 0) {
  const t = new Date(Date.UTC(2026, 2, 14, 10, 0, 0, 0) + s * 1000 + ms);
  return t.toISOString();
}

function pgTime(s, ms = 0) {
  return iso(s, ms).replace('T', ' ').replace('Z', ' UTC');
}

/** db.log: checkpoints every 5 minutes, a fast shutdown at 10:19:58. */
export function dbLog() {
  const out = [];
  for (let m = 0; m <= 25; m += 5) {
    if (m === 20) {
      out.push(`${pgTime(19 * 60 + 58, 500)} [1] LOG:  received fast shutdown request`);
      out.push(`${pgTime(19 * 60 + 58, 510)} [1] LOG:  aborting any active transactions`);
      out.push(`${pgTime(19 * 60 + 58, 800)} [61] LOG:  shutting down`);
      out.push(`${pgTime(19 * 60 + 59, 400)} [1] LOG:  database system is shut down`);
      continue;
    }
    out.push(`${pgTime(m * 60)} [61] LOG:  checkpoint starting: time`);
    out.push(`${pgTime(m * 60 + 2)} [61] LOG:  checkpoint complete: wrote ${31 + m * 7} buffers (0.${m % 9}%); 0 WAL file(s) added, 0 removed, 1 recycled; write=0.740 s, sync=0.002 s, total=0.850 s`);
  }
  return out.join('\n') + '\n';
}

/**
 * app.log (JSON lines): requests answered 200 every ~1.5 s from 10:00, the
 * flags warning every 10 s; from 10:20:00.4 refused connections, pool
 * timeouts and 500s. Returns the text and the line of the first refusal.
 */
export function appLog() {
  const out = [];
  let firstRefused = 0;
  let rnd = 7;
  const next = () => (rnd = (rnd * 1103515245 + 12345) % 2147483648) / 2147483648;
  const line = (o) => out.push(JSON.stringify(o));
  for (let s = 0; s < 25 * 60; s += 1.5) {
    const ms = Math.floor(next() * 400);
    if (Math.floor(s) % 10 === 0 && Number.isInteger(s)) {
      line({ age_s: 20, level: 'warn', logger: 'flags', msg: 'feature flag refresh failed, serving cached flags', ts: iso(s, 997) });
    }
    if (s < 20 * 60) {
      line({ client: `10.0.${Math.floor(next() * 4)}.${Math.floor(next() * 250)}`, level: 'info', logger: 'http', msg: `GET /api/orders/${1000 + Math.floor(next() * 9000)} 200 ${10 + Math.floor(next() * 30)}ms`, ts: iso(s, ms) });
      continue;
    }
    line({ attempt: 1 + Math.floor(next() * 10), level: 'error', logger: 'db.pool', msg: 'connect ECONNREFUSED 10.0.3.7:5432', ts: iso(s, 400) });
    if (!firstRefused) firstRefused = out.length;
    if (s >= 20 * 60 + 4) {
      line({ level: 'error', logger: 'db.pool', msg: 'pool timeout: could not acquire a connection within 5000ms', ts: iso(s, 600), waiting: 5 + Math.floor(next() * 30) });
      const path = out.length % 97 === 0 ? `/api/orders/${EVIL}` : `/api/orders/${1000 + Math.floor(next() * 9000)}`;
      line({ client: `10.0.${Math.floor(next() * 4)}.${Math.floor(next() * 250)}`, level: 'error', logger: 'http', msg: `GET ${path} 500 ${5000 + Math.floor(next() * 9)}ms`, ts: iso(s, 601) });
    }
  }
  return { text: out.join('\n') + '\n', firstRefused };
}
