// A tiny history-based router: the Go server answers index.html for every
// path that is not a file, /api or /metrics, so real paths survive a reload.

import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent, type ReactNode, type Ref } from 'react';

const NAVIGATE = 'rca:navigate';

function subscribe(listener: () => void): () => void {
  window.addEventListener('popstate', listener);
  window.addEventListener(NAVIGATE, listener);
  return () => {
    window.removeEventListener('popstate', listener);
    window.removeEventListener(NAVIGATE, listener);
  };
}

function snapshot(): string {
  return window.location.pathname + window.location.search;
}

export interface Location {
  pathname: string;
  search: URLSearchParams;
  /** Path and query, as given to navigate(). */
  href: string;
}

/** The current path and query; re-renders on navigation. */
export function useLocation(): Location {
  const href = useSyncExternalStore(subscribe, snapshot, () => '/');
  const url = new URL(href, 'http://x');
  return { pathname: url.pathname, search: url.searchParams, href };
}

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (to === snapshot()) return;
  if (opts.replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  window.dispatchEvent(new Event(NAVIGATE));
}

/** `path` with the query built from `params` (empty values left out). */
export function withQuery(path: string, params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '' || v === 0) continue;
    q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export type Route =
  | { name: 'jobs' }
  | { name: 'job'; id: string }
  | { name: 'file'; jobId: string; fileId: string }
  | { name: 'tickets' }
  | { name: 'signin' }
  | { name: 'not-found' };

export const SIGNIN_PATH = '/signin';

export function matchRoute(pathname: string): Route {
  const p = pathname.replace(/\/+$/, '') || '/';
  if (p === '/' || p === '/jobs') return { name: 'jobs' };
  if (p === '/tickets') return { name: 'tickets' };
  if (p === SIGNIN_PATH) return { name: 'signin' };
  const fm = /^\/jobs\/([^/]+)\/files\/([^/]+)$/.exec(p);
  if (fm) return { name: 'file', jobId: decodeURIComponent(fm[1]!), fileId: decodeURIComponent(fm[2]!) };
  const m = /^\/jobs\/([^/]+)$/.exec(p);
  if (m) return { name: 'job', id: decodeURIComponent(m[1]!) };
  return { name: 'not-found' };
}

/**
 * A page of this app to return to after signing in: a local path (not
 * another site's, not //host, not the sign-in page itself), else /jobs.
 */
export function safeReturnPath(from: string | null | undefined): string {
  if (!from || !from.startsWith('/') || from.startsWith('//') || from.startsWith('/\\')) return '/jobs';
  const url = new URL(from, 'http://x');
  if (url.origin !== 'http://x' || matchRoute(url.pathname).name === 'signin') return '/jobs';
  return url.pathname + url.search;
}

/** The sign-in page, returning to `from` afterwards. */
export function signInHref(from?: string): string {
  const back = from ? safeReturnPath(from) : '/jobs';
  return back === '/jobs' ? SIGNIN_PATH : withQuery(SIGNIN_PATH, { from: back });
}

type LinkProps = Omit<AnchorHTMLAttributes<HTMLAnchorElement>, 'href'> & {
  to: string;
  children: ReactNode;
  ref?: Ref<HTMLAnchorElement>;
};

/** An ordinary link (open in a new tab, copy address) that navigates in place. */
export function Link({ to, onClick, children, ...rest }: LinkProps) {
  function handle(e: MouseEvent<HTMLAnchorElement>) {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    if (rest.target && rest.target !== '_self') return;
    e.preventDefault();
    navigate(to);
  }
  return (
    <a href={to} onClick={handle} {...rest}>
      {children}
    </a>
  );
}
