import { useEffect, useState, useSyncExternalStore } from 'react';
import { degradedStore, isPostgresDown, isRedisDegraded } from '../lib/api/degraded';
import { getHealth } from '../lib/api/health';
import { ApiError } from '../lib/api/http';
import { liveFeed } from '../lib/live';
import { useCountdown } from '../lib/useCountdown';
import { useDegraded, WRITES_BLOCKED_ID, WRITES_BLOCKED_TEXT } from '../lib/useDegraded';

/** How often /api/health is polled, as a fallback to the event stream. */
export const HEALTH_POLL_MS = 10_000;

const CAUSES: Record<string, string> = {
  unreachable: 'the server cannot be reached',
  timeout: 'the server does not answer in time',
  auth_failed: 'the service cannot log in to it',
  database_missing: 'the database does not exist yet',
  migration_failed: 'its schema could not be updated',
};

/** Polls /api/health once; false when the server could not be reached at all. */
async function pollHealth(signal?: AbortSignal): Promise<boolean> {
  try {
    degradedStore.reportHealth(await getHealth(signal));
    return true;
  } catch (err) {
    return !(err instanceof ApiError && err.status === 0);
  }
}

/**
 * The dependency banner on every page: fed by dependency events of
 * /api/sse/events (see LiveFeed), /api/health polled every 10 s, and the
 * X-Degraded header of every response. It clears by itself on recovery.
 */
export function StatusBanner({ pollMs = HEALTH_POLL_MS }: { pollMs?: number }) {
  const state = useDegraded();
  const live = useSyncExternalStore(liveFeed.subscribeState, liveFeed.getState, liveFeed.getState);
  const pgDown = isPostgresDown(state);
  const pg = state.deps['postgres'];
  const secondsLeft = useCountdown(pgDown ? pg?.nextRetryAt : undefined);

  const [reachable, setReachable] = useState(true);

  useEffect(() => {
    const ctrl = new AbortController();
    const poll = () =>
      void pollHealth(ctrl.signal).then((ok) => {
        if (!ctrl.signal.aborted) setReachable(ok);
      });
    poll();
    const t = setInterval(poll, pollMs);
    return () => {
      clearInterval(t);
      ctrl.abort();
    };
  }, [pollMs]);

  // The announced retry time has passed and the database is still down:
  // ask again at once for the next one (health answers from memory).
  useEffect(() => {
    if (!pgDown || secondsLeft !== 0) return;
    const t = setTimeout(() => void pollHealth(), 1000);
    return () => clearTimeout(t);
  }, [pgDown, secondsLeft]);

  if (pgDown) {
    const cause = pg?.cause ? CAUSES[pg.cause] : undefined;
    return (
      <div className="banner banner-error" data-testid="status-banner">
        <p>
          {/* Announced once; the countdown beside it is not re-announced every second. */}
          <strong role="alert">Database unavailable</strong>
          <span>
            {secondsLeft === null
              ? ', retrying…'
              : secondsLeft > 0
                ? `, retrying in ${secondsLeft} s`
                : ', retrying now…'}
          </span>
          {cause ? <span className="banner-cause"> ({cause})</span> : null}
        </p>
        <p id={WRITES_BLOCKED_ID} className="banner-note">
          {WRITES_BLOCKED_TEXT}
        </p>
      </div>
    );
  }
  if (isRedisDegraded(state)) {
    return (
      <div className="banner banner-quiet" role="status" data-testid="status-banner">
        Live updates degraded: events from other servers may arrive a moment late.
      </div>
    );
  }
  if (!reachable) {
    return (
      <div className="banner banner-quiet" role="status" data-testid="status-banner">
        The server cannot be reached; retrying…
      </div>
    );
  }
  if (live === 'reconnecting') {
    return (
      <div className="banner banner-quiet" role="status" data-testid="status-banner">
        Live updates reconnecting…
      </div>
    );
  }
  return <div role="status" className="visually-hidden" data-testid="status-banner" />;
}
