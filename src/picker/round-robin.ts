/**
 * @module Round robin that is exact across every listener thread: over any k x n
 * consecutive picks, each of n backends is picked exactly k times.
 *
 * Each pick takes a ticket with one `Atomics.add` on the shared counter and uses
 * `ticket % n`. A plain 32-bit counter would break exactness where it wraps (2^32 is not
 * a multiple of 3), so the counter folds back at RR_WRAP, a multiple of n: the one thread
 * whose ticket is exactly RR_WRAP subtracts RR_WRAP. Tickets taken by other threads
 * between that add and that sub lie above RR_WRAP and map to the same backend as their
 * folded value (RR_WRAP % n === 0), so nothing is skipped or repeated. No compare-and-swap
 * loop, so a pick never retries under contention.
 */
import type { SharedState } from '../shared/layout.ts';
import type { Picker } from './picker.ts';

export class RoundRobinPicker implements Picker {
  readonly #state: SharedState;
  readonly #backendCount: number;
  readonly #wrap: number;

  constructor(state: SharedState) {
    this.#state = state;
    this.#backendCount = state.backendCount;
    this.#wrap = state.roundRobinWrap;
  }

  /** The next ticket in the global sequence 0, 1, ..., RR_WRAP - 1, 0, 1, ... */
  takeTicket(): number {
    const raw = this.#state.addRoundRobin(1);
    if (raw === this.#wrap) this.#state.subRoundRobin(this.#wrap);
    return raw >= this.#wrap ? raw - this.#wrap : raw;
  }

  pick(): number {
    // Health flags (reserved in the layout) will narrow this to the healthy subset.
    return this.takeTicket() % this.#backendCount;
  }
}
