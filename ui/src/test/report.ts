// A report as the engine writes it (internal/analysis/report.go), for the UI tests.

import type { Report, Signature } from '../lib/api/report';

export function signature(i: number, over: Partial<Signature> = {}): Signature {
  return {
    id: `sig-${i}`,
    template: `template number ${i}`,
    count: i,
    level: 'info',
    levels: { info: i },
    first_seen: { file: 'app.log', line: i, timestamp: `2025-01-31T12:${String(i % 60).padStart(2, '0')}:00Z` },
    last_seen: { file: 'app.log', line: i + 1000, timestamp: '2025-01-31T13:00:00Z' },
    files: [{ file: 'app.log', count: i }],
    ...over,
  };
}

export function report(over: Partial<Report> = {}): Report {
  return {
    job_id: 'j',
    analysis_type: 'rca_analysis',
    generated_at: '2025-01-31T12:10:00Z',
    severity: 'high',
    metrics: { files: 2, lines: 300, errors: 40, warnings: 12, critical: 0, signatures: 3 },
    files: [],
    summary: 'db.log refused connections from 12:01; app.log then timed out on its pool and answered 500.',
    recommended_actions: ['Check why the database refuses connections (is it up, is max_connections reached?).'],
    causes: [
      // Out of order on purpose: the view ranks them.
      {
        rank: 2,
        signature_id: 'sig-pool',
        title: 'HikariPool-1 - Connection is not available, request timed out after <*>ms',
        template: 'HikariPool-1 - Connection is not available, request timed out after <*>ms',
        level: 'error',
        score: 0.61,
        count: 30,
        reasons: ['rose after the first cause', 'error level'],
        evidence: [{ role: 'first', file: 'logs/app.log', line: 17, level: 'error', text: 'pool timeout <script>alert(1)</script>', timestamp: '2025-01-31T12:01:05Z' }],
      },
      {
        rank: 1,
        signature_id: 'sig-refused',
        title: 'connection refused on port <*>',
        template: 'connection refused on port <*>',
        level: 'error',
        score: 0.93,
        count: 10,
        category: 'database',
        reasons: ['first error in time', 'new: never seen before 12:01'],
        evidence: [
          { role: 'first', file: 'db.log', file_id: 'file-db', line: 42, level: 'error', text: 'FATAL: connection refused on port 5432', timestamp: '2025-01-31T12:01:00Z' },
          { role: 'example', file: 'db.log', file_id: 'file-db', line: 50, level: 'error', text: 'connection refused on port 5432' },
        ],
      },
    ],
    first_error: null,
    signatures: [
      signature(1, { id: 'sig-refused', template: 'connection refused on port <*>', count: 10, level: 'error', first_seen: { file: 'db.log', line: 42, timestamp: '2025-01-31T12:01:00Z' } }),
      signature(2, { id: 'sig-pool', template: 'HikariPool-1 - Connection is not available', count: 30, level: 'error' }),
      signature(3, { id: 'sig-cache', template: 'cache miss ratio high <img src=x onerror=alert(2)>', count: 200, level: 'warn' }),
    ],
    timeline: {
      axis: 'time',
      bucket_seconds: 60,
      buckets: [
        { start: '2025-01-31T12:00:00Z', total: 20, levels: { info: 18, warn: 2 } },
        { start: '2025-01-31T12:01:00Z', total: 40, levels: { info: 10, error: 30 } },
      ],
    },
    ...over,
  };
}
