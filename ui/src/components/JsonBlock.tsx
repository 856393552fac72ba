/** A JSON value, folded away until asked for. */
export function JsonBlock({ label, value, open = false }: { label: string; value: unknown; open?: boolean }) {
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
    <details className="json" open={open}>
      <summary>{label}</summary>
      <pre tabIndex={0}>{JSON.stringify(value, null, 2)}</pre>
    </details>
  );
}
