import { useCallback, useEffect, useRef, useState } from 'react';
import { degradedStore, isPostgresDown } from './api/degraded';
import { ApiError } from './api/http';

export interface AsyncState<T> {
  data: T | undefined;
  error: ApiError | null;
  loading: boolean;
  /** Loads again (keeps showing the current data meanwhile). */
  reload: () => void;
  /** Replaces the data locally (after a write that returned the new value). */
  setData: (update: T | undefined | ((prev: T | undefined) => T | undefined)) => void;
}

function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  return new ApiError({ status: 0, detail: err instanceof Error ? err.message : String(err) });
}

/**
 * Runs `load` whenever `key` changes. A 503 (a dependency is down) is retried
 * by itself: after its Retry-After, and at once when the degraded store
 * says PostgreSQL is back.
 */
export function useAsync<T>(key: string, load: (signal: AbortSignal) => Promise<T>): AsyncState<T> {
  const [data, setDataState] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(true);
  const [nonce, setNonce] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const keyRef = useRef(key);

  useEffect(() => {
    if (keyRef.current !== key) {
      keyRef.current = key;
      setDataState(undefined);
    }
    const ctrl = new AbortController();
    let retry: ReturnType<typeof setTimeout> | undefined;
    let unsubscribe: (() => void) | undefined;
    setLoading(true);
    loadRef.current(ctrl.signal).then(
      (value) => {
        if (ctrl.signal.aborted) return;
        setDataState(value);
        setError(null);
        setLoading(false);
      },
      (err: unknown) => {
        if (ctrl.signal.aborted) return;
        const e = toApiError(err);
        setError(e);
        setLoading(false);
        if (e.status === 503 || e.status === 0) {
          const delay = Math.min(30, Math.max(2, e.retryAfter ?? 5)) * 1000;
          retry = setTimeout(() => setNonce((n) => n + 1), delay);
          let wasDown = isPostgresDown(degradedStore.getSnapshot());
          unsubscribe = degradedStore.subscribe(() => {
            const down = isPostgresDown(degradedStore.getSnapshot());
            if (wasDown && !down) setNonce((n) => n + 1);
            wasDown = down;
          });
        }
      },
    );
    return () => {
      ctrl.abort();
      if (retry) clearTimeout(retry);
      unsubscribe?.();
    };
  }, [key, nonce]);

  const reload = useCallback(() => setNonce((n) => n + 1), []);
  const setData = useCallback((update: T | undefined | ((prev: T | undefined) => T | undefined)) => {
    setDataState((prev) =>
      typeof update === 'function' ? (update as (p: T | undefined) => T | undefined)(prev) : update,
    );
  }, []);
  return { data, error, loading, reload, setData };
}
