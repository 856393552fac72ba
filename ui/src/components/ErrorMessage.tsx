import type { ApiError } from '../lib/api/http';

/**
 * A failed call, in words. Field errors whose field has no control of its
 * own on the form (listed in `shownFields`) are listed here.
 */
export function ErrorMessage({
  error,
  shownFields = [],
  onRetry,
}: {
  error: ApiError | null | undefined;
  shownFields?: readonly string[];
  onRetry?: () => void;
}) {
  if (!error) return null;
  const rest = error.errors.filter((e) => !shownFields.includes(e.field));
  return (
    <div className="message message-error" role="alert">
      <p>
        {error.detail}
        {error.status === 503 && error.retryAfter !== null ? ` (retrying in about ${error.retryAfter} s)` : ''}
      </p>
      {rest.length > 0 ? (
        <ul>
          {rest.map((e, i) => (
            <li key={i}>
              <code>{e.field}</code> {e.message}
            </li>
          ))}
        </ul>
      ) : null}
      {onRetry ? (
        <button type="button" className="button-secondary" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}
