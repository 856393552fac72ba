import { useEffect, useRef } from 'react';
import { LiveFeed } from './components/LiveFeed';
import { StatusBanner } from './components/StatusBanner';
import { JobDetailPage } from './pages/JobDetail';
import { JobsPage } from './pages/Jobs';
import { TicketsPage } from './pages/Tickets';
import { Link, matchRoute, useLocation } from './router';

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

const TITLES = { jobs: 'Jobs', job: 'Job', tickets: 'Tickets', 'not-found': 'Not found' } as const;

export function App({ live = true }: { live?: boolean }) {
  const { pathname } = useLocation();
  const route = matchRoute(pathname);
  const main = useRef<HTMLElement>(null);
  const shownPath = useRef(pathname);

  // After a navigation to another page, move focus to its heading so that
  // keyboard and screen reader users start there (not on the first load,
  // nor when only the query changes, as filters and paging do).
  useEffect(() => {
    document.title = `${TITLES[route.name]} · RCA Engine`;
    if (shownPath.current === pathname) return;
    shownPath.current = pathname;
    main.current?.querySelector<HTMLElement>('h1')?.focus();
  }, [pathname, route.name]);

  const section = route.name === 'tickets' ? 'tickets' : route.name === 'not-found' ? '' : 'jobs';
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      {live ? <LiveFeed /> : null}
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
        </div>
        <StatusBanner />
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        {route.name === 'jobs' ? (
          <JobsPage />
        ) : route.name === 'job' ? (
          <JobDetailPage key={route.id} id={route.id} />
        ) : route.name === 'tickets' ? (
          <TicketsPage />
        ) : (
          <NotFound />
        )}
      </main>
    </>
  );
}
