/**
 * @module Least connections: the eligible backend with the fewest requests in flight
 * per unit of weight, counted across every listener thread (the shared `inFlight` of
 * each slot). Loads are compared by cross-multiplying integers (a x wb against b x wa):
 * no float rounding decides between two backends.
 *
 * Ties are broken by the shared round-robin ticket, so that an idle cluster does what
 * round robin does instead of always sending to the lowest slot. When every active
 * backend is tied (an idle cluster), the ticket indexes the generation's smooth
 * weighted schedule (round-robin.ts): weights 5, 1, 1 give `a a b a c a a`, exactly
 * round robin's sequence. When only some are tied (one is down, tried or busier), the
 * ticket modulo their total weight picks among them in proportion to weight: equal
 * weights then still alternate strictly, and while the tied set stays the same, every
 * run of tickets as long as their total weight gives each exactly its weight. A
 * ticket is taken only on a tie: a busy cluster with one least loaded backend leaves
 * the shared counter alone.
 *
 * A pick scans the eligible backends: O(n), as in nginx and HAProxy; power-of-two is
 * the O(1) alternative for large tables.
 */
import type { Algorithm, Candidates, Member, RequestContext } from './algorithm.ts';
import { smoothSchedule, takeTicket, weightedByTicket } from './round-robin.ts';

export class LeastConnections implements Algorithm {
  #schedule: Uint16Array = new Uint16Array(0);
  #activeCount = 0;
  /** The backends tied at the minimum, reused across picks. */
  readonly #ties: number[] = [];

  build(members: readonly Member[]): void {
    const active = members.filter((member) => member.state === 'active');
    this.#schedule = smoothSchedule(active);
    this.#activeCount = active.length;
  }

  select(candidates: Candidates, _context: RequestContext): number {
    const { state } = candidates;
    const ties = this.#ties;
    ties.length = 0;
    let bestLoad = 0;
    let bestWeight = 1;
    for (const slot of candidates.eligibleSlots()) {
      const load = state.load(slot, 'inFlight');
      const weight = candidates.weight(slot);
      const order = ties.length === 0 ? -1 : load * bestWeight - bestLoad * weight;
      if (order > 0) continue;
      if (order < 0) {
        ties.length = 0;
        bestLoad = load;
        bestWeight = weight;
      }
      ties.push(slot);
    }
    if (ties.length <= 1) return ties[0] ?? -1;
    const ticket = takeTicket(candidates);
    // Every active backend tied: they are the schedule's backends. (Checked, not assumed:
    // a state written just before its generation is published can be seen a pick early.)
    if (ties.length === this.#activeCount) {
      const scheduled = this.#schedule[ticket % this.#schedule.length] as number;
      if (ties.includes(scheduled)) return scheduled;
    }
    return weightedByTicket(candidates, ticket, ties);
  }
}
