import { PLATFORM_LABELS, type Ticket } from '../lib/api/types';
import { formatDateTime, shortId, ticketSummary } from '../lib/format';
import { Link, navigate, withQuery } from '../router';
import { Badge } from './Badge';

/** Where a ticket's detail view is: the dashboard with it selected. */
export function ticketHref(t: Pick<Ticket, 'id' | 'job_id'>, base: Record<string, string | number | undefined> = {}): string {
  return withQuery('/tickets', { ...base, selected: t.id, job: t.job_id });
}

/**
 * Tickets in a table. The ticket id is a link to its detail view (so the
 * keyboard reaches it); a click anywhere on the row does the same.
 */
export function TicketTable(props: {
  tickets: Ticket[];
  caption: string;
  showJob?: boolean;
  selectedId?: string | null;
  hrefFor?: (t: Ticket) => string;
}) {
  const { tickets, caption, showJob = true, selectedId, hrefFor = (t) => ticketHref(t) } = props;
  if (tickets.length === 0) return <p className="muted">No tickets.</p>;
  return (
    <div className="table-wrap" role="region" aria-label={caption} tabIndex={0}>
      <table>
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Ticket</th>
            <th scope="col">Platform</th>
            <th scope="col">Status</th>
            <th scope="col">Summary</th>
            {showJob ? <th scope="col">Job</th> : null}
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {tickets.map((t) => {
            const href = hrefFor(t);
            return (
              <tr
                key={t.id}
                className={`clickable${selectedId === t.id ? ' selected' : ''}`}
                onClick={(e) => {
                  // Links and buttons inside the row do their own thing.
                  if ((e.target as HTMLElement).closest('a, button')) return;
                  navigate(href);
                }}
              >
                <th scope="row">
                  <Link to={href} className="mono" aria-current={selectedId === t.id ? 'true' : undefined}>
                    {t.ticket_id}
                  </Link>
                </th>
                <td>{PLATFORM_LABELS[t.platform] ?? t.platform}</td>
                <td>
                  <Badge value={t.status} />
                  {t.dry_run && t.status !== 'dry-run' ? <span className="muted"> (dry run)</span> : null}
                </td>
                <td className="summary">{ticketSummary(t.payload) || <span className="muted">—</span>}</td>
                {showJob ? (
                  <td>
                    <Link to={`/jobs/${t.job_id}`} className="mono" title={t.job_id}>
                      {shortId(t.job_id)}
                    </Link>
                  </td>
                ) : null}
                <td>{formatDateTime(t.created_at)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
