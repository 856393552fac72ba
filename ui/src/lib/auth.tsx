// React's view of the sign-in session (lib/session.ts).

import { useEffect, useSyncExternalStore, type ReactNode } from 'react';
import type { AuthMode, User } from './api/types';
import { session, type SessionState } from './session';

/** Starts the session (mode, restore after a reload, refresh timer) for as long as it is mounted. */
export function AuthProvider({ children }: { children: ReactNode }) {
  useEffect(() => {
    session.start();
    return () => session.stop();
  }, []);
  return children;
}

export interface Auth extends SessionState {
  /** The server's mode; null until it has said. */
  mode: AuthMode | null;
  /** Whether this server asks anyone to sign in (mode writes or all). */
  enabled: boolean;
  isAdmin: boolean;
  signIn(username: string, password: string): Promise<User>;
  signOut(): Promise<void>;
  dismissNotice(): void;
}

export function useAuth(): Auth {
  const s = useSyncExternalStore(session.subscribe, session.getSnapshot, session.getSnapshot);
  const mode = s.config?.mode ?? null;
  return {
    ...s,
    mode,
    enabled: mode === 'writes' || mode === 'all',
    isAdmin: s.user?.role === 'admin',
    signIn: session.signIn,
    signOut: session.signOut,
    dismissNotice: session.dismissNotice,
  };
}
