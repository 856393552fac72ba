import { useEffect, useState, type FormEvent } from 'react';
import { ErrorMessage } from '../components/ErrorMessage';
import { Field } from '../components/Field';
import { ApiError } from '../lib/api/http';
import { useAuth } from '../lib/auth';
import { useCountdown } from '../lib/useCountdown';
import { Link, navigate, safeReturnPath, useLocation } from '../router';

const FIELDS = ['username', 'password'] as const;

/** The text for a 429: how long to wait, from Retry-After. */
export function tooManyText(seconds: number | null): string {
  return seconds === null ? 'Too many attempts, try again later.' : `Too many attempts, try again in ${seconds} s.`;
}

/**
 * The sign-in page: username or email, and password. Afterwards (and for
 * a user who is signed in already) it goes back to the page in ?from=.
 */
export function SignInPage() {
  const auth = useAuth();
  const { search } = useLocation();
  const from = safeReturnPath(search.get('from'));
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [missing, setMissing] = useState<Record<string, string>>({});
  const [waitUntil, setWaitUntil] = useState<number | null>(null);
  const secondsLeft = useCountdown(waitUntil);
  const waiting = waitUntil !== null && secondsLeft !== null && secondsLeft > 0;
  const signedIn = auth.user !== null;

  useEffect(() => {
    if (signedIn) navigate(from, { replace: true });
  }, [signedIn, from]);

  // The wait is over: the message goes, the button comes back.
  useEffect(() => {
    if (waitUntil !== null && secondsLeft === 0) {
      setWaitUntil(null);
      setError(null);
    }
  }, [waitUntil, secondsLeft]);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy || waiting) return;
    const need: Record<string, string> = {};
    if (!username.trim()) need['username'] = 'Enter your username or email.';
    if (!password) need['password'] = 'Enter your password.';
    setMissing(need);
    if (Object.keys(need).length > 0) {
      setError(null);
      document.getElementById(need['username'] ? 'signin-username' : 'signin-password')?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await auth.signIn(username.trim(), password);
      // The effect above goes back to `from`.
    } catch (err) {
      const e2 = err instanceof ApiError ? err : new ApiError({ status: 0, detail: String(err) });
      setError(e2);
      if (e2.status === 429) {
        setWaitUntil(e2.retryAfter !== null ? Date.now() + e2.retryAfter * 1000 : null);
      }
      setBusy(false);
    }
  }

  if (auth.mode === 'off') {
    return (
      <>
        <h1 tabIndex={-1}>Sign in</h1>
        <p>
          This server does not ask anyone to sign in: everything is open. <Link to="/jobs">Go to jobs</Link>
        </p>
      </>
    );
  }

  const fe = { ...(error?.fieldErrors() ?? {}), ...missing };
  const limited = error?.status === 429;
  return (
    <>
      <h1 tabIndex={-1}>Sign in</h1>
      <form className="card form signin-form" onSubmit={submit} aria-label="Sign in" noValidate>
        {auth.mode === 'writes' ? (
          <p className="muted">Anyone can look around; signing in lets you create and change things.</p>
        ) : null}
        <Field id="signin-username" label="Username or email" error={fe['username']}>
          {(a) => (
            <input
              {...a}
              name="username"
              type="text"
              value={username}
              required
              autoComplete="username"
              autoCapitalize="none"
              spellCheck={false}
              maxLength={255}
              onChange={(e) => setUsername(e.target.value)}
            />
          )}
        </Field>
        <Field id="signin-password" label="Password" error={fe['password']}>
          {(a) => (
            <input
              {...a}
              name="password"
              type="password"
              value={password}
              required
              autoComplete="current-password"
              onChange={(e) => setPassword(e.target.value)}
            />
          )}
        </Field>
        {limited ? (
          <div className="message message-error" role="alert" id="signin-wait">
            <p>{tooManyText(waiting ? secondsLeft : null)}</p>
          </div>
        ) : (
          <ErrorMessage error={error} shownFields={FIELDS} />
        )}
        <div className="actions">
          <button
            type="submit"
            disabled={busy || waiting}
            aria-describedby={waiting ? 'signin-wait' : undefined}
          >
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </div>
      </form>
    </>
  );
}
