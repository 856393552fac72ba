// The app-wide feed of /api/sse/events: one EventSource for the whole app
// (started by <LiveFeed/> in App), shared by every page that wants to
// refresh when something happens.

import type { ConnectionState } from './api/events';
import type { JobEvent } from './api/types';

type EventListener = (ev: JobEvent) => void;
type StateListener = () => void;

const eventListeners = new Set<EventListener>();
const stateListeners = new Set<StateListener>();
let connection: ConnectionState = 'connecting';

export const liveFeed = {
  publish(ev: JobEvent) {
    for (const l of [...eventListeners]) l(ev);
  },
  onEvent(l: EventListener): () => void {
    eventListeners.add(l);
    return () => {
      eventListeners.delete(l);
    };
  },
  setState(s: ConnectionState) {
    if (s === connection) return;
    connection = s;
    for (const l of [...stateListeners]) l();
  },
  getState: (): ConnectionState => connection,
  subscribeState(l: StateListener): () => void {
    stateListeners.add(l);
    return () => {
      stateListeners.delete(l);
    };
  },
};
