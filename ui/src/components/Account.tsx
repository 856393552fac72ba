import { useEffect, useRef, useState } from 'react';
import { useAuth } from '../lib/auth';
import { Link, matchRoute, signInHref, useLocation } from '../router';

/**
 * The header's account area, where the server asks for a sign-in (mode
 * writes or all): a "Sign in" link for a visitor; the user's name (and
 * role, for an admin) and "Sign out" once signed in.
 */
export function Account() {
  const auth = useAuth();
  const { pathname, href } = useLocation();
  const [busy, setBusy] = useState(false);
  const signInLink = useRef<HTMLAnchorElement>(null);
  const focusSignIn = useRef(false);
  const signedIn = auth.user !== null;

  // After "Sign out" the button is gone: keyboard focus goes to "Sign in".
  useEffect(() => {
    if (!signedIn && focusSignIn.current) {
      focusSignIn.current = false;
      signInLink.current?.focus();
    }
  }, [signedIn]);

  if (!auth.enabled || !auth.ready) return null;

  async function signOut() {
    setBusy(true);
    focusSignIn.current = true;
    try {
      await auth.signOut();
    } finally {
      setBusy(false);
    }
  }

  if (!auth.user) {
    if (matchRoute(pathname).name === 'signin') return null;
    return (
      <div className="account">
        <Link to={signInHref(href)} ref={signInLink} className="account-signin">
          Sign in
        </Link>
      </div>
    );
  }
  return (
    <div className="account">
      <span className="account-user">
        <span className="visually-hidden">Signed in as </span>
        <strong>{auth.user.username}</strong>
        {auth.isAdmin ? <span className="badge badge-role">admin</span> : null}
      </span>
      <button type="button" className="button-secondary" onClick={() => void signOut()} disabled={busy}>
        {busy ? 'Signing out…' : 'Sign out'}
      </button>
    </div>
  );
}

/** What happened to the session (it ended; signing out failed), under the header until dismissed. */
export function AuthNotice() {
  const auth = useAuth();
  const { pathname, href } = useLocation();
  if (!auth.notice) return null;
  const offerSignIn = auth.enabled && !auth.user && matchRoute(pathname).name !== 'signin';
  return (
    <div className="banner banner-quiet" data-testid="auth-notice">
      <p role="alert">
        {auth.notice}
        {offerSignIn ? (
          <>
            {' '}
            <Link to={signInHref(href)}>Sign in</Link>
          </>
        ) : null}
      </p>
      <button type="button" className="button-link" onClick={auth.dismissNotice}>
        Dismiss
      </button>
    </div>
  );
}
