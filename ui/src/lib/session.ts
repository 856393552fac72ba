// The sign-in session: the server's authentication mode, the signed-in
// user, and the access token, kept in this module's memory only (never in
// localStorage, sessionStorage or a cookie written by script). The refresh
// token is the HttpOnly cookie `rca_refresh`, which the server sets, rotates
// and clears and which scripts cannot read; POST /api/auth/refresh trades it
// for a new access token:
//   - at start, to restore a session after a reload (silently: a 401 just
//     means a visitor),
//   - at about 80 % of the access token's lifetime, and when a hidden tab
//     comes back after that point,
//   - when an API call answers 401 (http.ts asks through TokenSource.renew,
//     then retries the call once).
// Refreshes never overlap: one at a time in this tab, and one at a time
// across tabs where the Web Locks API exists (a refresh token presented
// twice may revoke its whole sign-in).
// Components read it with useAuth (lib/auth.tsx).

import * as authApi from './api/auth';
import { ApiError, setTokenSource, type TokenSource } from './api/http';
import type { AuthConfig, AuthMode, User } from './api/types';

export interface SessionState {
  /** False until the mode is known and a session restore has been tried. */
  ready: boolean;
  /** GET /api/auth/config; null until it has answered. */
  config: AuthConfig | null;
  /** The signed-in user; null for a visitor. */
  user: User | null;
  /** The access token: in memory only. */
  accessToken: string | null;
  /** When the access token expires, in ms since the epoch (browser clock). */
  expiresAt: number | null;
  /** Something to tell the user about their session (it ended, signing out failed). */
  notice: string | null;
}

/** What the session needs of the API (tests pass fakes). */
export interface AuthApi {
  getAuthConfig(): Promise<AuthConfig>;
  login(username: string, password: string): Promise<authApi.Grant>;
  refresh(): Promise<authApi.Grant>;
  logout(): Promise<unknown>;
}

/** The parts of the Web Locks API used here. */
export interface LockLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

export interface Session extends TokenSource {
  getSnapshot(): SessionState;
  subscribe(listener: () => void): () => void;
  /** Loads the mode and restores a session (once), and runs the refresh timer until stop(). */
  start(): void;
  stop(): void;
  /** Signs in; throws the ApiError of a refusal (401, 422, 429, 503). */
  signIn(username: string, password: string): Promise<User>;
  /**
   * Ends the session on the server, then forgets it here, even when the
   * server could not be told (the notice then says so).
   */
  signOut(): Promise<void>;
  /** The token to put in event-stream URLs: only in mode `all` (EventSource cannot send headers). */
  streamToken(): string | null;
  /** Refreshes now when the access token expires within `marginMs`. */
  ensureFresh(marginMs?: number): Promise<void>;
  dismissNotice(): void;
  /** Back to the first state, timers cleared (tests). */
  reset(): void;
}

/** Refresh at this fraction of the access token's lifetime. */
export const REFRESH_AT = 0.8;
export const SESSION_ENDED_TEXT = 'Your session has ended. Sign in again to continue.';
const OFF: AuthConfig = { mode: 'off', registration: 'closed', access_token_ttl_seconds: 0 };
const LOCK_NAME = 'rca-auth-refresh';

const INITIAL: SessionState = {
  ready: false,
  config: null,
  user: null,
  accessToken: null,
  expiresAt: null,
  notice: null,
};

/** True for failures that say nothing about the session: no answer, or a dependency down. */
function transient(err: unknown): boolean {
  return !(err instanceof ApiError) || err.status === 0 || err.status >= 500 || err.status === 429;
}

/** A retry delay in ms: the server's Retry-After when known (2–30 s), else doubling from 2 s to 30 s. */
function retryDelay(err: unknown, attempt: number): number {
  const after = err instanceof ApiError ? err.retryAfter : null;
  if (after !== null) return Math.min(30, Math.max(2, after)) * 1000;
  return Math.min(30_000, 2000 * 2 ** Math.max(0, attempt - 1));
}

function defaultLocks(): LockLike | null {
  const nav = typeof navigator === 'undefined' ? undefined : (navigator as Navigator & { locks?: LockLike });
  return nav?.locks && typeof nav.locks.request === 'function' ? nav.locks : null;
}

export function createSession(
  deps: { api?: AuthApi; now?: () => number; locks?: LockLike | null } = {},
): Session {
  const api: AuthApi = deps.api ?? authApi;
  const now = deps.now ?? (() => Date.now());
  const locks = deps.locks !== undefined ? deps.locks : defaultLocks();

  let state: SessionState = INITIAL;
  const listeners = new Set<() => void>();
  let active = false;
  /** A config load or a restore is under way. */
  let loading = false;
  /** A restore failed for want of an answer: try again. */
  let restoreAgain = false;
  /** Bumped by sign-in, sign-out, a session's end and reset: answers to older calls are dropped. */
  let generation = 0;
  let renewing: Promise<string | null> | null = null;
  /** When to refresh next (ms since the epoch). */
  let refreshAt: number | null = null;
  let refreshTimer: ReturnType<typeof setTimeout> | null = null;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;
  let failures = 0;

  function set(patch: Partial<SessionState>) {
    state = { ...state, ...patch };
    for (const l of [...listeners]) l();
  }

  function clearTimers() {
    if (refreshTimer) clearTimeout(refreshTimer);
    if (retryTimer) clearTimeout(retryTimer);
    refreshTimer = retryTimer = null;
  }

  function arm() {
    if (refreshTimer) clearTimeout(refreshTimer);
    refreshTimer = null;
    if (!active || refreshAt === null || !state.accessToken) return;
    refreshTimer = setTimeout(() => {
      refreshTimer = null;
      void renewNow();
    }, Math.max(0, refreshAt - now()));
  }

  function retryLater(what: () => void, err: unknown) {
    failures++;
    if (retryTimer) clearTimeout(retryTimer);
    retryTimer = setTimeout(() => {
      retryTimer = null;
      if (active) what();
    }, retryDelay(err, failures));
  }

  function accept(g: authApi.Grant, extra: Partial<SessionState> = {}) {
    const t = now();
    const ms = Math.max(1, g.expiresIn) * 1000;
    refreshAt = t + ms * REFRESH_AT;
    failures = 0;
    set({ user: g.user, accessToken: g.accessToken, expiresAt: t + ms, ...extra });
    arm();
  }

  function forget(notice: string | null) {
    generation++;
    refreshAt = null;
    clearTimers();
    set({ user: null, accessToken: null, expiresAt: null, notice });
  }

  /** POST /api/auth/refresh, one at a time across tabs where possible. */
  function refreshLocked(): Promise<authApi.Grant> {
    return locks ? locks.request(LOCK_NAME, () => api.refresh()) : api.refresh();
  }

  /** One refresh at a time: every caller gets the same answer. */
  function renewNow(): Promise<string | null> {
    if (renewing) return renewing;
    const gen = generation;
    renewing = refreshLocked()
      .then(
        (g) => {
          if (gen !== generation) return state.accessToken;
          accept(g);
          return g.accessToken;
        },
        (err: unknown) => {
          if (gen !== generation) return state.accessToken;
          if (transient(err)) {
            // The session may well be fine: try again later, keep the token.
            retryLater(() => void renewNow(), err);
          } else {
            forget(SESSION_ENDED_TEXT);
          }
          return null;
        },
      )
      .finally(() => {
        renewing = null;
      });
    return renewing;
  }

  /** After a reload: the refresh cookie, if there is one, brings the session back. */
  function restore() {
    const gen = generation;
    loading = true;
    restoreAgain = false;
    refreshLocked().then(
      (g) => {
        loading = false;
        if (gen !== generation) return;
        accept(g, { ready: true });
      },
      (err: unknown) => {
        loading = false;
        if (gen !== generation) return;
        set({ ready: true });
        // No answer, or the database is down: the cookie may still be good.
        if (transient(err)) {
          restoreAgain = true;
          retryLater(restore, err);
        }
      },
    );
  }

  function loadConfig() {
    const gen = generation;
    loading = true;
    api.getAuthConfig().then(
      (config) => {
        loading = false;
        if (gen !== generation) return;
        failures = 0;
        if (config.mode === 'off') {
          set({ config, ready: true });
          return;
        }
        set({ config });
        restore();
      },
      (err: unknown) => {
        loading = false;
        if (gen !== generation) return;
        if (err instanceof ApiError && err.status === 404) {
          // A server without authentication at all.
          set({ config: OFF, ready: true });
          return;
        }
        retryLater(loadConfig, err);
      },
    );
  }

  function onVisible() {
    if (document.visibilityState !== 'visible' || !state.accessToken || refreshAt === null) return;
    // Timers of hidden tabs are throttled, and a laptop may have slept.
    if (now() >= refreshAt) void renewNow();
  }

  function start() {
    if (!active) {
      active = true;
      if (typeof document !== 'undefined') document.addEventListener('visibilitychange', onVisible);
      arm();
    }
    if (loading || retryTimer) return;
    if (!state.config) loadConfig();
    else if (restoreAgain && !state.user) restore();
  }

  function stop() {
    active = false;
    if (typeof document !== 'undefined') document.removeEventListener('visibilitychange', onVisible);
    clearTimers();
  }

  const session: Session = {
    getSnapshot: () => state,
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    start,
    stop,

    token: () => state.accessToken,

    async renew(rejected) {
      if (!state.accessToken) return null;
      // Someone else already refreshed since the call was sent.
      if (state.accessToken !== rejected) return state.accessToken;
      return renewNow();
    },

    async signIn(username, password) {
      const g = await api.login(username, password);
      generation++; // a restore or refresh still under way is stale now
      restoreAgain = false;
      accept(g, { notice: null, ready: true });
      return g.user;
    },

    async signOut() {
      if (!state.accessToken) {
        forget(null);
        return;
      }
      let notice: string | null = null;
      try {
        await api.logout();
      } catch (err) {
        // 401: the session had already ended, which is what was asked.
        if (!(err instanceof ApiError && err.status === 401)) {
          const detail = err instanceof ApiError ? err.detail : String(err);
          notice = `You are signed out in this tab, but the server could not end the session: ${detail} Reloading the page may sign you back in.`;
        }
      }
      forget(notice);
    },

    streamToken: () => (state.config?.mode === 'all' ? state.accessToken : null),

    async ensureFresh(marginMs = 30_000) {
      if (state.accessToken && state.expiresAt !== null && state.expiresAt - now() < marginMs) {
        await renewNow();
      }
    },

    dismissNotice() {
      if (state.notice !== null) set({ notice: null });
    },

    reset() {
      stop();
      generation++;
      renewing = null;
      refreshAt = null;
      failures = 0;
      loading = false;
      restoreAgain = false;
      state = INITIAL;
      for (const l of [...listeners]) l();
    },
  };
  return session;
}

/** The application's session; the API client takes its token from here. */
export const session: Session = createSession();
setTokenSource(session);

/** The mode, or null until the server has said. */
export function authMode(s: SessionState): AuthMode | null {
  return s.config?.mode ?? null;
}
