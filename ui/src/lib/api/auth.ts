// The authentication routes. The refresh token travels only as the
// HttpOnly cookie `rca_refresh` (Path=/api/auth) that the server sets and
// clears: these functions never return it, so nothing can store it.

import { http } from './http';
import type { AuthConfig, TokenResponse, User } from './types';

/** What a sign-in or a refresh gives the UI: the access token (kept in memory), its lifetime, the user. */
export interface Grant {
  accessToken: string;
  /** Seconds the access token is valid for. */
  expiresIn: number;
  user: User;
}

function grant(t: TokenResponse): Grant {
  // t.refresh_token is deliberately dropped: the cookie holds it.
  return { accessToken: t.access_token, expiresIn: t.expires_in, user: t.user };
}

/** The server's authentication mode; public. */
export function getAuthConfig(signal?: AbortSignal): Promise<AuthConfig> {
  return http.request<AuthConfig>('GET', '/auth/config', { auth: false, ...(signal ? { signal } : {}) });
}

/**
 * Signs in with a username or email and a password (the OAuth2 password
 * form). 401: wrong credentials; 422: field errors; 429: too many attempts
 * (retryAfter).
 */
export async function login(username: string, password: string): Promise<Grant> {
  const t = await http.request<TokenResponse>('POST', '/auth/login', {
    form: { username, password },
    auth: false,
  });
  return grant(t);
}

/** A new access token for the session in the refresh cookie (which rotates); 401 without one. */
export async function refresh(): Promise<Grant> {
  const t = await http.request<TokenResponse>('POST', '/auth/refresh', { body: {}, auth: false });
  return grant(t);
}

/** The signed-in user. */
export function me(signal?: AbortSignal): Promise<User> {
  return http.request<User>('GET', '/auth/me', signal ? { signal } : {});
}

/** Ends the session on the server (every replica) and clears the refresh cookie. */
export function logout(): Promise<{ message: string }> {
  return http.request<{ message: string }>('POST', '/auth/logout');
}
