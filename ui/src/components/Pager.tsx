/** Previous/next paging. `total` when the API gives one (tickets), else `hasMore`. */
export function Pager(props: {
  offset: number;
  limit: number;
  count: number;
  total?: number;
  hasMore?: boolean;
  label: string;
  onChange: (offset: number) => void;
}) {
  const { offset, limit, count, total, label, onChange } = props;
  const hasMore = total !== undefined ? offset + count < total : (props.hasMore ?? count === limit);
  const from = count === 0 ? 0 : offset + 1;
  const to = offset + count;
  return (
    <nav className="pager" aria-label={`${label} pages`}>
      <button type="button" className="button-secondary" disabled={offset === 0} onClick={() => onChange(Math.max(0, offset - limit))}>
        Previous
      </button>
      <span className="pager-info" aria-live="polite">
        {count === 0 ? 'No results' : `${from}–${to}${total !== undefined ? ` of ${total}` : ''}`}
      </span>
      <button type="button" className="button-secondary" disabled={!hasMore} onClick={() => onChange(offset + limit)}>
        Next
      </button>
    </nav>
  );
}
