import { ApiError, http } from './http';
import type { HealthReport } from './types';

/**
 * The full health report. It answers 503 (with the same body) while
 * PostgreSQL is impaired: that is a report, not a failure, so it is
 * returned rather than thrown.
 */
export async function getHealth(signal?: AbortSignal): Promise<HealthReport> {
  try {
    return await http.request<HealthReport>('GET', '/health', {
      headers: { Accept: 'application/health+json, application/json' },
      ...(signal ? { signal } : {}),
    });
  } catch (err) {
    if (err instanceof ApiError && err.status === 503 && isHealthReport(err.problem)) {
      return err.problem;
    }
    throw err;
  }
}

function isHealthReport(v: unknown): v is HealthReport {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as HealthReport).status === 'string' &&
    typeof (v as HealthReport).checks === 'object' &&
    (v as HealthReport).checks !== null
  );
}
