import { useEffect, useRef } from 'react';
import type { JobEvent } from './api/types';
import { liveFeed } from './live';

/**
 * Calls reload when a live job event arrives that `accept` takes (all by
 * default), coalescing bursts into one reload per 750 ms so that a busy
 * stream does not turn into a request per event.
 */
export function useLiveReload(reload: () => void, accept: (ev: JobEvent) => boolean = () => true): void {
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const acceptRef = useRef(accept);
  acceptRef.current = accept;
  useEffect(() => {
    const off = liveFeed.onEvent((ev) => {
      if (timer.current || !acceptRef.current(ev)) return;
      timer.current = setTimeout(() => {
        timer.current = null;
        reload();
      }, 750);
    });
    return () => {
      off();
      if (timer.current) clearTimeout(timer.current);
      timer.current = null;
    };
  }, [reload]);
}
