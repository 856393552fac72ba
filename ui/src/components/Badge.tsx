/** A status word with a colour; the word itself carries the meaning. */
export function Badge({ value }: { value: string }) {
  const cls = value.replace(/[^a-z0-9-]/gi, '').toLowerCase();
  return <span className={`badge badge-${cls}`}>{value}</span>;
}
