/**
 * @module Consistent hashing on a Maglev table (maglev.ts), with optional bounded load
 * (Mirrokni et al., "Consistent Hashing with Bounded Loads"; HAProxy's hash-balance-factor).
 *
 * `build` makes the table once per generation over every filled member, active,
 * draining and disabled alike: draining or disabling a backend then moves only its own
 * keys (they walk past it, below), and enabling it again brings exactly those back.
 * Removing a backend or changing a weight rebuilds the table, moving about 1/n of the
 * keys. The table names backends by slot here, but is built from origins and weights
 * only, so any process with the same backends maps a key to the same backend.
 *
 * A key's preference list is the sequence of distinct backends met walking forward from
 * entry `hash(key) % size` (string-hash.ts). A pick takes the first eligible backend of
 * that list (the one eligibility rule, in `candidates.isEligible`: down, ejected,
 * draining, disabled or already tried backends are walked past). A request without a
 * key starts its walk at the round-robin ticket instead, as HAProxy places a request
 * whose hash input is missing.
 *
 * With a balance factor F > 0, a backend is taken only while its in-flight count is
 * below F x (in flight over the eligible backends + 1) x its weight / their total
 * weight, rounded up; else the walk goes on to the next backend of the list. Some
 * eligible backend is always below its bound (the bounds add up to more than the total
 * in flight), but counts move under us across threads: if none of those met fits, the
 * least loaded per weight is taken. F is kept in thousandths, so the test is one
 * integer comparison.
 *
 * The walk ends once every member has been met, or after one turn of the table: a pick
 * with nothing eligible returns -1 after about n ln n entries (equal weights), not the
 * whole table.
 */
import type { Algorithm, Candidates, Member, RequestContext } from './algorithm.ts';
import { buildMaglev } from './maglev.ts';
import { takeTicket } from './round-robin.ts';
import { hashString } from './string-hash.ts';

const FACTOR_SCALE = 1000;

export class ConsistentHash implements Algorithm {
  /** Per entry, the slot it names. */
  #table: Int32Array = new Int32Array(0);
  #memberCount = 0;
  /** F x FACTOR_SCALE; 0 = no bound. */
  readonly #factor: number;
  /** Per slot, the number of the last walk that met it (so each backend is judged once per walk). */
  #metIn: Float64Array = new Float64Array(0);
  #walks = 0;

  /** `balanceFactor`: --hash-balance-factor, 0 (off) or from 1 to 100. */
  constructor(balanceFactor = 0) {
    this.#factor = Math.round(balanceFactor * FACTOR_SCALE);
  }

  build(members: readonly Member[]): void {
    const table = buildMaglev(members);
    for (let i = 0; i < table.length; i++) table[i] = (members[table[i] as number] as Member).slot;
    this.#table = table;
    this.#memberCount = members.length;
    this.#metIn = new Float64Array(members.reduce((most, member) => Math.max(most, member.slot + 1), 0));
    this.#walks = 0;
  }

  /** The slot of each table entry (tests). */
  get table(): readonly number[] {
    return [...this.#table];
  }

  select(candidates: Candidates, context: RequestContext): number {
    const table = this.#table;
    const size = table.length;
    if (size === 0) return -1;
    const start = (context.key === null ? takeTicket(candidates) : hashString(context.key)) % size;
    const bounded = this.#factor > 0;
    const { state } = candidates;
    // For the bound: in flight and weight over the eligible backends.
    let totalLoad = 0;
    let totalWeight = 0;
    if (bounded) {
      for (const slot of candidates.eligibleSlots()) {
        totalLoad += state.load(slot, 'inFlight');
        totalWeight += candidates.weight(slot);
      }
    }
    const walk = ++this.#walks;
    const metIn = this.#metIn;
    let met = 0;
    let least = -1;
    let leastLoad = 0;
    let leastWeight = 1;
    for (let step = 0, entry = start; step < size && met < this.#memberCount; step++, entry = entry + 1 === size ? 0 : entry + 1) {
      const slot = table[entry] as number;
      if (metIn[slot] === walk) continue;
      metIn[slot] = walk;
      met++;
      if (!candidates.isEligible(slot)) continue;
      if (!bounded) return slot;
      const load = state.load(slot, 'inFlight');
      const weight = candidates.weight(slot);
      // load < ceil(F x (totalLoad + 1) x weight / totalWeight), for a whole-number load.
      if (load * FACTOR_SCALE * totalWeight < this.#factor * (totalLoad + 1) * weight) return slot;
      if (least < 0 || load * leastWeight < leastLoad * weight) {
        least = slot;
        leastLoad = load;
        leastWeight = weight;
      }
    }
    return least;
  }
}
