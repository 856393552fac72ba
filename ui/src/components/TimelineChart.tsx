// The report's timeline: records per bucket by level, with a marker where
// each of the top causes starts. Drawn by uPlot (see the commit that added
// it: small, fast on thousands of buckets, canvas, MIT); a table of the same
// figures follows for screen readers and for browsers without canvas.
// uPlot is loaded on first use (its own chunk): pages without a report do
// not download it.

import { useEffect, useMemo, useRef, useState } from 'react';
import type uPlot from 'uplot';
import type { Cause, Signature, Timeline } from '../lib/api/report';

/** Levels shown, lowest first, and their colours (the page's palette). */
export const CHART_LEVELS: { key: string; label: string; color: string }[] = [
  { key: 'info', label: 'info', color: '#4c78a8' },
  { key: 'warn', label: 'warn', color: '#e0a100' },
  { key: 'error', label: 'error', color: '#d62728' },
  { key: 'critical', label: 'critical', color: '#7b1fa2' },
  { key: 'other', label: 'other', color: '#9aa0a6' },
];

export interface Marker {
  x: number;
  label: string;
  title: string;
}

export interface ChartData {
  axis: 'time' | 'record';
  xs: number[];
  series: { key: string; label: string; color: string; values: number[] }[];
  markers: Marker[];
}

function toX(t: string | null | undefined): number | null {
  if (!t) return null;
  const ms = Date.parse(t);
  return Number.isFinite(ms) ? ms / 1000 : null;
}

/**
 * The chart's columns from the report: x (seconds since the epoch, or the
 * record number without timestamps), one series per level present, and the
 * start of each top cause (its burst's onset, else its first occurrence).
 */
export function chartData(timeline: Timeline, causes: readonly Cause[], signatures: readonly Signature[], top = 3): ChartData | null {
  if (!timeline || (timeline.axis !== 'time' && timeline.axis !== 'record') || timeline.buckets.length === 0) return null;
  const axis = timeline.axis;
  const xs: number[] = [];
  for (const b of timeline.buckets) {
    const x = axis === 'time' ? toX(b.start) : (b.first_record ?? 0);
    xs.push(x ?? (xs.length ? xs[xs.length - 1]! : 0));
  }
  const known = new Set(CHART_LEVELS.map((l) => l.key));
  const series = CHART_LEVELS.map((l) => ({
    ...l,
    values: timeline.buckets.map((b) => {
      const lv = b.levels ?? {};
      if (l.key !== 'other') return lv[l.key] ?? 0;
      let rest = 0;
      for (const [k, v] of Object.entries(lv)) if (!known.has(k)) rest += v;
      return rest;
    }),
  })).filter((s) => s.values.some((v) => v > 0));
  const bySig = new Map(signatures.map((s) => [s.id, s]));
  const markers: Marker[] = [];
  for (const c of causes.slice(0, top)) {
    const sig = bySig.get(c.signature_id);
    let x: number | null = null;
    if (axis === 'time') {
      x = toX(sig?.burst?.onset) ?? toX(sig?.first_seen.timestamp) ?? toX(c.evidence.find((e) => e.timestamp)?.timestamp);
    } else if (sig?.burst?.onset_record) {
      x = sig.burst.onset_record;
    }
    if (x !== null) markers.push({ x, label: `#${c.rank}`, title: c.title });
  }
  return { axis, xs, series, markers };
}

function markerPlugin(markers: Marker[]): uPlot.Plugin {
  return {
    hooks: {
      draw: [
        (u: uPlot) => {
          const ctx = u.ctx;
          const ink = css('--text', '#111');
          const { top, height, left, width } = u.bbox;
          ctx.save();
          ctx.font = `${Math.round(11 * devicePixelRatio)}px system-ui, sans-serif`;
          markers.forEach((m, i) => {
            const x = Math.round(u.valToPos(m.x, 'x', true));
            if (x < left - 1 || x > left + width + 1) return;
            ctx.strokeStyle = ink;
            ctx.lineWidth = devicePixelRatio;
            ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
            ctx.beginPath();
            ctx.moveTo(x, top);
            ctx.lineTo(x, top + height);
            ctx.stroke();
            ctx.setLineDash([]);
            ctx.fillStyle = ink;
            // Stacked, so that causes starting together stay readable.
            ctx.fillText(m.label, x + 3 * devicePixelRatio, top + (12 + 13 * i) * devicePixelRatio);
          });
          ctx.restore();
        },
      ],
    },
  };
}

function fmtX(axis: 'time' | 'record', x: number): string {
  return axis === 'time' ? new Date(x * 1000).toISOString().replace('T', ' ').slice(0, 19) : `record ${x.toLocaleString('en')}`;
}

function css(name: string, fallback: string): string {
  const v = typeof getComputedStyle === 'function' ? getComputedStyle(document.documentElement).getPropertyValue(name).trim() : '';
  return v || fallback;
}

function canDraw(): boolean {
  try {
    return typeof document !== 'undefined' && !!document.createElement('canvas').getContext('2d');
  } catch {
    return false;
  }
}

export function TimelineChart({ timeline, causes, signatures }: { timeline: Timeline; causes: readonly Cause[]; signatures: readonly Signature[] }) {
  const data = useMemo(() => chartData(timeline, causes, signatures), [timeline, causes, signatures]);
  const box = useRef<HTMLDivElement | null>(null);
  const [drawn, setDrawn] = useState(false);
  // A log scale keeps a few errors visible beside a flood of info records.
  const [log, setLog] = useState(false);

  useEffect(() => {
    const el = box.current;
    if (!el || !data || !canDraw()) return;
    let cancelled = false;
    let plot: uPlot | null = null;
    let ro: ResizeObserver | null = null;
    void Promise.all([import('uplot'), import('uplot/dist/uPlot.min.css')]).then(([mod]) => {
      if (cancelled) return;
      const UPlot = mod.default;
      const width = () => Math.max(300, el.clientWidth || 800);
      const opts: uPlot.Options = {
        width: width(),
        height: 240,
        scales: { x: { time: data.axis === 'time' }, y: log ? { distr: 3, log: 10 } : {} },
        // The page's colours, so that the axes read in dark mode too.
      axes: [
        { stroke: css('--muted', '#57606a'), grid: { stroke: css('--border', '#d0d7de'), width: 1 }, ticks: { stroke: css('--border', '#d0d7de') } },
        { label: 'records', size: 60, space: log ? 40 : 30, stroke: css('--muted', '#57606a'), grid: { stroke: css('--border', '#d0d7de'), width: 1 }, ticks: { stroke: css('--border', '#d0d7de') } },
      ],
        series: [
          { label: data.axis === 'time' ? 'time' : 'record', value: (_u, v) => (v == null ? '—' : fmtX(data.axis, v)) },
          ...data.series.map((s) => ({
            label: s.label,
            stroke: s.color,
            fill: `${s.color}22`,
            width: 1.5,
            paths: UPlot.paths.stepped!({ align: 1 }),
          // On a log scale a lone bucket between empty ones has no step: a dot shows it.
          ...(log ? { points: { show: true, size: 4, fill: s.color } } : {}),
          })),
        ],
        plugins: [markerPlugin(data.markers)],
      };
      try {
        // A log scale has no 0: empty buckets are gaps.
        const ys = data.series.map((s) => (log ? s.values.map((v) => (v > 0 ? v : null)) : s.values));
        plot = new UPlot(opts, [data.xs, ...ys] as uPlot.AlignedData, el);
        setDrawn(true);
      } catch {
        setDrawn(false);
        return;
      }
      ro = typeof ResizeObserver !== 'undefined' ? new ResizeObserver(() => plot?.setSize({ width: width(), height: 240 })) : null;
      ro?.observe(el);
    });
    return () => {
      cancelled = true;
      ro?.disconnect();
      plot?.destroy();
      setDrawn(false);
    };
  }, [data, log]);

  if (!data) return <p className="muted">No timeline: the logs have no records to place.</p>;
  const unit = timeline.axis === 'time' ? (timeline.bucket_seconds ? `${timeline.bucket_seconds} s` : 'bucket') : `${timeline.bucket_records ?? ''} records`;
  return (
    <figure className="chart" data-testid="timeline-chart">
      <label className="chart-log small">
        <input type="checkbox" checked={log} onChange={(e) => setLog(e.target.checked)} /> Logarithmic scale
      </label>
      <div ref={box} className="chart-canvas" aria-hidden="true" data-drawn={drawn ? 'yes' : 'no'} />
      <figcaption className="muted">
        Records per {unit} by level{data.markers.length ? '; dashed lines: where the top causes start' : ''}.
        {data.markers.length ? (
          <ul className="markers">
            {data.markers.map((m) => (
              <li key={m.label}>
                <strong>{m.label}</strong> {fmtX(data.axis, m.x)}: {m.title}
              </li>
            ))}
          </ul>
        ) : null}
      </figcaption>
      <details className="chart-table">
        <summary>The figures as a table</summary>
        <div className="table-wrap">
          <table className="compact">
            <thead>
              <tr>
                <th scope="col">{data.axis === 'time' ? 'From (UTC)' : 'From record'}</th>
                {data.series.map((s) => (
                  <th key={s.key} scope="col" className="num">
                    {s.label}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {data.xs.slice(0, 500).map((x, i) => (
                <tr key={i}>
                  <td>{fmtX(data.axis, x)}</td>
                  {data.series.map((s) => (
                    <td key={s.key} className="num">
                      {s.values[i]}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}
