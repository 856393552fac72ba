// A tiny subscribable store of the service's dependency states, fed by
// every source the API offers:
//   - the X-Degraded header of every response (http.ts),
//   - the `dependency` member of 503 problems (http.ts),
//   - `dependency` events of /api/sse/events (the StatusBanner),
//   - /api/health, polled as a fallback (the StatusBanner).
// The newest report about a dependency wins. Components read it with
// useSyncExternalStore (see useDegraded in components/StatusBanner.tsx).

import type { DependencyState, DependencyStatus, HealthReport } from './types';

export type DegradedSource = 'header' | 'problem' | 'sse' | 'health';

export interface DependencyView {
  name: string;
  status: DependencyStatus;
  cause?: string;
  since?: string;
  /** When the service next tries to reconnect, in ms since the epoch (browser clock). */
  nextRetryAt?: number;
  source: DegradedSource;
}

export interface DegradedState {
  readonly deps: Readonly<Record<string, DependencyView>>;
}

type Listener = () => void;

/** connecting and down refuse callers; up and disabled (not configured) do not. */
export function isDegradedStatus(status: DependencyStatus | undefined): boolean {
  return status === 'down' || status === 'connecting';
}

/** Parses an X-Degraded value ("postgres,redis") into names. */
export function parseDegradedHeader(value: string | null | undefined): string[] {
  if (!value) return [];
  return value
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
}

/**
 * When a dependency is next retried, on the browser's clock. next_retry is
 * the server's clock; retry_after_seconds is relative (whole seconds, at
 * least 1). next_retry is used unless it disagrees with the relative value by
 * more than a few seconds, which means the two clocks disagree.
 */
export function retryDeadline(
  info: { next_retry?: string | undefined; retry_after_seconds?: number | undefined },
  now: number,
): number | undefined {
  const absolute = info.next_retry ? Date.parse(info.next_retry) : NaN;
  const relative =
    typeof info.retry_after_seconds === 'number' && Number.isFinite(info.retry_after_seconds)
      ? now + Math.max(0, info.retry_after_seconds) * 1000
      : undefined;
  if (!Number.isNaN(absolute)) {
    if (relative === undefined || Math.abs(absolute - relative) <= 5000) return absolute;
    return relative;
  }
  return relative;
}

function sameView(a: DependencyView | undefined, b: DependencyView): boolean {
  return (
    a !== undefined &&
    a.status === b.status &&
    a.cause === b.cause &&
    a.since === b.since &&
    a.nextRetryAt === b.nextRetryAt
  );
}

export interface DegradedStore {
  getSnapshot(): DegradedState;
  subscribe(listener: Listener): () => void;
  /** The X-Degraded header of a response (null when absent: all healthy). */
  reportHeader(value: string | null): void;
  /** A dependency event, or the dependency member of a problem. */
  reportDependency(info: DependencyState, source?: DegradedSource): void;
  /** A /api/health report. */
  reportHealth(report: HealthReport): void;
  reset(): void;
}

export function createDegradedStore(now: () => number = () => Date.now()): DegradedStore {
  let state: DegradedState = { deps: {} };
  const listeners = new Set<Listener>();

  function commit(next: Record<string, DependencyView>) {
    state = { deps: next };
    for (const l of [...listeners]) l();
  }

  function put(updates: DependencyView[]) {
    let changed = false;
    const next = { ...state.deps };
    for (const u of updates) {
      if (!sameView(next[u.name], u)) {
        next[u.name] = u;
        changed = true;
      }
    }
    if (changed) commit(next);
  }

  return {
    getSnapshot: () => state,
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    reportHeader(value) {
      const named = new Set(parseDegradedHeader(value));
      const updates: DependencyView[] = [];
      for (const name of named) {
        const cur = state.deps[name];
        // Keep what a richer source said (cause, next retry) while it
        // still holds; the header only says "impaired".
        if (!cur || !isDegradedStatus(cur.status)) {
          updates.push({ name, status: 'down', source: 'header' });
        }
      }
      for (const cur of Object.values(state.deps)) {
        if (!named.has(cur.name) && isDegradedStatus(cur.status)) {
          updates.push({ name: cur.name, status: 'up', source: 'header' });
        }
      }
      put(updates);
    },
    reportDependency(info, source = 'sse') {
      if (!info || typeof info.name !== 'string' || !info.name) return;
      const degraded = isDegradedStatus(info.status);
      const view: DependencyView = { name: info.name, status: info.status, source };
      if (info.cause && degraded) view.cause = info.cause;
      if (info.since) view.since = info.since;
      const at = degraded ? retryDeadline(info, now()) : undefined;
      if (at !== undefined) view.nextRetryAt = at;
      put([view]);
    },
    reportHealth(report) {
      const updates: DependencyView[] = [];
      for (const [name, entries] of Object.entries(report?.checks ?? {})) {
        const c = entries?.[0];
        if (!c || !c.state) continue; // migrations, uptime: not dependencies
        const view: DependencyView = { name, status: c.state, source: 'health' };
        const degraded = isDegradedStatus(c.state);
        if (c.cause && degraded) view.cause = c.cause;
        if (c.since) view.since = c.since;
        if (degraded && c.nextRetry) {
          const at = Date.parse(c.nextRetry);
          if (!Number.isNaN(at)) view.nextRetryAt = at;
        }
        updates.push(view);
      }
      put(updates);
    },
    reset() {
      commit({});
    },
  };
}

/** The application's store. */
export const degradedStore = createDegradedStore();

export function postgresView(s: DegradedState): DependencyView | undefined {
  return s.deps['postgres'];
}

export function isPostgresDown(s: DegradedState): boolean {
  return isDegradedStatus(s.deps['postgres']?.status);
}

export function isRedisDegraded(s: DegradedState): boolean {
  return isDegradedStatus(s.deps['redis']?.status);
}
