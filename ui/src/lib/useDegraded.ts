import { useId, useSyncExternalStore } from 'react';
import { degradedStore, isPostgresDown, type DegradedState } from './api/degraded';
import { useAuth } from './auth';

export function useDegraded(): DegradedState {
  return useSyncExternalStore(degradedStore.subscribe, degradedStore.getSnapshot, degradedStore.getSnapshot);
}

/** The id of the sentence (rendered by the StatusBanner) that explains disabled write buttons. */
export const WRITES_BLOCKED_ID = 'writes-blocked-reason';
export const WRITES_BLOCKED_TEXT =
  'Saving is paused while the database is unavailable; it resumes by itself when the database is back.';

/** Why a write needs a sign-in (or another role); <WriteBlockNote/> shows it beside the button. */
export interface AuthBlock {
  /** The id of that note. */
  id: string;
  /** signin: a visitor; role: signed in, without the role the write needs. */
  kind: 'signin' | 'role';
  /** "Sign in to create jobs.", "Only admins can change integrations." */
  text: string;
}

export interface WriteBlock {
  blocked: boolean;
  /** Props for a write button (disabled, title, aria-describedby) while writes are blocked. */
  buttonProps: { disabled?: boolean; title?: string; 'aria-describedby'?: string };
  /** Set when writes need a sign-in or the admin role. */
  auth: AuthBlock | null;
}

/**
 * Whether a write is impossible right now, and why: a visitor where the
 * server wants a sign-in for writes, a user without the role it needs
 * (`admin`), and PostgreSQL down or connecting (the StatusBanner says so).
 * `action` completes "Sign in to …" and "Only admins can …".
 */
export function useWriteBlock(
  action = 'make changes',
  opts: { admin?: boolean; job?: { owner_id: string | null } } = {},
): WriteBlock {
  const dbDown = isPostgresDown(useDegraded());
  const { enabled, user, isAdmin, config } = useAuth();
  const id = useId();
  let auth: AuthBlock | null = null;
  if (enabled && !user) {
    auth = { id, kind: 'signin', text: `Sign in${opts.admin ? ' as an admin' : ''} to ${action}.` };
  } else if (enabled && opts.admin && !isAdmin) {
    auth = { id, kind: 'role', text: `Only admins can ${action}.` };
  } else if (enabled && user && !isAdmin && opts.job && !mayChangeJob(opts.job, user.id, config?.job_visibility)) {
    auth = { id, kind: 'role', text: `This job is someone else's: only its owner or an admin can ${action}.` };
  }
  const texts: string[] = [];
  const ids: string[] = [];
  if (auth) {
    texts.push(auth.text);
    ids.push(auth.id);
  }
  if (dbDown) {
    texts.push(WRITES_BLOCKED_TEXT);
    ids.push(WRITES_BLOCKED_ID);
  }
  const blocked = texts.length > 0;
  return {
    blocked,
    buttonProps: blocked ? { disabled: true, title: texts.join(' '), 'aria-describedby': ids.join(' ') } : {},
    auth,
  };
}

/**
 * The server's rule (jobs.Policy): a job is its owner's (and the admins') to
 * change, unless the server's visibility is team; a job without an owner is
 * anyone's. The server decides; this only says so before a 403.
 */
export function mayChangeJob(job: { owner_id: string | null }, userId: string, visibility?: 'owner' | 'team'): boolean {
  return visibility === 'team' || !job.owner_id || job.owner_id === userId;
}
