/**
 * @module The retry budget every listener thread shares: retries in flight may not
 * exceed max(3, 20% of the requests in flight), both counted in shared memory. Without
 * it, backends that fail under load (resetting connections mid-request) turn each
 * request into `--retries + 1` attempts, and the retries pile onto the backends that
 * are left (a retry storm); Envoy and Finagle bound retries the same way. A request
 * whose connection was never made is not a retry in this sense (relay/exchange.ts): no
 * backend worked on it, and it is sent on without a place here, as Finagle requeues.
 *
 * A retry takes its place optimistically: `Atomics.add`, then a check of the value it
 * got, and a `sub` if that was over the limit. Two threads racing for the last place
 * can both be refused, never both admitted.
 */
import type { SharedState } from '../shared/shared-state.ts';

export const MIN_RETRIES_IN_FLIGHT = 3;
export const RETRY_SHARE = 0.2;

export class RetryBudget {
  readonly #state: SharedState;
  readonly #listener: number;

  constructor(state: SharedState, listener: number) {
    this.#state = state;
    this.#listener = listener;
  }

  /** A client request starts being proxied (it counts toward the budget's base). */
  requestStarted(): void {
    this.#state.headerAdd('requestsInFlight', 1);
    this.#state.listenerAdd(this.#listener, 'requestsInFlight', 1);
  }

  requestEnded(): void {
    this.#state.headerAdd('requestsInFlight', -1);
    this.#state.listenerAdd(this.#listener, 'requestsInFlight', -1);
  }

  /** Takes a place for one retry; false (and counted) when the budget is spent. */
  tryAcquire(): boolean {
    const state = this.#state;
    const limit = Math.max(MIN_RETRIES_IN_FLIGHT, Math.floor(state.header('requestsInFlight') * RETRY_SHARE));
    const running = state.headerAdd('retriesInFlight', 1) + 1;
    if (running > limit) {
      state.headerAdd('retriesInFlight', -1);
      state.headerBump('retriesRefused');
      return false;
    }
    state.listenerAdd(this.#listener, 'retriesInFlight', 1);
    for (let peak = state.header('retriesPeak'); running > peak; peak = state.header('retriesPeak')) {
      if (state.headerCas('retriesPeak', peak, running) === peak) break;
    }
    return true;
  }

  /** The retry that held a place has ended. */
  release(): void {
    this.#state.headerAdd('retriesInFlight', -1);
    this.#state.listenerAdd(this.#listener, 'retriesInFlight', -1);
  }
}
