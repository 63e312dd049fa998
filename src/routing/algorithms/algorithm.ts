/**
 * @module The contract between the selector (routing/selector.ts) and a balancing
 * algorithm. An algorithm never decides eligibility: it asks `candidates.isEligible`,
 * which is the one place that rule lives (active, healthy, not ejected, not tried by
 * this request). It rebuilds what it derives from membership in `build`, once per
 * generation, and reads live load (in-flight counts, latencies, tickets) from shared
 * state at each pick.
 */
import type { SharedState } from '../../shared/shared-state.ts';
import type { SlotState } from '../../shared/layout.ts';

/** A filled slot as the current membership generation has it. */
export interface Member {
  readonly slot: number;
  /** The backend's identity: `http://host:port`. */
  readonly origin: string;
  /** Configured weight, 1..1000. */
  readonly weight: number;
  /** `active` members take requests when healthy; `draining` and `disabled` ones never. */
  readonly state: Exclude<SlotState, 'empty'>;
}

/** What one request brings to a pick. One object per request, reused across its attempts. */
export interface RequestContext {
  /** The consistent-hash key (--hash-key), or null when the request has none. */
  readonly key: string | null;
  /** Slots this request has already tried, in order. */
  readonly tried: number[];
  /** 0 for the first try, then 1, 2, ... for retries. */
  attempt: number;
  /** `clock.now()` when this pick started. */
  now: number;
}

/** The view of the backends an algorithm picks from. */
export interface Candidates {
  readonly state: SharedState;
  /** Whether `slot` may take this request now. The only eligibility rule there is. */
  isEligible(slot: number): boolean;
  /** Every eligible slot, in slot order: for scans and for fallbacks. */
  eligibleSlots(): readonly number[];
  /** Configured weight of a member slot (0 for a slot that is not a member). */
  weight(slot: number): number;
}

export interface Algorithm {
  /** Rebuilds what the algorithm derives from membership. Called before the first pick
   * and whenever the generation changes; `members` lists every filled slot. */
  build(members: readonly Member[]): void;
  /** An eligible slot for this request, or -1 when `candidates` has none. */
  select(candidates: Candidates, context: RequestContext): number;
}
