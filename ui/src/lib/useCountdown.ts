import { useEffect, useState } from 'react';

/** Seconds left until `at` (ms since the epoch), re-rendering every second while `at` is set; null without one. */
export function useCountdown(at: number | null | undefined): number | null {
  const [, setTick] = useState(0);
  useEffect(() => {
    if (at === undefined || at === null) return;
    const t = setInterval(() => setTick((n) => n + 1), 1000);
    return () => clearInterval(t);
  }, [at]);
  if (at === undefined || at === null) return null;
  return Math.max(0, Math.ceil((at - Date.now()) / 1000));
}
