import { http, newIdempotencyKey } from './http';
import type {
  DispatchRequest,
  JobTickets,
  NewTicket,
  Settings,
  SettingsUpdate,
  Ticket,
  TicketPage,
  TicketQuery,
} from './types';

/** The dashboard's list, newest first, with the total that match. */
export function listTickets(q: TicketQuery = {}, signal?: AbortSignal): Promise<TicketPage> {
  return http.request<TicketPage>('GET', '/tickets', {
    query: {
      platform: q.platform,
      status: q.status?.trim(),
      job_id: q.job_id?.trim(),
      q: q.q?.trim(),
      limit: q.limit,
      offset: q.offset,
    },
    ...(signal ? { signal } : {}),
  });
}

/** A job's tickets, in creation order. */
export function jobTickets(jobId: string, signal?: AbortSignal): Promise<JobTickets> {
  return http.request<JobTickets>('GET', `/tickets/${encodeURIComponent(jobId)}`, signal ? { signal } : {});
}

/** One ticket (a dry run unless dry_run is false). */
export function createTicket(t: NewTicket, idempotencyKey: string = newIdempotencyKey()): Promise<Ticket> {
  return http.request<Ticket>('POST', '/tickets', { body: t, idempotencyKey });
}

/** A ticket on every enabled platform. The API's default is a live run; the UI always says which. */
export function dispatch(req: DispatchRequest, idempotencyKey: string = newIdempotencyKey()): Promise<JobTickets> {
  return http.request<JobTickets>('POST', '/tickets/dispatch', { body: req, idempotencyKey });
}

export function getSettings(signal?: AbortSignal): Promise<Settings> {
  return http.request<Settings>('GET', '/tickets/settings/state', signal ? { signal } : {});
}

/** Changes the toggles given; the others keep their value. */
export function putSettings(update: SettingsUpdate): Promise<Settings> {
  return http.request<Settings>('PUT', '/tickets/settings/state', { body: update });
}
