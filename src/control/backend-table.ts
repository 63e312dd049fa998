/**
 * @module The control plane's operations on the slot table: add, drain, disable,
 * enable, remove a backend and set its weight, without restarting any thread. The main
 * thread is their one writer. Each change bumps the membership generation and publishes
 * the routing epoch, and every listener thread rebuilds what it derives from membership
 * (schedules, hash tables, upstream pools) at its next pick. A backend keeps its slot,
 * counters and health while it stays in the table; the admin API, config reload and DNS
 * discovery (later) only call these.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { now } from '../shared/clock.ts';
import { EJECTION, MAX_TIER, MAX_WEIGHT, SLOT_STATE, type SlotState } from '../shared/layout.ts';
import { roundRobinWrap, type SharedState, type SlotSnapshot } from '../shared/shared-state.ts';
import { slowStartNote, startRamp } from '../routing/slow-start.ts';

export interface BackendSpec {
  /** `http://host:port`: the backend's identity. */
  readonly origin: string;
  readonly weight: number;
  /** Preference tier (an SRV record's priority): picks use the lowest tier that has an
   * eligible backend. 0 when not given, as for --backend and the admin API. */
  readonly tier?: number;
}

/** A refused operation; `code` for callers (admin API) to branch on. */
export class BackendTableError extends Error {
  override readonly name = 'BackendTableError';
  readonly code: 'DUPLICATE' | 'FULL' | 'UNKNOWN' | 'BAD_WEIGHT' | 'BAD_TIER';

  constructor(code: BackendTableError['code'], message: string) {
    super(message);
    this.code = code;
  }
}

export interface BackendTableOptions {
  /** --slow-start in ms: backends added after start (and enabled again) ramp up. */
  readonly slowStartMs: number;
  /** Where each change is reported (one line each). */
  readonly log: (line: string) => void;
}

const DRAIN_POLL_MS = 25;

export class BackendTable {
  readonly #state: SharedState;
  readonly #options: BackendTableOptions;

  constructor(state: SharedState, options: BackendTableOptions) {
    this.#state = state;
    this.#options = options;
  }

  /** Every filled slot. */
  list(): SlotSnapshot[] {
    return this.#state.backends();
  }

  /**
   * Puts a backend in a free slot, active and healthy; returns the slot. `initial`
   * backends (those given at start) skip slow start: there is nothing to ramp up from.
   */
  addBackend({ origin, weight, tier = 0 }: BackendSpec, { initial = false } = {}): number {
    const state = this.#state;
    checkWeight(origin, weight);
    checkTier(origin, tier);
    if (state.slotOf(origin) >= 0) throw new BackendTableError('DUPLICATE', `backend ${origin} is already in the table`);
    const slot = this.#freeSlot();
    if (slot < 0) throw new BackendTableError('FULL', `no free slot for backend ${origin}: all ${state.capacity} are in use (--max-backends)`);
    // Odd while we write: a listener reading the slot now leaves it out and reads it
    // again after the generation bump below.
    const incarnation = state.load(slot, 'incarnation');
    state.store(slot, 'incarnation', incarnation + 1);
    state.clearSlot(slot);
    state.writeOrigin(slot, origin);
    state.store(slot, 'weight', weight);
    state.store(slot, 'tier', tier);
    state.store(slot, 'healthy', 1);
    state.store(slot, 'ejection', EJECTION.in);
    // Backends given at start have nothing to ramp up from.
    startRamp(state, slot, initial ? 0 : this.#options.slowStartMs);
    state.store(slot, 'incarnation', incarnation + 2);
    state.store(slot, 'state', SLOT_STATE.active);
    this.#publishGeneration();
    if (!initial) this.#options.log(`backend ${origin}: added with weight ${weight}${tier === 0 ? '' : ` in tier ${tier}`}${slowStartNote(this.#options.slowStartMs)}`);
    return slot;
  }

  /** No new requests; those running finish. The backend stays in the table. */
  drainBackend(origin: string): void {
    this.#setState(origin, 'draining', 'draining: no new requests, those in flight finish');
  }

  /** Out of rotation (maintenance); requests in flight finish. */
  disableBackend(origin: string): void {
    this.#setState(origin, 'disabled', 'disabled');
  }

  /** Back in rotation after drain or disable (with slow start, if set). */
  enableBackend(origin: string): void {
    const slot = this.#slot(origin);
    if (this.#state.load(slot, 'state') === SLOT_STATE.active) return;
    startRamp(this.#state, slot, this.#options.slowStartMs);
    this.#setState(origin, 'active', `enabled${slowStartNote(this.#options.slowStartMs)}`);
  }

  /**
   * Drains the backend, waits until its requests in flight have finished (at most
   * `timeoutMs`), then frees its slot. Resolves with the requests still running at the
   * deadline (0 when it drained cleanly); their ends still count against the slot.
   * `calledOff`, asked at each poll: when it says so, the backend stays as it is now and
   * the wait ends (BackendSources: a source wants it back).
   */
  async removeBackend(origin: string, { timeoutMs, calledOff }: { timeoutMs: number; calledOff?: () => boolean }): Promise<number> {
    const state = this.#state;
    const slot = this.#slot(origin);
    if (state.load(slot, 'state') !== SLOT_STATE.draining) this.#setState(origin, 'draining', 'draining before removal');
    const deadline = now() + timeoutMs;
    while (calledOff?.() !== true && state.load(slot, 'inFlight') > 0 && now() < deadline) await sleep(DRAIN_POLL_MS);
    const left = Math.max(0, state.load(slot, 'inFlight'));
    if (calledOff?.() === true) return left;
    // It may have been removed meanwhile by another caller.
    if (state.load(slot, 'state') === SLOT_STATE.empty || state.origin(slot) !== origin) return left;
    // An ejected backend gives back its place in the ejected count, once, even if a
    // listener's trial is ending at the same moment.
    for (let ejection = state.load(slot, 'ejection'); ejection !== EJECTION.in; ejection = state.load(slot, 'ejection')) {
      if (state.cas(slot, 'ejection', ejection, EJECTION.in) === ejection) {
        state.headerAdd('ejected', -1);
        break;
      }
    }
    state.store(slot, 'state', SLOT_STATE.empty);
    this.#publishGeneration();
    this.#options.log(`backend ${origin}: removed${left > 0 ? ` with ${left} request${left === 1 ? '' : 's'} still running` : ''}`);
    return left;
  }

  /** The backend's state; null when it is not in the table. */
  stateOf(origin: string): SlotState | null {
    const slot = this.#state.slotOf(origin);
    return slot < 0 ? null : this.#state.slotState(slot);
  }

  setWeight(origin: string, weight: number): void {
    checkWeight(origin, weight);
    const slot = this.#slot(origin);
    const before = this.#state.load(slot, 'weight');
    if (before === weight) return;
    this.#state.store(slot, 'weight', weight);
    this.#publishGeneration();
    this.#options.log(`backend ${origin}: weight ${before} -> ${weight}`);
  }

  /** Moves the backend to another preference tier (its SRV record's priority changed). */
  setTier(origin: string, tier: number): void {
    checkTier(origin, tier);
    const slot = this.#slot(origin);
    const before = this.#state.load(slot, 'tier');
    if (before === tier) return;
    this.#state.store(slot, 'tier', tier);
    this.#publishGeneration();
    this.#options.log(`backend ${origin}: tier ${before} -> ${tier}`);
  }

  #setState(origin: string, next: Exclude<SlotState, 'empty'>, what: string): void {
    const slot = this.#slot(origin);
    if (this.#state.load(slot, 'state') === SLOT_STATE[next]) return;
    this.#state.store(slot, 'state', SLOT_STATE[next]);
    this.#publishGeneration();
    this.#options.log(`backend ${origin}: ${what}`);
  }

  #slot(origin: string): number {
    const slot = this.#state.slotOf(origin);
    if (slot < 0) throw new BackendTableError('UNKNOWN', `backend ${origin} is not in the table`);
    return slot;
  }

  /** The empty slot with the lowest index whose in-flight count is 0 (a request that
   * raced a removal may still end against a freed slot). */
  #freeSlot(): number {
    const state = this.#state;
    for (let slot = 0; slot < state.capacity; slot++) {
      if (state.load(slot, 'state') === SLOT_STATE.empty && state.load(slot, 'inFlight') === 0) return slot;
    }
    return -1;
  }

  /** A new membership generation: the round-robin counter starts over, folding at a
   * multiple of the new total weight, then listeners are told. */
  #publishGeneration(): void {
    const state = this.#state;
    let total = 0;
    for (let slot = 0; slot < state.capacity; slot++) {
      if (state.load(slot, 'state') === SLOT_STATE.active) total += state.load(slot, 'weight');
    }
    state.setRoundRobin(0, roundRobinWrap(total));
    state.headerAdd('generation', 1);
    state.publish();
  }
}

function checkWeight(origin: string, weight: number): void {
  if (!Number.isInteger(weight) || weight < 1 || weight > MAX_WEIGHT) {
    throw new BackendTableError('BAD_WEIGHT', `weight ${weight} for backend ${origin} is not allowed: expected a whole number from 1 to ${MAX_WEIGHT}`);
  }
}

function checkTier(origin: string, tier: number): void {
  if (!Number.isInteger(tier) || tier < 0 || tier > MAX_TIER) {
    throw new BackendTableError('BAD_TIER', `tier ${tier} for backend ${origin} is not allowed: expected a whole number from 0 to ${MAX_TIER}`);
  }
}
