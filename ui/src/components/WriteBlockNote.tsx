import type { WriteBlock } from '../lib/useDegraded';
import { Link, signInHref, useLocation } from '../router';

/**
 * Why a write button is disabled for want of a sign-in or a role: "Sign in
 * to create jobs." (a link to the sign-in page, back here afterwards) or
 * "Only admins can change integrations.". The button points to it with
 * aria-describedby. (A database outage is explained by the StatusBanner.)
 */
export function WriteBlockNote({ block }: { block: WriteBlock }) {
  const { href } = useLocation();
  const a = block.auth;
  if (!a) return null;
  if (a.kind === 'signin') {
    return (
      <p id={a.id} className="write-note">
        <Link to={signInHref(href)}>Sign in</Link>
        {a.text.slice('Sign in'.length)}
      </p>
    );
  }
  return (
    <p id={a.id} className="write-note">
      {a.text}
    </p>
  );
}
