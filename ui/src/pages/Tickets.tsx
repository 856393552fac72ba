import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Badge } from '../components/Badge';
import { ErrorMessage } from '../components/ErrorMessage';
import { CheckboxField, Field } from '../components/Field';
import { JsonBlock } from '../components/JsonBlock';
import { Pager } from '../components/Pager';
import { WriteBlockNote } from '../components/WriteBlockNote';
import { TicketTable, ticketHref } from '../components/TicketTable';
import { ApiError } from '../lib/api/http';
import { createTicket, jobTickets, listTickets } from '../lib/api/tickets';
import { PLATFORMS, PLATFORM_LABELS, type JobEvent, type NewTicket, type Platform, type Ticket } from '../lib/api/types';
import { formatDateTime, safeHttpUrl, shortId, ticketSummary } from '../lib/format';
import { useLiveReload } from '../lib/useLiveReload';
import { useAsync } from '../lib/useAsync';
import { useIdempotencyKey } from '../lib/useIdempotencyKey';
import { useWriteBlock } from '../lib/useDegraded';
import { Link, navigate, useLocation, withQuery } from '../router';

export const TICKETS_PAGE_SIZE = 20;

/** Counts by status of the tickets shown, most frequent first. */
export function countByStatus(tickets: readonly Ticket[]): [string, number][] {
  const m = new Map<string, number>();
  for (const t of tickets) m.set(t.status, (m.get(t.status) ?? 0) + 1);
  return [...m.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

function asApiError(err: unknown): ApiError {
  return err instanceof ApiError ? err : new ApiError({ status: 0, detail: String(err) });
}

interface Filters {
  platform: Platform | '';
  status: string;
  q: string;
}

function FilterForm({ value, onApply }: { value: Filters; onApply: (f: Filters) => void }) {
  const [draft, setDraft] = useState(value);
  const { platform, status, q } = value;
  // Follow the URL (back/forward).
  useEffect(() => setDraft({ platform, status, q }), [platform, status, q]);
  function submit(e: FormEvent) {
    e.preventDefault();
    onApply({ ...draft, status: draft.status.trim(), q: draft.q.trim() });
  }
  return (
    <form className="filters" onSubmit={submit} role="search" aria-label="Filter tickets">
      <Field id="f-platform" label="Platform">
        {(a) => (
          <select {...a} value={draft.platform} onChange={(e) => setDraft({ ...draft, platform: e.target.value as Platform | '' })}>
            <option value="">All</option>
            {PLATFORMS.map((p) => (
              <option key={p} value={p}>
                {PLATFORM_LABELS[p]}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field id="f-status" label="Status">
        {(a) => (
          <>
            <input {...a} type="text" list="ticket-statuses" maxLength={50} value={draft.status} placeholder="any" onChange={(e) => setDraft({ ...draft, status: e.target.value })} />
            <datalist id="ticket-statuses">
              <option value="dry-run" />
              <option value="created" />
              <option value="new" />
              <option value="open" />
              <option value="resolved" />
              <option value="closed" />
            </datalist>
          </>
        )}
      </Field>
      <Field id="f-q" label="Search" hint="Ticket id or summary.">
        {(a) => <input {...a} type="search" maxLength={200} value={draft.q} onChange={(e) => setDraft({ ...draft, q: e.target.value })} />}
      </Field>
      <div className="actions">
        <button type="submit">Apply</button>
        <button
          type="button"
          className="button-secondary"
          onClick={() => {
            const empty: Filters = { platform: '', status: '', q: '' };
            setDraft(empty);
            onApply(empty);
          }}
        >
          Clear
        </button>
      </div>
    </form>
  );
}

const CREATE_FIELDS = ['job_id', 'platform', 'dry_run', 'payload'] as const;

export function CreateTicketForm({ onCreated }: { onCreated: (t: Ticket) => void }) {
  const [jobId, setJobId] = useState('');
  const [platform, setPlatform] = useState<Platform>('servicenow');
  const [dryRun, setDryRun] = useState(true);
  const [summary, setSummary] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [created, setCreated] = useState<Ticket | null>(null);
  const idem = useIdempotencyKey();
  const block = useWriteBlock('create tickets');
  const { blocked, buttonProps } = block;

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (blocked || busy) return;
    const body: NewTicket = { job_id: jobId.trim(), platform, dry_run: dryRun };
    const s = summary.trim();
    // Each platform names its title field differently.
    if (s) body.payload = platform === 'servicenow' ? { short_description: s } : { summary: s };
    setBusy(true);
    setError(null);
    setCreated(null);
    try {
      const t = await createTicket(body, idem.keyFor(body));
      idem.done();
      setCreated(t);
      setSummary('');
      onCreated(t);
    } catch (err) {
      setError(asApiError(err));
    } finally {
      setBusy(false);
    }
  }
  const fe = error?.fieldErrors() ?? {};
  const payloadError = Object.entries(fe).find(([k]) => k === 'payload' || k.startsWith('payload.'))?.[1];
  return (
    <form className="card form" onSubmit={submit} aria-labelledby="new-ticket-title" noValidate>
      <h2 id="new-ticket-title">New ticket</h2>
      <div className="form-row">
        <Field id="t-job" label="Job id" error={fe['job_id']} hint="The job's UUID.">
          {(a) => (
            <input {...a} type="text" className="mono" required autoComplete="off" spellCheck={false} value={jobId} onChange={(e) => setJobId(e.target.value)} />
          )}
        </Field>
        <Field id="t-platform" label="Platform" error={fe['platform']}>
          {(a) => (
            <select {...a} value={platform} onChange={(e) => setPlatform(e.target.value as Platform)}>
              {PLATFORMS.map((p) => (
                <option key={p} value={p}>
                  {PLATFORM_LABELS[p]}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field id="t-summary" label="Summary (optional)" error={payloadError} hint="Overrides the title built from the job's outcome.">
          {(a) => <input {...a} type="text" maxLength={255} value={summary} onChange={(e) => setSummary(e.target.value)} />}
        </Field>
      </div>
      <CheckboxField
        id="t-dry-run"
        label="Dry run (preview only, files nothing)"
        checked={dryRun}
        onChange={setDryRun}
        error={fe['dry_run']}
        hint={dryRun ? undefined : 'Live: the ticket is filed for real if its platform is enabled.'}
      />
      <ErrorMessage error={error} shownFields={[...CREATE_FIELDS, ...Object.keys(fe).filter((k) => k.startsWith('payload.'))]} />
      {created ? (
        <p className="message message-ok" role="status">
          Ticket <Link to={ticketHref(created)}>{created.ticket_id}</Link> created ({created.status}).
        </p>
      ) : null}
      <div className="actions">
        <button type="submit" disabled={busy || buttonProps.disabled} {...buttonProps}>
          {busy ? 'Creating…' : 'Create ticket'}
        </button>
        <WriteBlockNote block={block} />
      </div>
    </form>
  );
}

export function TicketDetail({ ticket, onClose }: { ticket: Ticket; onClose: () => void }) {
  const remote = !ticket.dry_run ? safeHttpUrl(ticket.url) : null;
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), [ticket.id]);
  const reason = ticket.metadata?.['dry_run_reason'];
  const failure = ticket.metadata?.['error'];
  return (
    <section className="card detail" aria-labelledby="ticket-detail-title">
      <div className="section-head">
        <h2 id="ticket-detail-title" tabIndex={-1} ref={heading}>
          Ticket <span className="mono">{ticket.ticket_id}</span>
        </h2>
        <button type="button" className="button-secondary" onClick={onClose}>
          Close
        </button>
      </div>
      <dl className="fields">
        <div>
          <dt>Platform</dt>
          <dd>{PLATFORM_LABELS[ticket.platform] ?? ticket.platform}</dd>
        </div>
        <div>
          <dt>Status</dt>
          <dd>
            <Badge value={ticket.status} />
          </dd>
        </div>
        <div>
          <dt>Dry run</dt>
          <dd>
            {ticket.dry_run ? 'yes' : 'no'}
            {typeof reason === 'string' ? <span className="muted"> ({reason})</span> : null}
          </dd>
        </div>
        <div>
          <dt>Job</dt>
          <dd>
            <Link to={`/jobs/${ticket.job_id}`} className="mono">
              {shortId(ticket.job_id)}
            </Link>
          </dd>
        </div>
        <div>
          <dt>Summary</dt>
          <dd>{ticketSummary(ticket.payload) || '—'}</dd>
        </div>
        {ticket.profile_name ? (
          <div>
            <dt>Profile</dt>
            <dd>{ticket.profile_name}</dd>
          </div>
        ) : null}
        <div>
          <dt>Created</dt>
          <dd>{formatDateTime(ticket.created_at)}</dd>
        </div>
        <div>
          <dt>Updated</dt>
          <dd>{formatDateTime(ticket.updated_at)}</dd>
        </div>
        <div>
          <dt>Remote ticket</dt>
          <dd>
            {remote ? (
              <a href={remote} target="_blank" rel="noopener noreferrer">
                Open in {PLATFORM_LABELS[ticket.platform] ?? ticket.platform}
                <span className="visually-hidden"> (opens in a new tab)</span>
              </a>
            ) : (
              <span className="muted">{ticket.dry_run ? 'none: a dry run files nothing' : 'no link'}</span>
            )}
          </dd>
        </div>
        {typeof failure === 'string' ? (
          <div>
            <dt>Filing error</dt>
            <dd>{failure}</dd>
          </div>
        ) : null}
      </dl>
      <JsonBlock label="Payload" value={ticket.payload} open />
      <JsonBlock label="Metadata" value={ticket.metadata} />
    </section>
  );
}

export function TicketsPage() {
  const { search } = useLocation();
  const platformParam = search.get('platform') ?? '';
  const filters: Filters = {
    platform: (PLATFORMS as readonly string[]).includes(platformParam) ? (platformParam as Platform) : '',
    status: search.get('status') ?? '',
    q: search.get('q') ?? '',
  };
  const offset = Math.max(0, Number.parseInt(search.get('offset') ?? '0', 10) || 0);
  const selected = search.get('selected');
  const selectedJob = search.get('job');
  const page = useAsync(`tickets:${filters.platform}:${filters.status}:${filters.q}:${offset}`, (signal) =>
    listTickets({ ...filters, limit: TICKETS_PAGE_SIZE, offset }, signal),
  );
  const params = { platform: filters.platform, status: filters.status, q: filters.q, offset };

  // A selected ticket not on this page (a shared link, a reload after
  // paging): found through its job's tickets.
  const onPage = page.data?.tickets.find((t) => t.id === selected);
  const needLookup = !!selected && !!selectedJob && !!page.data && !onPage;
  const lookup = useAsync(`ticket-lookup:${needLookup ? selectedJob : ''}`, (signal) =>
    needLookup && selectedJob ? jobTickets(selectedJob, signal) : Promise.resolve(null),
  );
  const detail = onPage ?? lookup.data?.tickets.find((t) => t.id === selected);

  // Live: new tickets appear as they are created (coalesced).
  useLiveReload(page.reload, isTicketCreated);

  const tickets = page.data?.tickets ?? [];
  const counts = countByStatus(tickets);
  return (
    <>
      <h1 tabIndex={-1}>Tickets</h1>
      <section className="card" aria-labelledby="dash-title">
        <h2 id="dash-title">Overview</h2>
        <ul className="stats">
          <li>
            <span className="stat-value">{page.data ? page.data.total : '—'}</span>
            <span className="stat-label">matching tickets</span>
          </li>
          {counts.map(([status, n]) => (
            <li key={status}>
              <span className="stat-value">{n}</span>
              <span className="stat-label">
                <Badge value={status} /> on this page
              </span>
            </li>
          ))}
        </ul>
      </section>

      {selected ? (
        detail ? (
          <TicketDetail ticket={detail} onClose={() => navigate(withQuery('/tickets', params))} />
        ) : page.loading || lookup.loading ? (
          <p className="muted">Loading the ticket…</p>
        ) : (
          <p className="message">
            That ticket is not on this page. <Link to={withQuery('/tickets', params)}>Close</Link>
          </p>
        )
      ) : null}

      <section className="card" aria-labelledby="tickets-list-title">
        <h2 id="tickets-list-title">All tickets</h2>
        <FilterForm value={filters} onApply={(f) => navigate(withQuery('/tickets', { ...f, offset: 0 }))} />
        <ErrorMessage error={page.error} onRetry={page.reload} />
        {page.loading && !page.data ? <p className="muted">Loading…</p> : null}
        {page.data ? (
          <TicketTable
            tickets={tickets}
            caption="Tickets, newest first"
            selectedId={selected}
            hrefFor={(t) => ticketHref(t, params)}
          />
        ) : null}
        <Pager
          label="Tickets"
          offset={offset}
          limit={TICKETS_PAGE_SIZE}
          count={tickets.length}
          {...(page.data ? { total: page.data.total } : {})}
          onChange={(o) => navigate(withQuery('/tickets', { ...params, offset: o }))}
        />
      </section>

      <CreateTicketForm
        onCreated={() => (offset === 0 ? page.reload() : navigate(withQuery('/tickets', { ...params, offset: 0 })))}
      />
    </>
  );
}

function isTicketCreated(ev: JobEvent): boolean {
  return ev.event_type === 'ticket-created';
}
