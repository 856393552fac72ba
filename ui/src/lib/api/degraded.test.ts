import { describe, expect, it, vi } from 'vitest';
import {
  createDegradedStore,
  isPostgresDown,
  isRedisDegraded,
  parseDegradedHeader,
  retryDeadline,
} from './degraded';
import type { HealthReport } from './types';

const NOW = Date.parse('2025-01-31T12:00:00Z');

describe('parseDegradedHeader', () => {
  it('splits, trims and lower-cases', () => {
    expect(parseDegradedHeader('postgres,redis')).toEqual(['postgres', 'redis']);
    expect(parseDegradedHeader(' Postgres , ')).toEqual(['postgres']);
    expect(parseDegradedHeader(null)).toEqual([]);
    expect(parseDegradedHeader('')).toEqual([]);
  });
});

describe('retryDeadline', () => {
  it('uses next_retry when the clocks agree', () => {
    expect(retryDeadline({ next_retry: '2025-01-31T12:00:04Z', retry_after_seconds: 4 }, NOW)).toBe(NOW + 4000);
    expect(retryDeadline({ next_retry: '2025-01-31T12:00:07Z' }, NOW)).toBe(NOW + 7000);
  });
  it('uses retry_after_seconds when the server clock is off', () => {
    expect(retryDeadline({ next_retry: '2025-01-31T13:00:04Z', retry_after_seconds: 4 }, NOW)).toBe(NOW + 4000);
  });
  it('is undefined without either', () => {
    expect(retryDeadline({}, NOW)).toBeUndefined();
  });
});

describe('degraded store', () => {
  it('records dependency events and notifies subscribers', () => {
    const store = createDegradedStore(() => NOW);
    const listener = vi.fn();
    const off = store.subscribe(listener);
    store.reportDependency({ name: 'postgres', status: 'down', cause: 'unreachable', since: '2025-01-31T11:59:00Z', retry_after_seconds: 3, next_retry: '2025-01-31T12:00:03Z' });
    expect(listener).toHaveBeenCalledTimes(1);
    expect(isPostgresDown(store.getSnapshot())).toBe(true);
    expect(store.getSnapshot().deps['postgres']).toMatchObject({ status: 'down', cause: 'unreachable', nextRetryAt: NOW + 3000, source: 'sse' });

    // The same state again: no notification, same snapshot.
    const before = store.getSnapshot();
    store.reportDependency({ name: 'postgres', status: 'down', cause: 'unreachable', since: '2025-01-31T11:59:00Z', retry_after_seconds: 3, next_retry: '2025-01-31T12:00:03Z' });
    expect(listener).toHaveBeenCalledTimes(1);
    expect(store.getSnapshot()).toBe(before);

    store.reportDependency({ name: 'postgres', status: 'up', since: '2025-01-31T12:00:03Z' });
    expect(isPostgresDown(store.getSnapshot())).toBe(false);
    expect(store.getSnapshot().deps['postgres']?.nextRetryAt).toBeUndefined();
    expect(listener).toHaveBeenCalledTimes(2);

    off();
    store.reportDependency({ name: 'postgres', status: 'down' });
    expect(listener).toHaveBeenCalledTimes(2);
  });

  it('treats connecting as degraded and disabled as not', () => {
    const store = createDegradedStore(() => NOW);
    store.reportDependency({ name: 'postgres', status: 'connecting' });
    store.reportDependency({ name: 'redis', status: 'disabled' });
    expect(isPostgresDown(store.getSnapshot())).toBe(true);
    expect(isRedisDegraded(store.getSnapshot())).toBe(false);
  });

  it('keeps the richer state while the header still names the dependency', () => {
    const store = createDegradedStore(() => NOW);
    store.reportDependency({ name: 'postgres', status: 'down', cause: 'timeout', retry_after_seconds: 8 });
    store.reportHeader('postgres');
    expect(store.getSnapshot().deps['postgres']).toMatchObject({ cause: 'timeout', nextRetryAt: NOW + 8000, source: 'sse' });
    store.reportHeader(null);
    expect(store.getSnapshot().deps['postgres']).toMatchObject({ status: 'up', source: 'header' });
  });

  it('does not turn a disabled dependency up when the header is absent', () => {
    const store = createDegradedStore(() => NOW);
    store.reportDependency({ name: 'redis', status: 'disabled' });
    store.reportHeader(null);
    expect(store.getSnapshot().deps['redis']?.status).toBe('disabled');
  });

  it('reads a health report', () => {
    const store = createDegradedStore(() => NOW);
    const report: HealthReport = {
      status: 'fail',
      version: 'dev',
      serviceId: 'rca-engine-api',
      description: 'RCA',
      checks: {
        postgres: [{ componentType: 'datastore', status: 'fail', state: 'down', cause: 'database_missing', nextRetry: '2025-01-31T12:00:09Z' }],
        redis: [{ componentType: 'datastore', status: 'pass', state: 'up' }],
        migrations: [{ componentType: 'component', status: 'warn' }],
        uptime: [{ componentType: 'system', status: 'pass', observedValue: 5 }],
      },
    };
    store.reportHealth(report);
    const s = store.getSnapshot();
    expect(s.deps['postgres']).toMatchObject({ status: 'down', cause: 'database_missing', nextRetryAt: NOW + 9000, source: 'health' });
    expect(s.deps['redis']?.status).toBe('up');
    expect(s.deps['migrations']).toBeUndefined();
  });

  it('reset clears everything', () => {
    const store = createDegradedStore(() => NOW);
    store.reportHeader('postgres');
    store.reset();
    expect(store.getSnapshot().deps).toEqual({});
  });
});
