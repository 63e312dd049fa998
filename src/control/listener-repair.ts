/**
 * @module What the main thread does for a listener thread that died: it can no longer
 * release the counts it held, so its rows say exactly what to give back. The requests
 * it had running at each backend leave that backend's in-flight count, its requests and
 * retries in flight leave the shared retry budget, and a trial request it had claimed
 * goes back, so that another thread sends one.
 */
import { EJECTION } from '../shared/layout.ts';
import type { SharedState } from '../shared/shared-state.ts';

/** Returns how many requests the dead listener had running at backends. */
export function releaseListener(state: SharedState, listener: number): number {
  let released = 0;
  for (let slot = 0; slot < state.capacity; slot++) {
    const stranded = state.matrixTake(listener, slot);
    if (stranded !== 0) {
      state.add(slot, 'inFlight', -stranded);
      released += stranded;
    }
    if (state.load(slot, 'trialOwner') === listener + 1 && state.cas(slot, 'ejection', EJECTION.trial, EJECTION.ejected) === EJECTION.trial) {
      state.store(slot, 'trialOwner', 0);
    }
  }
  state.headerAdd('requestsInFlight', -state.listenerTake(listener, 'requestsInFlight'));
  state.headerAdd('retriesInFlight', -state.listenerTake(listener, 'retriesInFlight'));
  // Its sockets died with it; a restarted thread counts its own from zero.
  state.listenerStore(listener, 'connectionsOpen', 0);
  state.listenerStore(listener, 'tunnelsOpen', 0);
  state.listenerStore(listener, 'accepting', 0);
  state.publish();
  return released;
}
