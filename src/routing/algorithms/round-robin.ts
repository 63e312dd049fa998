/**
 * @module Smooth weighted round robin, exact across every listener thread.
 *
 * `build` lays out nginx's smooth interleaving once per generation: with weights 5, 1, 1
 * the schedule is `a a b a c a a` (each step adds every weight to its backend's running
 * total, takes the largest, first on ties, and subtracts the sum from it). Equal weights
 * give `0 1 2 ... n-1`: plain alternation.
 *
 * Each pick takes a ticket with one `Atomics.add` on the shared counter and reads
 * `schedule[ticket % length]`. Tickets form one global sequence whatever the thread, so
 * over every full cycle of the schedule each backend gets exactly its weight, across all
 * threads. The 32-bit counter folds back to 0 at RR_WRAP, which the control plane sets
 * to a multiple of the total weight with each generation: the one thread whose ticket is
 * exactly RR_WRAP subtracts RR_WRAP, and tickets taken meanwhile, a little above it, map
 * to the same schedule positions as their folded values. No compare-and-swap loop, so a
 * pick never retries under contention.
 *
 * A ticket whose backend is not eligible (down, ejected, already tried) is used up and
 * the next one taken: over a full cycle, the eligible backends then still get exactly
 * their weights. After BURN_LIMIT such tickets in a row (most of the weight is out), a
 * weighted choice over the eligible backends by the last ticket ends the search.
 */
import type { Algorithm, Candidates, Member, RequestContext } from './algorithm.ts';

const BURN_LIMIT = 16;

export class RoundRobin implements Algorithm {
  #schedule: Uint16Array = new Uint16Array(0);

  build(members: readonly Member[]): void {
    this.#schedule = smoothSchedule(members.filter((member) => member.state === 'active'));
  }

  /** The schedule of the current generation, as slots (for tests and the bench). */
  get schedule(): readonly number[] {
    return [...this.#schedule];
  }

  select(candidates: Candidates, _context: RequestContext): number {
    const schedule = this.#schedule;
    if (schedule.length === 0) return -1;
    let ticket = 0;
    for (let burned = 0; burned < BURN_LIMIT; burned++) {
      ticket = takeTicket(candidates);
      const slot = schedule[ticket % schedule.length] as number;
      if (candidates.isEligible(slot)) return slot;
    }
    return weightedByTicket(candidates, ticket);
  }
}

/** The next ticket of the one global sequence 0, 1, ..., RR_WRAP - 1, 0, 1, ... */
export function takeTicket({ state }: Pick<Candidates, 'state'>): number {
  const wrap = state.roundRobinWrap;
  const raw = state.addRoundRobin(1);
  if (raw === wrap) state.subRoundRobin(wrap);
  return raw >= wrap ? raw - wrap : raw;
}

/** One of `slots` (every eligible one by default) in proportion to weight, chosen by
 * `ticket`: the slots laid end to end, each as long as its weight, and the ticket taken
 * modulo their total. -1 when there is none. */
export function weightedByTicket(candidates: Candidates, ticket: number, slots: readonly number[] = candidates.eligibleSlots()): number {
  let total = 0;
  for (const slot of slots) total += candidates.weight(slot);
  if (total === 0) return -1;
  let point = ticket % total;
  for (const slot of slots) {
    point -= candidates.weight(slot);
    if (point < 0) return slot;
  }
  return -1;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** nginx's smooth weighted round robin, one full cycle (weights divided by their gcd). */
export function smoothSchedule(members: readonly Pick<Member, 'slot' | 'weight'>[]): Uint16Array {
  const divisor = members.reduce((g, member) => gcd(g, member.weight), 0) || 1;
  const weights = members.map((member) => member.weight / divisor);
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  const schedule = new Uint16Array(total);
  const current = new Float64Array(members.length);
  for (let step = 0; step < total; step++) {
    let best = 0;
    for (let i = 0; i < members.length; i++) {
      current[i] = (current[i] as number) + (weights[i] as number);
      if ((current[i] as number) > (current[best] as number)) best = i;
    }
    current[best] = (current[best] as number) - total;
    schedule[step] = (members[best] as Member).slot;
  }
  return schedule;
}
