import { useEffect } from 'react';
import { degradedStore } from '../lib/api/degraded';
import { subscribeAll } from '../lib/api/events';
import { liveFeed } from '../lib/live';
import { session } from '../lib/session';

/** Opens /api/sse/events once for the whole app; renders nothing. */
export function LiveFeed() {
  useEffect(() => {
    const sub = subscribeAll({
      onDependency: (d) => degradedStore.reportDependency(d, 'sse'),
      onEvent: (ev) => liveFeed.publish(ev),
      onState: (s) => liveFeed.setState(s),
    }, {
      // Refused (mode `all`): an expired token in the URL, perhaps. Renew
      // it if it is about to, so that the next connection carries a good one.
      probe: async () => {
        await session.ensureFresh();
        return { action: 'retry' };
      },
    });
    return () => sub.close();
  }, []);
  return null;
}
