// Shapes of the RCA Engine API, as documented in internal/api/openapi.json.

export const JOB_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** completed, failed and cancelled are final. */
export function isTerminal(status: JobStatus | string): boolean {
  return status === 'completed' || status === 'failed' || status === 'cancelled';
}

export const PLATFORMS = ['servicenow', 'jira'] as const;
export type Platform = (typeof PLATFORMS)[number];

export const PLATFORM_LABELS: Record<Platform, string> = {
  servicenow: 'ServiceNow',
  jira: 'Jira',
};

export type JsonObject = Record<string, unknown>;

export interface Job {
  id: string;
  job_type: string;
  status: JobStatus;
  user_id: string;
  /** The signed-in user who created it; null when created with authentication off. */
  owner_id: string | null;
  provider: string;
  model: string;
  model_config: JsonObject | null;
  input_manifest: JsonObject;
  priority: number;
  retry_count: number;
  max_retries: number;
  attempt: number;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  completed_at: string | null;
  duration_seconds: number | null;
  result_data: JsonObject | null;
  outputs: JsonObject | null;
  ticketing: JsonObject | null;
  source: JsonObject | null;
  error_message: string | null;
  /** How many files the job has (archives and their members included). */
  files_count?: number;
  /** Whether the job is ready for analysis (POST /jobs/{id}/start, or its files settled). */
  ready?: boolean;
  ready_at?: string | null;
}

/** The body of POST /api/jobs. Unknown fields are rejected, so only these. */
export interface NewJob {
  job_type: string;
  user_id?: string;
  priority?: number | null;
  provider?: string;
  model?: string;
  input_manifest?: JsonObject | null;
  model_config?: JsonObject | null;
  ticketing?: JsonObject | null;
  source?: JsonObject | null;
}

export interface JobListQuery {
  user_id?: string;
  status?: JobStatus | '';
  limit?: number;
  offset?: number;
}

/** One row of a job's event log; `id` grows in commit order. */
export interface JobEvent {
  id: number;
  job_id: string;
  event_type: string;
  data: JsonObject;
  created_at: string;
}

export interface Ticket {
  id: string;
  job_id: string;
  platform: Platform;
  ticket_id: string;
  url: string | null;
  status: string;
  profile_name: string | null;
  dry_run: boolean;
  payload: JsonObject;
  metadata: JsonObject;
  created_at: string;
  updated_at: string;
}

export interface TicketPage {
  tickets: Ticket[];
  total: number;
  limit: number;
  offset: number;
}

export interface TicketQuery {
  platform?: Platform | '';
  status?: string;
  job_id?: string;
  q?: string;
  limit?: number;
  offset?: number;
}

export interface JobTickets {
  job_id: string;
  tickets: Ticket[];
}

/** The body of POST /api/tickets. */
export interface NewTicket {
  job_id: string;
  platform: Platform;
  dry_run?: boolean | null;
  payload?: JsonObject | null;
  profile_name?: string | null;
  ticket_id?: string | null;
  url?: string | null;
  metadata?: JsonObject | null;
}

/** The body of POST /api/tickets/dispatch. */
export interface DispatchRequest {
  job_id: string;
  dry_run?: boolean | null;
  payloads?: { servicenow?: JsonObject | null; jira?: JsonObject | null } | null;
  profile_name?: string | null;
}

export interface Settings {
  servicenow_enabled: boolean;
  jira_enabled: boolean;
  dual_mode: boolean;
}

/** Absent or null keeps the current value. */
export type SettingsUpdate = { [K in keyof Settings]?: boolean | null };

export interface FieldError {
  field: string;
  message: string;
}

export type DependencyStatus = 'connecting' | 'up' | 'down' | 'disabled';

/**
 * A dependency's state, as carried by `dependency` SSE events and by the
 * `dependency` member of a 503 problem.
 */
export interface DependencyState {
  name: string;
  status: DependencyStatus;
  cause?: string;
  since?: string;
  retry_after_seconds?: number;
  next_retry?: string;
}

/** An RFC 9457 problem document. `detail` is always a readable sentence. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  request_id?: string;
  errors?: FieldError[];
  dependency?: DependencyState;
}

export interface HealthCheck {
  componentType: string;
  status: 'pass' | 'warn' | 'fail';
  observedValue?: unknown;
  observedUnit?: string;
  time?: string;
  output?: string;
  state?: DependencyStatus;
  cause?: string;
  since?: string;
  attempts?: number;
  totalAttempts?: number;
  nextRetry?: string;
}

export interface HealthReport {
  status: 'pass' | 'warn' | 'fail';
  version: string;
  serviceId: string;
  description: string;
  notes?: string[];
  checks: Record<string, HealthCheck[]>;
}

/** `heartbeat` events of a job stream. */
export interface Heartbeat {
  job_id: string;
  timestamp: string;
  status: JobStatus;
}

/** `complete` event: the job is finished and the stream closes. */
export interface StreamComplete {
  event_type: 'complete';
  job_id: string;
  status: JobStatus;
}

/** `reset` event: the stream cannot replay what was missed; reload. */
export interface StreamReset {
  reason: string;
  detail: string;
}

/** AUTH_MODE: off (no sign-in anywhere), writes (reads open), all (everything but health and auth). */
export type AuthMode = 'off' | 'writes' | 'all';

/** GET /api/auth/config, always public. */
export interface AuthConfig {
  mode: AuthMode;
  registration: 'open' | 'admin' | 'closed';
  access_token_ttl_seconds: number;
  /** Who may change a job: its owner and admins, or every signed-in user (team). */
  job_visibility?: 'owner' | 'team';
}

export type Role = 'user' | 'admin';

/** An account, as /api/auth/me and the sign-in routes return it. */
export interface User {
  id: string;
  email: string;
  username: string;
  full_name: string | null;
  is_active: boolean;
  is_superuser: boolean;
  role: Role;
  created_at: string;
  updated_at?: string;
}

/**
 * The answer of POST /api/auth/login and /api/auth/refresh. The refresh
 * token is also set as an HttpOnly cookie, which is the only copy this UI
 * relies on: the one in the body is never read.
 */
export interface TokenResponse {
  access_token: string;
  refresh_token?: string;
  token_type: string;
  expires_in: number;
  refresh_expires_in?: number;
  user: User;
}

// ---------------------------------------------------------------------------
// Files (issue #12)

export type FileKind = 'log' | 'archive';
export type TextEncoding = 'utf-8' | 'utf-16le' | 'utf-16be' | 'latin-1';

/** A member of an archive that was not kept, and why. */
export interface SkippedMember {
  path: string;
  reason: string;
}

/** A file of a job: an upload, an archive, or a member unpacked from an archive. */
export interface JobFile {
  id: string;
  job_id: string;
  filename: string;
  original_filename: string;
  content_type: string;
  file_size: number;
  /** SHA-256, hex. */
  checksum: string;
  processed: boolean;
  processed_at: string | null;
  created_at: string;
  /** An archive's holds {members, skipped}. */
  metadata: (JsonObject & { members?: number; skipped?: SkippedMember[] }) | null;
  kind: FileKind;
  /** The path inside its archive, for a member. */
  archive_path: string | null;
  /** The archive it came from, for a member. */
  parent_id: string | null;
  encoding: TextEncoding | null;
}

/** GET /api/files/supported-types. */
export interface SupportedTypes {
  /** Extensions without the dot ("log", "txt", ...); archive types are listed apart. */
  allowed_types: string[];
  max_file_size_mb: number;
  max_request_mb?: number;
  archive_types?: string[];
  /** The tus endpoint for resumable uploads; absent or empty when the server has none. */
  tus_endpoint?: string | null;
}

/** One line of a file, numbered from 1. */
export interface FileLine {
  number: number;
  text: string;
}

/** GET /api/files/{id}/lines?from=N&to=M. */
export interface LinesWindow {
  file_id: string;
  from: number;
  to: number;
  total_lines: number;
  lines: FileLine[];
  truncated: boolean;
}
