import { useCallback, useRef } from 'react';
import { newIdempotencyKey } from './api/http';

/**
 * One Idempotency-Key per distinct request body: submitting the same body
 * again (a retry after a lost answer) reuses the key, so the server replays
 * its first answer instead of doing the work twice; a changed body, or a
 * new request after a success, gets a new key.
 */
export function useIdempotencyKey(): { keyFor: (body: unknown) => string; done: () => void } {
  const ref = useRef<{ body: string; key: string } | null>(null);
  const keyFor = useCallback((body: unknown) => {
    const b = JSON.stringify(body);
    if (!ref.current || ref.current.body !== b) ref.current = { body: b, key: newIdempotencyKey() };
    return ref.current.key;
  }, []);
  const done = useCallback(() => {
    ref.current = null;
  }, []);
  return { keyFor, done };
}
