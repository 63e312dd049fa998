/**
 * @module One listener thread's view of the slot table: the members of the current
 * generation and, per slot, whether it may take a request. Rebuilt only when the shared
 * routing epoch moves, which every writer bumps after a change: one `Atomics.load` per
 * pick tells whether anything changed, and a change made by any thread is seen by every
 * other thread at its next pick. Nothing here is a private opinion about health: it is
 * a cache of shared fields, keyed by the epoch they were read at.
 *
 * Tiers are decided here, with the rest of eligibility, so that every algorithm, the
 * sticky pin and retries obey them alike: of the backends that are active, healthy and
 * not ejected, only those of the lowest tier are eligible (an SRV record's priority;
 * --backend and admin API backends are tier 0). When every backend of that tier is
 * down, ejected, draining or disabled, the next tier serves. An ejection that ran out
 * is tried only in a tier as good as the one serving: a better tier's trial may bring
 * it back, a worse tier's backend is not needed.
 */
import { EJECTION, SLOT_STATE, SLOT_STATE_NAME } from '../shared/layout.ts';
import type { SharedState } from '../shared/shared-state.ts';
import type { Member } from './algorithms/algorithm.ts';

export type MembershipListener = (members: readonly Member[]) => void;

export class RoutingView {
  readonly #state: SharedState;
  #epoch = Number.NaN;
  #generation = Number.NaN;
  #members: Member[] = [];
  readonly #listeners: MembershipListener[] = [];
  /** Per slot: 1 when active, healthy, not ejected and in the serving tier. */
  readonly eligible: Uint8Array;
  /** Per slot: the preference tier of a member, as read with its generation. */
  readonly #tiers: Int32Array;
  /** The tier eligible backends come from now; -1 when none is eligible. */
  servingTier = -1;
  /** Per slot: configured weight of a member, 0 otherwise. */
  readonly weights: Int32Array;
  /** Per slot: the stamp slow start ramps from, while `ramping[slot]` is 1. */
  readonly rampFrom: Int32Array;
  readonly ramping: Uint8Array;
  readonly #incarnations: Int32Array;
  /** Eligible slots in slot order. */
  eligibleList: number[] = [];
  /** Active members in EJECTION.ejected: candidates for the trial request. */
  ejectedList: number[] = [];

  constructor(state: SharedState) {
    this.#state = state;
    this.eligible = new Uint8Array(state.capacity);
    this.weights = new Int32Array(state.capacity);
    this.rampFrom = new Int32Array(state.capacity);
    this.ramping = new Uint8Array(state.capacity);
    this.#incarnations = new Int32Array(state.capacity);
    this.#tiers = new Int32Array(state.capacity);
  }

  get members(): readonly Member[] {
    return this.#members;
  }

  /** Called with the new members whenever the generation changes (and once at the first
   * refresh, or at once when that has happened). Returns what unsubscribes it. */
  onMembership(listener: MembershipListener): () => void {
    this.#listeners.push(listener);
    if (!Number.isNaN(this.#generation)) listener(this.#members);
    return () => {
      const at = this.#listeners.indexOf(listener);
      if (at >= 0) this.#listeners.splice(at, 1);
    };
  }

  /** Brings the view up to date with shared memory; cheap when nothing changed. */
  refresh(): void {
    const state = this.#state;
    const epoch = state.header('stateEpoch');
    if (epoch === this.#epoch) return;
    // The epoch is read first: a change made while we read is published after it, so
    // the next refresh sees it.
    const generation = state.header('generation');
    if (generation !== this.#generation) {
      this.#members = readMembers(state, this.#incarnations);
      this.weights.fill(0);
      for (const member of this.#members) {
        this.weights[member.slot] = member.weight;
        // Written before the generation bump that published it, like the weight.
        this.#tiers[member.slot] = state.load(member.slot, 'tier');
      }
      this.#generation = generation;
      for (const listener of this.#listeners) listener(this.#members);
    }
    this.#readEligibility();
    this.#epoch = epoch;
  }

  #readEligibility(): void {
    const state = this.#state;
    const tiers = this.#tiers;
    this.eligible.fill(0);
    this.ramping.fill(0);
    // Those that may take a request whatever their tier, then the best tier among them.
    const inRotation: number[] = [];
    const ejected: number[] = [];
    let best = Infinity;
    for (const member of this.#members) {
      const slot = member.slot;
      // Active in the generation read AND now: a change the control thread has written
      // but not yet published can only take a backend out early, never put one in
      // before the rest of its generation (its weight, its pool) is read.
      if (member.state !== 'active' || state.load(slot, 'state') !== SLOT_STATE.active) continue;
      // Still the backend the members were read for: read after the state, because a
      // refill writes the incarnation before the state.
      if (state.load(slot, 'incarnation') !== this.#incarnations[slot]) continue;
      const ejection = state.load(slot, 'ejection');
      if (ejection === EJECTION.ejected) ejected.push(slot);
      if (ejection !== EJECTION.in || state.load(slot, 'healthy') !== 1) continue;
      inRotation.push(slot);
      best = Math.min(best, tiers[slot] as number);
    }
    const eligibleList: number[] = [];
    for (const slot of inRotation) {
      if (tiers[slot] !== best) continue;
      this.eligible[slot] = 1;
      eligibleList.push(slot);
      if (state.load(slot, 'ramping') === 1) {
        this.ramping[slot] = 1;
        this.rampFrom[slot] = state.load(slot, 'rejoinedAt');
      }
    }
    this.eligibleList = eligibleList;
    this.ejectedList = ejected.filter((slot) => (tiers[slot] as number) <= best);
    this.servingTier = Number.isFinite(best) ? best : -1;
  }
}

/**
 * Every filled slot. A slot being refilled has an odd incarnation, or a different one
 * after its origin was read: it is left out of this read, and the generation bump that
 * completes the refill makes the next refresh read it.
 */
function readMembers(state: SharedState, incarnations: Int32Array): Member[] {
  const members: Member[] = [];
  for (let slot = 0; slot < state.capacity; slot++) {
    const code = state.load(slot, 'state');
    if (code === SLOT_STATE.empty) continue;
    const incarnation = state.load(slot, 'incarnation');
    if (incarnation % 2 !== 0) continue;
    const origin = state.origin(slot);
    const weight = state.load(slot, 'weight');
    if (state.load(slot, 'incarnation') !== incarnation) continue;
    const name = SLOT_STATE_NAME[code];
    if (name === undefined || name === 'empty') continue;
    incarnations[slot] = incarnation;
    members.push({ slot, origin, weight, state: name });
  }
  return members;
}
