// Live events over Server-Sent Events.
//
// EventSource reconnects by itself after a dropped connection, sending
// Last-Event-ID, and the server then replays exactly what was missed. It
// gives up for good, though, when the server answers with an error status
// (503 while the database is down, 404 for an unknown job) or 204 (a
// finished job whose end the client has seen): readyState is then CLOSED.
// This module recreates the EventSource in that case, after a delay (the
// Retry-After of a probe request when there is one), resuming with
// ?last_event_id=. Job events are delivered once per id even when a replay
// overlaps what was already received.
//
// Ids: job events carry their job_events id; other events (dependency,
// heartbeat, complete, reset) repeat the last one, so they are never deduped.
//
// EventSource cannot send an Authorization header: when the server wants a
// token for reads too (mode `all`), the access token goes in the URL as
// ?access_token=, read afresh for every (re)connection.

import { session } from '../session';
import { ApiError, API_BASE } from './http';
import { getJob } from './jobs';
import type {
  DependencyState,
  Heartbeat,
  JobEvent,
  StreamComplete,
  StreamReset,
} from './types';
import { isTerminal } from './types';

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/**
 * Event names of job events (EventSource only delivers the names it is asked
 * for). The same list, in the same order, as eventlog.Types on the server
 * (internal/eventlog/types.go); a Go test fails when they differ.
 */
export const JOB_EVENT_TYPES = [
  'created',
  'file-uploaded',
  'started',
  'worker-assigned',
  'analysis-phase',
  'file-processing-started',
  'file-processing-completed',
  'conversation-turn',
  'ticket-created',
  'completed',
  'failed',
  'cancelled',
  'retrying',
  'analysis-progress',
] as const;

// ---------------------------------------------------------------------------
// Pure helpers (unit-tested)

/** A numeric event id, or null for an empty or non-numeric one. */
export function parseEventId(raw: string | number | null | undefined): number | null {
  if (typeof raw === 'number') return Number.isSafeInteger(raw) && raw >= 0 ? raw : null;
  if (raw === null || raw === undefined) return null;
  const s = raw.trim();
  if (!/^\d+$/.test(s)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * Merges incoming events into a timeline: one entry per id, ordered by id
 * (commit order). Returns `current` itself when nothing is new, so React
 * state updates with it are no-ops.
 */
export function mergeEvents(
  current: readonly JobEvent[],
  incoming: JobEvent | readonly JobEvent[],
): readonly JobEvent[] {
  const list: readonly JobEvent[] = Array.isArray(incoming) ? incoming : [incoming as JobEvent];
  const seen = new Set(current.map((e) => e.id));
  const fresh: JobEvent[] = [];
  for (const ev of list) {
    if (!ev || typeof ev.id !== 'number' || seen.has(ev.id)) continue;
    seen.add(ev.id);
    fresh.push(ev);
  }
  if (fresh.length === 0) return current;
  const merged = [...current, ...fresh];
  // Already in order in the common case (live events arrive in id order).
  for (let i = 1; i < merged.length; i++) {
    if (merged[i - 1]!.id > merged[i]!.id) {
      merged.sort((a, b) => a.id - b.id);
      break;
    }
  }
  return merged;
}

/**
 * Remembers the ids delivered on one stream (the most recent `capacity`),
 * so that an event replayed after a reconnect is delivered only once.
 * accept(id) is true the first time an id is seen.
 */
export function createEventDeduper(capacity = 2000): { accept(id: number): boolean; size(): number } {
  const ids = new Set<number>();
  const order: number[] = [];
  return {
    accept(id: number) {
      if (ids.has(id)) return false;
      ids.add(id);
      order.push(id);
      if (order.length > capacity) ids.delete(order.shift()!);
      return true;
    },
    size: () => ids.size,
  };
}

/**
 * How long to wait before recreating a closed EventSource: the server's
 * Retry-After when known (bounded to 1–30 s, plus up to 1 s of jitter so
 * that many tabs do not reconnect in step), else 2 s doubling to 30 s, ±20 %.
 */
export function retryDelayMs(
  attempt: number,
  retryAfterSeconds?: number | null,
  random: () => number = Math.random,
): number {
  if (typeof retryAfterSeconds === 'number' && Number.isFinite(retryAfterSeconds)) {
    const s = Math.min(30, Math.max(1, retryAfterSeconds));
    return Math.round(s * 1000 + random() * 1000);
  }
  const base = Math.min(30_000, 2000 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

function parseJSON<T>(data: unknown): T | null {
  if (typeof data !== 'string') return null;
  try {
    return JSON.parse(data) as T;
  } catch {
    return null;
  }
}

function isJobEvent(v: unknown): v is JobEvent {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as JobEvent).event_type === 'string' &&
    typeof (v as JobEvent).job_id === 'string'
  );
}

// ---------------------------------------------------------------------------
// The stream wrapper

/** What this module needs of an EventSource (tests pass a fake). */
export interface EventSourceLike {
  readonly readyState: number;
  onopen: ((ev: Event) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
  addEventListener(type: string, listener: (ev: MessageEvent) => void): void;
  close(): void;
}
export type EventSourceFactory = (url: string) => EventSourceLike;

const CLOSED = 2;

const defaultFactory: EventSourceFactory = (url) => new EventSource(url) as unknown as EventSourceLike;

export type ProbeResult =
  | { action: 'retry'; retryAfterSeconds?: number | null }
  | { action: 'stop'; reason: 'not-found' | 'finished' };

export interface StreamHandlers {
  /** A job event, once per id. */
  onEvent?(ev: JobEvent): void;
  onHeartbeat?(hb: Heartbeat): void;
  /** The job is finished; the stream is closed. */
  onComplete?(c: StreamComplete): void;
  /** The stream cannot replay what was missed: reload the current state. */
  onReset?(r: StreamReset): void;
  onDependency?(d: DependencyState): void;
  /** The server could not send something and is retrying (an `error` event with data). */
  onServerError?(detail: string): void;
  onState?(s: ConnectionState): void;
  /** The stream stopped for good (unknown job, or finished and fully seen). */
  onStopped?(reason: 'not-found' | 'finished'): void;
}

export interface StreamOptions {
  factory?: EventSourceFactory;
  /** Resume after this id on the first connection. */
  lastEventId?: string;
  /** Reconnect when nothing (not even a heartbeat) arrived for this long. */
  watchdogMs?: number;
  /** Asked, when the EventSource has given up, whether and when to try again. */
  probe?: () => Promise<ProbeResult>;
  /** The access token for the URL, or null for none (default: the session's, in mode `all` only). */
  accessToken?: () => string | null;
}

export interface Subscription {
  close(): void;
  /** Skip the wait of a pending reconnect (e.g. the database is back). */
  reconnectNow(): void;
  state(): ConnectionState;
  /** The last event id received ('' before any). */
  lastEventId(): string;
}

export function openStream(path: string, handlers: StreamHandlers, opts: StreamOptions = {}): Subscription {
  const factory = opts.factory ?? defaultFactory;
  const accessToken = opts.accessToken ?? (() => session.streamToken());
  const dedupe = createEventDeduper();
  let es: EventSourceLike | null = null;
  let state: ConnectionState = 'connecting';
  let lastId = opts.lastEventId ?? '';
  let attempt = 0;
  let stopped = false;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;
  let watchdog: ReturnType<typeof setTimeout> | null = null;
  let probing = false;

  function setState(s: ConnectionState) {
    if (s === state) return;
    state = s;
    handlers.onState?.(s);
  }

  function clearTimers() {
    if (retryTimer) clearTimeout(retryTimer);
    if (watchdog) clearTimeout(watchdog);
    retryTimer = watchdog = null;
  }

  function armWatchdog() {
    if (!opts.watchdogMs || stopped) return;
    if (watchdog) clearTimeout(watchdog);
    watchdog = setTimeout(() => {
      watchdog = null;
      // A connection that went silent (a NAT forgot it): start over.
      drop();
      void scheduleReconnect(false);
    }, opts.watchdogMs);
  }

  function drop() {
    if (es) {
      es.onopen = null;
      es.onerror = null;
      es.close();
      es = null;
    }
  }

  function track(e: MessageEvent) {
    if (typeof e.lastEventId === 'string' && e.lastEventId !== '') lastId = e.lastEventId;
    armWatchdog();
  }

  function deliverJobEvent(e: MessageEvent) {
    track(e);
    const ev = parseJSON<JobEvent>(e.data);
    if (!isJobEvent(ev)) return;
    const id = parseEventId(typeof ev.id === 'number' ? ev.id : e.lastEventId);
    if (id !== null) {
      if (!dedupe.accept(id)) return;
      ev.id = id;
    }
    handlers.onEvent?.(ev);
  }

  function stop(reason?: 'not-found' | 'finished') {
    stopped = true;
    clearTimers();
    drop();
    setState('closed');
    if (reason) handlers.onStopped?.(reason);
  }

  async function scheduleReconnect(useProbe: boolean) {
    if (stopped || retryTimer || probing) return;
    setState('reconnecting');
    attempt++;
    let retryAfter: number | null | undefined;
    if (useProbe && opts.probe) {
      probing = true;
      let result: ProbeResult;
      try {
        result = await opts.probe();
      } catch {
        result = { action: 'retry' };
      } finally {
        probing = false;
      }
      if (stopped) return;
      if (result.action === 'stop') {
        stop(result.reason);
        return;
      }
      retryAfter = result.retryAfterSeconds;
    }
    if (stopped || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = null;
      connect();
    }, retryDelayMs(attempt, retryAfter));
  }

  function connect() {
    if (stopped) return;
    drop();
    const params = new URLSearchParams();
    if (lastId) params.set('last_event_id', lastId);
    const token = accessToken();
    if (token) params.set('access_token', token);
    const qs = params.toString();
    const url = API_BASE + path + (qs ? `?${qs}` : '');
    const source = factory(url);
    es = source;
    source.onopen = () => {
      if (es !== source) return;
      attempt = 0;
      setState('open');
      armWatchdog();
    };
    source.onerror = (e: Event) => {
      if (es !== source) return;
      // The server's own `error` event (it could not read past events and
      // is retrying) reaches onerror too, as a MessageEvent with data.
      const data = (e as MessageEvent).data;
      if (typeof data === 'string' && data !== '') {
        track(e as MessageEvent);
        const body = parseJSON<{ detail?: string }>(data);
        handlers.onServerError?.(body?.detail ?? 'The stream reported an error; it is retrying.');
        return;
      }
      if (stopped) return;
      if (source.readyState === CLOSED) {
        // EventSource has given up (an error status, or 204): recreate it.
        drop();
        void scheduleReconnect(true);
      } else {
        setState('reconnecting'); // EventSource retries by itself
      }
    };
    for (const type of JOB_EVENT_TYPES) source.addEventListener(type, deliverJobEvent);
    // Unnamed events: a job event of a type this UI does not know by name.
    source.addEventListener('message', deliverJobEvent);
    source.addEventListener('heartbeat', (e) => {
      track(e);
      const hb = parseJSON<Heartbeat>(e.data);
      if (hb) handlers.onHeartbeat?.(hb);
    });
    source.addEventListener('dependency', (e) => {
      track(e);
      const d = parseJSON<DependencyState>(e.data);
      if (d && typeof d.name === 'string') handlers.onDependency?.(d);
    });
    source.addEventListener('reset', (e) => {
      track(e);
      const r = parseJSON<StreamReset>(e.data) ?? { reason: 'reset', detail: '' };
      handlers.onReset?.(r);
    });
    source.addEventListener('complete', (e) => {
      track(e);
      const c = parseJSON<StreamComplete>(e.data);
      // The server closes the stream after this; closing first keeps
      // EventSource from reconnecting only to be told 204.
      stop();
      if (c) handlers.onComplete?.(c);
    });
  }

  handlers.onState?.(state);
  connect();

  return {
    close: () => stop(),
    reconnectNow() {
      if (stopped || !retryTimer) return;
      clearTimeout(retryTimer);
      retryTimer = null;
      connect();
    },
    state: () => state,
    lastEventId: () => lastId,
  };
}

/** Asks the API why a job stream was refused, and whether to try again. */
export async function probeJob(id: string): Promise<ProbeResult> {
  try {
    const job = await getJob(id);
    if (isTerminal(job.status)) return { action: 'stop', reason: 'finished' };
    return { action: 'retry', retryAfterSeconds: 1 };
  } catch (err) {
    if (err instanceof ApiError) {
      if (err.status === 404) return { action: 'stop', reason: 'not-found' };
      return { action: 'retry', retryAfterSeconds: err.retryAfter };
    }
    return { action: 'retry' };
  }
}

/** One job's events: recent ones first, then live ones, heartbeats, and complete. */
export function subscribeJob(
  id: string,
  handlers: StreamHandlers,
  opts: Omit<StreamOptions, 'probe'> & { probe?: StreamOptions['probe'] } = {},
): Subscription {
  return openStream(`/sse/jobs/${encodeURIComponent(id)}`, handlers, {
    // Heartbeat events come every 15 s on a job stream.
    watchdogMs: 45_000,
    probe: () => probeJob(id),
    ...opts,
  });
}

/** Every job and ticket event, and dependency changes (one per dependency at connect). */
export function subscribeAll(handlers: StreamHandlers, opts: StreamOptions = {}): Subscription {
  return openStream('/sse/events', handlers, opts);
}
