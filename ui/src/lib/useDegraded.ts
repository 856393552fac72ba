import { useSyncExternalStore } from 'react';
import { degradedStore, isPostgresDown, type DegradedState } from './api/degraded';

export function useDegraded(): DegradedState {
  return useSyncExternalStore(degradedStore.subscribe, degradedStore.getSnapshot, degradedStore.getSnapshot);
}

/** The id of the sentence (rendered by the StatusBanner) that explains disabled write buttons. */
export const WRITES_BLOCKED_ID = 'writes-blocked-reason';
export const WRITES_BLOCKED_TEXT =
  'Saving is paused while the database is unavailable; it resumes by itself when the database is back.';

export interface WriteBlock {
  blocked: boolean;
  /** Props for a write button (disabled, title, aria-describedby) while writes are blocked. */
  buttonProps: { disabled?: boolean; title?: string; 'aria-describedby'?: string };
}

/** Whether writes are pointless right now (PostgreSQL is down or connecting). */
export function useWriteBlock(): WriteBlock {
  const blocked = isPostgresDown(useDegraded());
  return {
    blocked,
    buttonProps: blocked
      ? { disabled: true, title: WRITES_BLOCKED_TEXT, 'aria-describedby': WRITES_BLOCKED_ID }
      : {},
  };
}
