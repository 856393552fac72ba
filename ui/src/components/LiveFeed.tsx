import { useEffect } from 'react';
import { degradedStore } from '../lib/api/degraded';
import { subscribeAll } from '../lib/api/events';
import { liveFeed } from '../lib/live';

/** Opens /api/sse/events once for the whole app; renders nothing. */
export function LiveFeed() {
  useEffect(() => {
    const sub = subscribeAll({
      onDependency: (d) => degradedStore.reportDependency(d, 'sse'),
      onEvent: (ev) => liveFeed.publish(ev),
      onState: (s) => liveFeed.setState(s),
    });
    return () => sub.close();
  }, []);
  return null;
}
