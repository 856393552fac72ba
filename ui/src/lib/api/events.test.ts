import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createEventDeduper,
  mergeEvents,
  openStream,
  parseEventId,
  retryDelayMs,
  type ConnectionState,
  type EventSourceLike,
  type ProbeResult,
} from './events';
import type { JobEvent } from './types';

function ev(id: number, type = 'created'): JobEvent {
  return { id, job_id: 'j1', event_type: type, data: {}, created_at: '2025-01-31T12:00:00Z' };
}

describe('parseEventId', () => {
  it('accepts non-negative integers only', () => {
    expect(parseEventId('42')).toBe(42);
    expect(parseEventId(' 7 ')).toBe(7);
    expect(parseEventId(0)).toBe(0);
    expect(parseEventId('')).toBeNull();
    expect(parseEventId('abc')).toBeNull();
    expect(parseEventId('-1')).toBeNull();
    expect(parseEventId('1.5')).toBeNull();
    expect(parseEventId(undefined)).toBeNull();
  });
});

describe('mergeEvents (timeline dedupe by id)', () => {
  it('drops ids already present and keeps id order', () => {
    const a = mergeEvents([], [ev(1), ev(2), ev(3)]);
    expect(a.map((e) => e.id)).toEqual([1, 2, 3]);
    // A replay after a reconnect overlaps what was received.
    const b = mergeEvents(a, [ev(2), ev(3), ev(4)]);
    expect(b.map((e) => e.id)).toEqual([1, 2, 3, 4]);
  });

  it('returns the same array when nothing is new', () => {
    const a = mergeEvents([], [ev(1), ev(2)]);
    expect(mergeEvents(a, ev(2))).toBe(a);
    expect(mergeEvents(a, [])).toBe(a);
  });

  it('dedupes within one batch and sorts out-of-order arrivals', () => {
    const a = mergeEvents([ev(5)], [ev(3), ev(3), ev(9), ev(1)]);
    expect(a.map((e) => e.id)).toEqual([1, 3, 5, 9]);
  });

  it('does not mutate its input', () => {
    const cur = [ev(2)];
    const next = mergeEvents(cur, ev(1));
    expect(cur.map((e) => e.id)).toEqual([2]);
    expect(next.map((e) => e.id)).toEqual([1, 2]);
  });
});

describe('createEventDeduper', () => {
  it('accepts an id once', () => {
    const d = createEventDeduper();
    expect(d.accept(1)).toBe(true);
    expect(d.accept(1)).toBe(false);
    expect(d.accept(2)).toBe(true);
  });

  it('forgets the oldest ids beyond its capacity', () => {
    const d = createEventDeduper(2);
    d.accept(1);
    d.accept(2);
    d.accept(3);
    expect(d.size()).toBe(2);
    expect(d.accept(1)).toBe(true); // forgotten
    expect(d.accept(3)).toBe(false);
  });
});

describe('retryDelayMs', () => {
  it('follows Retry-After, bounded, with up to 1 s of jitter', () => {
    expect(retryDelayMs(1, 4, () => 0)).toBe(4000);
    expect(retryDelayMs(1, 4, () => 0.5)).toBe(4500);
    expect(retryDelayMs(1, 0, () => 0)).toBe(1000);
    expect(retryDelayMs(1, 600, () => 0)).toBe(30000);
  });
  it('backs off exponentially without one', () => {
    expect(retryDelayMs(1, null, () => 0.5)).toBe(2000);
    expect(retryDelayMs(2, undefined, () => 0.5)).toBe(4000);
    expect(retryDelayMs(10, undefined, () => 0.5)).toBe(30000);
    expect(retryDelayMs(1, undefined, () => 0)).toBe(1600);
  });
});

// A scriptable stand-in for EventSource.
class FakeEventSource implements EventSourceLike {
  static instances: FakeEventSource[] = [];
  readyState = 0;
  onopen: ((ev: Event) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  closed = false;
  private listeners = new Map<string, ((ev: MessageEvent) => void)[]>();
  constructor(readonly url: string) {
    FakeEventSource.instances.push(this);
  }
  addEventListener(type: string, l: (ev: MessageEvent) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), l]);
  }
  close() {
    this.closed = true;
    this.readyState = 2;
  }
  open() {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }
  emit(type: string, data: unknown, id = '') {
    const e = new MessageEvent(type, { data: JSON.stringify(data), lastEventId: id });
    for (const l of this.listeners.get(type) ?? []) l(e);
  }
  /** The connection dropped; the browser will retry by itself. */
  drop() {
    this.readyState = 0;
    this.onerror?.(new Event('error'));
  }
  /** The server answered an error status: EventSource gives up. */
  fail() {
    this.readyState = 2;
    this.onerror?.(new Event('error'));
  }
}

const factory = (url: string) => new FakeEventSource(url);

describe('openStream', () => {
  beforeEach(() => {
    FakeEventSource.instances = [];
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('delivers each job event once, even when a replay repeats it', () => {
    const got: number[] = [];
    const sub = openStream('/sse/jobs/j1', { onEvent: (e) => got.push(e.id) }, { factory });
    const es = FakeEventSource.instances[0]!;
    expect(es.url).toBe('/api/sse/jobs/j1');
    es.open();
    es.emit('created', ev(1), '1');
    es.emit('ticket-created', ev(2, 'ticket-created'), '2');
    // The browser reconnects by itself with Last-Event-ID; an overlapping replay:
    es.drop();
    es.open();
    es.emit('ticket-created', ev(2, 'ticket-created'), '2');
    es.emit('cancelled', ev(3, 'cancelled'), '3');
    expect(got).toEqual([1, 2, 3]);
    expect(sub.lastEventId()).toBe('3');
    sub.close();
  });

  it('reports connection states and passes dependency events through', () => {
    const states: ConnectionState[] = [];
    const deps: string[] = [];
    const sub = openStream('/sse/events', { onState: (s) => states.push(s), onDependency: (d) => deps.push(`${d.name}:${d.status}`) }, { factory });
    const es = FakeEventSource.instances[0]!;
    es.open();
    // Non-job events repeat the last id: never deduped.
    es.emit('dependency', { name: 'postgres', status: 'down' }, '5');
    es.emit('dependency', { name: 'postgres', status: 'up' }, '5');
    es.drop();
    es.open();
    sub.close();
    expect(deps).toEqual(['postgres:down', 'postgres:up']);
    expect(states).toEqual(['connecting', 'open', 'reconnecting', 'open', 'closed']);
  });

  it('recreates a closed EventSource after the probe’s Retry-After, resuming from the last id', async () => {
    const probe = vi.fn(async (): Promise<ProbeResult> => ({ action: 'retry', retryAfterSeconds: 3 }));
    const got: number[] = [];
    const sub = openStream('/sse/jobs/j1', { onEvent: (e) => got.push(e.id) }, { factory, probe });
    const first = FakeEventSource.instances[0]!;
    first.open();
    first.emit('created', ev(1), '1');
    first.fail(); // e.g. 503 while the database is down
    expect(sub.state()).toBe('reconnecting');
    await vi.advanceTimersByTimeAsync(0);
    expect(probe).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(2999);
    expect(FakeEventSource.instances).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1001); // 3 s + at most 1 s of jitter
    expect(FakeEventSource.instances).toHaveLength(2);
    const second = FakeEventSource.instances[1]!;
    expect(second.url).toBe('/api/sse/jobs/j1?last_event_id=1');
    second.open();
    second.emit('created', ev(1), '1');
    second.emit('started', ev(2, 'started'), '2');
    expect(got).toEqual([1, 2]);
    sub.close();
  });

  it('reconnectNow skips the wait', async () => {
    const sub = openStream('/sse/events', {}, { factory, probe: async () => ({ action: 'retry', retryAfterSeconds: 30 }) });
    FakeEventSource.instances[0]!.fail();
    await vi.advanceTimersByTimeAsync(0);
    expect(FakeEventSource.instances).toHaveLength(1);
    sub.reconnectNow();
    expect(FakeEventSource.instances).toHaveLength(2);
    sub.close();
  });

  it('stops when the probe says the job does not exist', async () => {
    const stopped: string[] = [];
    const sub = openStream('/sse/jobs/nope', { onStopped: (r) => stopped.push(r) }, { factory, probe: async () => ({ action: 'stop', reason: 'not-found' }) });
    FakeEventSource.instances[0]!.fail();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(stopped).toEqual(['not-found']);
    expect(sub.state()).toBe('closed');
    expect(FakeEventSource.instances).toHaveLength(1);
  });

  it('closes on complete, without reconnecting', async () => {
    const done: string[] = [];
    const sub = openStream('/sse/jobs/j1', { onComplete: (c) => done.push(c.status) }, { factory });
    const es = FakeEventSource.instances[0]!;
    es.open();
    es.emit('complete', { event_type: 'complete', job_id: 'j1', status: 'cancelled' }, '3');
    expect(done).toEqual(['cancelled']);
    expect(es.closed).toBe(true);
    expect(sub.state()).toBe('closed');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeEventSource.instances).toHaveLength(1);
  });

  it('tells a server error event from a connection error', () => {
    const notes: string[] = [];
    const states: ConnectionState[] = [];
    const sub = openStream('/sse/events', { onServerError: (d) => notes.push(d), onState: (s) => states.push(s) }, { factory });
    const es = FakeEventSource.instances[0]!;
    es.open();
    es.onerror?.(new MessageEvent('error', { data: JSON.stringify({ detail: 'could not read past events; retrying' }) }));
    expect(notes).toEqual(['could not read past events; retrying']);
    expect(sub.state()).toBe('open');
    sub.close();
  });

  it('reconnects a stream that went silent (watchdog)', async () => {
    const sub = openStream('/sse/jobs/j1', {}, { factory, watchdogMs: 45_000 });
    const es = FakeEventSource.instances[0]!;
    es.open();
    await vi.advanceTimersByTimeAsync(30_000);
    es.emit('heartbeat', { job_id: 'j1', status: 'running', timestamp: 'x' });
    await vi.advanceTimersByTimeAsync(30_000);
    expect(FakeEventSource.instances).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(15_000 + 30_000);
    expect(es.closed).toBe(true);
    expect(FakeEventSource.instances.length).toBeGreaterThanOrEqual(2);
    sub.close();
  });
});
