import { useState } from 'react';

/**
 * A JSON value, folded away until asked for. It is only serialised once
 * opened: a job page re-renders on every live event, and an analysed job's
 * result can be large.
 */
export function JsonBlock({ label, value, open = false }: { label: string; value: unknown; open?: boolean }) {
  const [shown, setShown] = useState(open);
  const empty =
    value === null ||
    value === undefined ||
    (typeof value === 'object' && Object.keys(value as object).length === 0);
  if (empty) {
    return (
      <p className="json-empty">
        {label}: <span className="muted">none</span>
      </p>
    );
  }
  return (
    <details className="json" open={shown} onToggle={(e) => setShown((e.currentTarget as HTMLDetailsElement).open)}>
      <summary>{label}</summary>
      {shown ? <pre tabIndex={0}>{JSON.stringify(value, null, 2)}</pre> : null}
    </details>
  );
}
