import { useEffect, useRef } from 'react';
import { Account, AuthNotice } from './components/Account';
import { LiveFeed } from './components/LiveFeed';
import { StatusBanner } from './components/StatusBanner';
import { AuthProvider, useAuth } from './lib/auth';
import { FileViewerPage } from './pages/FileViewer';
import { JobDetailPage } from './pages/JobDetail';
import { JobsPage } from './pages/Jobs';
import { SignInPage } from './pages/SignIn';
import { TicketsPage } from './pages/Tickets';
import { Link, matchRoute, navigate, signInHref, useLocation } from './router';

function NotFound() {
  return (
    <>
      <h1 tabIndex={-1}>Page not found</h1>
      <p>
        Nothing lives at this address. <Link to="/jobs">Go to jobs</Link>
      </p>
    </>
  );
}

const TITLES = { jobs: 'Jobs', job: 'Job', file: 'File', tickets: 'Tickets', signin: 'Sign in', 'not-found': 'Not found' } as const;

export function App({ live = true }: { live?: boolean }) {
  return (
    <AuthProvider>
      <Shell live={live} />
    </AuthProvider>
  );
}

function Shell({ live }: { live: boolean }) {
  const { pathname, href } = useLocation();
  const route = matchRoute(pathname);
  const main = useRef<HTMLElement>(null);
  const shownPath = useRef(pathname);
  const auth = useAuth();
  // Mode `all`: a visitor sees nothing but the sign-in page.
  const mustSignIn = auth.ready && auth.mode === 'all' && !auth.user && route.name !== 'signin';

  useEffect(() => {
    if (mustSignIn) navigate(signInHref(href), { replace: true });
  }, [mustSignIn, href]);

  // After a navigation to another page, move focus to its heading so that
  // keyboard and screen reader users start there (not on the first load,
  // nor when only the query changes, as filters and paging do).
  useEffect(() => {
    document.title = `${TITLES[route.name]} · RCA Engine`;
    if (shownPath.current === pathname) return;
    shownPath.current = pathname;
    main.current?.querySelector<HTMLElement>('h1')?.focus();
  }, [pathname, route.name]);

  const section =
    route.name === 'tickets' ? 'tickets' : route.name === 'not-found' || route.name === 'signin' ? '' : 'jobs';
  // The event stream needs a token in mode `all`: one stream per signed-in user.
  const streamOK = auth.ready && (auth.mode !== 'all' || auth.user !== null);
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      {live && streamOK ? <LiveFeed key={auth.mode === 'all' ? auth.user?.id : 'open'} /> : null}
      <header className="app-header">
        <div className="app-header-inner">
          <Link to="/jobs" className="brand">
            RCA Engine
          </Link>
          <nav aria-label="Main">
            <ul>
              <li>
                <Link to="/jobs" aria-current={section === 'jobs' ? 'page' : undefined}>
                  Jobs
                </Link>
              </li>
              <li>
                <Link to="/tickets" aria-current={section === 'tickets' ? 'page' : undefined}>
                  Tickets
                </Link>
              </li>
            </ul>
          </nav>
          <Account />
        </div>
        <StatusBanner />
        <AuthNotice />
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        {!auth.ready || mustSignIn ? (
          <p className="muted" role="status">
            Loading…
          </p>
        ) : route.name === 'signin' ? (
          <SignInPage />
        ) : route.name === 'jobs' ? (
          <JobsPage />
        ) : route.name === 'job' ? (
          <JobDetailPage key={route.id} id={route.id} />
        ) : route.name === 'file' ? (
          <FileViewerPage key={route.fileId} jobId={route.jobId} fileId={route.fileId} />
        ) : route.name === 'tickets' ? (
          <TicketsPage />
        ) : (
          <NotFound />
        )}
      </main>
    </>
  );
}
